//! bcache's cache superblock on disk (`struct cache_sb_disk`, `bcache_ondisk.h`): constants,
//! its layout (one `layout!` table, `layout.rs`) with the little-endian decode/encode of the
//! fields the NVDIMM journal needs, and the checksum rule (`csum_set`: bch_crc64 over
//! `[8, end of d[keys])`).
//!
//! The superblock is 4 KiB at byte [`SB_OFFSET`] of the device; the structure itself is
//! [`CacheSb::SIZE`] bytes. Encoding writes fields in place, so the bytes this code does not
//! model (`pad[]`, `d[]`, which is read and written one entry at a time, and the padding at the
//! end) keep what the device held.

use crate::pure::crc64::Crc64;

use super::error::SbError;
use super::features::{
    unknown_features, INCOMPAT_LOG_LARGE_BUCKET_SIZE, INCOMPAT_NVDIMM_META,
    INCOMPAT_OBSO_LARGE_BUCKET,
};
use crate::pure::layout::layout;
use crate::pure::le::{put, u16_at, u64_at};

/// `SB_SECTOR`: sector of the superblock, and the value of its `offset` field.
pub const SB_SECTOR: u64 = 8;
/// `SB_OFFSET`: byte offset of the superblock on the device.
pub const SB_OFFSET: u64 = SB_SECTOR << SECTOR_SHIFT;
/// `SB_SIZE`: bytes the superblock occupies on the device.
pub const SB_SIZE: usize = 4096;
/// `SB_LABEL_SIZE`.
pub const SB_LABEL_SIZE: usize = 32;
/// `SB_JOURNAL_BUCKETS`: capacity of `d[]`.
pub const SB_JOURNAL_BUCKETS: u16 = 256;
/// `MAX_CACHES_PER_SET`.
pub const MAX_CACHES_PER_SET: usize = 8;
/// log2 of the sector size.
pub const SECTOR_SHIFT: u32 = 9;
/// `PAGE_SECTORS` (4 KiB pages).
pub const PAGE_SECTORS: u32 = 8;
/// bcache's superblock magic (`bcache_magic[]`, super.c).
pub const BCACHE_MAGIC: [u8; 16] = [
    0xc6, 0x85, 0x73, 0xf6, 0x4e, 0x1a, 0x45, 0xca, 0x82, 0x65, 0xf5, 0x7f, 0x48, 0xba, 0x6d, 0x81,
];
/// `BCACHE_SB_VERSION_CDEV`.
pub const SB_VERSION_CDEV: u64 = 0;
/// `BCACHE_SB_VERSION_BDEV`.
pub const SB_VERSION_BDEV: u64 = 1;
/// `BCACHE_SB_VERSION_CDEV_WITH_UUID`.
pub const SB_VERSION_CDEV_WITH_UUID: u64 = 3;
/// `BCACHE_SB_VERSION_BDEV_WITH_OFFSET`.
pub const SB_VERSION_BDEV_WITH_OFFSET: u64 = 4;
/// `BCACHE_SB_VERSION_CDEV_WITH_FEATURES`: first version whose feature words count.
pub const SB_VERSION_CDEV_WITH_FEATURES: u64 = 5;
/// `BCACHE_SB_VERSION_BDEV_WITH_FEATURES`.
pub const SB_VERSION_BDEV_WITH_FEATURES: u64 = 6;

