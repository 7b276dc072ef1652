#!/usr/bin/env bash
# Builds the guest's initramfs: busybox, ndctl, bcache-tools, fio, dmsetup, our bcache-nvm
# tool, our modules (bcache.ko and its KUnit build), the stock bcache.ko, dm-delay.ko (built
# here by scripts/dm-delay.sh: the test kernel lacks CONFIG_DM_DELAY), and scripts/guest/;
# and, for the udev-*.sh guest scripts that boot like a real system, systemd-udevd with
# bcache-tools' rules and a module tree where `make install` put our bcache.ko (updates/,
# next to the kernel's own in kernel/), with our udev rule and tool.
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
for p in /usr/bin/ndctl /usr/sbin/make-bcache /usr/sbin/bcache-super-show /usr/bin/fio /usr/sbin/dmsetup; do
	[ -x "$p" ] || die "initramfs: $p missing"
	copy_prog "$p"
done
[ -x "$OUT/bcache-nvm" ] || die "initramfs: $OUT/bcache-nvm missing"
copy_prog "$OUT/bcache-nvm" /usr/sbin/bcache-nvm

# Debian's udev: the daemon is udevadm under another name. Block devices get the rules a
# Debian system gives them (60-block: inotify "watch"; 60-persistent-storage: blkid,
# ID_FS_TYPE) and bcache-tools' 69-bcache.rules with its programs. Rules and programs go
# in /usr/lib/udev (where udevd reads rules), with /lib/udev pointing there as on a
# merged-/usr system. kmod gives modprobe and udev's "kmod load" the same module tree.
copy_prog /usr/bin/udevadm /bin/udevadm
mkdir -p "$root/lib/systemd" "$root/usr/lib/udev/rules.d" "$root/etc/udev"
ln -sf /bin/udevadm "$root/lib/systemd/systemd-udevd"
ln -sf ../usr/lib/udev "$root/lib/udev"
for r in 60-block.rules 60-persistent-storage.rules 69-bcache.rules; do
	install -m 644 "/usr/lib/udev/rules.d/$r" "$root/usr/lib/udev/rules.d/$r"
done
for p in bcache-register probe-bcache bcache-keep-symlinks; do
	copy_prog "/usr/lib/udev/$p"
done
copy_prog /usr/bin/kmod /bin/kmod
for l in modprobe modinfo depmod lsmod; do ln -sf kmod "$root/bin/$l"; done

# The kernel's own modules (the stock bcache.ko among them) where modules_install puts
# them, then ours through `make install` (module under updates/, depmod, udev rule and
# helper, tool).
krel=$(cat "$KDIR/include/config/kernel.release")
kmods=$root/lib/modules/$krel
mkdir -p "$kmods/kernel/drivers/md/bcache"
install -m 644 "$KDIR/drivers/md/bcache/bcache.ko" "$kmods/kernel/drivers/md/bcache/bcache.ko"
cp "$KDIR"/modules.builtin "$KDIR"/modules.builtin.modinfo "$KDIR"/modules.order "$kmods/"
make -s -C "$REPO" install KDIR="$KDIR" BCACHE_KO="$OUT/bcache.ko" TOOL="$OUT/bcache-nvm" \
	DESTDIR="$root" INSTALL_MOD_PATH="$root" >/dev/null
[ "$(modinfo -b "$root" -k "$krel" -n bcache)" = "$kmods/updates/bcache.ko" ] ||
	die "initramfs: modprobe bcache does not resolve to updates/bcache.ko"

install -m 644 "$OUT/bcache.ko" "$root/lib/modules/bcache.ko"
install -m 644 "$OUT/kunit/bcache.ko" "$root/lib/modules/bcache-kunit.ko"
install -m 644 "$KDIR/drivers/md/bcache/bcache.ko" "$root/lib/modules/bcache-stock.ko"
"$REPO/scripts/dm-delay.sh"
install -m 644 "$OUT/dm-delay.ko" "$root/lib/modules/dm-delay.ko"
cp "$REPO"/scripts/guest/*.sh "$root/guest/"
install -m 755 "$REPO/scripts/guest/init" "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet) > "$dest.tmp"
mv "$dest.tmp" "$dest"
