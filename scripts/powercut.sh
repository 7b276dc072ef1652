#!/usr/bin/env bash
# Hard-crash (power-cut) test of the journal on the NVDIMM, with fio's verify state:
# one setup boot, then N rounds of a crash boot (fio random writes, sysrq c mid-run after
# fio saved which writes had completed) and a verify boot (bcache replays its journal from
# the NVDIMM; fio --verify_only --verify_state_load=1 checks every completed write), all
# on the same images.
#
#   powercut.sh [--rounds N] [--state DIR] [--no-sync]
#
# --state DIR keeps the images in DIR (any old ones there are removed first); default: a
# temporary directory. fio writes with sync=1 (each write REQ_FUA, so each completion
# promises durability); --no-sync is a negative control with plain writes, which bcache
# may lawfully lose (it journals them within journal_delay_ms, not before completing them).
# Ends with "powercut: K/N rounds verified"; non-zero on any failure (stops at the first).
source "$(dirname "$0")/lib.sh"

rounds=5 state= sync=1
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--state) state=$2; shift 2 ;;
	--no-sync) sync=0; shift ;;
	*) die "usage: powercut.sh [--rounds N] [--state DIR] [--no-sync]" ;;
	esac
done
if [ -z "$state" ]; then
	state=$(mktemp -d)
	trap 'rm -rf "$state"' EXIT
fi
mkdir -p "$state"
rm -f "$state"/{nvdimm,cache,backing,scratch}.img

vm=$REPO/scripts/vm.sh
ok=0
# boot LABEL VM-ARGS...: runs one boot, prints its output and time; its status is vm.sh's.
boot() {
	local label=$1 t0=$SECONDS rc=0
	shift
	echo "== $label"
	"$vm" --state "$state" "$@" || rc=$?
	echo "== $label: rc $rc, $((SECONDS - t0)) s"
	return $rc
}
report() { echo "powercut: $ok/$rounds rounds verified"; }

boot setup nvm-powercut-setup.sh || { report; exit 1; }
for r in $(seq 1 "$rounds"); do
	boot "round $r crash" --expect-crash nvm-powercut-crash.sh "$r" "$sync" || { report; exit 1; }
	boot "round $r verify" nvm-powercut-verify.sh "$r" "$sync" || { report; exit 1; }
	ok=$((ok + 1))
done
report
