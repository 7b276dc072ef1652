# Demo: our bcache.ko running a cache set, next to the NVDIMM.
. /guest/lib.sh
echo "== kernel: $(uname -r)"
echo "== NVDIMM namespaces (ndctl list -N)"
ndctl list -N
ls -l /dev/pmem0
echo "== loading our bcache.ko"
check load-our-bcache insmod /lib/modules/bcache.ko
grep -E '^bcache ' /proc/modules
check make-bcache make-bcache -b 128k -C /dev/vda -B /dev/vdb --writeback
check register sh -c 'echo /dev/vda > /sys/fs/bcache/register && echo /dev/vdb > /sys/fs/bcache/register'
check bcache0 wait_for /dev/bcache0
echo "== bcache-super-show /dev/vda"
bcache-super-show /dev/vda | head -n 20
echo "== /sys/block/bcache0/bcache: state=$(cat /sys/block/bcache0/bcache/state) mode=$(cat /sys/block/bcache0/bcache/cache_mode)"
pattern 4 | dd of=/dev/bcache0 bs=1M oflag=direct iflag=fullblock 2>/dev/null
check read-back pattern_matches /dev/bcache0 4
echo "== dmesg"
dmesg | grep -iE 'bcache|pmem|nd_' | tail -n 15
finish
