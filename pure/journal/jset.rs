//! The journal entry on media (`struct jset`, `bcache_ondisk.h`): constants, the header's
//! layout (one `layout!` table, `layout.rs`) with its little-endian decode/encode, size rules
//! and the checksum (`csum_set`: bch_crc64 over `[8, 240 + keys * 8)`).
//!
//! A jset is the 240-byte header followed by `keys` u64 of bkeys (`d[]`); on media it takes
//! its size rounded up to the cache's block size. The header is encoded here; `d[]` is opaque
//! to the journal's pure code (the btree code owns bkeys).

use crate::pure::cache_sb::sb::MAX_CACHES_PER_SET;
use crate::pure::crc64::Crc64;
use crate::pure::layout::layout;
use crate::pure::le::{put, u32_at};

use super::error::JournalError;

/// `JSET_MAGIC`: xored with the cache set's `set_magic` to give a jset's `magic`.
pub const JSET_MAGIC: u64 = 0x2452_35c1_a362_5032;
/// `BCACHE_JSET_VERSION`: the only version written and accepted.
pub const JSET_VERSION: u32 = 1;
/// `BKEY_PAD`: u64 words of a padded bkey (`uuid_bucket`, `btree_root`).
pub const BKEY_PAD: usize = 8;
/// `JSET_BITS`: a jset is at most `PAGE_SIZE << JSET_BITS` bytes.
pub const JSET_BITS: u32 = 3;
/// Largest jset in bytes (`PAGE_SIZE << JSET_BITS`); replay refuses larger ones.
pub const JSET_MAX_BYTES: u64 = 4096 << JSET_BITS;

/// `jset_magic(sb)`: the magic of every jset of the cache set whose `set_magic` is given.
pub const fn jset_magic(set_magic: u64) -> u64 {
    set_magic ^ JSET_MAGIC
}

layout! {
    /// The header of `struct jset` (everything before `d[]`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct JsetHeader: 240 bytes {
        /// bch_crc64 over `[8, 240 + keys * 8)`.
        pub csum: u64 => OFF_CSUM = 0,
        /// [`jset_magic`] of the cache set.
        pub magic: u64 => OFF_MAGIC = 8,
        /// Sequence number; every jset has its own, increasing.
        pub seq: u64 => OFF_SEQ = 16,
        /// [`JSET_VERSION`].
        pub version: u32 => OFF_VERSION = 24,
        /// u64 words in `d[]`.
        pub keys: u32 => OFF_KEYS = 28,
        /// Oldest jset whose keys the btree has not yet persisted.
        pub last_seq: u64 => OFF_LAST_SEQ = 32,
        /// bkey of the uuid bucket.
        pub uuid_bucket: [u64; BKEY_PAD] => OFF_UUID_BUCKET = 40,
        /// bkey of the btree root.
        pub btree_root: [u64; BKEY_PAD] => OFF_BTREE_ROOT = 104,
        /// Level of the btree root.
        pub btree_level: u16 => OFF_BTREE_LEVEL = 168,
        /// Reserved.
        pub pad: [u16; 3] => OFF_PAD = 170,
        /// First prio bucket of each cache in the set.
        pub prio_bucket: [u64; MAX_CACHES_PER_SET] => OFF_PRIO_BUCKET = 176,
    }
}

impl JsetHeader {
    /// Offset of `d[]`, right after the header.
    pub const OFF_D: usize = Self::SIZE;
    /// First byte covered by `csum`.
    pub const CSUM_START: usize = 8;

    /// `__set_bytes(keys)`: header plus `keys` u64 (never overflows).
    pub const fn set_bytes(keys: u32) -> u64 {
        Self::SIZE as u64 + keys as u64 * 8
    }

    /// Bytes of this jset (`set_bytes`).
    pub const fn bytes(&self) -> u64 {
        Self::set_bytes(self.keys)
    }

    /// Reads the header; `buf` starts at the jset.
    pub fn decode(buf: &[u8]) -> Result<Self, JournalError> {
        Self::decode_fixed(buf).ok_or(truncated(Self::SIZE as u64, buf.len()))
    }

    /// Writes the header (`csum` as stored in `self`). A short buffer is left unchanged.
    pub fn encode(&self, buf: &mut [u8]) -> Result<(), JournalError> {
        self.encode_fixed(buf)
            .ok_or(truncated(Self::SIZE as u64, buf.len()))
    }
}

/// `csum_set()` of the jset at the start of `buf` (header and `d[]`).
pub fn jset_csum(buf: &[u8]) -> Result<u64, JournalError> {
    let keys =
        u32_at(buf, JsetHeader::OFF_KEYS).ok_or(truncated(JsetHeader::SIZE as u64, buf.len()))?;
    let end = JsetHeader::set_bytes(keys);
    let covered = usize::try_from(end)
        .ok()
        .and_then(|end| buf.get(JsetHeader::CSUM_START..end))
        .ok_or(truncated(end, buf.len()))?;
    let mut crc = Crc64::new();
    crc.update(covered);
    Ok(crc.finish())
}

/// Computes the checksum of the jset at the start of `buf` and stores it in `csum`
/// (journal_write_unlocked's last step before the write); returns it.
pub fn seal(buf: &mut [u8]) -> Result<u64, JournalError> {
    let csum = jset_csum(buf)?;
    put(buf, JsetHeader::OFF_CSUM, &csum.to_le_bytes())
        .ok_or(truncated(JsetHeader::SIZE as u64, buf.len()))?;
    Ok(csum)
}

/// Error of an access needing `need` bytes of a `have`-byte buffer.
fn truncated(need: u64, have: usize) -> JournalError {
    JournalError::Truncated {
        need,
        have: have as u64,
    }
}
