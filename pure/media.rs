//! The one way pure code touches persistent memory.
//!
//! Everything the allocator and the journal write to an NVDIMM goes through [`Media`]: a byte
//! store, a flush of a written range out of the CPU caches, and a fence that orders the flushed
//! stores before any later store. In the kernel the implementation is a DAX mapping
//! (`memcpy_flushcache` + `pmem_wmb`); on the host it is a plain buffer that can record every
//! call, so crash states can be enumerated and replayed.
//!
//! The persistence model: a store is only guaranteed durable after it has been flushed *and* a
//! later fence has completed. Stores that are not yet covered by a fence may or may not have
//! reached the media at a crash, in any combination, at 8-byte granularity (the atomic store
//! size on x86 persistent memory).

/// Size in bytes of a store that persistent memory never tears.
pub const ATOMIC_STORE: usize = 8;

/// Error of a media access that falls outside the mapped range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange;

/// Byte-addressed persistent memory, as seen by the pure code.
///
/// Offsets are byte offsets into one namespace's mapping.
pub trait Media {
    /// Length of the mapping in bytes.
    fn len(&self) -> u64;

    /// Whether the mapping is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `dst.len()` bytes at `off` into `dst`.
    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange>;

    /// Stores `src` at `off`. The bytes are visible to later reads at once, but are not
    /// durable until flushed and fenced.
    fn store(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange>;

    /// Writes back the cache lines covering `[off, off + len)` towards the media.
    fn flush(&mut self, off: u64, len: u64) -> Result<(), OutOfRange>;

    /// Orders every flushed store before any store issued after it (`pmem_wmb`).
    fn fence(&mut self);

    /// The `i`-th byte range (`(start, len)`) known to be bad, in ascending order: the pmem
    /// driver's badblocks list, which DAX access refuses. The allocator never hands pages of
    /// one out. None by default.
    fn bad_range(&self, _i: usize) -> Option<(u64, u64)> {
        None
    }

    /// Stores `src` at `off` and flushes it: the common "persistent copy"
    /// (`memcpy_flushcache`). Still needs a [`Media::fence`] to be ordered.
    fn store_flush(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        self.store(off, src)?;
        self.flush(off, src.len() as u64)
    }
}
