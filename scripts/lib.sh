# shellcheck shell=bash
# Shared settings of the project's scripts: pinned versions, paths, the kernel cache key.
# Sourced, never run.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Pinned toolchain (see ../shared/toolchain.md for what was measured).
RUST_PKG_VERSION=1.85.0+dfsg3-1~deb12u3
KSRC_PKG=linux-source-6.12
KSRC_PKG_VERSION=6.12.117-1~deb12u1
BINDGEN_VERSION=0.69.5

KRUSTC=/usr/bin/rustc
KRUSTDOC=/usr/bin/rustdoc
KRUST_LIB_SRC=/usr/src/rustc-1.85.0/library

# Everything built lives outside the repository, keyed by its inputs.
CACHE=${BCACHE_NVM_CACHE:-$HOME/.cache/bcache-nvm}
OUT=${BCACHE_NVM_OUT:-$REPO/out}

export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Make variables that select the pinned Rust toolchain for kernel builds.
kmake_vars() {
	printf '%s\n' "RUSTC=$KRUSTC" "RUSTDOC=$KRUSTDOC" "RUST_LIB_SRC=$KRUST_LIB_SRC" \
		"BINDGEN=$HOME/.cargo/bin/bindgen"
	# Rust with KASAN needs a kernel built by clang (init/Kconfig: !KASAN || CC_IS_CLANG).
	[ "$KVARIANT" = test ] || echo "CC=clang"
}

# Kernel variants: "test" (what the benchmarks and the demo boot) and "debug" (KASAN,
# lockdep, kmemleak, UBSAN, fault injection: what the test command boots). BCACHE_NVM_KERNEL
# selects one; every script that builds or boots follows it.
KVARIANT=${BCACHE_NVM_KERNEL:-test}
case "$KVARIANT" in test | debug) ;; *) die "BCACHE_NVM_KERNEL=$KVARIANT: test or debug" ;; esac
[ "$KVARIANT" = debug ] && OUT=${BCACHE_NVM_OUT:-$REPO/out/debug}

# kernel_fragments: the configuration fragments of the variant, merged in this order.
kernel_fragments() {
	echo "$REPO/scripts/kernel.fragment"
	[ "$KVARIANT" = test ] || echo "$REPO/scripts/kernel-$KVARIANT.fragment"
}

# The kernel cache key: every input that changes the built kernel.
kernel_key() {
	{
		echo "$KSRC_PKG $KSRC_PKG_VERSION"
		echo "rust $RUST_PKG_VERSION bindgen $BINDGEN_VERSION"
		kernel_fragments | xargs cat
		cat "$REPO/scripts/kernel.sh"
	} | sha256sum | cut -c1-16
}

# BCACHE_NVM_KDIR points the scripts at another built tree (one's own kernel work, say).
kernel_dir() {
	local prefix=kernel
	[ "$KVARIANT" = test ] || prefix=kernel-$KVARIANT
	echo "${BCACHE_NVM_KDIR:-$CACHE/$prefix-$(kernel_key)}"
}
