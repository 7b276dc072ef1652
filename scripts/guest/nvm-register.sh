# /sys/fs/bcache/register_nvdimm_meta, nvdimm_meta, unregister_nvdimm_meta: the happy path,
# and every refusal with its errno and its dmesg line.
. /guest/lib.sh
S=/sys/fs/bcache

check load insmod /lib/modules/bcache.ko
check nodes-exist test -f $S/register_nvdimm_meta -a -f $S/unregister_nvdimm_meta -a -f $S/nvdimm_meta
expect_write unformatted-is-einval $S/register_nvdimm_meta /dev/pmem0 "Invalid argument" "/dev/pmem0: bad"
expect_write missing-is-enoent $S/register_nvdimm_meta /dev/nonexistent "No such file" "/dev/nonexistent: no such device"
expect_write not-dax-is-eopnotsupp $S/register_nvdimm_meta /dev/vda "not supported" "/dev/vda: not DAX-capable"
expect_write empty-is-einval $S/register_nvdimm_meta "" "Invalid argument" "expected a device path"
check format bcache-nvm format /dev/pmem0
dmesg -c >/dev/null
check register sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
check dmesg-registered sh -c "dmesg | grep -q '/dev/pmem0: registered as namespace 0'"
check listing sh -c "grep -q '^ns 0 path /dev/pmem0 uuid ' $S/nvdimm_meta"
# Head 0 is the allocator's own: a fresh set lists no owner.
check listing-no-owner sh -c "! grep -q '^owner' $S/nvdimm_meta"
cat $S/nvdimm_meta
expect_write again-is-ebusy $S/register_nvdimm_meta /dev/pmem0 "busy" "/dev/pmem0: already registered"
check unregister sh -c "echo /dev/pmem0 > $S/unregister_nvdimm_meta"
check listing-empty sh -c "! grep -q '^ns ' $S/nvdimm_meta"
expect_write unregister-unknown $S/unregister_nvdimm_meta /dev/pmem0 "No such file" "/dev/pmem0: not registered"
check register-again sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
# Unloading releases the device: the next load can register it again.
check unload rmmod bcache
check reload insmod /lib/modules/bcache.ko
check register-after-reload sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
finish