layout! {
    /// The modelled fields of `struct cache_sb_disk` (cache-device view of its unions).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct CacheSb: 2264 bytes {
        /// bch_crc64 over `[8, OFF_D + keys * 8)`.
        pub csum: u64 => OFF_CSUM = 0,
        /// Sector where this sb was written ([`SB_SECTOR`]).
        pub offset: u64 => OFF_OFFSET = 8,
        /// Superblock version (`BCACHE_SB_VERSION_*`).
        pub version: u64 => OFF_VERSION = 16,
        /// [`BCACHE_MAGIC`].
        pub magic: [u8; 16] => OFF_MAGIC = 24,
        /// This device's uuid.
        pub uuid: [u8; 16] => OFF_UUID = 40,
        /// The cache set's uuid (its first 8 bytes are `set_magic`); owner of the NVDIMM pages.
        pub set_uuid: [u8; 16] => OFF_SET_UUID = 56,
        /// Label.
        pub label: [u8; SB_LABEL_SIZE] => OFF_LABEL = 72,
        /// Flags (`CACHE_SYNC`, ...).
        pub flags: u64 => OFF_FLAGS = 104,
        /// Superblock sequence number.
        pub seq: u64 => OFF_SEQ = 112,
        /// Compatible features.
        pub feature_compat: u64 => OFF_FEATURE_COMPAT = 120,
        /// Incompatible features.
        pub feature_incompat: u64 => OFF_FEATURE_INCOMPAT = 128,
        /// Read-only compatible features.
        pub feature_ro_compat: u64 => OFF_FEATURE_RO_COMPAT = 136,
        /// Offset of `pad[5]` (not modelled).
        kept[40] => OFF_PAD = 144,
        /// Buckets on the device (`data_offset` on a backing device).
        pub nbuckets: u64 => OFF_NBUCKETS = 184,
        /// Block size in sectors.
        pub block_size: u16 => OFF_BLOCK_SIZE = 192,
        /// Bucket size in sectors, or its log2 with [`INCOMPAT_LOG_LARGE_BUCKET_SIZE`]; see
        /// [`CacheSb::bucket_sectors`].
        pub bucket_size: u16 => OFF_BUCKET_SIZE = 194,
        /// Caches in the set.
        pub nr_in_set: u16 => OFF_NR_IN_SET = 196,
        /// This cache's index in the set.
        pub nr_this_dev: u16 => OFF_NR_THIS_DEV = 198,
        /// Last mount time.
        pub last_mount: u32 => OFF_LAST_MOUNT = 200,
        /// First bucket after the superblock.
        pub first_bucket: u16 => OFF_FIRST_BUCKET = 204,
        /// Journal buckets in use (`keys` / `njournal_buckets`).
        pub keys: u16 => OFF_KEYS = 206,
        /// Offset of `d[SB_JOURNAL_BUCKETS]` (not modelled: see [`CacheSb::journal_bucket`]).
        kept[2048] => OFF_D = 208,
        /// High 16 bits of the bucket size with [`INCOMPAT_OBSO_LARGE_BUCKET`].
        pub obso_bucket_size_hi: u16 => OFF_OBSO_BUCKET_SIZE_HI = 2256,
        /// Alignment padding (not modelled).
        kept[6] => 2258,
    }
}

impl CacheSb {
    /// First byte covered by `csum`.
    pub const CSUM_START: usize = 8;

    /// Reads the modelled fields; `buf` starts at the superblock.
    pub fn decode(buf: &[u8]) -> Result<Self, SbError> {
        Self::decode_fixed(buf).ok_or(truncated(Self::SIZE, buf.len()))
    }

    /// Writes the modelled fields in place (`csum` as stored in `self`; `pad[]`, `d[]` and the
    /// padding untouched). A short buffer is left unchanged.
    pub fn encode(&self, buf: &mut [u8]) -> Result<(), SbError> {
        self.encode_fixed(buf)
            .ok_or(truncated(Self::SIZE, buf.len()))
    }

    /// `set_magic`: the first 8 bytes of `set_uuid`, little-endian (the union in C).
    pub fn set_magic(&self) -> u64 {
        let [a, b, c, d, e, f, g, h, ..] = self.set_uuid;
        u64::from_le_bytes([a, b, c, d, e, f, g, h])
    }

    /// Whether the superblock is a cache device's (`!SB_IS_BDEV()` and a known version).
    pub const fn is_cache_device(&self) -> bool {
        matches!(
            self.version,
            SB_VERSION_CDEV | SB_VERSION_CDEV_WITH_UUID | SB_VERSION_CDEV_WITH_FEATURES
        )
    }

    /// Whether incompat feature `bit` is set (`bch_has_feature_*()`: never before
    /// [`SB_VERSION_CDEV_WITH_FEATURES`]).
    pub const fn has_incompat(&self, bit: u64) -> bool {
        self.version >= SB_VERSION_CDEV_WITH_FEATURES && self.feature_incompat & bit != 0
    }

    /// Whether the journal lives on an NVDIMM ([`INCOMPAT_NVDIMM_META`]).
    pub const fn nvdimm_meta(&self) -> bool {
        self.has_incompat(INCOMPAT_NVDIMM_META)
    }

