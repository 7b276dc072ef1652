# NVDIMM space given back (release_nvdimm_owner, the failed/abandoned start, reuse):
# - release refused while the owner's cache set runs (EBUSY), unknown uuid (ENOENT), both
#   with their dmesg line; released once the set is stopped, free pages back to the start;
# - 100 cycles of a brand-new cache set (make-bcache, a new set uuid each time) started,
#   stopped and released: free pages and owners back to their start value every cycle, the
#   set header's used heads never grow (released heads are reused: 100 owners > 66 heads);
# - the state a crash between journal allocation and the superblock write leaves (the
#   owner holds its range, the cache superblock still has no NVDIMM journal) registers
#   again with one range, not two;
# - `bcache-nvm show` sees a range the kernel allocated a moment before.
. /guest/lib.sh
S=/sys/fs/bcache
CYCLES=${1:-100}

free_pages() { sed -n 's/^ns 0 .* free \([0-9]*\)$/\1/p' $S/nvdimm_meta; }
owners() { grep -c '^owner' $S/nvdimm_meta; }
heads_used() { bcache-nvm show /dev/pmem0 | sed -n 's/^set_header: size [0-9]* used \([0-9]*\)$/\1/p'; }
# start_set: a brand-new cache set running on /dev/vda; sets u.
start_set() { new_sb && register_wait "$u"; }
# register_wait UUID: registers /dev/vda and waits for its cache set.
register_wait() { echo /dev/vda > $S/register && wait_for "$S/$1"; }
# stop_set UUID: stops the cache set and waits until it is gone and its cache released (the
# journal's pin goes with the cache, after the set's sysfs directory).
stop_set() {
	echo 1 > "$S/$1/stop" && n=100 &&
		while [ -e "$S/$1" ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done && [ ! -e "$S/$1" ] &&
		while ! grep -q "^owner $1 .* idle\$" $S/nvdimm_meta && [ $n -gt 0 ]; do
			sleep 0.1
			n=$((n - 1))
		done && grep -q "^owner $1 .* idle\$" $S/nvdimm_meta
}

check load insmod /lib/modules/bcache.ko
check format bcache-nvm format /dev/pmem0
check register-meta sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
free0=$(free_pages)
check start-values sh -c "[ -n '$free0' ] && [ $(owners) = 0 ]"

here start-set start_set
check show-sees-new-owner sh -c "bcache-nvm show /dev/pmem0 | grep -q 'uuid $u'"
check listed-in-use sh -c "grep '^owner $u ' $S/nvdimm_meta | grep -q ' ranges 1 in-use$'"
expect_write release-pinned-ebusy $S/release_nvdimm_owner "$u" "busy" "in use by 1 running cache set"
expect_write release-unknown-enoent $S/release_nvdimm_owner 00000000-1111-2222-3333-444444444444 "No such file" "release_nvdimm_owner: 00000000-1111-2222-3333-444444444444"
expect_write release-garbage-einval $S/release_nvdimm_owner not-a-uuid "Invalid argument" "expected a cache set uuid"
check stop-set stop_set "$u"
check listed-idle sh -c "grep '^owner $u ' $S/nvdimm_meta | grep -q ' idle$'"
dmesg -c >/dev/null
check release-after-stop sh -c "echo $u > $S/release_nvdimm_owner"
check release-dmesg sh -c "dmesg | grep -q 'release_nvdimm_owner: $u: released'"
check free-pages-back sh -c "[ $(free_pages) = $free0 ] && [ $(owners) = 0 ]"
used0=$(heads_used)

# The persistent state of a crash after the journal range was allocated and before the cache
# superblock naming it was written: the range recorded for the set uuid, the superblock as
# make-bcache left it. Registering again must reuse the range.
here crash-state-new-sb new_sb
check crash-state-save-sb dd if=/dev/vda of=/tmp/sb bs=4096 count=2 iflag=direct
check crash-state-start register_wait "$u"
check crash-state-stop stop_set "$u"
# The superblock as before the start: same set uuid, no journal on the NVDIMM in it.
check crash-state-restore-sb dd if=/tmp/sb of=/dev/vda bs=4096 count=2 oflag=direct conv=notrunc
dmesg -c >/dev/null
check crash-state-register register_wait "$u"
check crash-state-reused sh -c "dmesg | grep -q 'reusing its NVDIMM journal range'"
check crash-state-one-range sh -c "grep '^owner $u ' $S/nvdimm_meta | grep -q ' ranges 1 '"
check crash-state-stop-again stop_set "$u"
check crash-state-release sh -c "echo $u > $S/release_nvdimm_owner"

bad=0
for i in $(seq 1 "$CYCLES"); do
	if ! start_set; then bad="$i: start"; break; fi
	if ! stop_set "$u"; then bad="$i: stop"; break; fi
	if ! echo "$u" > $S/release_nvdimm_owner; then bad="$i: release"; break; fi
	f=$(free_pages) o=$(owners)
	if [ "$f" != "$free0" ] || [ "$o" != 0 ]; then bad="$i: free $f (start $free0), owners $o"; break; fi
done
if [ "$bad" = 0 ]; then pass "cycles-$CYCLES"; else fail "cycles-$CYCLES" "cycle $bad"; fi
check heads-not-grown sh -c "[ $(heads_used) -le $used0 ]"
check nvm-check bcache-nvm check /dev/pmem0
finish
