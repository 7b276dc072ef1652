// SPDX-License-Identifier: GPL-2.0

//! Calls from the Rust crate into upstream bcache C (declared in `bcache/nvm_hooks.h`).

use kernel::error::{to_result, Result};

extern "C" {
    fn bcache_init() -> kernel::ffi::c_int;
    fn bcache_exit();
}

/// Runs bcache's module init: sysfs under `/sys/fs/bcache`, workqueues, the block major.
/// bcache's init cleans up after itself when it fails.
///
/// # Safety
///
/// Called once, from the module's init (bcache's init is `__init`-adjacent code run while
/// the module's init sections are mapped), and, when it succeeds, paired with exactly one
/// [`exit`] before the module goes away.
pub unsafe fn init() -> Result {
    // SAFETY: no arguments; the calling context is guaranteed by the caller.
    to_result(unsafe { bcache_init() })
}

/// Runs bcache's module exit, undoing a successful [`init`].
///
/// # Safety
///
/// [`init`] succeeded and this is the only call of `exit` since.
pub unsafe fn exit() {
    // SAFETY: guaranteed by the caller.
    unsafe { bcache_exit() }
}
