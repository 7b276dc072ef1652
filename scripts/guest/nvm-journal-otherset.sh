# After boot 1 of the journal round trip: /dev/pmem0 is re-formatted, so the registered meta
# device is another nvm-pages set that holds nothing for this cache set. Registering the cache
# is refused with a line naming the cache set, and its superblock is not written.
. /guest/lib.sh
check reformat bcache-nvm format --force /dev/pmem0
check load insmod /lib/modules/bcache.ko
check register-meta sh -c "echo /dev/pmem0 > /sys/fs/bcache/register_nvdimm_meta"
before=$(dd if=/dev/vda bs=4096 count=1 skip=1 2>/dev/null | md5sum)
dmesg -c >/dev/null
check refused sh -c "! echo /dev/vda > /sys/fs/bcache/register"
dmesg | tail -n 3
check says-why sh -c "dmesg | grep -q 'No journal range recorded for this cache set on the NVDIMM'"
check no-oops sh -c "! dmesg | grep -qiE 'Oops|BUG:|panic'"
check sb-unchanged sh -c "test \"\$(dd if=/dev/vda bs=4096 count=1 skip=1 2>/dev/null | md5sum)\" = '$before'"
check no-bcache0 sh -c "! test -e /dev/bcache0"
finish
