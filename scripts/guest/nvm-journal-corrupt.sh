# Boot 2 of the journal-on-NVDIMM round trip, on the state nvm-journal-write.sh left, with one
# jset corrupted: a jset in the middle of the bucket holding the newest jsets (neither the
# first nor the last of that bucket) gets 8 bytes of its header overwritten on /dev/pmem0, so
# its csum no longer matches. Then bcache is loaded and pmem0, the cache and the backing
# device registered. Checked: no oops; the kernel says "bad csum" for that jset; the cache set
# does not come up with silently lost journal entries (it refuses to run and writes nothing to
# the journal range, or it runs and the pattern of boot 1 still reads back, i.e. the jsets
# after the corrupted one were not needed).
. /guest/lib.sh
MIB=${1:-8}
S=/sys/fs/bcache
PMEM=/dev/pmem0

# md5 of the journal range, read around the page cache (bcache writes it through DAX).
jrange_md5() {
	dd if=$PMEM bs=4096 skip=$((jstart / 4096)) count=$(((jend - jstart) / 4096)) \
		iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
}
# The 8 bytes at byte offset $1 of pmem0, in hex.
bytes8() { dd if=$PMEM bs=8 count=1 skip="$1" iflag=skip_bytes 2>/dev/null | od -A n -t x1 | tr -d ' \n'; }

check show-journal sh -c "bcache-nvm show-journal /dev/vda $PMEM > /tmp/sj"
# Without the empty buckets.
grep -v -e ': 0 jset(s)$' -e 'offset 0 abs [0-9]*: bad magic$' /tmp/sj
set -- $(sed -n 's/^journal: .* bytes \[\([0-9]*\), \([0-9]*\)).*/\1 \2/p' /tmp/sj)
jstart=${1:-0} jend=${2:-0}
check journal-range test "$jend" -gt "$jstart"

# The bucket holding the newest seq, its jsets in bucket order, and the middle one.
# Fields: jset bucket B offset O abs A seq S last_seq L keys K bytes N
bucket=$(awk '$1 == "jset" && $9 + 0 >= max { max = $9 + 0; b = $3 } END { print b }' /tmp/sj)
awk -v b="$bucket" '$1 == "jset" && $3 == b' /tmp/sj > /tmp/bucket
n=$(wc -l < /tmp/bucket)
check newest-bucket-has-3-jsets test "${n:-0}" -ge 3
set -- $(sed -n "$((n / 2 + 1))p" /tmp/bucket)
voff=$5 vabs=$7 vseq=$9
set -- $(tail -n 1 /tmp/bucket)
newest=$9
set -- $(head -n 1 /tmp/bucket)
first=$9
echo "newest bucket $bucket: $n jsets, seq $first..$newest; corrupting seq $vseq at bucket offset $voff (abs $vabs)"
check victim-in-the-middle test "$vseq" -gt "$first" -a "$vseq" -lt "$newest"

# Overwrite 8 bytes inside the jset's header (uuid_bucket, covered by csum).
at=$((vabs + 64))
old=$(bytes8 $at)
printf '\336\255\276\357\336\255\276\357' | dd of=$PMEM bs=8 count=1 seek=$at oflag=seek_bytes conv=notrunc 2>/dev/null
sync
echo 3 > /proc/sys/vm/drop_caches
new=$(bytes8 $at)
echo "bytes at $at: $old -> $new"
check bytes-flipped test "$old" != "$new" -a "$new" = deadbeefdeadbeef
bcache-nvm show-journal /dev/vda $PMEM > /tmp/sj2
check tool-sees-bad-csum grep -q "^  end bucket $bucket offset $voff abs $vabs: bad csum\$" /tmp/sj2
grep '^replay:' /tmp/sj2
before=$(jrange_md5)

check load insmod /lib/modules/bcache.ko
dmesg -c > /dev/null
check register-meta sh -c "echo $PMEM > $S/register_nvdimm_meta"
if echo /dev/vda > $S/register 2>/tmp/reg-err; then cache_rc=0; else cache_rc=1; fi
echo "register /dev/vda: $([ $cache_rc = 0 ] && echo accepted || echo "refused: $(cat /tmp/reg-err)")"
echo /dev/vdb > $S/register 2>/dev/null
wait_for /dev/bcache0 50 && up=1 || up=0
sleep 1
echo "---- dmesg ----"
dmesg | grep -iE 'bcache|journal|nvdimm|csum'
echo "---- end ----"
check no-oops sh -c "! dmesg | grep -E 'Oops|BUG:|kernel BUG|panic|Call Trace|WARNING:'"
# journal_read_bucket: "<bucket>: bad csum, <bytes> bytes, offset <sector in the bucket>".
check dmesg-bad-csum sh -c "dmesg | grep -q 'journal_read_bucket() $bucket: bad csum, .* offset $((voff / 512))\$'"
set_uuid=$(bcache-nvm show-cache /dev/vda | sed -n 's/^  sb.set_uuid *//p')
if [ $up = 0 ]; then
	# Refused: the set must not be running and nothing may have touched the journal range.
	# The scan stops at the bad csum, so the newest jset replay sees is the one before it;
	# what refuses the set is whatever that older state no longer matches (a hole:
	# "journal entries ... missing!", or e.g. its prio buckets rewritten since:
	# "bad csum reading priorities").
	echo "cache set refused to run: $(dmesg | grep -E "journal entries .* missing|error on $set_uuid|failed to register" | head -n 2 | sed 's/^\[[^]]*\] //' | tr '\n' ' ')"
	check dmesg-set-refused sh -c "dmesg | grep -qE 'journal entries .* missing|error on $set_uuid|failed to register device'"
	check set-unregistered test ! -e "$S/$set_uuid"
	check set-not-running sh -c "test ! -e /dev/bcache0"
	sync
	echo 3 > /proc/sys/vm/drop_caches
	check journal-range-unchanged test "$(jrange_md5)" = "$before"
else
	# Ran: acceptable only if nothing that was needed is lost, i.e. boot 1's pattern reads back.
	echo "cache set ran: jsets $vseq..$newest were dropped by the scan (bad csum at seq $vseq)"
	check ran-without-losing-data pattern_matches /dev/bcache0 "$MIB"
fi
finish
