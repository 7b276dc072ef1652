//! The journal entry on media (`struct jset`, `bcache_ondisk.h`): constants, field offsets,
//! little-endian decode/encode of the header, size rules and the checksum (`csum_set`:
//! bch_crc64 over `[8, 240 + keys * 8)`).
//!
//! A jset is the 240-byte header followed by `keys` u64 of bkeys (`d[]`); on media it takes
//! its size rounded up to the cache's block size. The header is encoded here; `d[]` is opaque
//! to the journal's pure code (the btree code owns bkeys).

use crate::pure::cache_sb::sb::MAX_CACHES_PER_SET;
use crate::pure::crc64::Crc64;
use crate::pure::le::{put, u16_at, u32_at, u64_at};

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

/// The header of `struct jset` (everything before `d[]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JsetHeader {
    /// bch_crc64 over `[8, 240 + keys * 8)`.
    pub csum: u64,
    /// [`jset_magic`] of the cache set.
    pub magic: u64,
    /// Sequence number; every jset has its own, increasing.
    pub seq: u64,
    /// [`JSET_VERSION`].
    pub version: u32,
    /// u64 words in `d[]`.
    pub keys: u32,
    /// Oldest jset whose keys the btree has not yet persisted.
    pub last_seq: u64,
    /// bkey of the uuid bucket.
    pub uuid_bucket: [u64; BKEY_PAD],
    /// bkey of the btree root.
    pub btree_root: [u64; BKEY_PAD],
    /// Level of the btree root.
    pub btree_level: u16,
    /// Reserved.
    pub pad: [u16; 3],
    /// First prio bucket of each cache in the set.
    pub prio_bucket: [u64; MAX_CACHES_PER_SET],
}

impl JsetHeader {
    /// `sizeof(struct jset)`.
    pub const SIZE: usize = 240;
    /// Offset of `csum`.
    pub const OFF_CSUM: usize = 0;
    /// Offset of `magic`.
    pub const OFF_MAGIC: usize = 8;
    /// Offset of `seq`.
    pub const OFF_SEQ: usize = 16;
    /// Offset of `version`.
    pub const OFF_VERSION: usize = 24;
    /// Offset of `keys`.
    pub const OFF_KEYS: usize = 28;
    /// Offset of `last_seq`.
    pub const OFF_LAST_SEQ: usize = 32;
    /// Offset of `uuid_bucket`.
    pub const OFF_UUID_BUCKET: usize = 40;
    /// Offset of `btree_root`.
    pub const OFF_BTREE_ROOT: usize = 104;
    /// Offset of `btree_level`.
    pub const OFF_BTREE_LEVEL: usize = 168;
    /// Offset of `pad[3]`.
    pub const OFF_PAD: usize = 170;
    /// Offset of `prio_bucket[MAX_CACHES_PER_SET]`.
    pub const OFF_PRIO_BUCKET: usize = 176;
    /// Offset of `d[]`.
    pub const OFF_D: usize = 240;
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
        Self::parse(buf).ok_or(truncated(Self::SIZE as u64, buf.len()))
    }

    fn parse(b: &[u8]) -> Option<Self> {
        b.get(..Self::SIZE)?;
        let words = |off: usize| {
            let mut w = [0u64; 8];
            for (i, v) in w.iter_mut().enumerate() {
                *v = u64_at(b, off + i * 8)?;
            }
            Some(w)
        };
        Some(Self {
            csum: u64_at(b, Self::OFF_CSUM)?,
            magic: u64_at(b, Self::OFF_MAGIC)?,
            seq: u64_at(b, Self::OFF_SEQ)?,
            version: u32_at(b, Self::OFF_VERSION)?,
            keys: u32_at(b, Self::OFF_KEYS)?,
            last_seq: u64_at(b, Self::OFF_LAST_SEQ)?,
            uuid_bucket: words(Self::OFF_UUID_BUCKET)?,
            btree_root: words(Self::OFF_BTREE_ROOT)?,
            btree_level: u16_at(b, Self::OFF_BTREE_LEVEL)?,
            pad: [
                u16_at(b, Self::OFF_PAD)?,
                u16_at(b, Self::OFF_PAD + 2)?,
                u16_at(b, Self::OFF_PAD + 4)?,
            ],
            prio_bucket: words(Self::OFF_PRIO_BUCKET)?,
        })
    }

    /// Writes the header (`csum` as stored in `self`). A short buffer is left unchanged.
    pub fn encode(&self, buf: &mut [u8]) -> Result<(), JournalError> {
        if buf.len() < Self::SIZE {
            return Err(truncated(Self::SIZE as u64, buf.len()));
        }
        self.emit(buf)
            .ok_or(truncated(Self::SIZE as u64, buf.len()))
    }

    fn emit(&self, b: &mut [u8]) -> Option<()> {
        put(b, Self::OFF_CSUM, &self.csum.to_le_bytes())?;
        put(b, Self::OFF_MAGIC, &self.magic.to_le_bytes())?;
        put(b, Self::OFF_SEQ, &self.seq.to_le_bytes())?;
        put(b, Self::OFF_VERSION, &self.version.to_le_bytes())?;
        put(b, Self::OFF_KEYS, &self.keys.to_le_bytes())?;
        put(b, Self::OFF_LAST_SEQ, &self.last_seq.to_le_bytes())?;
        let words = |b: &mut [u8], off: usize, w: &[u64; 8]| {
            w.iter()
                .enumerate()
                .try_for_each(|(i, v)| put(b, off + i * 8, &v.to_le_bytes()))
        };
        words(b, Self::OFF_UUID_BUCKET, &self.uuid_bucket)?;
        words(b, Self::OFF_BTREE_ROOT, &self.btree_root)?;
        put(b, Self::OFF_BTREE_LEVEL, &self.btree_level.to_le_bytes())?;
        for (i, p) in self.pad.iter().enumerate() {
            put(b, Self::OFF_PAD + i * 2, &p.to_le_bytes())?;
        }
        words(b, Self::OFF_PRIO_BUCKET, &self.prio_bucket)
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
