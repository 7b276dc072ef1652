# A virtio-pmem device is DAX, but not synchronous: a store reaches the host's file only after
# a flush request, which the NVDIMM journal never sends (it relies on memcpy_flushcache and
# pmem_wmb). Registering it must be refused: EOPNOTSUPP, and dmesg says "not synchronous DAX".
# Needs the debug kernel (CONFIG_VIRTIO_PMEM) and vm.sh --virtio-pmem.
. /guest/lib.sh
S=/sys/fs/bcache

check load insmod /lib/modules/bcache.ko
# The virtio-pmem region is the one without a DIMM mapping; give it an fsdax namespace
# (label-less: its io namespace reconfigured in place).
vr=$(for r in /sys/bus/nd/devices/region*; do [ -e "$r/mapping0" ] || basename "$r"; done | head -n 1)
ns=$(ndctl list -N -r "$vr" 2>/dev/null | sed -n 's/.*"dev":"\(namespace[0-9.]*\)".*/\1/p' | head -n 1)
if [ -n "$ns" ]; then
	ndctl create-namespace -f -e "$ns" -m fsdax >/dev/null 2>&1
fi
dev=$(ndctl list -N -r "$vr" 2>/dev/null | sed -n 's/.*"blockdev":"\(pmem[0-9.]*\)".*/\1/p' | head -n 1)
check virtio-pmem-present sh -c "[ -n '$dev' ] && [ -b /dev/$dev ]"
check virtio-pmem-is-dax sh -c "ndctl list -N -r $vr | grep -q '\"mode\":\"fsdax\"'"
check format bcache-nvm format "/dev/$dev"
dmesg -c >/dev/null
if out=$(sh -c "echo /dev/$dev > $S/register_nvdimm_meta" 2>&1); then
	fail async-refused "register of /dev/$dev succeeded"
elif ! echo "$out" | grep -q "not supported"; then
	fail async-refused "wanted EOPNOTSUPP, got '$out'"
else
	pass async-refused
fi
check async-dmesg sh -c "dmesg | grep -q '/dev/$dev: not synchronous DAX'"
check not-listed sh -c "! grep -q '$dev' $S/nvdimm_meta"
# The synchronous NVDIMM next to it still works.
check format-pmem0 bcache-nvm format /dev/pmem0
check register-pmem0 sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
finish
