#!/usr/bin/env bash
# Builds the guest's initramfs: busybox, ndctl, bcache-tools, fio, our bcache-nvm tool,
# our modules (bcache.ko and its KUnit build), the stock bcache.ko, and scripts/guest/.
#
#   initramfs.sh OUTPUT.cpio
#
# Expects the module builds in $OUT (scripts/build.sh).
source "$(dirname "$0")/lib.sh"

dest=${1:?usage: initramfs.sh OUTPUT.cpio}
KDIR=$(kernel_dir)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib/modules,guest,var/run}
cp /usr/bin/busybox "$root/bin/busybox"
for app in $(busybox --list); do
	[ "$app" = busybox ] || ln -sf busybox "$root/bin/$app"
done

# Dynamically linked programs with their libraries and loader.
copy_prog() {
	local prog=$1 dest=${2:-$1} lib
	install -D "$prog" "$root$dest"
	for lib in $(ldd "$prog" | grep -o '/[^ ]*' | sort -u); do
		[ -e "$root$lib" ] || install -D "$lib" "$root$lib"
	done
}
for p in /usr/bin/ndctl /usr/sbin/make-bcache /usr/sbin/bcache-super-show /usr/bin/fio; do
	[ -x "$p" ] || die "initramfs: $p missing"
	copy_prog "$p"
done
[ -x "$OUT/bcache-nvm" ] || die "initramfs: $OUT/bcache-nvm missing"
copy_prog "$OUT/bcache-nvm" /usr/sbin/bcache-nvm

install -m 644 "$OUT/bcache.ko" "$root/lib/modules/bcache.ko"
install -m 644 "$OUT/kunit/bcache.ko" "$root/lib/modules/bcache-kunit.ko"
install -m 644 "$KDIR/drivers/md/bcache/bcache.ko" "$root/lib/modules/bcache-stock.ko"
cp "$REPO"/scripts/guest/*.sh "$root/guest/"
install -m 755 "$REPO/scripts/guest/init" "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet) > "$dest.tmp"
mv "$dest.tmp" "$dest"
