# Fault injection (debug kernel only: CONFIG_FAILSLAB, CONFIG_FAIL_MAKE_REQUEST and their
# debugfs): allocation failures during registration, I/O errors on the cache disk.
#  1. failslab, register_nvdimm_meta: the k-th slab allocation of the write fails, for
#     k = 1, 2, ... until a register sees no injected failure. Each failed register returns
#     an errno, names /dev/pmem0 in dmesg when the failure was in bcache's code, leaves the
#     device unregistered and registrable; the lists stay clean.
#  2. failslab, register of the cache device (/dev/vda) of a new cache set with its journal
#     on the NVDIMM: the same; no half-started set is left, no NVDIMM range leaks; finally
#     the set starts and data written through /dev/bcache0 reads back.
#  3. fail_make_request on the cache disk (vda): (a) data writes fail under writeback: the
#     writer gets EIO, bcache counts the errors and keeps the set below its error limit,
#     fails and stops it above; (b) the journal's empty PREFLUSH of the cache disk fails: the
#     jset is not stored on the NVDIMM, the fsync that waited for it fails, the set errors.
# After each case the set is stopped, the meta device unregistered and its lists clean.
#
# "The k-th allocation" is /proc/self/fail-nth (Documentation/fault-injection: systematic
# faults in one syscall), not failslab's interval: interval's counter is global and never
# reset, so interval=k fails whichever call brings it to a multiple of k.
. /guest/lib.sh
S=/sys/fs/bcache
B=/sys/block/bcache0/bcache
F=/sys/kernel/debug/failslab
R=/sys/kernel/debug/fail_make_request
MAXK=${1:-3000}
# CASES: which cases run (default all: 123); case 3 alone makes its own cache set.
CASES=${2:-123}
# K1, STEP: case 2 tries k = K1, K1 + STEP, ... (default: every k to 20, then ~10 more).
K1=${3:-1}
STEP=${4:-}
want() { case "$CASES" in *$1*) true ;; *) false ;; esac; }

if [ ! -d $F ] || [ ! -d $R ] || [ ! -e /proc/self/fail-nth ]; then
	fail fault-injection-present "no $F, $R or /proc/self/fail-nth: run on the debug kernel (BCACHE_NVM_KERNEL=debug)"
	finish
fi
pass fault-injection-present

# failslab: nothing fails unless a task asks with fail-nth; GFP_KERNEL allocations count;
# each injected failure is logged with its stack (verbose 2; rate-limited to 10 per 5 s).
echo 0 > $F/probability
echo 0 > $F/times
echo N > $F/ignore-gfp-wait
echo N > $F/cache-filter
echo 2 > $F/verbose

# nth_write FILE VALUE K: writes VALUE to FILE from a shell whose K-th fault-injection call
# from the write on fails (file descriptors opened first: the open is not counted). Prints
# the write's error (if any), then "fired rc=N" or "clean rc=N left=M" (M: K less the calls
# the write made).
nth_write() {
	sh -c 'exec 3>"$1" 4<>/proc/self/fail-nth || exit 90
echo "$3" >&4
echo "$2" >&3
rc=$?
read n <&4
if [ "$n" = 0 ]; then echo "fired rc=$rc"; else echo "clean rc=$rc left=$n"; fi' nth "$@" 2>&1
}

# nth_guarded ARGS: nth_write, with the blocked tasks and the kernel log's tail dumped (to
# the output) if the write has not returned after 120 s.
nth_guarded() {
	# Not on the caller's stdout: $(...) would wait for the sleep.
	(sleep 120 && echo "k=$3: the write hangs" >&2 && echo w > /proc/sysrq-trigger &&
		dmesg | tail -n 120 >&2) >/dev/null &
	local wd=$!
	nth_write "$@"
	kill $wd 2>/dev/null
}

