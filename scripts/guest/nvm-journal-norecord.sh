# Boot 2 of the journal-on-NVDIMM round trip, on the state nvm-journal-write.sh left, with the
# cache set's journal range no longer recorded in the nvm-pages lists: its record slot on
# /dev/pmem0 is zeroed (the recs block's `used` is left stale, as a lost record would leave it;
# the kernel repairs `used` when it loads the lists). Registering the cache must then fail with
# a log line naming the cache set and "No journal range recorded ...", without an oops and
# without writing the cache superblock.
. /guest/lib.sh
S=/sys/fs/bcache
PMEM=/dev/pmem0

sb_md5() { dd if=/dev/vda bs=4096 count=1 skip=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1; }

set_uuid=$(bcache-nvm show-cache /dev/vda | sed -n 's/^  sb.set_uuid *//p')
check set-uuid test -n "$set_uuid"
check show-journal sh -c "bcache-nvm show-journal /dev/vda $PMEM > /tmp/sj"
grep -e '^journal:' -e '^record:' /tmp/sj
check journal-recorded grep -q '^record: recorded' /tmp/sj
jstart=$(sed -n 's/^journal: .* bytes \[\([0-9]*\), .*/\1/p' /tmp/sj)
pgoff=$((${jstart:-0} / 4096))

# The record of the journal range among the cache set's records.
# Lines: "head I: uuid U ..." / "  ns N recs at B: used U ..." / "    rec at A: ns N pgoff P order O ..."
bcache-nvm show $PMEM > /tmp/show
awk -v u="$set_uuid" '$1 == "head" { h = ($3 == "uuid" && $4 == u) } h' /tmp/show
slot=$(awk -v u="$set_uuid" -v p="$pgoff" '
	$1 == "head" { h = ($3 == "uuid" && $4 == u) }
	h && $1 == "rec" && $6 == "pgoff" && $7 == p { sub(":", "", $3); print $3 }' /tmp/show)
echo "cache set $set_uuid: journal at byte $jstart (pgoff $pgoff), record slot at byte ${slot:-none}"
check record-found test -n "$slot"

dd if=/dev/zero of=$PMEM bs=8 count=1 seek="${slot:-0}" oflag=seek_bytes conv=notrunc 2>/dev/null
sync
echo 3 > /proc/sys/vm/drop_caches
check record-gone sh -c "! bcache-nvm show $PMEM | grep -q '^    rec at $slot:'"
bcache-nvm show-journal /dev/vda $PMEM > /tmp/sj2
grep '^record:' /tmp/sj2
check tool-says-not-recorded grep -q '^record: NOT recorded' /tmp/sj2
# The stale `used` is what bcache-nvm check reports (informational).
bcache-nvm check $PMEM 2>&1 | head -n 3

before=$(sb_md5)
check load insmod /lib/modules/bcache.ko
check register-meta sh -c "echo $PMEM > $S/register_nvdimm_meta"
dmesg -c > /dev/null
check register-cache-refused sh -c "! echo /dev/vda > $S/register"
sleep 1
echo "---- dmesg ----"
dmesg | grep -iE 'bcache|journal|nvdimm'
echo "---- end ----"
check no-oops sh -c "! dmesg | grep -E 'Oops|BUG:|kernel BUG|panic|Call Trace|WARNING:'"
check dmesg-no-journal-range sh -c "dmesg | grep 'No journal range recorded for this cache set on the NVDIMM' | grep -q '$set_uuid'"
check set-not-registered test ! -e "$S/$set_uuid"
check sb-unchanged test "$(sb_md5)" = "$before"
finish