    /// Bucket size in sectors as read_super's `get_bucket_size()` computes it; `None` if the
    /// log2 form overflows 32 bits.
    pub const fn bucket_sectors(&self) -> Option<u32> {
        let raw = self.bucket_size as u32;
        if self.has_incompat(INCOMPAT_LOG_LARGE_BUCKET_SIZE) {
            if raw > u32::BITS - 1 {
                return None;
            }
            Some(1 << raw)
        } else if self.has_incompat(INCOMPAT_OBSO_LARGE_BUCKET) {
            Some(raw + ((self.obso_bucket_size_hi as u32) << 16))
        } else {
            Some(raw)
        }
    }

    /// The unsupported feature bits, as read_super refuses them (only for
    /// [`SB_VERSION_CDEV_WITH_FEATURES`]; older versions' feature words are ignored).
    pub const fn check_features(&self) -> Result<(), SbError> {
        if self.version != SB_VERSION_CDEV_WITH_FEATURES {
            return Ok(());
        }
        match unknown_features(
            self.feature_compat,
            self.feature_ro_compat,
            self.feature_incompat,
        ) {
            Some((kind, bits)) => Err(SbError::UnknownFeatures { kind, bits }),
            None => Ok(()),
        }
    }

    /// `d[i]` of the superblock in `buf`, if `i` is below [`SB_JOURNAL_BUCKETS`] and `buf`
    /// holds it.
    pub fn journal_bucket(buf: &[u8], i: u16) -> Option<u64> {
        u64_at(buf, Self::d_off(i)?)
    }

    /// Stores `d[i]` of the superblock in `buf` (csum not updated).
    pub fn set_journal_bucket(buf: &mut [u8], i: u16, v: u64) -> Result<(), SbError> {
        let off = Self::d_off(i).ok_or(SbError::TooManyJournalBuckets { keys: i })?;
        put(buf, off, &v.to_le_bytes()).ok_or(truncated(off + 8, buf.len()))
    }

    const fn d_off(i: u16) -> Option<usize> {
        if i >= SB_JOURNAL_BUCKETS {
            return None;
        }
        Some(Self::OFF_D + i as usize * 8)
    }

    /// End of the bytes covered by `csum` for a given `keys` (`OFF_D + keys * 8`), or
    /// [`SbError::TooManyJournalBuckets`]. Bounding `keys` first keeps the checksum inside
    /// the structure, which read_super only checks after computing it.
    pub const fn csum_end(keys: u16) -> Result<usize, SbError> {
        if keys > SB_JOURNAL_BUCKETS {
            return Err(SbError::TooManyJournalBuckets { keys });
        }
        Ok(Self::OFF_D + keys as usize * 8)
    }

    /// `csum_set()` of the superblock in `buf`.
    pub fn compute_csum(buf: &[u8]) -> Result<u64, SbError> {
        let keys = u16_at(buf, Self::OFF_KEYS).ok_or(truncated(Self::SIZE, buf.len()))?;
        let end = Self::csum_end(keys)?;
        let covered = buf
            .get(Self::CSUM_START..end)
            .ok_or(truncated(end, buf.len()))?;
        let mut crc = Crc64::new();
        crc.update(covered);
        Ok(crc.finish())
    }

    /// Checks the stored `csum` against [`CacheSb::compute_csum`].
    pub fn verify_csum(buf: &[u8]) -> Result<(), SbError> {
        let expected = Self::compute_csum(buf)?;
        let found = u64_at(buf, Self::OFF_CSUM).ok_or(truncated(Self::SIZE, buf.len()))?;
        if found != expected {
            return Err(SbError::BadCsum { found, expected });
        }
        Ok(())
    }

    /// Recomputes `csum` over what `buf` holds and stores it (`__write_super`); returns it.
    pub fn seal(buf: &mut [u8]) -> Result<u64, SbError> {
        let csum = Self::compute_csum(buf)?;
        put(buf, Self::OFF_CSUM, &csum.to_le_bytes()).ok_or(truncated(Self::SIZE, buf.len()))?;
        Ok(csum)
    }

    /// The identity checks of read_super before the version switch: offset, magic, csum.
    pub fn check_header(buf: &[u8]) -> Result<Self, SbError> {
        let sb = Self::decode(buf)?;
        if sb.offset != SB_SECTOR {
            return Err(SbError::BadOffset { found: sb.offset });
        }
        if sb.magic != BCACHE_MAGIC {
            return Err(SbError::BadMagic);
        }
        Self::verify_csum(buf)?;
        Ok(sb)
    }
}

/// Error of an access needing `need` bytes of a `have`-byte buffer.
const fn truncated(need: usize, have: usize) -> SbError {
    SbError::Truncated {
        need: need as u64,
        have: have as u64,
    }
}
