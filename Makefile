# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of bcache-nvm's bcache.ko.
#
#   make [KDIR=/path/to/linux-6.12] [KUNIT=1] [CLIPPY=1]
#
# CLIPPY=1 compiles the Rust crate with clippy-driver and the kernel's lints (among them
# undocumented_unsafe_blocks); with CONFIG_WERROR any lint fails the build.
#
# KDIR defaults to the test kernel the scripts build (scripts/kernel.sh); any 6.12 tree
# configured with CONFIG_RUST=y works. The bcache C sources are copied from
# $(KDIR)/drivers/md/bcache into upstream/ and the patches listed in bcache/series
# applied to them; they are never committed.

KDIR ?= $(shell bash -c 'source scripts/lib.sh && kernel_dir')
KUNIT ?= 0
RUSTC ?= /usr/bin/rustc
RUSTDOC ?= /usr/bin/rustdoc
RUST_LIB_SRC ?= /usr/src/rustc-1.85.0/library
BINDGEN ?= $(HOME)/.cargo/bin/bindgen
CLIPPY_DRIVER ?= /usr/bin/clippy-driver

# A module is built by the compiler that built its kernel (clang for the debug kernel).
KCC := $(if $(filter y,$(shell sed -n 's/^CONFIG_CC_IS_CLANG=//p' $(KDIR)/.config 2>/dev/null)),CC=clang)

KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) KUNIT=$(KUNIT) $(KCC) \
	RUSTC=$(RUSTC) RUSTDOC=$(RUSTDOC) RUST_LIB_SRC=$(RUST_LIB_SRC) BINDGEN=$(BINDGEN) \
	CLIPPY_DRIVER=$(CLIPPY_DRIVER) $(if $(filter 1,$(CLIPPY)),CLIPPY=1)

UPSTREAM_STAMP := upstream/.patched
PATCHES := $(shell sed -e '/^\#/d' -e '/^$$/d' bcache/series)

all: modules

modules: $(UPSTREAM_STAMP)
	$(KMAKE) modules

# Copy the tree's bcache C, then apply our hook series in order.
$(UPSTREAM_STAMP): bcache/series $(addprefix bcache/,$(PATCHES)) bcache/nvm_hooks.h
	@test -f $(KDIR)/drivers/md/bcache/super.c || \
		{ echo "KDIR=$(KDIR) has no drivers/md/bcache"; exit 1; }
	rm -rf upstream && mkdir -p upstream
	cp $(KDIR)/drivers/md/bcache/*.[ch] upstream/
	cp bcache/nvm_hooks.h upstream/
	set -e; for p in $(PATCHES); do \
		patch -s -p4 -d upstream --no-backup-if-mismatch < bcache/$$p; done
	touch $@

clean:
	-$(KMAKE) clean
	rm -rf upstream

.PHONY: all modules clean