# bad CHECK TEXT: notes a failed k of a loop (reported once per check at the loop's end).
bad() {
	local v
	v=bad_$(echo "$1" | tr - _)
	eval "$v=\$((\${$v:-0} + 1))"
	echo "  k=$k $1: $2"
}
# verdict CHECK WHAT: one PASS/FAIL line for a loop's check.
verdict() {
	local n
	eval "n=\${bad_$(echo "$1" | tr - _):-0}"
	if [ "$n" = 0 ]; then pass "$1"; else fail "$1" "$n k wrong: $2"; fi
}
# stack: where the last injected failure hit: its stack's functions, innermost first,
# without the fault injection and slab ones ("@b": in bcache.ko).
stack() {
	dmesg | sed -n '/FAULT_INJECTION/,$p' | grep -v '\] *? ' | grep -oE '[A-Za-z0-9_.]+\+0x[0-9a-f]+/0x[0-9a-f]+( \[bcache\])?' |
		grep -vE '^(dump_stack|should_fail|__should_fail|fail_dump|kmem_cache_alloc|__kmalloc|kmalloc|slab_|__slab|kasan|__kasan|kvmalloc|__kvmalloc|krealloc|__do_krealloc)' |
		sed 's/+0x.*\[bcache\]/@b/; s/+0x.*//' | head -n 5 | tr '\n' ' '
}
# said: what bcache logged (not the fault injection's own lines), on one line.
said() { dmesg | grep -E 'bcache|nvm-pages' | grep -v FAULT_INJ | tail -n 2 | sed 's/^\[[ 0-9.]*\] //' | tr '\n' ' '; }
# ours: the last injected failure's stack is in bcache.ko (else in the VFS, before us).
ours() { dmesg | sed -n '/FAULT_INJECTION/,$p' | grep -q '\[bcache\]'; }
lists_clean() { bcache-nvm check /dev/pmem0; }
meta_listed() { grep -q '^ns 0 path /dev/pmem0 ' $S/nvdimm_meta; }

check load insmod /lib/modules/bcache.ko
# (Case 3 alone makes its own set, format included.)
if want 1 || want 2; then check nvm-format bcache-nvm format /dev/pmem0; fi

if want 1; then
# --- 1. failslab during register_nvdimm_meta -------------------------------------------
t0=$(date +%s)
k=1 fired=0 ourfail=0
while [ $k -le "$MAXK" ]; do
	dmesg -c >/dev/null
	out=$(nth_guarded $S/register_nvdimm_meta /dev/pmem0 $k)
	echo "  k=$k $(echo "$out" | tr '\n' ' ')| $(stack)| $(said)"
	case "$out" in
	*"clean rc=0 "*) break ;;
	*"clean rc="*) bad meta-fail-only-injected "failed with no injected failure: $out" ;;
	*"fired rc=0")
		fired=$((fired + 1))
		meta_listed || bad meta-success-is-registered "write succeeded, device not listed"
		echo /dev/pmem0 > $S/unregister_nvdimm_meta || bad meta-success-is-registered "unregister failed"
		;;
	*"fired rc="*)
		fired=$((fired + 1))
		echo "$out" | grep -q 'rc=0' && bad meta-errno "no errno: $out"
		echo "$out" | grep -qE 'Cannot allocate memory|Invalid|No such|busy|not supported|Input/output' ||
			bad meta-errno "unexpected error: $out"
		if ours; then
			ourfail=$((ourfail + 1))
			dmesg | grep -v FAULT_INJECTION | grep -q '/dev/pmem0' ||
				bad meta-dmesg-names-device "no dmesg line names /dev/pmem0: $(echo "$out" | head -n 1)"
		fi
		meta_listed && bad meta-failed-not-listed "listed after a failed register"
		if sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta" 2>/dev/null && meta_listed; then
			echo /dev/pmem0 > $S/unregister_nvdimm_meta || bad meta-registrable-after "unregister failed"
		else
			bad meta-registrable-after "clean register failed: $(dmesg | tail -n 2)"
		fi
		;;
	*) bad meta-fail-only-injected "the write did not run: $out" ;;
	esac
	k=$((k + 1))
done
echo "register_nvdimm_meta: k = 1..$k tried ($fired injected failures, $ourfail in bcache.ko) in $(($(date +%s) - t0)) s"
check meta-loop-ended test "$k" -le "$MAXK"
verdict meta-fail-only-injected "a register failed without an injected failure"
verdict meta-errno "a failed register without a clear errno"
verdict meta-dmesg-names-device "a failure in bcache.ko without a dmesg line naming the device"
verdict meta-failed-not-listed "a failed register left the device registered"
verdict meta-success-is-registered "a register that succeeded despite a failure did not register"
verdict meta-registrable-after "the device could not be registered after a failed register"
check meta-registered meta_listed
check meta-lists-clean lists_clean

