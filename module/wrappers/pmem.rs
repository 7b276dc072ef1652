// SPDX-License-Identifier: GPL-2.0

//! A linearly mapped range of persistent memory, and the persistent-store primitives on it.
//!
//! [`PmemRange`] is one kernel-virtual range of a DAX mapping. Its methods are the only code
//! that dereferences mapped NVDIMM memory, each bounds-checked against the range: reads with
//! the machine-check-safe `copy_mc_to_kernel` (a poisoned line fails the read instead of
//! taking the machine down), plain stores in (an aligned 8-byte store is always one 64-bit store, never a byte
//! copy, so records, links and counters reach the media whole; see `pure/media.rs`),
//! `memcpy_flushcache` for bulk persistent copies, `arch_wb_cache_pmem` to write back stored
//! lines, and [`fence`] (`pmem_wmb`).

use crate::pure::media::OutOfRange;
use core::ptr::NonNull;
use kernel::ffi::c_void;

extern "C" {
    fn bch_nvm_memcpy_flushcache(dst: *mut c_void, src: *const c_void, len: usize);
    fn bch_nvm_wb_cache_pmem(addr: *mut c_void, len: usize);
    fn bch_nvm_pmem_wmb();
    fn bch_nvm_copy_mc(dst: *mut c_void, src: *const c_void, len: usize) -> usize;
}

/// `len` bytes of persistent memory mapped at `kaddr`.
///
/// Stores need `&mut self` and reads `&self`, so through one handle there is never a store
/// racing a read. Handles are not `Clone`: a second handle over the same bytes is made only by
/// the `unsafe` [`PmemRange::split_off`], whose caller hands those bytes over to it.
///
/// # Invariants
///
/// `kaddr .. kaddr + len` is mapped, writable kernel memory that stays mapped for as long as
/// the value lives (its owner keeps the DAX device), and no other live handle accesses those
/// bytes unless its creator guaranteed the accesses never overlap in time.
pub struct PmemRange {
    kaddr: NonNull<u8>,
    len: u64,
}

// SAFETY: a `PmemRange` owns access to its bytes (type invariant); moving it to another thread
// moves that access, and the mapping does not depend on the thread that made it.
unsafe impl Send for PmemRange {}
// SAFETY: through `&PmemRange` the bytes are only read (stores take `&mut self`), and reads
// from several threads at once do not race.
unsafe impl Sync for PmemRange {}

/// Orders every flushed store before any later store (`pmem_wmb`).
pub fn fence() {
    // SAFETY: a store fence; no memory is touched.
    unsafe { bch_nvm_pmem_wmb() }
}

impl PmemRange {
    /// Wraps a mapped range.
    ///
    /// # Safety
    ///
    /// `kaddr .. kaddr + len` must be mapped, writable persistent memory that stays mapped
    /// while the returned value lives, accessed by no other handle at the same time.
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

    /// The address of `[off, off + len)`, if it lies inside the range.
    fn at(&self, off: u64, len: usize) -> Result<*mut u8, OutOfRange> {
        let end = off.checked_add(len as u64).ok_or(OutOfRange)?;
        if end > self.len {
            return Err(OutOfRange);
        }
        let off = usize::try_from(off).map_err(|_| OutOfRange)?;
        // SAFETY: `off + len <= self.len`: inside the mapped range (type invariant).
        Ok(unsafe { self.kaddr.as_ptr().add(off) })
    }

    /// A new handle for `[off, off + len)` of this range, or `None` if it does not lie inside.
    ///
    /// # Safety
    ///
    /// The caller hands those bytes over: while the returned handle lives, they must not be
    /// accessed through `self` (or any other handle) at the same time as through the new one,
    /// and the new handle must not outlive the mapping `self` belongs to.
    pub unsafe fn split_off(&self, off: u64, len: u64) -> Option<PmemRange> {
        let p = self.at(off, usize::try_from(len).ok()?).ok()?;
        // INVARIANT: inside the mapped range; exclusive access guaranteed by the caller.
        Some(Self {
            kaddr: NonNull::new(p)?,
            len,
        })
    }

    /// Copies `dst.len()` bytes at `off` into `dst`, machine-check safe: a read that hits
    /// poisoned memory fails (logged with the offset) rather than crashing.
    pub fn read_at(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        let p = self.at(off, dst.len())?;
        // SAFETY: `dst.len()` mapped bytes at `p` (checked by `at`), writable in `dst`; no
        // store races this read (stores need `&mut self`); no overlap.
        let left = unsafe { bch_nvm_copy_mc(dst.as_mut_ptr().cast(), p.cast(), dst.len()) };
        if left != 0 {
            kernel::pr_err!(
                "nvm-pages: poisoned NVDIMM memory: read of {} bytes at mapping offset {:#x} failed\n",
                dst.len(),
                off
            );
            return Err(OutOfRange);
        }
        Ok(())
    }

    /// Stores `src` at `off` (plain stores: flush before fencing).
    pub fn store_at(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        let p = self.at(off, src.len())?;
        if let (Ok(word), true) = (<[u8; 8]>::try_from(src), p as usize % 8 == 0) {
            // SAFETY: 8 mapped, writable, 8-byte aligned bytes, accessed only through `self`.
            unsafe { core::ptr::write_volatile(p.cast::<u64>(), u64::from_ne_bytes(word)) };
            return Ok(());
        }
        // SAFETY: `src.len()` mapped bytes at `p`, accessed only through `self`; `src` is
        // readable; no overlap.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), p, src.len()) };
        Ok(())
    }

    /// Copies `src` to `off` around the CPU caches (`memcpy_flushcache`).
    pub fn store_flush_at(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        let p = self.at(off, src.len())?;
        // SAFETY: as in `store_at`.
        unsafe { bch_nvm_memcpy_flushcache(p.cast(), src.as_ptr().cast(), src.len()) };
        Ok(())
    }

    /// Writes back the cache lines of `[off, off + len)`.
    pub fn flush_at(&mut self, off: u64, len: u64) -> Result<(), OutOfRange> {
        let p = self.at(off, usize::try_from(len).map_err(|_| OutOfRange)?)?;
        // SAFETY: the bytes are mapped persistent memory (checked by `at`).
        unsafe { bch_nvm_wb_cache_pmem(p.cast(), len as usize) };
        Ok(())
    }
}
