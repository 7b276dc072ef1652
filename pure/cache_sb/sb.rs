//! bcache's cache superblock on disk (`struct cache_sb_disk`, `bcache_ondisk.h`): constants,
//! field offsets, the little-endian decode/encode of the fields the NVDIMM journal needs, and
//! the checksum rule (`csum_set`: bch_crc64 over `[8, end of d[keys])`).
//!
//! The superblock is 4 KiB at byte [`SB_OFFSET`] of the device; the structure itself is
//! [`CacheSb::SIZE`] bytes. Encoding writes fields in place, so bytes this code does not model
//! (`pad[]`, `d[keys..]`) keep what the device held.

use crate::pure::crc64::Crc64;

use super::error::SbError;
use super::features::{
    unknown_features, INCOMPAT_LOG_LARGE_BUCKET_SIZE, INCOMPAT_NVDIMM_META,
    INCOMPAT_OBSO_LARGE_BUCKET,
};
use crate::pure::le::{bytes_at, put, u16_at, u32_at, u64_at};

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

/// The modelled fields of `struct cache_sb_disk` (cache-device view of its unions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheSb {
    /// bch_crc64 over `[8, OFF_D + keys * 8)`.
    pub csum: u64,
    /// Sector where this sb was written ([`SB_SECTOR`]).
    pub offset: u64,
    /// Superblock version (`BCACHE_SB_VERSION_*`).
    pub version: u64,
    /// [`BCACHE_MAGIC`].
    pub magic: [u8; 16],
    /// This device's uuid.
    pub uuid: [u8; 16],
    /// The cache set's uuid (its first 8 bytes are `set_magic`); owner of the NVDIMM pages.
    pub set_uuid: [u8; 16],
    /// Label.
    pub label: [u8; SB_LABEL_SIZE],
    /// Flags (`CACHE_SYNC`, ...).
    pub flags: u64,
    /// Superblock sequence number.
    pub seq: u64,
    /// Compatible features.
    pub feature_compat: u64,
    /// Incompatible features.
    pub feature_incompat: u64,
    /// Read-only compatible features.
    pub feature_ro_compat: u64,
    /// Buckets on the device.
    pub nbuckets: u64,
    /// Block size in sectors.
    pub block_size: u16,
    /// Bucket size in sectors, or its log2 with [`INCOMPAT_LOG_LARGE_BUCKET_SIZE`]; see
    /// [`CacheSb::bucket_sectors`].
    pub bucket_size: u16,
    /// Caches in the set.
    pub nr_in_set: u16,
    /// This cache's index in the set.
    pub nr_this_dev: u16,
    /// Last mount time.
    pub last_mount: u32,
    /// First bucket after the superblock.
    pub first_bucket: u16,
    /// Journal buckets in use (`keys` / `njournal_buckets`).
    pub keys: u16,
    /// High 16 bits of the bucket size with [`INCOMPAT_OBSO_LARGE_BUCKET`].
    pub obso_bucket_size_hi: u16,
}

impl CacheSb {
    /// `sizeof(struct cache_sb_disk)`, alignment padding included.
    pub const SIZE: usize = 2264;
    /// Offset of `csum`.
    pub const OFF_CSUM: usize = 0;
    /// Offset of `offset`.
    pub const OFF_OFFSET: usize = 8;
    /// Offset of `version`.
    pub const OFF_VERSION: usize = 16;
    /// Offset of `magic`.
    pub const OFF_MAGIC: usize = 24;
    /// Offset of `uuid`.
    pub const OFF_UUID: usize = 40;
    /// Offset of `set_uuid` / `set_magic`.
    pub const OFF_SET_UUID: usize = 56;
    /// Offset of `label`.
    pub const OFF_LABEL: usize = 72;
    /// Offset of `flags`.
    pub const OFF_FLAGS: usize = 104;
    /// Offset of `seq`.
    pub const OFF_SEQ: usize = 112;
    /// Offset of `feature_compat`.
    pub const OFF_FEATURE_COMPAT: usize = 120;
    /// Offset of `feature_incompat`.
    pub const OFF_FEATURE_INCOMPAT: usize = 128;
    /// Offset of `feature_ro_compat`.
    pub const OFF_FEATURE_RO_COMPAT: usize = 136;
    /// Offset of `pad[5]`.
    pub const OFF_PAD: usize = 144;
    /// Offset of `nbuckets` (`data_offset` on a backing device).
    pub const OFF_NBUCKETS: usize = 184;
    /// Offset of `block_size`.
    pub const OFF_BLOCK_SIZE: usize = 192;
    /// Offset of `bucket_size`.
    pub const OFF_BUCKET_SIZE: usize = 194;
    /// Offset of `nr_in_set`.
    pub const OFF_NR_IN_SET: usize = 196;
    /// Offset of `nr_this_dev`.
    pub const OFF_NR_THIS_DEV: usize = 198;
    /// Offset of `last_mount`.
    pub const OFF_LAST_MOUNT: usize = 200;
    /// Offset of `first_bucket`.
    pub const OFF_FIRST_BUCKET: usize = 204;
    /// Offset of `keys` / `njournal_buckets`.
    pub const OFF_KEYS: usize = 206;
    /// Offset of `d[SB_JOURNAL_BUCKETS]`.
    pub const OFF_D: usize = 208;
    /// Offset of `obso_bucket_size_hi`.
    pub const OFF_OBSO_BUCKET_SIZE_HI: usize = 2256;
    /// First byte covered by `csum`.
    pub const CSUM_START: usize = 8;

