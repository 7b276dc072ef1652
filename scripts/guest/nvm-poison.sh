# Known bad blocks on the NVDIMM (the pmem driver's badblocks list, which DAX access honours:
# dax_direct_access refuses any range that touches one). Injected through
# /sys/block/pmem0/badblocks ("first-sector count"); QEMU's NVDIMM has no real poison.
# 1. Bad pages in free space: register still succeeds, the pages stay unmapped (one dmesg
#    line each names its namespace bytes) and the allocator never hands them out: one bad
#    page lies inside the 4 MiB range a new set's journal gets without it (0x1e800000, as
#    every other test run shows), so the journal goes elsewhere, and the set runs.
# 2. A bad page under the allocation lists (8 KiB, the list head): register fails with EIO
#    and dmesg names the bytes it could not read; nothing stays registered or held.
. /guest/lib.sh
S=/sys/fs/bcache
BB=/sys/block/pmem0/badblocks

check load insmod /lib/modules/bcache.ko
check format bcache-nvm format /dev/pmem0
# 1. Sectors 8 MiB .. 8 MiB + 4 KiB, and 4 KiB at 0x1e900000 (sector 0xf4800).
check inject-free sh -c "echo '16384 8' > $BB && echo '$((0x1e900000 / 512)) 8' > $BB"
dmesg -c >/dev/null
check register-despite-bad-page sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
check dmesg-bad-page-named sh -c "dmesg | grep -q 'bytes 0x800000..0x801000 are on the pmem driver.s badblocks list'"
check dmesg-bad-page-2-named sh -c "dmesg | grep -q 'bytes 0x1e900000..0x1e901000 are on the pmem driver.s badblocks list'"
check make-bcache make-bcache -b 128k -C /dev/vda -B /dev/vdb --writeback
check mark-cache bcache-nvm make-cache --nvdimm-meta /dev/vda
check register-cache sh -c "echo /dev/vda > $S/register"
check register-backing sh -c "echo /dev/vdb > $S/register"
check bcache0 wait_for /dev/bcache0
check journal-on-nvdimm sh -c "dmesg | grep -q 'journal on the NVDIMM'"
# "journal on the NVDIMM: 32 buckets at 0x... (namespace 0)": 32 x 128 KiB from there.
at=$(dmesg | sed -n 's/.*journal on the NVDIMM: 32 buckets at \(0x[0-9a-f]*\).*/\1/p' | tail -n 1)
echo "journal at ${at:-?}"
check journal-avoids-bad-page sh -c "[ -n '$at' ] && { [ $((0x1e900000)) -lt $((${at:-0})) ] || [ $((${at:-0} + (32 << 17))) -le $((0x1e900000)) ]; }"
check write-through-bcache0 dd if=/dev/zero of=/dev/bcache0 bs=4k count=256 oflag=direct
check fsync sync /dev/bcache0
u=$(cset)
check stop-set stop_set "$u"
# The set's directory goes first; its journal's pin goes with its cache, later (seconds later
# on the debug kernel): unregister is refused (EBUSY) until then.
check unregister eventually 300 sh -c "echo /dev/pmem0 > $S/unregister_nvdimm_meta 2>/dev/null"
# 2. The list head's page (bytes 8 KiB .. 12 KiB).
check inject-lists sh -c "echo '16 8' > $BB"
expect_write bad-lists-is-eio $S/register_nvdimm_meta /dev/pmem0 "Input/output error" "bytes 0x2000..0x3000 are known bad blocks"
check nothing-registered sh -c "! grep -q '^ns ' $S/nvdimm_meta"
check pmem0-not-held sh -c "exec 3<>/dev/pmem0"
finish
