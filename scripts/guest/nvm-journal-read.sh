# Boot 2 of the journal-on-NVDIMM round trip: the cache is refused while its meta device is
# not registered (and nothing is written); then register the meta device, cache and backing;
# bcache replays the journal from the NVDIMM and the pattern of boot 1 reads back.
. /guest/lib.sh
MIB=${1:-8}
S=/sys/fs/bcache
check load insmod /lib/modules/bcache.ko
before=$(dd if=/dev/vda bs=4096 count=1 skip=1 2>/dev/null | md5sum)
dmesg -c >/dev/null
check refused-without-meta sh -c "! echo /dev/vda > $S/register"
check refusal-says-why sh -c "dmesg | grep -q 'NVDIMM meta device of this cache set is not registered'"
dmesg | grep -i 'nvdimm' | tail -n 3
check sb-unchanged sh -c "test \"\$(dd if=/dev/vda bs=4096 count=1 skip=1 2>/dev/null | md5sum)\" = '$before'"
check register-meta sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
dmesg -c >/dev/null
check register-cache sh -c "echo /dev/vda > $S/register"
check register-backing sh -c "echo /dev/vdb > $S/register"
check bcache0 wait_for /dev/bcache0
dmesg | grep -iE 'journal|replay' | head
check replayed-from-nvdimm sh -c "dmesg | grep -q 'journal on the NVDIMM'"
check still-dirty grep -q dirty /sys/block/bcache0/bcache/state
check read-pattern pattern_matches /dev/bcache0 "$MIB"
check unregister-refused sh -c "! echo /dev/pmem0 > $S/unregister_nvdimm_meta"
finish