fi

if want 2; then
# --- 2. failslab during the start of a new cache set -----------------------------------
# Each k starts a brand-new set (new_sb): a set that started (the last k, or a k whose
# failure was tolerated) is stopped, its NVDIMM range released and the cache made anew.
# fresh: a new cache superblock for the next k, after a set that started.
fresh() {
	stop_set "$u" || { echo "fresh: set $u did not stop"; return 1; }
	eventually 100 sh -c "grep -q '^owner $u .* idle\$' $S/nvdimm_meta" ||
		{ echo "fresh: owner not idle: $(grep '^owner' $S/nvdimm_meta)"; return 1; }
	echo "$u" > $S/release_nvdimm_owner ||
		{ echo "fresh: release failed: $(dmesg | tail -n 2)"; return 1; }
	eventually 50 new_sb ||
		{ echo "fresh: new_sb failed: $(make-bcache -b 128k -C /dev/vda --wipe-bcache 2>&1 | tail -n 2)"; return 1; }
}
# The set's journal goes on /dev/pmem0 (registered by case 1, if it ran).
meta_listed || check c2-register-meta sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
# How many fault-injection calls one clean start makes (fail-nth counts them down).
here new-sb new_sb
out=$(nth_write $S/register /dev/vda 1000000)
calls=$((1000000 - ${out##*left=}))
echo "a clean start of a new cache set: $out: $calls slab allocations counted"
check set-clean-start test -e $S/$u
here fresh-after-count fresh
[ -n "$u" ] && ! test -e "$S/$u" || MAXK=0
# Every k up to 20, then about 10 more evenly spread over the rest: a k whose failure is
# tolerated (a __GFP_NOWARN allocation with a fallback) starts a set, which costs ~10 s to
# stop and make anew under KASAN and TCG, and the run must fit in vm.sh's 900 s.
stride=$(((calls - 20) / 10))
[ "$stride" -ge 1 ] || stride=1
t0=$(date +%s)
[ -z "$STEP" ] || stride=$STEP
k=$K1 fired=0 ourfail=0 named=0 tried=0 tolerated=0 errnos=
while [ $k -le "$MAXK" ]; do
	dmesg -c >/dev/null
	tried=$((tried + 1))
	out=$(nth_guarded $S/register /dev/vda $k)
	echo "  k=$k $(echo "$out" | tr '\n' ' ')| $(stack)| $(said)"
	case "$out" in
	*"clean rc=0 "*) break ;;
	*"clean rc="*) bad set-fail-only-injected "failed with no injected failure: $out $(said)" ;;
	*"fired rc=0")
		fired=$((fired + 1)) tolerated=$((tolerated + 1))
		# Tolerated: the set must have started; then a new one for the next k.
		test -e $S/$u || bad set-tolerated-started "the write succeeded, no set $u"
		fresh || { bad set-tolerated-started "the set that started did not stop and release"; break; }
		;;
	*"fired rc="*)
		fired=$((fired + 1))
		ours && ourfail=$((ourfail + 1))
		# ENOMEM; upstream's register_bcache() makes any failure to open the device EINVAL
		# ("failed to open device") and a set that does not start ENODEV.
		e=$(echo "$out" | grep -oE 'Cannot allocate memory|Invalid argument|No such device' | head -n 1)
		[ -n "$e" ] || bad set-errno "no clear errno: $(echo "$out" | head -n 1) at $(stack)"
		errnos="$errnos
$e"
		# register_bcache's line names the device (patch 0009), once it has copied the path
		# (a failure before bcache's code, or of that copy, cannot name it).
		if dmesg | grep -qE "error (/dev/)?vda: "; then
			named=$((named + 1))
		elif ours && ! stack | grep -q '^kstrndup '; then
			bad set-dmesg-names-device "no dmesg line names vda: $(said)"
		fi
		gone $S/$u || bad set-no-half-started "$S/$u still there 30 s after a failed start"
		# A new set that failed to start frees its NVDIMM journal range (once its cache is
		# released, which may come after its directory is gone).
		eventually 100 sh -c "! grep '^owner $u ' $S/nvdimm_meta | grep -qv ' pages 0 '" ||
			bad set-nvdimm-range-freed "$(grep "^owner $u " $S/nvdimm_meta)"
		;;
	*) bad set-fail-only-injected "the write did not run: $out" ;;
	esac
	if [ $k -lt 20 ] && [ -z "$STEP" ]; then k=$((k + 1)); else k=$((k + stride)); fi
