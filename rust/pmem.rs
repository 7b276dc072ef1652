// SPDX-License-Identifier: GPL-2.0

//! A linearly mapped piece of persistent memory, and the persistent-store primitives on it.
//!
//! [`Linear`] is one kernel-virtual range of a DAX mapping. Its methods are the only code that
//! dereferences mapped NVDIMM memory: plain copies in and out, `memcpy_flushcache` for bulk
//! persistent copies, `arch_wb_cache_pmem` to write back stored lines, and [`fence`]
//! (`pmem_wmb`). An aligned 8-byte store is always one 64-bit store, never a byte copy, so
//! records, links and counters reach the media whole (see `nvmpg/media.rs`).

use core::ffi::c_void;
use core::ptr::NonNull;

extern "C" {
    fn bnvm_memcpy_flushcache(dst: *mut c_void, src: *const c_void, len: usize);
    fn bnvm_wb_cache_pmem(addr: *mut c_void, len: usize);
    fn bnvm_pmem_wmb();
}

/// `len` bytes of persistent memory mapped at `kaddr`.
///
/// # Invariants
///
/// `kaddr .. kaddr + len` is mapped, writable kernel memory that stays mapped for as long as
/// the value lives (its owner keeps the DAX device).
#[derive(Clone, Copy)]
pub struct Linear {
    kaddr: NonNull<u8>,
    len: u64,
}

// SAFETY: a `Linear` is an address range; any thread may use it, writes need `&mut` users.
unsafe impl Send for Linear {}
// SAFETY: as above.
unsafe impl Sync for Linear {}

/// Orders every flushed store before any later store (`pmem_wmb`).
pub fn fence() {
    // SAFETY: a store fence; no memory is touched.
    unsafe { bnvm_pmem_wmb() }
}

impl Linear {
    /// Wraps a mapped range.
    ///
    /// # Safety
    ///
    /// `kaddr .. kaddr + len` must be mapped, writable persistent memory that stays mapped
    /// while the returned value (or a copy of it) is used.
    pub unsafe fn new(kaddr: NonNull<u8>, len: u64) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self { kaddr, len }
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sub-range `[off, off + len)`, if it lies inside.
    pub fn sub(&self, off: u64, len: u64) -> Option<Linear> {
        let end = off.checked_add(len)?;
        if end > self.len {
            return None;
        }
        // SAFETY: `off < self.len` or `len == 0`; inside the mapped range by the invariant.
        let p = unsafe { self.kaddr.as_ptr().add(off as usize) };
        // INVARIANT: a sub-range of a mapped range is mapped for as long.
        Some(Self { kaddr: NonNull::new(p)?, len })
    }

    /// Copies the whole range into `dst` (`dst.len()` must equal `len`).
    pub fn read(&self, dst: &mut [u8]) {
        let n = dst.len().min(self.len as usize);
        // SAFETY: `n` bytes are mapped at `kaddr` and writable in `dst`; no overlap.
        unsafe { core::ptr::copy_nonoverlapping(self.kaddr.as_ptr(), dst.as_mut_ptr(), n) }
    }

    /// Stores `src` at the start of the range (plain stores; flush before fencing).
    pub fn store(&mut self, src: &[u8]) {
        let n = src.len().min(self.len as usize);
        let p = self.kaddr.as_ptr();
        if let (Ok(word), true) = (<[u8; 8]>::try_from(src), p as usize % 8 == 0 && n == 8) {
            // SAFETY: 8 mapped, writable, 8-byte aligned bytes.
            unsafe { core::ptr::write_volatile(p.cast::<u64>(), u64::from_ne_bytes(word)) };
            return;
        }
        // SAFETY: `n` bytes are mapped at `p`; `src` is readable; no overlap.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), p, n) }
    }

    /// Copies `src` to the start of the range around the CPU caches (`memcpy_flushcache`).
    pub fn store_flush(&mut self, src: &[u8]) {
        let n = src.len().min(self.len as usize);
        // SAFETY: as in `store`.
        unsafe { bnvm_memcpy_flushcache(self.kaddr.as_ptr().cast(), src.as_ptr().cast(), n) }
    }

    /// Writes back the cache lines of the whole range.
    pub fn flush(&mut self) {
        // SAFETY: the range is mapped persistent memory.
        unsafe { bnvm_wb_cache_pmem(self.kaddr.as_ptr().cast(), self.len as usize) }
    }
}
