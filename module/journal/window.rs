// SPDX-License-Identifier: GPL-2.0

//! A cache's journal window on the NVDIMM: the mapped journal range of one cache set, pinned
//! in the registry while the cache lives, and the jset waiting for the cache device's flush
//! before it is stored (see `pure/journal/write.rs` for the order).

use crate::pure::cache_sb::nvdimm::JournalGeometry;
use crate::pure::journal::geometry::Geometry;
use crate::pure::journal::write::write_jset;
use crate::pure::media::{Media, OutOfRange};
use crate::pure::nvmpg::format::NvmpgOffset;
use crate::registry::Uuid;
use crate::wrappers::pmem::{self, PmemRange};
use core::ptr::NonNull;
use kernel::{error::code::*, prelude::*};

/// The jset `journal_write_unlocked` handed over, to store once the flush completed.
///
/// # Invariants
///
/// `jset` points to `bytes` readable bytes (bcache's `w->data`) that stay alive and
/// unchanged until the journal write's closure completes, which is after its commit.
struct Pending {
    bucket: u16,
    offset: u64,
    jset: NonNull<u8>,
    bytes: usize,
}

/// The journal range of one cache set, mapped.
///
/// # Invariants
///
/// `map` maps exactly the `2^order` pages at `base` that `owner` holds in the registered
/// set, which stays registered (the owner is pinned) until the window is dropped; nothing
/// else accesses those pages while the window lives (the allocator never touches a range it
/// handed out).
pub struct Window {
    /// The cache set's uuid: owner of the range.
    pub owner: [u8; 16],
    geom: JournalGeometry,
    io: Geometry,
    base: NvmpgOffset,
    first_bucket: u64,
    map: PmemRange,
    pending: Option<Pending>,
    /// Allocated (or reused) for a new cache set by `create`, not found by `attach`.
    created: bool,
    /// The new cache set wrote its superblock, which names this range: keep it.
    started: bool,
}

impl Window {
    /// A window over `map`, the mapping of the journal range of `geom` at `base`.
    ///
    /// # Safety
    ///
    /// `map` must map that range, and the caller must have pinned `owner` (the mapping then
    /// stays valid until the window is dropped and the pin released).
    pub(crate) unsafe fn new(
        owner: [u8; 16],
        geom: JournalGeometry,
        base: NvmpgOffset,
        first_bucket: u16,
        map: PmemRange,
        created: bool,
    ) -> Result<Self> {
        let io = Geometry::new(geom.bucket_bytes(), 512).map_err(|_| EINVAL)?;
        // INVARIANT: guaranteed by the caller.
        Ok(Self {
            owner,
            geom,
            io,
            base,
            first_bucket: first_bucket.into(),
            map,
            pending: None,
            created,
            started: false,
        })
    }

    /// Copies `data.len()` bytes of journal bucket `bucket` from `sector` on.
    pub fn read(&self, bucket: u32, sector: u32, data: &mut [u8]) -> Result {
        let off = u64::from(bucket) * self.geom.bucket_bytes() + (u64::from(sector) << 9);
        if (u64::from(sector) << 9) + data.len() as u64 > self.geom.bucket_bytes() {
            return Err(EINVAL);
        }
        self.map.read_at(off, data).map_err(|_| EINVAL)
    }

    /// Notes the jset of `bytes` at `jset` to be stored at the journal key's offset `ptr`
    /// (sectors on the cache device, in the reserved bucket `first_bucket + bucket`).
    ///
    /// # Safety
    ///
    /// `jset` must point to `bytes` readable bytes that stay alive and unchanged until
    /// [`Window::commit`] has returned.
    pub unsafe fn prepare(
        &mut self,
        bucket: u32,
        ptr: u64,
        jset: *const u8,
        bytes: usize,
    ) -> Result {
        let bucket = u16::try_from(bucket)
            .ok()
            .filter(|&b| b < self.geom.keys())
            .ok_or(EINVAL)?;
        let start = (self.first_bucket + u64::from(bucket)) * (self.geom.bucket_bytes() >> 9);
        let offset = ptr.checked_sub(start).ok_or(EINVAL)? << 9;
        if offset + bytes as u64 > self.geom.bucket_bytes() {
            return Err(EINVAL);
        }
        let jset = NonNull::new(jset.cast_mut()).ok_or(EINVAL)?;
        // INVARIANT: guaranteed by the caller.
        self.pending = Some(Pending {
            bucket,
            offset,
            jset,
            bytes,
        });
        Ok(())
    }

    /// Stores the prepared jset durably (flushing copy, fence); drops it if the cache
    /// device's flush failed (`status < 0`: bcache reports that error itself).
    /// `EIO` if the flush succeeded but the jset could not be stored: nothing prepared, or
    /// the store failed. Either way the jset is not on the NVDIMM.
    pub fn commit(&mut self, status: i32) -> Result {
        let Some(p) = self.pending.take() else {
            pr_err!(
                "cache set {}: journal commit without a prepared jset\n",
                Uuid(&self.owner)
            );
            return Err(EIO);
        };
        if status < 0 {
            pr_err!(
                "cache set {}: journal flush failed ({}), jset not stored\n",
                Uuid(&self.owner),
                status
            );
            return Ok(());
        }
        let bucket = self.geom.bucket(self.base, p.bucket).ok_or(EIO)?;
        // SAFETY: by the invariant of `Pending`, `bytes` readable bytes that stay unchanged
        // until after this call.
        let jset = unsafe { core::slice::from_raw_parts(p.jset.as_ptr(), p.bytes) };
        let (io, off) = (self.io, p.offset);
        write_jset(self, &io, bucket, off, jset).map_err(|e| {
            pr_err!(
                "cache set {}: jset not stored on the NVDIMM: {}\n",
                Uuid(&self.owner),
                e
            );
            EIO
        })
    }

    /// A new cache set's superblock now names this range (`run_cache_set` wrote it).
    pub fn mark_started(&mut self) {
        self.started = true;
    }

    /// The range to free when the window goes: made for a new cache set that never started.
    pub fn abandoned(&self) -> Option<(NvmpgOffset, u8)> {
        (self.created && !self.started).then_some((self.base, self.geom.order()))
    }

    /// The offset in the range of namespace byte offset `off`.
    fn rel(&self, off: u64) -> Result<u64, OutOfRange> {
        off.checked_sub(self.base.offset()).ok_or(OutOfRange)
    }
}

// SAFETY: a window owns its range (type invariant) and the pending jset pointer may be read
// from any thread (bcache's journal write completes on another CPU than it was submitted on).
unsafe impl Send for Window {}

/// The range as media addressed like its namespace (so `write_jset` can use `d[]` values).
impl Media for Window {
    fn len(&self) -> u64 {
        self.base.offset() + self.map.len()
    }

    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        self.map.read_at(self.rel(off)?, dst)
    }

    fn store(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        let rel = self.rel(off)?;
        self.map.store_at(rel, src)
    }

    fn flush(&mut self, off: u64, len: u64) -> Result<(), OutOfRange> {
        let rel = self.rel(off)?;
        self.map.flush_at(rel, len)
    }

    fn fence(&mut self) {
        pmem::fence()
    }

    fn store_flush(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        let rel = self.rel(off)?;
        self.map.store_flush_at(rel, src)
    }
}
