# Shared by the boot-assembly scripts (sourced, never run): devices appearing in a chosen
# order under systemd-udevd, the wait for /dev/bcache0, and fio's verified writes that one
# boot leaves for the next. Nothing here writes to /sys/fs/bcache: udev's rules register.
. /guest/lib.sh
S=/sys/fs/bcache
AUX=/mnt/aux      # vdc (ext2): which round wrote what, and fio's verify state after a crash
BOUND=${BOUND:-10} # seconds within which /dev/bcache0 must appear after the last device

# watchdog SECONDS: if the boot is still running then, prints the blocked tasks (sysrq w) and
# the kernel log's tail, so a hang that vm.sh's timeout ends leaves something to look at.
watchdog() {
	(
		sleep "$1"
		echo "watchdog: still running after $1 s; blocked tasks and kernel log:"
		echo w > /proc/sysrq-trigger
		ps | grep -v ' \[' | head -n 30
		dmesg | tail -n 150
	) &
}

# Tenths of a second since boot.
now() { awk '{ split($1, t, "."); print t[1] * 10 + substr(t[2], 1, 1) }' /proc/uptime; }

# appear STEP: one step of an order. vda, vdb, pmem0: the "add" event of that device
# (udevadm trigger, as a boot's coldplug sends it); all: every block device at once; ns:
# the namespace enabled by ndctl (the kernel's own "add" of pmem0). Then waits for udev.
appear() {
	case "$1" in
	all) udevadm trigger --action=add --subsystem-match=block ;;
	ns) ndctl enable-namespace all >/dev/null 2>&1 || fail "appear-ns" "ndctl enable-namespace" ;;
	*) udevadm trigger --action=add "/sys/class/block/$1" ;;
	esac
	udevadm settle --timeout=60
}

# assemble ORDER: the devices appear in ORDER (steps joined by "-", e.g. vda-vdb-pmem0 or
# all-ns); with an "ns" step the namespace is disabled first (ndctl), so it appears late as
# new hardware would. Checks that /dev/bcache0 appears within $BOUND s of the last step and
# prints BCACHE0_TENTHS (tenths of a second from the last step).
assemble() {
	local order=$1 step last t0 t n
	case "-$order-" in
	*-ns-*)
		ndctl disable-namespace all >/dev/null 2>&1
		check ns-held sh -c "! test -e /dev/pmem0"
		;;
	esac
	dmesg -c >/dev/null
	for step in $(echo "$order" | tr '-' ' '); do
		t0=$(now)
		appear "$step"
	done
	n=$((BOUND * 10))
	while [ ! -e /dev/bcache0 ] && [ $((($(now) - t0))) -lt "$n" ]; do sleep 0.1; done
	t=$(($(now) - t0))
	echo "BCACHE0_TENTHS $t ($order)"
	check "bcache0-within-${BOUND}s" test -e /dev/bcache0
	check module-from-updates grep -qx 0.1.0 /sys/module/bcache/version
	check meta-registered grep -q ' path /dev/pmem0 ' $S/nvdimm_meta
	check cache-registered test -e /sys/block/vda/bcache
	check replayed-from-nvdimm sh -c "dmesg | grep -q 'journal on the NVDIMM'"
	local uuid
	uuid=$(bcache-super-show /dev/vdb | awk '$1 == "dev.uuid" { print $2 }')
	check by-uuid sh -c "test \"\$(readlink -f /dev/bcache/by-uuid/$uuid)\" = /dev/bcache0"
	# A cache that appeared before the namespace was refused once, then registered when the
	# namespace's rule replayed its "add"; one that came after was never refused.
	local first_cache first_ns
	first_cache=$(echo "-$order-" | sed 's/-/ /g' | tr ' ' '\n' | grep -n -m1 -E '^(vda|all)$' | cut -d: -f1)
	first_ns=$(echo "-$order-" | sed 's/-/ /g' | tr ' ' '\n' | grep -n -m1 -E '^(pmem0|ns)$' | cut -d: -f1)
	[ -n "$first_ns" ] || first_ns=$first_cache # "all" alone: both in one step
	if [ -z "$first_cache" ]; then
		: # the cache appeared before this assembly began (udev-late-meta.sh checks it)
	elif [ "$first_cache" -lt "$first_ns" ]; then
		check refused-before-meta sh -c "dmesg | grep -q 'NVDIMM meta device of this cache set is not registered'"
		check replayed-by-rule sh -c "dmesg | grep -q 'bcache-nvm: /dev/pmem0: replaying add of vda'"
	elif [ "$first_cache" -gt "$first_ns" ]; then
		check not-refused sh -c "! dmesg | grep -q 'NVDIMM meta device of this cache set is not registered'"
	fi
	dmesg | grep -E 'bcache|nvm' | grep -vE 'journal_latency' | head -n 12
}

