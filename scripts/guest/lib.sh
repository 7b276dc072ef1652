# Helpers shared by the guest scripts (sourced). Checks print one line each:
# "PASS name" or "FAIL name: reason"; the host counts them.

failures=0

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }

# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
	local name=$1
	shift
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(echo "$out" | tail -n 3 | tr '\n' ' ')"; fi
}

# wait_for PATH [TENTHS]: waits for a path to appear (default 10 s).
wait_for() {
	local n=${2:-100}
	while [ ! -e "$1" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
	[ -e "$1" ]
}

# The known pattern the reboot tests write and read back: SIZE MiB of numbered lines.
pattern() { seq 1 1000000000 | sed 's/^/bcache-nvm pattern line /' | head -c "$(( $1 * 1024 * 1024 ))"; }

finish() { [ "$failures" = 0 ]; exit $?; }

# pattern_matches DEV MIB: DEV starts with the known pattern of MIB MiB.
pattern_matches() { pattern "$2" | cmp -n "$(( $2 * 1024 * 1024 ))" - "$1"; }
