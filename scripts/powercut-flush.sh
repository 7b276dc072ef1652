#!/usr/bin/env bash
# Power cut that loses the disks' volatile caches: the cache and backing disks are logged
# by QEMU's blklogwrites, QEMU is SIGKILLed right after the guest's one flush of bcache0,
# and tools/logwrites-replay rebuilds each disk as of its last flush (every later write
# dropped unless FUA), so nothing the disks had not been told to make durable survives.
# The NVDIMM keeps every store (its file is mmap'd shared). One setup boot, then boot k runs
# round k and checks round k-1 (scripts/guest/flush-powercut.sh): fio's completed writes of
# round k-1 read back through bcache0, and, once writeback has cleaned the set, from the
# backing device itself. A last boot checks round N.
#
#   powercut-flush.sh [--rounds N] [--state DIR] [--gap TENTHS] [--break journal-preflush|writeback-flush]
#
# --state DIR keeps the images and logs in DIR (old ones there are removed first); default:
# a temporary directory, kept when a round fails (its path is printed). --gap: tenths of a
# second between the flush and the cut (default: random 0-2 s per round), the time bcache
# and the unverified writer get to write after the flush. Ends with "powercut-flush: K/N rounds verified"; stops at the first failing
# round. --break builds the module broken that way (BNVM_TEST_BREAK, scripts/build.sh), runs
# every round whatever fails, as long as the set still comes up and the boot reaches its
# cut, rebuilds the real module at the end and ends with "powercut-flush control X: F/C
# rounds failed" (C: rounds checked); the control passes (exit 0) when F > 0.
source "$(dirname "$0")/lib.sh"

rounds=20 state= gap= brk=
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--state) state=$2; shift 2 ;;
	--gap) gap=$2; shift 2 ;;
	--break) brk=$2; shift 2 ;;
	*) die "usage: powercut-flush.sh [--rounds N] [--state DIR] [--gap TENTHS] [--break journal-preflush|writeback-flush]" ;;
	esac
done
case "$brk" in
'' | journal-preflush | writeback-flush) ;;
*) die "powercut-flush: --break journal-preflush or writeback-flush" ;;
esac
tmp_state=0
if [ -z "$state" ]; then
	state=$(mktemp -d)
	tmp_state=1
fi
mkdir -p "$state"
rm -f "$state"/{nvdimm,cache,backing,scratch}.img "$state"/*.{base,log}

replay=$REPO/target/release/logwrites-replay
(cd "$REPO" && cargo build -q --release -p logwrites-replay) || die "powercut-flush: cannot build logwrites-replay"

if [ -n "$brk" ]; then
	log "powercut-flush: building the module with BNVM_TEST_BREAK=$brk"
	restore() {
		log "powercut-flush: rebuilding the real module"
		"$REPO/scripts/build.sh" > "$OUT/powercut-flush-restore.log" 2>&1 ||
			echo "powercut-flush: rebuilding the real module failed (see $OUT/powercut-flush-restore.log)" >&2
		[ $tmp_state = 0 ] || rm -rf "$state"
	}
	trap restore EXIT
	BNVM_TEST_BREAK=$brk "$REPO/scripts/build.sh" > "$OUT/powercut-flush-break.log" 2>&1 ||
		die "powercut-flush: BNVM_TEST_BREAK=$brk scripts/build.sh failed (see $OUT/powercut-flush-break.log)"
fi

vm=$REPO/scripts/vm.sh
ok=0 bad=0 keep=0
out=$(mktemp)
# boot LABEL VM-ARGS...: runs one boot, prints its output and time; its status is vm.sh's.
boot() {
	local label=$1 t0=$SECONDS rc=0
	shift
	echo "== $label"
	BNVM_VM_TIMING=1 "$vm" --state "$state" "$@" > "$out" 2> "$out.err" || rc=$?
	cat "$out"
	grep -v '^vm: .* s in QEMU after' "$out.err" >&2 || true
	echo "== $label: rc $rc, $((SECONDS - t0)) s ($(sed -n 's/^vm: .*: \([0-9]* s in QEMU after [0-9]* s\) waiting.*/\1 waiting for another guest/p' "$out.err"))"
	return $rc
}
# rebuild: each logged disk as of its last flush (the images QEMU left are replaced).
rebuild() {
	local d
	for d in cache backing; do
		"$replay" "$state/$d.base" "$state/$d.log" "$state/$d.img" || return 1
	done
}
report() {
	if [ -n "$brk" ]; then
		[ $((ok + bad)) = "$rounds" ] ||
			echo "powercut-flush: control stopped after $((ok + bad)) of $rounds rounds (a boot could not run its round)"
		echo "powercut-flush control $brk: $bad/$((ok + bad)) rounds failed"
	else
		echo "powercut-flush: $ok/$rounds rounds verified"
	fi
}
stop() {
	[ -z "$brk" ] || [ "$1" = 0 ] || [ $bad = 0 ] || set -- 0
	report
	if [ $keep = 1 ] || [ $tmp_state = 0 ]; then
		echo "powercut-flush: images and logs kept in $state"
	else
		rm -rf "$state"
	fi
	rm -f "$out" "$out.err"
	exit "$1"
}

boot setup nvm-powercut-setup.sh || { keep=1; stop 1; }
for k in $(seq 1 $((rounds + 1))); do
	run=1
	[ "$k" -le "$rounds" ] || run=0
	args=(--timeout 300)
	[ $run = 0 ] || args+=(--log-writes --cut-on BNVM-CUT)
	rc=0
	boot "boot $k: $([ $k -gt 1 ] && echo "check round $((k - 1))")$([ $k -gt 1 ] && [ $run = 1 ] && echo ", ")$([ $run = 1 ] && echo "run round $k")" \
		"${args[@]}" flush-powercut.sh "$k" "$run" $gap || rc=$?
	if [ "$k" -gt 1 ]; then
		# Round k-1 passed when this boot's checks of it all passed.
		if [ $rc = 0 ] && ! grep -q "^FAIL " "$out" &&
			grep -q "^PASS flush-verify-backing-$((k - 1))\$" "$out"; then
			ok=$((ok + 1))
			echo "PASS powercut-flush-round-$((k - 1))"
		else
			bad=$((bad + 1))
			echo "FAIL powercut-flush-round-$((k - 1)): see the boot's output above"
			[ -n "$brk" ] || { keep=1; stop 1; }
		fi
	elif [ $rc != 0 ]; then
		keep=1
		stop 1
	fi
	if [ $run = 1 ]; then
		# A boot that did not reach its cut left no round to check (a control's broken set).
		if [ $rc != 0 ]; then
			echo "FAIL powercut-flush-cut-$k: boot $k did not reach its cut"
			keep=1
			stop 1
		fi
		if ! rebuild; then
			echo "FAIL powercut-flush-replay-$k: logwrites-replay failed"
			keep=1
			stop 1
		fi
	fi
done
if [ -n "$brk" ]; then
	[ $bad -gt 0 ] && stop 0
	stop 1
fi
[ $ok = "$rounds" ] && stop 0
stop 1