done
echo "register of a new cache set: $tried k tried of 1..$k ($calls allocations; $fired injected failures, $tolerated tolerated, $ourfail in bcache.ko, $named with a dmesg line naming vda) in $(($(date +%s) - t0)) s"
echo "errnos of the failed starts: $(echo "$errnos" | sed '/^$/d' | sort | uniq -c | tr '\n' ';')"
check set-loop-ended test "$k" -le "$MAXK"
verdict set-fail-only-injected "a start failed without an injected failure"
verdict set-errno "a failed start without a clear errno"
verdict set-dmesg-names-device "a failed start without a dmesg line naming the device"
verdict set-tolerated-started "a start that tolerated a failure did not run"
verdict set-no-half-started "a failed start left the set's directory behind"
verdict set-nvdimm-range-freed "a failed start kept its NVDIMM journal range"
check set-running test -e $S/$u
check make-backing make-bcache -B /dev/vdb --writeback
check register-backing sh -c "echo /dev/vdb > $S/register"
check attach eventually 100 sh -c "echo $u > /sys/block/vdb/bcache/attach"
check bcache0 wait_for /dev/bcache0
write_dirty_pattern 4
stop_backing() { [ -e $B/stop ] && echo 1 > $B/stop; gone /dev/bcache0; }
check stop-bcache0 stop_backing
check stop-set stop_set "$u"
check unregister-meta eventually 300 sh -c "echo /dev/pmem0 > $S/unregister_nvdimm_meta 2>/dev/null"
check set-lists-clean lists_clean

fi

if want 3; then
# --- 3. fail_make_request on the cache disk ---------------------------------------------
# Every bio to vda passes should_fail_bio(bio, its size): with space 1, a bio with data
# (size >= 1) fails and an empty flush (size 0) never does.
echo 0 > $R/times
echo 100 > $R/probability
echo 1 > $R/interval
echo N > $R/task-filter
echo 1 > $R/verbose
echo 1 > $R/space
vda_fails() { echo "$1" > /sys/block/vda/make-it-fail; }
# writes N SEEK: N direct 4 KiB writes to bcache0 from 4 KiB block SEEK on, one dd each;
# prints how many failed with EIO.
writes() {
	local i=0 eio=0
	while [ $i -lt "$1" ]; do
		# Not once bcache0 is gone: dd would create a regular file in its place.
		[ -b /dev/bcache0 ] || break
		dd if=/dev/urandom of=/dev/bcache0 bs=4k count=1 seek=$(($2 + i)) oflag=direct 2>/tmp/dd.err ||
			{ grep -q 'Input/output error' /tmp/dd.err && eio=$((eio + 1)); }
		i=$((i + 1))
	done
	echo $eio
}
start_set() {
	check register-meta sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
	check register-cache sh -c "echo /dev/vda > $S/register"
	check register-backing sh -c "echo /dev/vdb > $S/register"
	check bcache0 wait_for /dev/bcache0
	echo writeback > $B/cache_mode
	echo 0 > $B/sequential_cutoff
	echo 0 > $B/writeback_running
}
# set_gone NAME: the set failed: it and bcache0 go away, the meta device is released, the
# lists check clean.
set_gone() {
	check $1-set-stopped gone $S/$u
	check $1-bcache0-stopped eventually 300 test ! -b /dev/bcache0
	vda_fails 0
	check $1-meta-released eventually 100 sh -c "echo /dev/pmem0 > $S/unregister_nvdimm_meta"
	check $1-lists-clean lists_clean
}

# (a) data writes fail. Below bcache's error limit (8 errors, decaying): 4 failures.
if want 2; then
	start_set
else
	new_cache_set nvdimm
	u=$(cset)
	echo writeback > $B/cache_mode
	echo 0 > $B/sequential_cutoff
	echo 0 > $B/writeback_running
