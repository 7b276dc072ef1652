// SPDX-License-Identifier: GPL-2.0

//! The C entry points of the journal on an NVDIMM meta device, called by the hooks of patch
//! 0004 in super.c and journal.c (declared in `bcache/nvm_hooks.h`).
//!
//! A cache set's journal is one range of `2^order` pages owned by its `set_uuid`, with
//! `sb.d[i]` the nvmpg offset of bucket `i`. `create` allocates it for a new cache set,
//! `attach` finds it again for an existing one; both pin the owner (the set cannot be
//! unregistered under a running cache) and hand C a [`Window`] (a `KBox` given away with
//! [`ForeignOwnable`]) that `detach` takes back. Every refusal logs one line naming the cache
//! set and the reason.

use super::window::Window;
use crate::errno::eopnotsupp;
use crate::pure::cache_sb::error::SbError;
use crate::pure::cache_sb::nvdimm::{check_recorded, JournalGeometry};
use crate::pure::cache_sb::sb::SB_JOURNAL_BUCKETS;
use crate::pure::journal::latency::Latency;
use crate::pure::media::Media;
use crate::pure::nvmpg::error::Error as AllocError;
use crate::pure::nvmpg::format::NvmpgOffset;
use crate::registry::{MetaSet, Registry, Uuid};
use crate::wrappers::sched::cond_resched;
use kernel::ffi::{c_char, c_int, c_void};
use kernel::types::{ForeignOwnable, ScopeGuard};
use kernel::{c_str, error::code::*, prelude::*};

/// Reads the 16-byte `set_uuid` C passes.
///
/// # Safety
///
/// `p` must point to 16 readable bytes.
unsafe fn owner(p: *const u8) -> [u8; 16] {
    let mut u = [0u8; 16];
    // SAFETY: guaranteed by the caller.
    unsafe { core::ptr::copy_nonoverlapping(p, u.as_mut_ptr(), 16) };
    u
}

/// `d[0..keys]` as C passes it (`sb.d`, `SB_JOURNAL_BUCKETS` entries).
///
/// # Safety
///
/// `d` must point to `SB_JOURNAL_BUCKETS` readable `u64`s valid for `'a`.
unsafe fn journal_d<'a>(d: *const u64, keys: u16) -> &'a [u64] {
    let n = usize::from(keys.min(SB_JOURNAL_BUCKETS));
    // SAFETY: guaranteed by the caller; `n` is within the array.
    unsafe { core::slice::from_raw_parts(d, n) }
}

/// The window C holds in `ca->nvm_journal`, borrowed mutably for one call.
///
/// # Safety
///
/// `w` must be null or a window handed out by [`bch_nvm_journal_create`] or
/// [`bch_nvm_journal_attach`] and not yet detached, used by no one else during `'a` (bcache
/// reads the journal before writing it, and has one journal write in flight per cache).
unsafe fn window_mut<'a>(w: *mut c_void) -> Option<&'a mut Window> {
    // SAFETY: such a pointer comes from `KBox::<Window>::into_foreign`, i.e. it is the box's
    // own pointer to a live `Window`; exclusivity is guaranteed by the caller.
    unsafe { w.cast::<Window>().as_mut() }
}

/// Checks that `d` names the journal range `owner` holds in the registered set.
fn check(
    set: &MetaSet,
    owner: &[u8; 16],
    geom: &JournalGeometry,
    d: &[u64],
) -> Result<NvmpgOffset, SbError> {
    let base = geom.check_d(d.iter().copied())?;
    check_recorded(&set.alloc, owner, geom, base)?;
    Ok(base)
}

/// Maps the journal range at `base`, pins `owner` and returns the window, ready to be handed
/// to C. `ENOMEM`; `EOPNOTSUPP` if the range crosses a mapping-range boundary of its namespace.
fn open_window(
    set: &mut MetaSet,
    owner: [u8; 16],
    geom: JournalGeometry,
    base: NvmpgOffset,
    first_bucket: u16,
    created: bool,
) -> Result<KBox<Window>> {
    // Allocate before anything is pinned or mapped, so failing here undoes nothing.
    let slot = KBox::<Window>::new_uninit(GFP_KERNEL)?;
    let len = geom.bucket_bytes() * u64::from(geom.keys());
    let ns = set.alloc.media(base.ns()).ok_or(EINVAL)?;
    // SAFETY: the range is `owner`'s journal, recorded for it; the allocator never touches a
    // range it handed out, and the caller pins `owner` below, so the namespace stays mapped
    // until the window is dropped (the pin is released only after that, in `detach`).
    let map = unsafe { ns.split_off(base.offset(), len) }.ok_or_else(eopnotsupp)?;
    set.pin(&owner)?;
    let unpin = ScopeGuard::new_with_data(owner, |o| set.unpin(&o));
    // SAFETY: `map` maps the owner's recorded range and `owner` is pinned.
    let w = unsafe { Window::new(owner, geom, base, first_bucket, map, created) }?;
    let w = slot.write(w);
    unpin.dismiss();
    Ok(w)
}

