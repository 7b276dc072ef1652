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

# here NAME COMMAND...: as check, but runs COMMAND in this shell (it may set variables).
here() {
	local name=$1
	shift
	if "$@" > /tmp/here.out 2>&1; then pass "$name"; else fail "$name" "$(tail -n 3 /tmp/here.out | tr '\n' ' ')"; fi
}

# expect_write NAME FILE VALUE ERRTEXT DMESGTEXT: writing VALUE fails with ERRTEXT (strerror)
# and dmesg gains a line containing DMESGTEXT.
expect_write() {
	local name=$1 file=$2 value=$3 err=$4 msg=$5 out
	dmesg -c >/dev/null
	if out=$(sh -c "echo '$value' > $file" 2>&1); then
		fail "$name" "write of '$value' succeeded"
	elif ! echo "$out" | grep -q "$err"; then
		fail "$name" "wanted '$err', got '$out'"
	elif ! dmesg | grep -q "$msg"; then
		fail "$name" "no dmesg line with '$msg': $(dmesg | tail -n 2)"
	else
		pass "$name"
	fi
}

# cset: the cache set uuid of the cache superblock on /dev/vda (bcache-tools'
# bcache-super-show stops at an NVDIMM_META superblock, version 5; our tool reads it).
cset() { bcache-nvm show-cache /dev/vda | sed -n 's/^ *sb.set_uuid *//p'; }

# wait_for PATH [TENTHS]: waits for a path to appear (default 10 s).
wait_for() {
	local n=${2:-100}
	while [ ! -e "$1" ] && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
	[ -e "$1" ]
}

# eventually TENTHS COMMAND...: retries COMMAND every 0.1 s until it succeeds, at most TENTHS
# times; its status is the last try's. For what bcache finishes asynchronously (a stopping
# cache set releases its devices after its sysfs directory is gone).
eventually() {
	local n=$1
	shift
	until "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

# The known pattern the reboot tests write and read back: SIZE MiB of numbered lines.
pattern() { seq 1 1000000000 | sed 's/^/bcache-nvm pattern line /' | head -c "$(( $1 * 1024 * 1024 ))"; }

finish() { [ "$failures" = 0 ]; exit $?; }

# pattern_matches DEV MIB: DEV starts with the known pattern of MIB MiB.
pattern_matches() { pattern "$2" | cmp -n "$(( $2 * 1024 * 1024 ))" - "$1"; }

# new_cache_set [nvdimm]: a new cache set on /dev/vda caching $backing (default /dev/vdb) with
# our bcache.ko loaded; with "nvdimm", /dev/pmem0 is formatted and registered as its NVDIMM
# meta device and the cache is marked NVDIMM_META first. Waits for /dev/bcache0.
new_cache_set() {
	if [ "${1:-}" = nvdimm ]; then
		check nvm-format bcache-nvm format /dev/pmem0
		check register-meta sh -c "echo /dev/pmem0 > /sys/fs/bcache/register_nvdimm_meta"
	fi
	check make-bcache make-bcache -b 128k -C /dev/vda -B "${backing:-/dev/vdb}" --writeback
	if [ "${1:-}" = nvdimm ]; then
		check mark-cache bcache-nvm make-cache --nvdimm-meta /dev/vda
	fi
	check register-cache sh -c "echo /dev/vda > /sys/fs/bcache/register"
	check register-backing sh -c "echo ${backing:-/dev/vdb} > /sys/fs/bcache/register"
	check bcache0 wait_for /dev/bcache0
}

# write_dirty_pattern MIB: writeback mode with writeback stopped, so the pattern written
# through /dev/bcache0 stays dirty on the cache; checks it reads back.
write_dirty_pattern() {
	local b=/sys/block/bcache0/bcache
	echo writeback > $b/cache_mode
	echo 0 > $b/sequential_cutoff
	echo 0 > $b/writeback_running
	pattern "$1" | dd of=/dev/bcache0 bs=1M oflag=direct iflag=fullblock 2>/dev/null
	sync
	check write-pattern pattern_matches /dev/bcache0 "$1"
	check state-dirty grep -q dirty $b/state
}

# gone PATH [TENTHS]: waits for PATH to disappear (default 30 s): what bcache tears down
# asynchronously (a stopping cache set's sysfs directory, /dev/bcache0).
gone() { eventually "${2:-300}" test ! -e "$1"; }

# stop_set UUID: stops the running cache set UUID and waits until it is gone.
stop_set() {
	[ -e "/sys/fs/bcache/$1/stop" ] && echo 1 > "/sys/fs/bcache/$1/stop"
	gone "/sys/fs/bcache/$1"
}

# new_sb: a brand-new cache superblock on /dev/vda (new set uuid), marked NVDIMM_META; sets u
# to its set uuid (read before registering: a registered device is held exclusively).
new_sb() {
	# make-bcache takes a version 5 superblock for another format: clear it first.
	dd if=/dev/zero of=/dev/vda bs=4096 count=2 oflag=direct 2>/dev/null &&
		make-bcache -b 128k -C /dev/vda --wipe-bcache >/dev/null 2>&1 &&
		bcache-nvm make-cache --nvdimm-meta /dev/vda >/dev/null &&
		u=$(cset) && [ -n "$u" ]
}