fi
dmesg -c >/dev/null
echo 4 > $R/times
vda_fails 1
eio=$(writes 16 1024)
echo "4 failing bios: $eio of 16 writes got EIO; times left $(cat $R/times)"
dmesg | grep -E 'bcache|vda' | grep -v FAULT_INJ | head -n 6
check a-writer-gets-eio test "$eio" -ge 1
check a-all-injected test "$(cat $R/times)" = 0
check a-dmesg-names-vda sh -c "dmesg | grep -q 'vda: IO error on writing data to cache'"
check a-set-keeps-running test -e $S/$u
vda_fails 0
pattern 1 > /tmp/p1
check a-write-after-errors dd if=/tmp/p1 of=/dev/bcache0 bs=1M seek=64 oflag=direct
check a-reads-back sh -c "dd if=/dev/bcache0 bs=1M skip=64 count=1 iflag=direct 2>/dev/null | cmp - /tmp/p1"
# Above it: every data bio fails; the set goes to error and stops.
dmesg -c >/dev/null
echo -1 > $R/times
vda_fails 1
eio=$(writes 16 2048)
echo "every bio failing: $eio of 16 writes got EIO"
dmesg | grep -E 'bcache|vda' | grep -v FAULT_INJ | head -n 8
check a-limit-writer-gets-eio test "$eio" -ge 1
# (Which failed I/O crosses the limit varies: a data write, or a read of dirty data.)
check a-limit-dmesg-too-many sh -c "dmesg | grep -q 'vda: too many IO errors'"
check a-limit-dmesg-set-error sh -c "dmesg | grep -q 'error on $u'"
set_gone a-limit
echo 0 > $R/times

# (b) only the journal's PREFLUSH fails: a fresh set, its first flush spent; then the bio
# after one 4 KiB write's data bio is the journal's empty PREFLUSH, whichever journal write
# (the fsync's or the journal's 100 ms timer's) sends it. interval 2 with times 1: the first
# bio passes, the second fails (the interval counter has not moved yet: it counts only
# while interval > 1).
check b-format bcache-nvm format --force /dev/pmem0
check b-register-meta sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
here b-new-sb new_sb
# vdb still says dirty for the failed set of (a): a new backing superblock.
dd if=/dev/zero of=/dev/vdb bs=4096 count=2 oflag=direct 2>/dev/null
check b-make-backing make-bcache -B /dev/vdb --writeback
check b-register-cache sh -c "echo /dev/vda > $S/register"
check b-register-backing sh -c "echo /dev/vdb > $S/register"
check b-attach eventually 100 sh -c "echo $u > /sys/block/vdb/bcache/attach"
check b-bcache0 eventually 100 test -b /dev/bcache0
echo writeback > $B/cache_mode
echo 0 > $B/writeback_running
echo 0 > $B/sequential_cutoff
sync /dev/bcache0
sleep 1
echo 0 > $R/space
echo 2 > $R/interval
echo 2 > $R/verbose
echo 1 > $R/times
dmesg -c >/dev/null
vda_fails 1
# rc "none": no bcache0 to write to (then b-fsync-fails must not pass).
rc=none
if [ -b /dev/bcache0 ]; then
	dd if=/dev/urandom of=/dev/bcache0 bs=4k count=1 seek=4096 oflag=direct conv=fsync 2>/tmp/dd.err
	rc=$?
fi
sleep 1
vda_fails 0
echo "write + fsync with the PREFLUSH failing: dd exit $rc: $(cat /tmp/dd.err | tr '\n' ' ')"
dmesg | grep -E 'bcache|vda|FAULT_INJ|journal' | head -n 12
check b-injected-once test "$(cat $R/times)" = 0
check b-failed-bio-is-journal-preflush sh -c "dmesg | sed -n '/FAULT_INJECTION/,\$p' | grep -q journal_write_unlocked"
check b-jset-not-stored sh -c "dmesg | grep -q 'journal flush failed (-5), jset not stored'"
check b-fsync-fails sh -c "[ '$rc' = 1 ] && grep -q 'Input/output error' /tmp/dd.err"
check b-set-error sh -c "dmesg | grep -q 'error on $u: journal flush error'"
set_gone b
echo 1 > $R/interval
echo 0 > $R/times
fi
finish