/// `read_super_common()`: `NULL` if `d[]` name a journal range recorded for `set_uuid` in the
/// registered nvm-pages set, else a short reason (the log line has the details). A cache that
/// has never run (`keys == 0`, or `d[]` still the SSD journal buckets) passes: its journal is
/// made when the cache set first starts.
///
/// # Safety
///
/// `set_uuid` must point to 16 readable bytes and `d` to `SB_JOURNAL_BUCKETS` readable `u64`s
/// (`sb->set_uuid`, `sb->d` of a `struct cache_sb`).
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_sb_check(
    set_uuid: *const u8,
    bucket_size: u32,
    first_bucket: u16,
    keys: u16,
    d: *const u64,
) -> *const c_char {
    // SAFETY: guaranteed by the caller.
    let (owner, d) = unsafe { (owner(set_uuid), journal_d(d, keys)) };
    if d.iter()
        .enumerate()
        .all(|(i, &b)| b == u64::from(first_bucket) + i as u64)
    {
        return core::ptr::null();
    }
    let geom = match JournalGeometry::new(bucket_size, keys) {
        Ok(g) => g,
        Err(e) => {
            pr_err!("cache set {}: NVDIMM journal: {}\n", Uuid(&owner), e);
            return c_str!("Bad NVDIMM journal geometry").as_char_ptr();
        }
    };
    let not_registered = SbError::AllocLists(AllocError::NotFound);
    let r = Registry::with(|set| {
        if !set.alloc.lists().is_loaded() {
            return Err(not_registered);
        }
        check(set, &owner, &geom, d)
    });
    let e = match r {
        Ok(Ok(_)) => return core::ptr::null(),
        Ok(Err(e)) => e,
        Err(_) => not_registered,
    };
    let why = match e {
        SbError::AllocLists(AllocError::NotFound) => {
            c_str!("NVDIMM meta device of this cache set is not registered")
        }
        SbError::NoOwner | SbError::NoRecord { .. } => {
            c_str!("No journal range recorded for this cache set on the NVDIMM")
        }
        SbError::SizeMismatch { .. } | SbError::NotRangeStart { .. } => {
            c_str!("NVDIMM journal range does not match the superblock")
        }
        _ => c_str!("Bad NVDIMM journal locations"),
    };
    pr_err!("cache set {}: {}: {}\n", Uuid(&owner), why, e);
    why.as_char_ptr()
}

/// A new cache set: allocates its journal (`keys` rounded down to a power of two), zeroes it
/// durably, fills `d[]` and hands back the window. `-ENODEV` without a registered set,
/// `-ENOSPC` without room; nothing is left allocated on failure.
///
/// # Safety
///
/// `set_uuid` must point to 16 readable bytes, `keys` to a writable `u16`, `d` to
/// `SB_JOURNAL_BUCKETS` writable `u64`s and `window` to a writable pointer (`ca->sb.set_uuid`,
/// `&ca->sb.keys`, `ca->sb.d`, `&ca->nvm_journal`).
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_journal_create(
    set_uuid: *const u8,
    bucket_size: u32,
    first_bucket: u16,
    keys: *mut u16,
    d: *mut u64,
    window: *mut *mut c_void,
) -> c_int {
    // SAFETY: guaranteed by the caller.
    let (owner, k) = unsafe { (owner(set_uuid), *keys) };
    let k = if k == 0 { 0 } else { 1u16 << k.ilog2() };
    let r = JournalGeometry::new(bucket_size, k)
        .map_err(|e| {
            pr_err!("cache set {}: NVDIMM journal: {}\n", Uuid(&owner), e);
            EINVAL
        })
        .and_then(|geom| Registry::with(|set| create(set, owner, geom, first_bucket))?);
    match r {
        Ok((geom, base, w)) => {
            // SAFETY: guaranteed by the caller; `SB_JOURNAL_BUCKETS >= keys` entries.
            let d = unsafe { core::slice::from_raw_parts_mut(d, usize::from(geom.keys())) };
            for (i, slot) in (0..).zip(d.iter_mut()) {
                *slot = geom.bucket(base, i).map_or(0, |o| o.0);
            }
            // SAFETY: guaranteed by the caller. C owns the window until `detach`.
            unsafe { (*keys, *window) = (geom.keys(), w.into_foreign().cast_mut()) };
            pr_info!(
                "cache set {}: journal on the NVDIMM: {} buckets at {:#x} (namespace {})\n",
                Uuid(&owner),
                geom.keys(),
                base.offset(),
                base.ns()
            );
            0
        }
        Err(e) => {
            pr_err!(
                "cache set {}: cannot allocate the NVDIMM journal ({})\n",
                Uuid(&owner),
                e.to_errno()
            );
            e.to_errno()
        }
    }
}

