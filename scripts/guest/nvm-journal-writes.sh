# Writes reaching the cache disk during a metadata-heavy run (4 KiB random writes, each
# followed by fsync, so bcache journals after every write), with the journal on the NVDIMM
# (mode nvdimm) or on the cache disk (mode ssd, same module, no NVDIMM_META). Prints
# "VDA_WRITE_SECTORS <n>" and "VDA_WRITE_IOS <n>" for the host to compare.
#   nvm-journal-writes.sh nvdimm|ssd
. /guest/lib.sh
mode=${1:-nvdimm}
check load insmod /lib/modules/bcache.ko
if [ "$mode" = nvdimm ]; then new_cache_set nvdimm; else new_cache_set; fi
echo writeback > /sys/block/bcache0/bcache/cache_mode
echo 0 > /sys/block/bcache0/bcache/writeback_running
sync
# /sys/block/vda/stat: field 5 = write I/Os, field 7 = sectors written.
set -- $(cat /sys/block/vda/stat); ios0=$5; sec0=$7
check fio-run fio --name=meta --filename=/dev/bcache0 --rw=randwrite --bs=4k --size=256M \
	--io_size=4M --direct=1 --fsync=1 --ioengine=psync --randseed=7 --output=/tmp/fio.out
set -- $(cat /sys/block/vda/stat); ios1=$5; sec1=$7
echo "VDA_WRITE_IOS $((ios1 - ios0))"
echo "VDA_WRITE_SECTORS $((sec1 - sec0))"
# Submit-to-durable time of each jset, either path (log2 buckets, upper bounds in ns).
check journal-latency-counted sh -c "grep -q '^jsets [1-9]' /sys/fs/bcache/journal_latency"
sed 's/^/JOURNAL_LATENCY /' /sys/fs/bcache/journal_latency
finish
