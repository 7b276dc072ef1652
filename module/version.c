// SPDX-License-Identifier: GPL-2.0
/*
 * The module's version, as modinfo shows it. DKMS compares it with the kernel's own
 * bcache.ko (which has none) before installing ours: two modules without a version count
 * as the same, and DKMS would refuse to install. Kept equal to Cargo.toml's and dkms.conf's
 * (scripts/dkms-check.sh checks both).
 */
#include <linux/module.h>

MODULE_VERSION("0.1.0");
