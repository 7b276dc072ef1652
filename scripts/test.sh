#!/usr/bin/env bash
# The project's one test command: set-up (idempotent, reuses the cached kernel), host tests,
# module build, then the VM checks. Ends with one line "N passed, N failed" counting host
# tests, KUnit cases and VM checks together; exits non-zero if anything failed.
source "$(dirname "$0")/lib.sh"

passed=0 failed=0
logdir="$OUT/test-logs"
mkdir -p "$logdir"
count() { passed=$((passed + $1)); failed=$((failed + $2)); }
failed_step() { echo "FAIL $1" >&2; count 0 1; }
# counted NAME SUMMARY CMD...: runs CMD (output in NAME.out, errors in NAME.err), counts its
# PASS/FAIL lines and shows the FAIL lines and those matching the regex SUMMARY (none if
# empty); a run that fails without reporting a failed check counts as one failure.
counted() {
	local name=$1 pat='^FAIL ' rc=0 p f
	[ -z "$2" ] || pat="$pat|$2"
	shift 2
	"$@" > "$logdir/$name.out" 2> "$logdir/$name.err" || rc=$?
	p=$(grep -c '^PASS ' "$logdir/$name.out" || true)
	f=$(grep -c '^FAIL ' "$logdir/$name.out" || true)
	grep -E "$pat" "$logdir/$name.out" >&2 || true
	count "$p" "$f"
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		tail -n 60 "$logdir/$name.err" >&2
		failed_step "$name (exit $rc)"
	fi
	log "$name: $p passed, $f failed, exit $rc"
}

"$REPO/scripts/setup.sh"
KDIR=$(kernel_dir)
cd "$REPO"

# The debug kernel (last part) builds meanwhile, at low priority: cached, this returns at
# once; cold, its ~22 minutes of compiling mostly use the core that the test kernel's guests
# (single-threaded TCG) leave idle.
BCACHE_NVM_KERNEL=debug nice -n 10 "$REPO/scripts/kernel.sh" > "$logdir/kernel-debug.log" 2>&1 &
debug_kernel_pid=$!

# --- Fast tier, first: formatting and lints of every Rust file, then the module built with
# clippy-driver and the kernel's lints (scripts/build.sh, below, fails on any warning).
# step NAME CMD...: one check; its output goes to the log, its tail to stderr on failure.
step() {
	local name=$1
	shift
	if "$@" > "$logdir/$name.log" 2>&1; then
		count 1 0
	else
		tail -n 30 "$logdir/$name.log" >&2
		failed_step "$name"
	fi
}
log "fast: rustfmt, clippy"
step rustfmt "$REPO/scripts/rustfmt.sh" --check
step clippy-host cargo clippy --workspace --all-targets --quiet -- -D warnings