fn create(
    set: &mut MetaSet,
    owner: [u8; 16],
    geom: JournalGeometry,
    first_bucket: u16,
) -> Result<(JournalGeometry, NvmpgOffset, KBox<Window>)> {
    if !set.alloc.lists().is_loaded() {
        pr_err!(
            "cache set {}: NVDIMM meta device not registered\n",
            Uuid(&owner)
        );
        return Err(ENODEV);
    }
    let (base, reused) = match reusable(set, &owner, geom.order())? {
        Some(base) => (base, true),
        None => (set.alloc.alloc_pages(geom.order(), &owner)?, false),
    };
    if reused {
        pr_info!(
            "cache set {}: reusing its NVDIMM journal range at {:#x} (namespace {}), never started\n",
            Uuid(&owner),
            base.offset(),
            base.ns()
        );
    }
    let w = zero(set, base, &geom)
        .and_then(|()| open_window(set, owner, geom, base, first_bucket, true));
    match w {
        Ok(w) => Ok((geom, base, w)),
        Err(e) => {
            give_back(set, &owner, base, geom.order());
            Err(e)
        }
    }
}

/// The range a new cache set may take over instead of allocating: its owner already holds
/// exactly one range, of the journal's order. That is what a crash between the allocation
/// and the superblock write (which has no FUA in mainline) leaves behind for the same
/// `set_uuid`; the range is zeroed again before use.
fn reusable(set: &MetaSet, owner: &[u8; 16], order: u8) -> Result<Option<NvmpgOffset>> {
    let mut only = None;
    let n = match set.alloc.get_head(owner, |off, o| only = Some((off, o))) {
        Ok(n) => n,
        Err(AllocError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(only
        .filter(|&(_, o)| n == 1 && o == order)
        .map(|(off, _)| off))
}

/// Frees `owner`'s journal range at `base`, and its head too when that was its only range.
/// Used on error paths only: a failure is logged, the range then waits for a release.
fn give_back(set: &mut MetaSet, owner: &[u8; 16], base: NvmpgOffset, order: u8) {
    let only = matches!(set.alloc.get_head(owner, |_, _| {}), Ok(1));
    let r = if only {
        set.alloc.release_owner(owner).map(drop)
    } else {
        set.alloc.free_pages(base, order, owner)
    };
    match r {
        Ok(()) => pr_info!(
            "cache set {}: NVDIMM journal range at {:#x} (namespace {}) freed\n",
            Uuid(owner),
            base.offset(),
            base.ns()
        ),
        Err(e) => pr_err!(
            "cache set {}: cannot free the NVDIMM journal range at {:#x}: {}\n",
            Uuid(owner),
            base.offset(),
            e
        ),
    }
}

/// Zeroes the journal range durably, so no stale jset of an earlier owner is ever replayed.
fn zero(set: &mut MetaSet, base: NvmpgOffset, geom: &JournalGeometry) -> Result {
    static ZEROS: [u8; 4096] = [0; 4096];
    let ns = set.alloc.media_mut(base.ns()).ok_or(EINVAL)?;
    let len = geom.bucket_bytes() * u64::from(geom.keys());
    let mut off = 0;
    while off < len {
        ns.store_flush(base.offset() + off, &ZEROS)
            .map_err(|_| EIO)?;
        off += ZEROS.len() as u64;
        // A journal range is up to hundreds of MiB: let others run (under a mutex, which
        // may sleep).
        if off % (1 << 20) == 0 {
            cond_resched();
        }
    }
    ns.fence();
    Ok(())
}

/// An existing cache set: finds its recorded journal range again and hands back the window.
///
/// # Safety
///
/// `set_uuid` must point to 16 readable bytes, `d` to `SB_JOURNAL_BUCKETS` readable `u64`s and
/// `window` to a writable pointer (`ca->sb.set_uuid`, `ca->sb.d`, `&ca->nvm_journal`).
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_journal_attach(
    set_uuid: *const u8,
    bucket_size: u32,
    first_bucket: u16,
    keys: u16,
    d: *const u64,
    window: *mut *mut c_void,
) -> c_int {
    // SAFETY: guaranteed by the caller.
    let (owner, d) = unsafe { (owner(set_uuid), journal_d(d, keys)) };
    let r = JournalGeometry::new(bucket_size, keys).map_err(|e| {
        pr_err!("cache set {}: NVDIMM journal: {}\n", Uuid(&owner), e);
        EINVAL
    });
    let r = r.and_then(|geom| {
        Registry::with(|set| {
            let base = check(set, &owner, &geom, d).map_err(|e| {
                pr_err!("cache set {}: NVDIMM journal: {}\n", Uuid(&owner), e);
                EINVAL
            })?;
            open_window(set, owner, geom, base, first_bucket, false)
        })?
    });
    match r {
        Ok(w) => {
            // SAFETY: guaranteed by the caller. C owns the window until `detach`.
            unsafe { *window = w.into_foreign().cast_mut() };
            pr_info!("cache set {}: journal on the NVDIMM\n", Uuid(&owner));
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `run_cache_set()`: a new cache set wrote its superblock, which names its journal range:
/// from now on the range is kept when the window goes.
///
/// # Safety
///
/// `w` must be as for [`window_mut`] (`ca->nvm_journal`, null for a cache without the feature).
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_journal_started(w: *mut c_void) {
    // SAFETY: guaranteed by the caller.
    if let Some(w) = unsafe { window_mut(w) } {
        w.mark_started();
    }
}

/// Takes back a cache's window (if any), drops it and releases its pin. The journal range of
/// a new cache set that never started (it failed before writing its superblock) is freed.
///
/// # Safety
///
/// `window` must point to `ca->nvm_journal`: null, or a window handed out by `create` or
/// `attach` that no other call is using.
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_journal_detach(window: *mut *mut c_void) {
    // SAFETY: guaranteed by the caller.
    let w = unsafe { core::mem::replace(&mut *window, core::ptr::null_mut()) };
    if w.is_null() {
        return;
    }
    // SAFETY: `w` came from `into_foreign` in `create`/`attach` and is taken back once, here
    // (the slot is null from now on).
    let w = unsafe { KBox::<Window>::from_foreign(w) };
    let (owner, abandoned) = (w.owner, w.abandoned());
    // The mapping goes before the pin that keeps the namespace registered.
    drop(w);
    let _ = Registry::with(|set| {
        set.unpin(&owner);
        if let Some((base, order)) = abandoned {
            pr_info!("cache set {}: did not start\n", Uuid(&owner));
            give_back(set, &owner, base, order);
        }
    });
}

/// `journal_read_bucket()`: copies `bytes` of bucket `bucket` from sector `offset` into `data`.
///
/// # Safety
///
/// `w` must be as for [`window_mut`] (`ca->nvm_journal` during the journal read) and `data`
/// must point to `bytes` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_journal_read(
    w: *mut c_void,
    bucket: u32,
    offset: u32,
    data: *mut c_void,
    bytes: usize,
) -> c_int {
    // SAFETY: guaranteed by the caller.
    let (w, data) = unsafe {
        (
            window_mut(w),
            core::slice::from_raw_parts_mut(data.cast::<u8>(), bytes),
        )
    };
    match w.map(|w| w.read(bucket, offset, data)) {
        Some(Ok(())) => 0,
        _ => EIO.to_errno(),
    }
}

/// `journal_write_unlocked()`: notes the jset to store after the cache device's flush.
///
/// # Safety
///
/// `w` must be as for [`window_mut`] (`ca->nvm_journal` of the journal write in flight), and
/// `jset` must point to `bytes` readable bytes that stay alive and unchanged until the
/// matching [`bch_nvm_journal_commit`] has returned.
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_journal_prepare(
    w: *mut c_void,
    bucket: u32,
    ptr: u64,
    jset: *const c_void,
    bytes: usize,
) -> c_int {
    // SAFETY: guaranteed by the caller.
    let Some(w) = (unsafe { window_mut(w) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: guaranteed by the caller.
    match unsafe { w.prepare(bucket, ptr, jset.cast(), bytes) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The flush bio's completion: stores the prepared jset (unless the flush failed). Returns 0,
/// or `-EIO` if the flush succeeded and the jset still is not on the NVDIMM.
///
/// # Safety
///
/// `w` must be as for [`window_mut`]: the window of the journal write that prepared the jset.
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_journal_commit(w: *mut c_void, status: c_int) -> c_int {
    // SAFETY: guaranteed by the caller.
    match unsafe { window_mut(w) }.map(|w| w.commit(status)) {
        Some(Ok(())) => 0,
        Some(Err(e)) => e.to_errno(),
        None => EIO.to_errno(),
    }
}

/// Submit-to-durable time of every journal write, both paths (`journal_latency` in sysfs).
pub static LATENCY: Latency = Latency::new();

/// `journal_write_unlocked()` submitted the journal write `w` (`done` false), or its
/// completion found it durable (`done` true).
///
/// # Safety
///
/// Called by the journal code of bcache only. `w` is only used as a key (the address of the
/// journal write), never dereferenced: any value is sound; the same `w` for the submission
/// and the completion of one write makes the timing right.
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_journal_timing(w: *const c_void, done: bool) {
    let now = kernel::time::Ktime::ktime_get().to_ns() as u64;
    if done {
        LATENCY.done(w as usize, now);
    } else {
        LATENCY.start(w as usize, now);
    }
}
