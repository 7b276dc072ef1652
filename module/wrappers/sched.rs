// SPDX-License-Identifier: GPL-2.0

//! Scheduling points for long loops in process context.

extern "C" {
    fn bch_nvm_cond_resched();
}

/// Lets other tasks run if this one has used its time (`cond_resched`). Call only where
/// sleeping is allowed.
pub fn cond_resched() {
    // SAFETY: no arguments; callers are in process context (see the doc).
    unsafe { bch_nvm_cond_resched() }
}
