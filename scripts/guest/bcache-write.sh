# Boot 1 of the "our module IS bcache" proof: make a cache and a backing device, register
# them with our bcache.ko, write a known pattern through /dev/bcache0 in writeback mode and
# keep it dirty on the cache; then power off without stopping bcache.
. /guest/lib.sh
MIB=${1:-8}
check nvdimm-fsdax sh -c 'ndctl list -N | grep -q "\"mode\":\"fsdax\"" && test -b /dev/pmem0'
check load-our-bcache insmod /lib/modules/bcache.ko
check dmesg-ours sh -c 'dmesg | grep -q "bcache-nvm loaded"'
check make-bcache make-bcache -b 128k -C /dev/vda -B /dev/vdb --writeback
check register-cache sh -c 'echo /dev/vda > /sys/fs/bcache/register'
check register-backing sh -c 'echo /dev/vdb > /sys/fs/bcache/register'
check bcache0-appears wait_for /dev/bcache0
b=/sys/block/bcache0/bcache
echo writeback > $b/cache_mode
echo 0 > $b/sequential_cutoff
echo 0 > $b/writeback_running
pattern "$MIB" | dd of=/dev/bcache0 bs=1M oflag=direct iflag=fullblock 2>/dev/null
sync
check write-pattern pattern_matches /dev/bcache0 "$MIB"
check state-dirty sh -c "grep -q dirty $b/state"
check dirty-data sh -c "test \"\$(cat $b/dirty_data)\" != 0.0k"
finish
