//! The shape of one journal bucket: its size and the block size jsets are rounded to.

use super::error::JournalError;
use super::jset::JsetHeader;

/// Smallest block: one sector (`block_size` is in sectors).
const MIN_BLOCK_BYTES: u64 = 512;

// The scan reads a whole header at every block boundary that still has a block left.
const _: () = assert!(MIN_BLOCK_BYTES >= JsetHeader::SIZE as u64);

/// Bucket and block size in bytes, checked: the block a power of two of at least a sector
/// (so a jset header always fits in the remainder of a bucket), the bucket a non-zero
/// multiple of the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    bucket_bytes: u64,
    block_bytes: u64,
}

impl Geometry {
    /// The geometry of buckets of `bucket_bytes` holding blocks of `block_bytes`.
    pub const fn new(bucket_bytes: u64, block_bytes: u64) -> Result<Self, JournalError> {
        let bad = JournalError::BadGeometry {
            bucket_bytes,
            block_bytes,
        };
        if !block_bytes.is_power_of_two()
            || block_bytes < MIN_BLOCK_BYTES
            || bucket_bytes < block_bytes
            || bucket_bytes & (block_bytes - 1) != 0
        {
            return Err(bad);
        }
        Ok(Self {
            bucket_bytes,
            block_bytes,
        })
    }

    /// Bytes of a bucket.
    pub const fn bucket_bytes(&self) -> u64 {
        self.bucket_bytes
    }

    /// Bytes of a block (a power of two).
    pub const fn block_bytes(&self) -> u64 {
        self.block_bytes
    }

    /// Bytes a jset of `keys` takes in the bucket: `set_blocks() * block_bytes`.
    pub const fn jset_span(&self, keys: u32) -> u64 {
        JsetHeader::set_bytes(keys).div_ceil(self.block_bytes) * self.block_bytes
    }
}
