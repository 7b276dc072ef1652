// SPDX-License-Identifier: GPL-2.0

//! The C entry points of a backing device's flush bookkeeping (patch 0006): one
//! [`BackingFlush`] per cached device, held by C in `dc->nvm_flush`, is the pure
//! [`FlushState`] behind a spin lock. C counts direct writes, issues the flush from its work
//! item and parks waiting closures; every decision (is a flush needed, which flush serves
//! whom, when to issue the next) is [`FlushState`]'s.

use crate::pure::flush::{FlushState, FlushStatus};
use kernel::ffi::{c_int, c_void};
use kernel::types::ForeignOwnable;
use kernel::{error::code::*, new_spinlock, prelude::*, sync::SpinLock};

/// One cached device's flush state.
#[pin_data]
pub struct BackingFlush {
    #[pin]
    state: SpinLock<FlushState>,
}

impl BackingFlush {
    fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            state <- new_spinlock!(FlushState::new(), "BackingFlush::state"),
        })
    }
}

/// The state C holds, borrowed for one call.
///
/// # Safety
///
/// `p` must come from [`bch_nvm_flush_alloc`] and not have been passed to
/// [`bch_nvm_flush_free`].
unsafe fn state<'a>(p: *mut c_void) -> Pin<&'a BackingFlush> {
    // SAFETY: `p` is the foreign form of a live `Pin<KBox<BackingFlush>>` (guaranteed by the
    // caller), which is only taken back by `bch_nvm_flush_free`; shared borrows are fine, the
    // state is behind its lock.
    unsafe { <Pin<KBox<BackingFlush>> as ForeignOwnable>::borrow(p) }
}

/// Allocates a cached device's flush state; NULL if memory is short.
#[no_mangle]
pub extern "C" fn bch_nvm_flush_alloc() -> *mut c_void {
    match KBox::pin_init(BackingFlush::new(), GFP_KERNEL) {
        Ok(b) => b.into_foreign().cast_mut(),
        Err(_) => core::ptr::null_mut(),
    }
}

/// Frees a flush state (NULL is ignored).
///
/// # Safety
///
/// `p` must be NULL or come from [`bch_nvm_flush_alloc`], be freed once, and not be used by
/// anyone during or after this call (C cancels its flush work first).
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_flush_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: guaranteed by the caller: `p` is the foreign form of the box, taken back once.
    drop(unsafe { <Pin<KBox<BackingFlush>> as ForeignOwnable>::from_foreign(p) });
}

/// Whether a user's flush must reach the backing device, given the direct writes completed so
/// far ([`FlushState::needed`]).
///
/// # Safety
///
/// `p` as for [`state`].
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_flush_needed(p: *mut c_void, direct_writes: u64) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe { state(p) }.state.lock().needed(direct_writes)
}

/// A ticket for every write completed before this call ([`FlushState::ticket`]); the caller
/// queues the flush work and waits until [`bch_nvm_flush_status`] is not 0.
///
/// # Safety
///
/// `p` as for [`state`].
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_flush_ticket(p: *mut c_void) -> u64 {
    // SAFETY: guaranteed by the caller.
    unsafe { state(p) }.state.lock().ticket()
}

/// Claims the next flush for the flush work: its number, or 0 if none is wanted or one is in
/// flight ([`FlushState::start`]). `direct_writes` is read just before.
///
/// # Safety
///
/// `p` as for [`state`].
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_flush_start(p: *mut c_void, direct_writes: u64) -> u64 {
    // SAFETY: guaranteed by the caller.
    unsafe { state(p) }
        .state
        .lock()
        .start(direct_writes)
        .unwrap_or(0)
}

/// Records that flush `gen` completed with `err` (0 or -errno) ([`FlushState::finish`]).
///
/// # Safety
///
/// `p` as for [`state`].
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_flush_finish(p: *mut c_void, gen: u64, err: c_int) {
    // SAFETY: guaranteed by the caller.
    unsafe { state(p) }.state.lock().finish(gen, err == 0);
}

/// What became of the flush `ticket` waits for: 0 pending, 1 durable, `-EIO` failed.
///
/// # Safety
///
/// `p` as for [`state`].
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_flush_status(p: *mut c_void, ticket: u64) -> c_int {
    // SAFETY: guaranteed by the caller.
    match unsafe { state(p) }.state.lock().status(ticket) {
        FlushStatus::Pending => 0,
        FlushStatus::Durable => 1,
        FlushStatus::Failed => EIO.to_errno(),
    }
}
