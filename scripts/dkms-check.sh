#!/usr/bin/env bash
# DKMS on the host, against the test kernel, with nothing written outside a temporary
# directory: `dkms add`, `dkms build` and `dkms install` of the repository's dkms.conf (the
# source is the repository's files, as git lists them), then depmod of a throwaway module
# tree holding the kernel's own bcache.ko too, and checks that modprobe resolves `bcache`
# to the DKMS build in updates/ and that it is bcache-nvm's (it carries
# register_nvdimm_meta). Prints PASS/FAIL lines; exits non-zero on a failure.
source "$(dirname "$0")/lib.sh"

KDIR=$(kernel_dir)
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$REPO/dkms.conf")
name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"/\1/p' "$REPO/dkms.conf")
krel=$(make -s -C "$KDIR" kernelrelease)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((failures + 1)); }
# check NAME CMD...: runs CMD with its output in $tmp/NAME.log (its tail shown on failure).
check() {
	local name=$1
	shift
	if "$@" > "$tmp/$name.log" 2>&1; then
		pass "$name"
	else
		fail "$name" "$(tail -n 5 "$tmp/$name.log" | tr '\n' ' ')"
		tail -n 40 "$tmp/$name.log" >&2
	fi
}

# The package version must be the crate's and the module's (module/version.c): one version.
crate_ver=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n 1)
check dkms-version test "$ver" = "$crate_ver"
check module-version-source grep -q "MODULE_VERSION(\"$ver\")" "$REPO/module/version.c"

# The throwaway trees: sources, DKMS's own tree, and a module tree with the kernel's modules.
src=$tmp/src/$name-$ver
mkdir -p "$src" "$tmp/dkms" "$tmp/root/lib/modules/$krel/kernel/drivers/md/bcache"
(cd "$REPO" && git ls-files -z -co --exclude-standard | cpio -0pdm --quiet "$src")
install -m 644 "$KDIR/drivers/md/bcache/bcache.ko" \
	"$tmp/root/lib/modules/$krel/kernel/drivers/md/bcache/bcache.ko"
cp "$KDIR"/modules.builtin "$KDIR"/modules.builtin.modinfo "$KDIR"/modules.order \
	"$tmp/root/lib/modules/$krel/"
tree=(--dkmstree "$tmp/dkms" --sourcetree "$tmp/src" --installtree "$tmp/root/lib/modules")
mod=(-m "$name" -v "$ver" -k "$krel" --kernelsourcedir "$KDIR")

log "dkms: $name $ver for $krel ($KDIR)"
t0=$SECONDS
check dkms-add dkms add "${tree[@]}" -m "$name" -v "$ver"
check dkms-build dkms build "${tree[@]}" "${mod[@]}" -j 1
echo "dkms build: $((SECONDS - t0)) s"
check dkms-install dkms install "${tree[@]}" "${mod[@]}" --no-depmod
check depmod depmod -a -b "$tmp/root" "$krel"
path=$(modinfo -b "$tmp/root" -k "$krel" -n bcache 2>&1 || true)
echo "modprobe bcache -> ${path#"$tmp/root"}"
check modprobe-prefers-updates sh -c "case '$path' in '$tmp/root/lib/modules/$krel/updates/'*) ;; *) exit 1 ;; esac"
check dkms-module-is-ours grep -q register_nvdimm_meta "$path"
check module-version test "$(modinfo -F version "$path")" = "$ver"
check stock-module-is-not sh -c "! grep -q register_nvdimm_meta '$tmp/root/lib/modules/$krel/kernel/drivers/md/bcache/bcache.ko'"
check dkms-status sh -c "dkms status ${tree[*]} -m $name -v $ver -k $krel | grep -q installed"
check dkms-remove dkms remove "${tree[@]}" -m "$name" -v "$ver" -k "$krel" --no-depmod
check dkms-removed test ! -e "$path"
[ "$failures" = 0 ]
