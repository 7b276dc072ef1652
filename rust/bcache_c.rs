// SPDX-License-Identifier: GPL-2.0

//! Calls from the Rust crate into upstream bcache C (declared in `bcache/nvm_hooks.h`).

use kernel::error::{to_result, Result};

extern "C" {
    fn bcache_init() -> core::ffi::c_int;
    fn bcache_exit();
}

/// Runs bcache's module init: sysfs under `/sys/fs/bcache`, workqueues, the block major.
///
/// Must be called once, from the module's init, and be paired with one [`exit`] when it
/// succeeds; bcache's init cleans up after itself when it fails.
pub fn init() -> Result {
    // SAFETY: `bcache_init` takes no arguments and has no preconditions beyond being called
    // from module init, which is the only caller (see the module root).
    to_result(unsafe { bcache_init() })
}

/// Runs bcache's module exit, undoing a successful [`init`].
pub fn exit() {
    // SAFETY: only called from the module's `Drop`, which exists only after `init` succeeded.
    unsafe { bcache_exit() }
}
