# The kernel's stock bcache.ko refuses a cache marked NVDIMM_META (an unknown incompat
# feature), so a kernel without NVDIMM support never misreads the journal locations.
. /guest/lib.sh
check load-stock insmod /lib/modules/bcache-stock.ko
before=$(dd if=/dev/vda bs=4096 count=1 skip=1 2>/dev/null | md5sum)
dmesg -c >/dev/null
check stock-refuses sh -c "! echo /dev/vda > /sys/fs/bcache/register"
dmesg | grep -i bcache | tail -n 2
check stock-says-feature sh -c "dmesg | grep -qi 'feature'"
check sb-unchanged sh -c "test \"\$(dd if=/dev/vda bs=4096 count=1 skip=1 2>/dev/null | md5sum)\" = '$before'"
finish
