# Demo: our bcache.ko running a cache set, next to the NVDIMM.
. /guest/lib.sh
echo "== kernel: $(uname -r)"
echo "== NVDIMM namespaces (ndctl list -N)"
ndctl list -N
ls -l /dev/pmem0
echo "== loading our bcache.ko"
check load-our-bcache insmod /lib/modules/bcache.ko
grep -E '^bcache ' /proc/modules
new_cache_set nvdimm
echo "== bcache-nvm show-cache /dev/vda (journal buckets on the NVDIMM)"
bcache-nvm show-cache /dev/vda | grep -E 'version|csum|set_uuid|bucket_size|feature_incompat|keys|d\[(0|1)\]'
echo "== /sys/fs/bcache/nvdimm_meta"
cat /sys/fs/bcache/nvdimm_meta
echo "== /sys/block/bcache0/bcache: state=$(cat /sys/block/bcache0/bcache/state) mode=$(cat /sys/block/bcache0/bcache/cache_mode)"
pattern 4 | dd of=/dev/bcache0 bs=1M oflag=direct iflag=fullblock 2>/dev/null
check read-back pattern_matches /dev/bcache0 4
echo "== dmesg"
dmesg | grep -iE 'bcache|pmem' | tail -n 15
finish
