# Two fsdax namespaces in the NVDIMM region, one with its struct pages on the device itself
# (-M dev) and one in memory (-M mem), formatted as one 2-namespace nvm-pages set: both
# register (in either order), and the KUnit allocator cases pass on the -M dev namespace.
. /guest/lib.sh
ndctl destroy-namespace -f all >/dev/null 2>&1
check ns-dev ndctl create-namespace -r region0 -m fsdax -M dev -s 128M -a 2M
check ns-mem ndctl create-namespace -r region0 -m fsdax -M mem -a 2M
ndctl list -N | grep -E '"(dev|mode|map|size|blockdev)"' | tr -d ' \n'; echo
dev=$(ndctl list -N | awk -F'"' '/"map":"dev"/ { d = 1 } d && /blockdev/ { print "/dev/" $4; exit }')
mem=$(ndctl list -N | awk -F'"' '/"map":"mem"/ { d = 1 } d && /blockdev/ { print "/dev/" $4; exit }')
echo "dev-mapped: $dev, mem-mapped: $mem"
check two-devices test -b "$dev" -a -b "$mem"
check format-set bcache-nvm format "$dev" "$mem"
check check-set bcache-nvm check "$dev" "$mem"
S=/sys/fs/bcache
check load insmod /lib/modules/bcache.ko
# Namespace 1 first: registered, but nothing allocatable until namespace 0 brings the lists.
check register-ns1 sh -c "echo $mem > $S/register_nvdimm_meta"
check ns1-listed sh -c "grep -q '^ns 1 path $mem ' $S/nvdimm_meta"
check register-ns0 sh -c "echo $dev > $S/register_nvdimm_meta"
check ns0-listed sh -c "grep -q '^ns 0 path $dev ' $S/nvdimm_meta"
cat $S/nvdimm_meta
check ns1-has-free sh -c "grep '^ns 1 ' $S/nvdimm_meta | grep -qv ' free 0\$'"
check unload rmmod bcache
# The KUnit cases open /dev/pmem0 by name: make sure that is the -M dev namespace.
check pmem0-is-dev test "$dev" = /dev/pmem0
KUNIT_SET="$dev $mem" sh /guest/kunit.sh
finish