    /// Reads the modelled fields; `buf` starts at the superblock.
    pub fn decode(buf: &[u8]) -> Result<Self, SbError> {
        Self::parse(buf).ok_or(truncated(Self::SIZE, buf.len()))
    }

    fn parse(b: &[u8]) -> Option<Self> {
        b.get(..Self::SIZE)?;
        Some(Self {
            csum: u64_at(b, Self::OFF_CSUM)?,
            offset: u64_at(b, Self::OFF_OFFSET)?,
            version: u64_at(b, Self::OFF_VERSION)?,
            magic: bytes_at(b, Self::OFF_MAGIC)?,
            uuid: bytes_at(b, Self::OFF_UUID)?,
            set_uuid: bytes_at(b, Self::OFF_SET_UUID)?,
            label: bytes_at(b, Self::OFF_LABEL)?,
            flags: u64_at(b, Self::OFF_FLAGS)?,
            seq: u64_at(b, Self::OFF_SEQ)?,
            feature_compat: u64_at(b, Self::OFF_FEATURE_COMPAT)?,
            feature_incompat: u64_at(b, Self::OFF_FEATURE_INCOMPAT)?,
            feature_ro_compat: u64_at(b, Self::OFF_FEATURE_RO_COMPAT)?,
            nbuckets: u64_at(b, Self::OFF_NBUCKETS)?,
            block_size: u16_at(b, Self::OFF_BLOCK_SIZE)?,
            bucket_size: u16_at(b, Self::OFF_BUCKET_SIZE)?,
            nr_in_set: u16_at(b, Self::OFF_NR_IN_SET)?,
            nr_this_dev: u16_at(b, Self::OFF_NR_THIS_DEV)?,
            last_mount: u32_at(b, Self::OFF_LAST_MOUNT)?,
            first_bucket: u16_at(b, Self::OFF_FIRST_BUCKET)?,
            keys: u16_at(b, Self::OFF_KEYS)?,
            obso_bucket_size_hi: u16_at(b, Self::OFF_OBSO_BUCKET_SIZE_HI)?,
        })
    }

    /// Writes the modelled fields in place (`csum` as stored in `self`; `pad[]` and `d[]`
    /// untouched). A short buffer is left unchanged.
    pub fn encode(&self, buf: &mut [u8]) -> Result<(), SbError> {
        if buf.len() < Self::SIZE {
            return Err(truncated(Self::SIZE, buf.len()));
        }
        self.emit(buf).ok_or(truncated(Self::SIZE, buf.len()))
    }

    fn emit(&self, b: &mut [u8]) -> Option<()> {
        put(b, Self::OFF_CSUM, &self.csum.to_le_bytes())?;
        put(b, Self::OFF_OFFSET, &self.offset.to_le_bytes())?;
        put(b, Self::OFF_VERSION, &self.version.to_le_bytes())?;
        put(b, Self::OFF_MAGIC, &self.magic)?;
        put(b, Self::OFF_UUID, &self.uuid)?;
        put(b, Self::OFF_SET_UUID, &self.set_uuid)?;
        put(b, Self::OFF_LABEL, &self.label)?;
        put(b, Self::OFF_FLAGS, &self.flags.to_le_bytes())?;
        put(b, Self::OFF_SEQ, &self.seq.to_le_bytes())?;
        put(
            b,
            Self::OFF_FEATURE_COMPAT,
            &self.feature_compat.to_le_bytes(),
        )?;
        put(
            b,
            Self::OFF_FEATURE_INCOMPAT,
            &self.feature_incompat.to_le_bytes(),
        )?;
        put(
            b,
            Self::OFF_FEATURE_RO_COMPAT,
            &self.feature_ro_compat.to_le_bytes(),
        )?;
        put(b, Self::OFF_NBUCKETS, &self.nbuckets.to_le_bytes())?;
        put(b, Self::OFF_BLOCK_SIZE, &self.block_size.to_le_bytes())?;
        put(b, Self::OFF_BUCKET_SIZE, &self.bucket_size.to_le_bytes())?;
        put(b, Self::OFF_NR_IN_SET, &self.nr_in_set.to_le_bytes())?;
        put(b, Self::OFF_NR_THIS_DEV, &self.nr_this_dev.to_le_bytes())?;
        put(b, Self::OFF_LAST_MOUNT, &self.last_mount.to_le_bytes())?;
        put(b, Self::OFF_FIRST_BUCKET, &self.first_bucket.to_le_bytes())?;
        put(b, Self::OFF_KEYS, &self.keys.to_le_bytes())?;
        put(
            b,
            Self::OFF_OBSO_BUCKET_SIZE_HI,
            &self.obso_bucket_size_hi.to_le_bytes(),
        )
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
