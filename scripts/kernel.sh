#!/usr/bin/env bash
# Builds the Rust-enabled kernel of the variant BCACHE_NVM_KERNEL selects (scripts/lib.sh:
# "test" by default, or "debug"), or reuses the cached build with the same inputs.
#
# The tree is unpacked from Debian's linux-source package, configured as x86_64_defconfig plus
# the variant's fragments (scripts/kernel.fragment, then scripts/kernel-<variant>.fragment),
# built (bzImage + modules) in $CACHE/kernel[-<variant>]-<key>, where <key> hashes the source
# package version, the fragments, the Rust/bindgen versions and this script. A finished build
# carries a .done marker; a half-built tree is never reused.
source "$(dirname "$0")/lib.sh"

KDIR=$(kernel_dir)
if [ -n "${BCACHE_NVM_KDIR:-}" ]; then
	[ -f "$KDIR/arch/x86/boot/bzImage" ] || die "BCACHE_NVM_KDIR=$KDIR holds no built kernel"
	log "kernel: using BCACHE_NVM_KDIR=$KDIR"
	exit 0
fi
if [ -f "$KDIR/.done" ]; then
	log "kernel ($KVARIANT): cached at $KDIR"
	exit 0
fi

# A tree without .done is a half-built leftover: start it again from scratch. The tree is
# built where it stays, so the paths compiled into it are the ones used later.
mkdir -p "$CACHE"
rm -rf "$KDIR"
mkdir -p "$KDIR"
log "kernel: unpacking /usr/src/$KSRC_PKG.tar.xz"
tar -C "$KDIR" --strip-components=1 -xf "/usr/src/$KSRC_PKG.tar.xz"

mapfile -t vars < <(kmake_vars)
cd "$KDIR"
make -s "${vars[@]}" x86_64_defconfig
mapfile -t fragments < <(kernel_fragments)
scripts/kconfig/merge_config.sh -m -O . .config "${fragments[@]}" >/dev/null
make -s "${vars[@]}" olddefconfig

# Every fragment line must have survived Kconfig's dependency resolution.
bad=0
for f in "${fragments[@]}"; do
	while IFS= read -r line; do
		case "$line" in CONFIG_*=n) sym=${line%=n}
			grep -q "^$sym=" .config && { echo "${f##*/}: $line not honoured" >&2; bad=1; } ;;
		CONFIG_*) grep -qxF "$line" .config || { echo "${f##*/}: $line not honoured" >&2; bad=1; } ;;
		esac
	done < "$f"
done
[ $bad = 0 ] || die "kernel configuration does not match ${fragments[*]}"

make -s "${vars[@]}" rustavailable >/dev/null || die "Rust toolchain not usable for this kernel"
log "kernel ($KVARIANT): building bzImage and modules (10-20 minutes on 2 cores)"
make -s -j"$(nproc)" "${vars[@]}" bzImage modules
touch .done
log "kernel ($KVARIANT): built at $KDIR"
