#!/usr/bin/env bash
# Installs everything the build and the tests need, idempotently:
# Debian packages (pinned where it matters) and bindgen-cli. Then builds (or reuses) the kernel.
source "$(dirname "$0")/lib.sh"

PKGS=(
	"rustc-web=$RUST_PKG_VERSION" "rust-web-src=$RUST_PKG_VERSION"
	"libstd-rust-web-dev=$RUST_PKG_VERSION" "rust-web-clippy=$RUST_PKG_VERSION"
	"$KSRC_PKG=$KSRC_PKG_VERSION"
	libclang-dev clang flex bison bc libelf-dev libssl-dev cpio
	qemu-system-x86 busybox-static ndctl bcache-tools fio xz-utils dmsetup
	libpmemobj-dev fonts-dejavu-core
	udev dkms
)

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing_pkgs() {
	local p name ver have
	for p in "${PKGS[@]}"; do
		name=${p%%=*}; ver=${p#*=}; [ "$ver" = "$p" ] && ver=
		have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
		case "$have" in
		"install ok installed $ver"*) ;;
		*) echo "$p" ;;
		esac
	done
}

install_packages() {
	local todo p name ver
	mapfile -t todo < <(missing_pkgs)
	[ ${#todo[@]} -eq 0 ] && { log "packages: all present"; return; }
	log "packages: installing ${todo[*]}"
	sudo_ apt-get update -qq
	for p in "${todo[@]}"; do
		name=${p%%=*}; ver=${p#*=}
		[ "$ver" = "$p" ] && continue
		apt-cache madison "$name" | awk '{print $3}' | grep -qxF "$ver" ||
			die "pinned package $name=$ver is no longer in the archive; pick an available version" \
			    "(apt-cache madison $name) and change the pin in scripts/lib.sh (then re-test the kernel build)"
	done
	sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${todo[@]}" >/dev/null
}

install_bindgen() {
	if [ -x "$HOME/.cargo/bin/bindgen" ] &&
	   "$HOME/.cargo/bin/bindgen" --version 2>/dev/null | grep -qF " $BINDGEN_VERSION"; then
		log "bindgen $BINDGEN_VERSION: present"
		return
	fi
	log "bindgen: cargo install bindgen-cli $BINDGEN_VERSION"
	cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION"
}

install_packages
install_bindgen
"$REPO/scripts/kernel.sh"
