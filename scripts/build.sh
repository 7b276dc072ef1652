#!/usr/bin/env bash
# Builds what runs in the guest: bcache.ko (plain and with KUnit suites), the bcache-nvm
# tool, and the initramfs. Needs the kernel from scripts/kernel.sh.
source "$(dirname "$0")/lib.sh"

KDIR=$(kernel_dir)
[ -f "$KDIR/.done" ] || die "build: no kernel at $KDIR (run scripts/setup.sh)"
mkdir -p "$OUT/kunit"
cd "$REPO"

# The KUnit build and the plain build share the C objects; only the Rust root and the
# suite table differ, so the second make recompiles little.
# Warnings are errors: rustc and gcc already fail on theirs (CONFIG_WERROR); modpost and
# objtool only warn, so their warnings are caught here.
kmake() {
	local log="$OUT/make.log"
	make -s KDIR="$KDIR" "$@" 2>&1 | tee "$log"
	[ "${PIPESTATUS[0]}" = 0 ] || die "build: make $* failed"
	if grep -qi 'warning' "$log"; then
		die "build: make $* gave warnings"
	fi
}
# The KUnit build is also the lint build: clippy-driver compiles the whole crate (pure/ and
# module/, KUnit cases included) with the kernel's clippy lints; the Rust root is touched so
# that it is always linted, not skipped as up to date.
log "build: bcache.ko with KUnit suites (CLIPPY=1)"
touch module/bcache_nvm.rs
kmake KUNIT=1 CLIPPY=1
cp bcache.ko "$OUT/kunit/bcache.ko"
# BNVM_TEST_BREAK=writeback-flush|journal-preflush|journal-error-flush: the plain module is a
# deliberately broken test build (negative controls of the power-cut and fault-injection
# tests); a build without it restores the real one.
log "build: bcache.ko${BNVM_TEST_BREAK:+ (TEST_BREAK=$BNVM_TEST_BREAK: a broken test build)}"
kmake KUNIT=0 TEST_BREAK="${BNVM_TEST_BREAK:-}"
cp bcache.ko "$OUT/bcache.ko"

log "build: bcache-nvm tool"
cargo build -q --release -p bcache-nvm
cp target/release/bcache-nvm "$OUT/bcache-nvm"

log "build: initramfs"
"$REPO/scripts/initramfs.sh" "$OUT/initramfs.cpio"