# --- Host: unit, property, crash and tool tests of the workspace.
log "host: cargo test"
cargo test --workspace --quiet --no-fail-fast > "$logdir/host.log" 2>&1 || true
read -r hp hf < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) {
	if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
	END { print p + 0, f + 0 }' "$logdir/host.log")
grep -E '^(test .* FAILED|failures:|error(\[|:))' "$logdir/host.log" | head -n 20 >&2 || true
if ! grep -q '^test result:' "$logdir/host.log"; then
	tail -n 30 "$logdir/host.log" >&2
	failed_step "host tests did not run"
fi
count "$hp" "$hf"
log "host: $hp passed, $hf failed"
# Every crash test prints "... crash states explored: N, ..." (negative controls excepted).
states=$(sed -n 's/.*crash states explored: \([0-9]*\).*/\1/p' "$logdir/host.log" |
	awk '{ n += $1 } END { print n + 0 }')
log "host: crash states explored: $states"

# --- Fuzzing: every cargo-fuzz target for 60 s from its committed seeds.
log "fuzz: every target, 60 s from its seeds"
counted fuzz '^fuzz ' "$REPO/scripts/fuzz.sh" 60

# The module's pure files must also build with the kernel's rustc (1.85).
if RUSTC=$KRUSTC CARGO_TARGET_DIR="$REPO/target/rustc-kernel" \
	cargo build --quiet -p bcache-nvm-core > "$logdir/pure-1.85.log" 2>&1; then
	count 1 0
else
	tail -n 20 "$logdir/pure-1.85.log" >&2
	failed_step "pure files with rustc 1.85"
fi

# --- Build what the guests run (the KUnit build with CLIPPY=1: the kernel's lints). The
# kernel is the one BCACHE_NVM_KERNEL selects: the plain test kernel by default; "debug"
# (KASAN, lockdep, kmemleak, UBSAN, fault injection; setup.sh builds it) runs the same suite,
# far slower (README).
build_step() {
	if ! "$REPO/scripts/build.sh" > "$logdir/$1.log" 2>&1; then
		tail -n 40 "$logdir/$1.log" >&2
		failed_step "$1"
		echo "$passed passed, $failed failed"
		exit 1
	fi
	count 1 0
}
build_step "build-$KVARIANT-kernel"

# --- DKMS on the host against the test kernel (throwaway trees): add, build, install; modprobe
# resolves bcache to the DKMS build in updates/.
log "dkms: add, build, install against the test kernel"
counted dkms '' "$REPO/scripts/dkms-check.sh"

# vm_run NAME VM-ARGS...: runs a guest script, counts its PASS/FAIL lines; a run that
# fails without reporting a failed check counts as one failure.
vm_run() {
	local name=$1
	shift
	log "vm: $name"
	counted "$name" '' "$REPO/scripts/vm.sh" "$@"
}

# kunit_count NAME: parses the KTAP a guest run printed (with the kernel tree's kunit.py)
# and counts its cases.
kunit_count() {
	local name=$1 summary kp kf kc
	sed -n '/^KTAP-BEGIN/,/^KTAP-END/{/^KTAP-/d;p}' "$logdir/$name.out" > "$logdir/$name.ktap"
	if [ ! -s "$logdir/$name.ktap" ]; then
		failed_step "$name: no KTAP from the guest"
		return
	fi
	python3 "$KDIR/tools/testing/kunit/kunit.py" parse "$logdir/$name.ktap" 2>&1 |
		sed -e 's/\x1b\[[0-9;]*m//g' > "$logdir/$name.kunit.txt" || true
	summary=$(grep -E 'Ran [0-9]+ tests?:' "$logdir/$name.kunit.txt" | tail -n 1)
	kp=$(echo "$summary" | sed -n 's/.*passed: \([0-9]*\).*/\1/p')
	kf=$(echo "$summary" | sed -n 's/.*failed: \([0-9]*\).*/\1/p')
	kc=$(echo "$summary" | sed -n 's/.*crashed: \([0-9]*\).*/\1/p')
	grep -E 'FAILED|CRASHED|EXPECTATION' -A2 "$logdir/$name.kunit.txt" >&2 || true
	if [ -z "$summary" ]; then
		cat "$logdir/$name.kunit.txt" >&2
		failed_step "$name: no summary from kunit.py parse"
		return
	fi
	count "${kp:-0}" "$(( ${kf:-0} + ${kc:-0} ))"
	log "$name: KUnit ${kp:-0} passed, $(( ${kf:-0} + ${kc:-0} )) failed"
}

# --- KUnit: the suites run at insmod in the guest. Two boots over the same NVDIMM image:
# the first formats /dev/pmem0 and leaves the two-boot test's ranges allocated; the second
# finds them from user space and through register.
state=$(mktemp -d)
vm_run kunit --state "$state" kunit.sh format
kunit_count kunit
vm_run kunit-boot2 --state "$state" nvm-two-boot.sh
kunit_count kunit-boot2
rm -rf "$state"

# --- Two namespaces (-M dev and -M mem) as one set; the KUnit cases again on -M dev.
vm_run nvm-namespaces nvm-namespaces.sh
kunit_count nvm-namespaces

# --- The user-space tool on the guest's real namespace.
vm_run nvm-tool nvm-tool.sh

# --- register_nvdimm_meta and friends: happy path and every refusal.
vm_run nvm-register nvm-register.sh

# --- Known bad blocks on the NVDIMM: a bad page in free space is left unmapped and register
# succeeds; one under the allocation lists makes register fail with EIO, naming the bytes.
vm_run nvm-poison nvm-poison.sh

# --- The namespace's driver unbinds under the meta device: idle set released, a running set
# makes the unbind wait until it stops; no oops.
vm_run nvm-unbind nvm-unbind.sh

# --- A disk of a running cache set goes away under load (virtio driver unbind): no oops, dmesg
# names the disk, the set (cache gone) or bcache0 (backing gone) stops, the meta device is
# released and its lists check clean; failed backing flushes keep writeback data dirty.
vm_run disk-unplug-cache disk-unplug.sh cache
vm_run disk-unplug-backing disk-unplug.sh backing

# --- An asynchronous DAX device (virtio-pmem) is refused as a meta device.
vm_run nvm-async-dax --virtio-pmem nvm-async-dax.sh

# --- NVDIMM space given back: release while pinned / after stop, the state a crash between
# journal allocation and superblock write leaves, 100 create/stop/release cycles.
vm_run nvm-release --timeout 1200 nvm-release.sh 100

# --- Our module IS bcache: write a pattern, power off, boot, register, read it back.
state=$(mktemp -d)
vm_run bcache-write --state "$state" bcache-write.sh 8
vm_run bcache-read --state "$state" bcache-read.sh 8
rm -rf "$state"

# --- The journal on the NVDIMM inside real bcache: write, power off, refuse without the meta
# device, replay from the NVDIMM, read back; the stock bcache.ko refuses the marked cache.
# The error paths start from copies of the first boot's images: a jset corrupted in the
# middle of a bucket, the journal range's allocation record missing, and the meta device
# replaced by another nvm-pages set.
state=$(mktemp -d)
vm_run nvm-journal-write --state "$state" nvm-journal-write.sh 8
cp -r --sparse=always "$state" "$state.corrupt"
cp -r --sparse=always "$state" "$state.norecord"
cp -r --sparse=always "$state" "$state.otherset"
vm_run nvm-journal-read --state "$state" nvm-journal-read.sh 8
vm_run nvm-journal-stock --state "$state" nvm-journal-stock.sh
vm_run nvm-journal-corrupt --state "$state.corrupt" nvm-journal-corrupt.sh 8
vm_run nvm-journal-norecord --state "$state.norecord" nvm-journal-norecord.sh
vm_run nvm-journal-otherset --state "$state.otherset" nvm-journal-otherset.sh
rm -rf "$state" "$state.corrupt" "$state.norecord" "$state.otherset"

# --- Which flushes reach which disk (patch 0006): fsync in writeback mode never waits for the
# backing disk, after direct writes it does; idle fsyncs flush nothing; writeback flushes the
# backing disk before its keys turn clean, one flush per batch.
vm_run nvm-flush nvm-flush.sh

# --- Hard crashes: fio's power-cut verification (state saved, kernel crashed by sysrq, only
# completed writes verified after reboot and replay from the NVDIMM), 5 consecutive rounds.
log "powercut: 5 rounds"
counted powercut '^powercut: ' "$REPO/scripts/powercut.sh" --rounds 5

# --- Power cuts that lose the disks' volatile caches: vda/vdb logged by QEMU's blklogwrites,
# QEMU killed right after one flush of bcache0 while bcache and an unverified writer go on,
# each disk rebuilt as of its last flush; fio's completed writes must read back through
# bcache0 and, once writeback has cleaned the set, from the backing disk. 20 rounds.
log "powercut-flush: 20 rounds"
counted powercut-flush '^powercut-flush: ' "$REPO/scripts/powercut-flush.sh" --rounds 20

# --- Assembly at boot under systemd-udevd with bcache-tools' rules and ours: ten boots of
# one set of images, each with the devices appearing in another order, alternating clean
# power-off and crash, fio's writes of each boot read back in the next; then a cache whose
# meta device is held back stays refused until the namespace appears.
log "assembly: setup + 10 boots + late meta device"
counted assembly '^assembly: ' "$REPO/scripts/assembly.sh"

# --- A new cache set while udev runs (the README's recipe): the namespace registered by the
# rule, make-bcache and the mark with udev's queue stopped, the cache registered by udev.
vm_run udev-new-cache udev-new-cache.sh

# --- No journal I/O on the cache disk: sectors written to it during a metadata-heavy run
# (fsync after every 4 KiB write) are fewer with the journal on the NVDIMM than on the disk.
vm_run journal-writes-nvdimm nvm-journal-writes.sh nvdimm
vm_run journal-writes-ssd nvm-journal-writes.sh ssd
nv=$(sed -n 's/^VDA_WRITE_SECTORS //p' "$logdir/journal-writes-nvdimm.out")
ssd=$(sed -n 's/^VDA_WRITE_SECTORS //p' "$logdir/journal-writes-ssd.out")
log "cache disk sectors written: journal on NVDIMM ${nv:-?}, journal on the disk ${ssd:-?}"
if [ -n "$nv" ] && [ -n "$ssd" ] && [ "$nv" -lt "$ssd" ]; then
	count 1 0
else
	failed_step "journal-writes: NVDIMM journal ${nv:-?} sectors, disk journal ${ssd:-?}"
fi

# --- The debug kernel: KASAN, lockdep, kmemleak, UBSAN, might-sleep checks, fault injection
# (scripts/kernel-debug.fragment; built once and cached like the test kernel). The guest init
# fails a script on any checker report, WARN or oops since the script started and on any leak
# the kmemleak scan after it finds. A boot with its script takes 2-4 minutes here, so this part
# boots once per script that exercises our code (KUnit, registration and its refusals, bad
# blocks, unbind and unplug, release, the NVDIMM journal across a power-off, flushes, fault
# injection), not the repetition tests (README, "The two commands").
log "debug kernel: waiting for its build (started in the background; cached after the first time)"
export BCACHE_NVM_KERNEL=debug
t0=$SECONDS
if ! wait "$debug_kernel_pid"; then
	tail -n 40 "$logdir/kernel-debug.log" >&2
	failed_step "debug kernel build"
	echo "$passed passed, $failed failed"
	exit 1
fi
log "debug kernel: ready after $((SECONDS - t0)) s"
build_step build-debug-kernel
t0=$SECONDS
vm_run debug-kunit kunit.sh format
kunit_count debug-kunit
vm_run debug-nvm-register nvm-register.sh
vm_run debug-nvm-poison nvm-poison.sh
vm_run debug-nvm-unbind nvm-unbind.sh
vm_run debug-disk-unplug-cache disk-unplug.sh cache
vm_run debug-disk-unplug-backing disk-unplug.sh backing
vm_run debug-nvm-release nvm-release.sh 10
state=$(mktemp -d)
vm_run debug-nvm-journal-write --state "$state" nvm-journal-write.sh 8
vm_run debug-nvm-journal-read --state "$state" nvm-journal-read.sh 8
rm -rf "$state"
vm_run debug-nvm-flush nvm-flush.sh
# Fault injection (debug kernel only): failslab during register_nvdimm_meta and a new cache
# set's start, fail_make_request on the cache disk during writes and the journal's PREFLUSH.
vm_run debug-fault-inject --timeout 900 fault-inject.sh
log "debug kernel: guest scripts took $((SECONDS - t0)) s"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
