#!/usr/bin/env bash
# Builds the device-mapper "delay" target as an out-of-tree module, $OUT/dm-delay.ko, from
# the kernel tree's own drivers/md/dm-delay.c. The test kernel has CONFIG_BLK_DEV_DM=y but
# not CONFIG_DM_DELAY, and turning it on in scripts/kernel.fragment would change the kernel's
# cache key (a full rebuild); dm-delay.c includes only public headers, so it builds against
# the finished tree like any external module. The source is copied at build time and never
# committed (as bcache's C is, see the Makefile). Idempotent: make rebuilds only when the
# copied source or the kernel changed.
#
#   dm-delay.sh
#
# Used by scripts/initramfs.sh; the guest loads it for bench/vm/run.sh --hdd (a backing
# disk whose flushes take milliseconds, as an HDD's do).
source "$(dirname "$0")/lib.sh"

KDIR=$(kernel_dir)
src=$KDIR/drivers/md/dm-delay.c
[ -f "$src" ] || die "dm-delay: no $src"
[ -f "$KDIR/Module.symvers" ] || die "dm-delay: $KDIR is not a built kernel tree"

build=$OUT/dm-delay-build
mkdir -p "$build"
# Copy only when the content differs, so an unchanged source keeps its mtime and make
# has nothing to do.
cmp -s "$src" "$build/dm-delay.c" || cp "$src" "$build/dm-delay.c"
printf 'obj-m := dm-delay.o\n' > "$build/Kbuild.new"
cmp -s "$build/Kbuild.new" "$build/Kbuild" && rm "$build/Kbuild.new" || mv "$build/Kbuild.new" "$build/Kbuild"

mapfile -t vars < <(kmake_vars)
make -s -C "$KDIR" M="$build" "${vars[@]}" modules >"$build/make.log" 2>&1 ||
	{ cat "$build/make.log" >&2; die "dm-delay: build failed"; }
if grep -qi warning "$build/make.log"; then
	cat "$build/make.log" >&2
	die "dm-delay: build gave warnings"
fi
cmp -s "$build/dm-delay.ko" "$OUT/dm-delay.ko" || install -m 644 "$build/dm-delay.ko" "$OUT/dm-delay.ko"