# fio's job for round R (seed), MIB MiB of 4 KiB random writes with crc32c verify headers;
# sync=1: each completion promises durability (see nvm-powercut-common.sh).
job() {
	echo "--name=asmjob --filename=/dev/bcache0 --rw=randwrite --bs=4k --size=${2}m
 --ioengine=libaio --iodepth=8 --direct=1 --sync=1 --verify=crc32c --randseed=$((2000 + $1))
 --aux-path=$AUX"
}

# verify_previous: reads back what the previous boot wrote (its round, mode and size are in
# $AUX/round): all of it after a clean shutdown, the writes fio saw completed after a crash.
verify_previous() {
	mkdir -p $AUX
	check mount-aux-ro mount -t ext2 -o ro /dev/vdc $AUX
	local r mode mib state=
	read -r r mode mib < $AUX/round || { fail verify-previous "no $AUX/round"; return; }
	echo "previous boot: round $r, $mode, $mib MiB"
	if [ "$mode" = none ]; then umount $AUX; return; fi
	[ "$mode" = crash ] && state=--verify_state_load=1
	# Bounded: a verify_only run that never ends (fio 3.33 can loop in it, see the README)
	# fails here, with fio's state shown, instead of running into vm.sh's timeout.
	timeout 120 fio $(job "$r" "$mib") --verify_only $state > /tmp/fio-verify.out 2>&1
	local rc=$?
	if [ $rc = 124 ] || [ $rc = 143 ]; then
		echo "fio verify_only still running after 120 s:"
		ps | grep -v ' \[' | head -n 20
		tail -n 5 /tmp/fio-verify.out
	fi
	grep -E 'verify|err=|read:' /tmp/fio-verify.out | head -n 5
	local bad over=0
	bad=$(grep -c '^verify:' /tmp/fio-verify.out)
	# After a crash, fio 3.33's saved state can claim more completed writes than bcache0 had
	# completed when the power was cut (by up to the queue depth, measured: the trigger
	# records bcache0's count after fio saved its state). Blocks of those writes may lawfully
	# hold old data; `over` is how many there are.
	if [ "$mode" = crash ]; then
		local kib done_writes
		kib=$(sed -n 's/.*read:.*(\([0-9.]*\)\([KM]\)iB\/.*/\1 \2/p' /tmp/fio-verify.out |
			awk '{ print int($2 == "M" ? $1 * 1024 : $1) }' | head -n 1)
		done_writes=$(cat $AUX/writes-at-crash 2>/dev/null)
		check writes-at-crash-recorded test -n "$done_writes"
		over=$((${kib:-0} / 4 - ${done_writes:-0}))
		[ $over -ge 0 ] || over=0
		echo "fio verified $((${kib:-0} / 4)) blocks; bcache0 had completed ${done_writes:-?} writes at the crash; fio claims $over more"
	fi
	if [ $rc = 0 ] && [ "$bad" = 0 ]; then
		pass "verify-round-$r-$mode"
	elif [ $rc != 124 ] && [ $rc != 143 ] && [ "$bad" -gt 0 ] && [ "$bad" -le "$over" ]; then
		echo "$bad blocks read back old data, no more than the $over writes fio claims and bcache0 never completed"
		pass "verify-round-$r-$mode"
	else
		fail "verify-round-$r-$mode" "fio rc $rc, $bad bad blocks, fio over-claims $over: $(grep -m 3 -E 'verify:|err=' /tmp/fio-verify.out | tr '\n' ' ')"
		# For whoever looks into it: the journal as replay scans it.
		dmesg | grep -E 'journal|replay' | head -n 5
		bcache-nvm show-journal /dev/vda /dev/pmem0 2>&1 | tail -n 40
	fi
	umount $AUX
}

# start_round R MODE MIB: a fresh ext2 on vdc, mounted -o sync, records the round.
start_round() {
	check mke2fs-aux mke2fs -q -F /dev/vdc
	mkdir -p $AUX
	check mount-aux mount -t ext2 -o sync /dev/vdc $AUX
	echo "$1 $2 $3" > $AUX/round
}
