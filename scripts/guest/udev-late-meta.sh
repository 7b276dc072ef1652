# The meta device that does not come (scripts/assembly.sh, after the ten boots): under
# systemd-udevd every disk appears but the namespace is held back (ndctl). The cache is
# refused once, with one clear dmesg line, and stays refused; once the namespace appears
# (ndctl enable: the kernel's "add"), the rule registers it, replays the cache's "add" and
# /dev/bcache0 appears; then the last boot's writes read back.
. /guest/assembly-lib.sh
watchdog 150
WAIT=${1:-5}
ndctl disable-namespace all >/dev/null 2>&1
check ns-held sh -c "! test -e /dev/pmem0"
dmesg -c >/dev/null
appear all
sleep "$WAIT"
udevadm settle --timeout=60
dmesg > /tmp/dmesg.1
grep -iE 'bcache|nvdimm' /tmp/dmesg.1 | head -n 8
check module-loaded-by-udev grep -qx 0.1.0 /sys/module/bcache/version
check cache-refused sh -c "! test -e /sys/block/vda/bcache"
check no-bcache0 sh -c "! test -e /dev/bcache0"
check backing-waits test -e /sys/block/vdb/bcache
# bcache's own line for a refused cache: the cache set (by uuid) and the reason; then
# register_bcache's "error /dev/vda: <reason>" (with the path since patch 0009).
cset=$(bcache-nvm probe /dev/vda | sed -n 's/^BCACHE_NVM_CACHE_SET_UUID=//p')
n=$(grep -c "cache set $cset: NVDIMM meta device of this cache set is not registered" /tmp/dmesg.1)
echo "refusal lines for cache set $cset after ${WAIT} s: $n"
check one-refusal-line test "$n" = 1
check refusal-names-device grep -q 'register_bcache() error /dev/vda: NVDIMM meta device' /tmp/dmesg.1
assemble ns
check replayed-by-rule sh -c "dmesg | grep -q 'bcache-nvm: /dev/pmem0: replaying add of vda'"
verify_previous
finish
