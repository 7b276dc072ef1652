// SPDX-License-Identifier: GPL-2.0

//! A cache's journal window on the NVDIMM (kernel only): the mapped journal range of one
//! cache set, pinned in the registry while the cache lives, and the jset waiting for the
//! cache device's flush before it is stored (see `journal/write.rs` for the order).

use super::geometry::Geometry;
use super::write::write_jset;
use crate::nvmpg::format::NvmpgOffset;
use crate::nvmpg::media::{Media, OutOfRange};
use crate::nvmpg::registry::Uuid;
use crate::super_::nvdimm::JournalGeometry;
use crate::wrap::pmem::{self, Linear};
use kernel::{error::code::*, prelude::*};

/// The jset `journal_write_unlocked` handed over, to store once the flush completed.
struct Pending {
    bucket: u16,
    offset: u64,
    jset: *const u8,
    bytes: usize,
}

/// The journal range of one cache set, mapped.
///
/// # Invariants
///
/// `map` maps exactly the `2^order` pages at `base` that `owner` holds in the registered
/// set, which stays registered (the owner is pinned) until the window is dropped.
pub struct Window {
    /// The cache set's uuid: owner of the range.
    pub owner: [u8; 16],
    geom: JournalGeometry,
    io: Geometry,
    base: NvmpgOffset,
    first_bucket: u64,
    map: Linear,
    pending: Option<Pending>,
}

impl Window {
    /// A window over `map`, the mapping of the journal range of `geom` at `base`.
    ///
    /// # Safety
    ///
    /// `map` must map that range, and the caller must have pinned `owner` (the mapping then
    /// stays valid until the window is dropped and the pin released).
    pub unsafe fn new(
        owner: [u8; 16],
        geom: JournalGeometry,
        base: NvmpgOffset,
        first_bucket: u16,
        map: Linear,
    ) -> Result<Self> {
        let io = Geometry::new(geom.bucket_bytes(), 512).map_err(|_| EINVAL)?;
        // INVARIANT: guaranteed by the caller.
        Ok(Self { owner, geom, io, base, first_bucket: first_bucket.into(), map, pending: None })
    }

    /// Copies `data.len()` bytes of journal bucket `bucket` from `sector` on.
    pub fn read(&self, bucket: u32, sector: u32, data: &mut [u8]) -> Result {
        let off = u64::from(bucket) * self.geom.bucket_bytes() + (u64::from(sector) << 9);
        let fits = (u64::from(sector) << 9) + data.len() as u64 <= self.geom.bucket_bytes();
        let piece = self.map.sub(off, data.len() as u64).filter(|_| fits).ok_or(EINVAL)?;
        piece.read(data);
        Ok(())
    }

    /// Notes the jset of `bytes` at `jset` to be stored at the journal key's offset `ptr`
    /// (sectors on the cache device, in the reserved bucket `first_bucket + bucket`).
    pub fn prepare(&mut self, bucket: u32, ptr: u64, jset: *const u8, bytes: usize) -> Result {
        let bucket = u16::try_from(bucket).ok().filter(|&b| b < self.geom.keys()).ok_or(EINVAL)?;
        let start = (self.first_bucket + u64::from(bucket)) * (self.geom.bucket_bytes() >> 9);
        let offset = ptr.checked_sub(start).ok_or(EINVAL)? << 9;
        if offset + bytes as u64 > self.geom.bucket_bytes() || jset.is_null() {
            return Err(EINVAL);
        }
        self.pending = Some(Pending { bucket, offset, jset, bytes });
        Ok(())
    }

    /// Stores the prepared jset durably (flushing copy, fence); drops it if the cache
    /// device's flush failed (`status < 0`).
    pub fn commit(&mut self, status: i32) {
        let Some(p) = self.pending.take() else {
            return;
        };
        if status < 0 {
            pr_err!("cache set {}: journal flush failed ({}), jset not stored\n", Uuid(&self.owner), status);
            return;
        }
        let Some(bucket) = self.geom.bucket(self.base, p.bucket) else { return };
        // SAFETY: `journal_write_unlocked` handed over `w->data`, `bytes` long, which stays
        // alive and unchanged until the journal write's closure completes, after this call.
        let jset = unsafe { core::slice::from_raw_parts(p.jset, p.bytes) };
        let (io, off) = (self.io, p.offset);
        if let Err(e) = write_jset(self, &io, bucket, off, jset) {
            pr_err!("cache set {}: jset not stored on the NVDIMM: {}\n", Uuid(&self.owner), e);
        }
    }

    /// The piece of the range at namespace byte offset `off`, `len` long.
    fn at(&self, off: u64, len: u64) -> Result<Linear, OutOfRange> {
        let rel = off.checked_sub(self.base.offset()).ok_or(OutOfRange)?;
        self.map.sub(rel, len).ok_or(OutOfRange)
    }
}

/// The range as media addressed like its namespace (so `write_jset` can use `d[]` values).
impl Media for Window {
    fn len(&self) -> u64 {
        self.base.offset() + self.map.len()
    }

    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        self.at(off, dst.len() as u64)?.read(dst);
        Ok(())
    }

    fn store(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        self.at(off, src.len() as u64)?.store(src);
        Ok(())
    }

    fn flush(&mut self, off: u64, len: u64) -> Result<(), OutOfRange> {
        self.at(off, len)?.flush();
        Ok(())
    }

    fn fence(&mut self) {
        pmem::fence()
    }

    fn store_flush(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        self.at(off, src.len() as u64)?.store_flush(src);
        Ok(())
    }
}
