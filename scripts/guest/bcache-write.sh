# Boot 1 of the "our module IS bcache" proof: make a cache and a backing device, register
# them with our bcache.ko, write a known pattern through /dev/bcache0 in writeback mode and
# keep it dirty on the cache; then power off without stopping bcache.
. /guest/lib.sh
MIB=${1:-8}
check nvdimm-fsdax sh -c 'ndctl list -N | grep -q "\"mode\":\"fsdax\"" && test -b /dev/pmem0'
check load-our-bcache insmod /lib/modules/bcache.ko
check dmesg-ours sh -c 'dmesg | grep -q "bcache-nvm loaded"'
new_cache_set
write_dirty_pattern "$MIB"
check dirty-data sh -c "test \"\$(cat /sys/block/bcache0/bcache/dirty_data)\" != 0.0k"
finish
