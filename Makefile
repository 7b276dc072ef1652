# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of bcache-nvm's bcache.ko.
#
#   make [KDIR=/path/to/linux-6.12] [KUNIT=1] [CLIPPY=1] [TEST_BREAK=...]
#
# TEST_BREAK=writeback-flush|journal-preflush|journal-error-flush builds a deliberately
# broken module for the negative controls of the power-cut and fault-injection tests; never
# install one.
# CLIPPY=1 compiles the Rust crate with clippy-driver and the kernel's lints (among them
# undocumented_unsafe_blocks); with CONFIG_WERROR any lint fails the build.
#
# KDIR defaults to the test kernel the scripts build (scripts/kernel.sh); any 6.12 tree
# configured with CONFIG_RUST=y works. The bcache C sources are copied from
# $(KDIR)/drivers/md/bcache into upstream/ and the patches listed in bcache/series
# applied to them; they are never committed. BCACHE_SRC points elsewhere when $(KDIR) holds
# only headers (a distro's linux-headers package): the drivers/md/bcache of the same kernel
# version's source.
#
#   make install [KDIR=...] [INSTALL_MOD_PATH=/root] [DESTDIR=/root] [PREFIX=/usr]
#
# installs bcache.ko as /lib/modules/$(KERNELRELEASE)/updates/bcache.ko (where modprobe
# prefers it to the kernel's own bcache.ko) under $(INSTALL_MOD_PATH) (default $(DESTDIR))
# and runs depmod there; installs the udev rule and its helper under $(DESTDIR)$(UDEVDIR)
# and the bcache-nvm tool as $(DESTDIR)$(SBINDIR)/bcache-nvm. It installs what was built
# (`make` and `make tool`, as the user who builds); BCACHE_KO and TOOL name other builds.

KDIR ?= $(shell bash -c 'source scripts/lib.sh && kernel_dir')
KUNIT ?= 0
RUSTC ?= /usr/bin/rustc
RUSTDOC ?= /usr/bin/rustdoc
RUST_LIB_SRC ?= /usr/src/rustc-1.85.0/library
BINDGEN ?= $(HOME)/.cargo/bin/bindgen
CLIPPY_DRIVER ?= /usr/bin/clippy-driver

# A module is built by the compiler that built its kernel (clang for the debug kernel).
KCC := $(if $(filter y,$(shell sed -n 's/^CONFIG_CC_IS_CLANG=//p' $(KDIR)/.config 2>/dev/null)),CC=clang)

KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) KUNIT=$(KUNIT) TEST_BREAK=$(TEST_BREAK) $(KCC) \
	RUSTC=$(RUSTC) RUSTDOC=$(RUSTDOC) RUST_LIB_SRC=$(RUST_LIB_SRC) BINDGEN=$(BINDGEN) \
	CLIPPY_DRIVER=$(CLIPPY_DRIVER) $(if $(filter 1,$(CLIPPY)),CLIPPY=1)

BCACHE_SRC ?= $(KDIR)/drivers/md/bcache

PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
UDEVDIR ?= $(PREFIX)/lib/udev
INSTALL_MOD_PATH ?= $(DESTDIR)
DEPMOD ?= depmod
BCACHE_KO ?= bcache.ko
TOOL ?= target/release/bcache-nvm
# The release of the kernel in $(KDIR) (as its `make kernelrelease` prints it), read only
# when an install target needs it.
KERNELRELEASE ?= $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null)

UPSTREAM_STAMP := upstream/.patched
PATCHES := $(shell sed -e '/^\#/d' -e '/^$$/d' bcache/series)

all: modules

modules: $(UPSTREAM_STAMP)
	$(KMAKE) modules

# Copy the tree's bcache C, then apply our hook series in order.
$(UPSTREAM_STAMP): bcache/series $(addprefix bcache/,$(PATCHES)) bcache/nvm_hooks.h
	@test -f $(BCACHE_SRC)/super.c || \
		{ echo "$(BCACHE_SRC) has no bcache sources: set BCACHE_SRC to the drivers/md/bcache"; \
		  echo "of the source of the kernel in KDIR=$(KDIR)"; exit 1; }
	rm -rf upstream && mkdir -p upstream
	cp $(BCACHE_SRC)/*.[ch] upstream/
	cp bcache/nvm_hooks.h upstream/
	set -e; for p in $(PATCHES); do \
		patch -s -p4 -d upstream --no-backup-if-mismatch < bcache/$$p; done
	touch $@

# The user-space tool (release build).
tool:
	cargo build --release -p bcache-nvm

install: install-module install-udev install-tool

install-module:
	@test -f $(BCACHE_KO) || { echo "no $(BCACHE_KO): run make first"; exit 1; }
	@test -n "$(KERNELRELEASE)" || \
		{ echo "no kernel release in $(KDIR)/include/config/kernel.release"; exit 1; }
	install -D -m 644 $(BCACHE_KO) \
		$(INSTALL_MOD_PATH)/lib/modules/$(KERNELRELEASE)/updates/bcache.ko
	$(DEPMOD) -a $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(KERNELRELEASE)

install-udev:
	install -D -m 644 udev/70-bcache-nvm.rules $(DESTDIR)$(UDEVDIR)/rules.d/70-bcache-nvm.rules
	sed -i -e 's|/usr/sbin/bcache-nvm|$(SBINDIR)/bcache-nvm|' \
		-e 's|/usr/lib/udev/bcache-nvm-register|$(UDEVDIR)/bcache-nvm-register|' \
		$(DESTDIR)$(UDEVDIR)/rules.d/70-bcache-nvm.rules
	install -D -m 755 udev/bcache-nvm-register $(DESTDIR)$(UDEVDIR)/bcache-nvm-register

install-tool:
	@test -f $(TOOL) || { echo "no $(TOOL): run make (or make tool) first"; exit 1; }
	install -D -m 755 $(TOOL) $(DESTDIR)$(SBINDIR)/bcache-nvm

uninstall:
	rm -f $(INSTALL_MOD_PATH)/lib/modules/$(KERNELRELEASE)/updates/bcache.ko
	-$(DEPMOD) -a $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(KERNELRELEASE)
	rm -f $(DESTDIR)$(UDEVDIR)/rules.d/70-bcache-nvm.rules $(DESTDIR)$(UDEVDIR)/bcache-nvm-register
	rm -f $(DESTDIR)$(SBINDIR)/bcache-nvm

clean:
	-$(KMAKE) clean
	rm -rf upstream

.PHONY: all modules tool install install-module install-udev install-tool uninstall clean
