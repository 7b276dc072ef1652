# Boot 1 of the journal-on-NVDIMM round trip: format /dev/pmem0, register it, make a cache
# marked NVDIMM_META and a backing device, write a pattern through /dev/bcache0 in writeback
# mode (kept dirty on the cache), and power off without stopping bcache.
. /guest/lib.sh
MIB=${1:-8}
S=/sys/fs/bcache
check load insmod /lib/modules/bcache.ko
new_cache_set nvdimm
check dmesg-journal-on-nvdimm sh -c "dmesg | grep -q 'journal on the NVDIMM'"
dmesg | grep -i 'journal on the NVDIMM'
bcache-nvm show-cache /dev/vda > /tmp/sc
check sb-d-on-nvdimm grep -q 'nvmpg' /tmp/sc
grep -E 'keys|d\[0\]|feature_incompat|first_bucket|bucket_size' /tmp/sc
check owner-holds-journal sh -c "grep '^owner' $S/nvdimm_meta | grep -qv ' pages 0 '"
cat $S/nvdimm_meta
write_dirty_pattern "$MIB"
# The cache device's journal buckets are reserved but never written: still zero.
fb=$(awk '$1 == "sb.first_bucket" { print $2 }' /tmp/sc)
keys=$(awk '$1 == "sb.keys" { print $2 }' /tmp/sc)
bs=$(awk '$1 == "sb.bucket_size" { print $2 }' /tmp/sc)
echo "journal buckets on vda: first $fb, keys $keys, bucket $bs sectors"
check ssd-journal-untouched sh -c "dd if=/dev/vda bs=512 skip=$((fb * bs)) count=$((keys * bs)) 2>/dev/null | tr -d '\\000' | wc -c | grep -qx 0"
finish
