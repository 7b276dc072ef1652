//! Where the journal of a cache with [`INCOMPAT_NVDIMM_META`] lives, and the checks that
//! replace read_super's "journal buckets not sequential" when the bit is set.
//!
//! The seed allocates the whole journal as one range of `2^order` pages owned by the cache
//! set's uuid, `order = ilog2(bucket_size * keys / PAGE_SECTORS)`, and stores in `sb.d[i]`
//! the nvmpg offset of journal bucket `i`: `d[0]` is the range's start and
//! `d[i] = d[0] + i * bucket_bytes`. The checks here require exactly that: `d[0]` page
//! aligned, the others consecutive, and one recorded range of the owner that starts at `d[0]`
//! and is exactly the journal's size (so a `keys` whose journal is not a power-of-two number
//! of pages is refused up front: `ilog2` would make the range too small for it).

use crate::pure::grow_vec::GrowVecFamily;
use crate::pure::media::Media;
use crate::pure::nvmpg::alloc::Allocator;
use crate::pure::nvmpg::error::Error;
use crate::pure::nvmpg::format::{NvmpgOffset, MAX_ORDER, PAGE_SIZE};

use super::error::SbError;
use super::features::{FeatureKind, INCOMPAT_NVDIMM_META};
use super::sb::{CacheSb, PAGE_SECTORS, SB_VERSION_CDEV_WITH_FEATURES, SECTOR_SHIFT};

/// Size and order of a journal of `keys` buckets on an NVDIMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalGeometry {
    bucket_bytes: u64,
    keys: u16,
    order: u8,
}

impl JournalGeometry {
    /// The geometry of `keys` journal buckets of `bucket_sectors` sectors each.
    pub fn new(bucket_sectors: u32, keys: u16) -> Result<Self, SbError> {
        if !bucket_sectors.is_power_of_two() || bucket_sectors < PAGE_SECTORS {
            return Err(SbError::BadBucketSize {
                sectors: bucket_sectors,
            });
        }
        if keys == 0 {
            return Err(SbError::NoJournalBuckets);
        }
        let pages = u64::from(bucket_sectors / PAGE_SECTORS) * u64::from(keys);
        if !pages.is_power_of_two() {
            return Err(SbError::JournalNotPowerOfTwo { pages });
        }
        let order = pages.ilog2();
        match u8::try_from(order) {
            Ok(order) if order < MAX_ORDER => Ok(Self {
                bucket_bytes: u64::from(bucket_sectors) << SECTOR_SHIFT,
                keys,
                order,
            }),
            _ => Err(SbError::JournalTooLarge { order }),
        }
    }

    /// The geometry a superblock describes.
    pub fn of_sb(sb: &CacheSb) -> Result<Self, SbError> {
        let sectors = sb
            .bucket_sectors()
            .ok_or(SbError::BadBucketSize { sectors: 0 })?;
        Self::new(sectors, sb.keys)
    }

    /// Bytes of one journal bucket.
    pub const fn bucket_bytes(&self) -> u64 {
        self.bucket_bytes
    }

    /// Journal buckets.
    pub const fn keys(&self) -> u16 {
        self.keys
    }

    /// Order of the range to allocate (`bch_nvmpg_alloc_pages(order, set_uuid)`).
    pub const fn order(&self) -> u8 {
        self.order
    }

    /// Location of journal bucket `i` in a range starting at `base`, i.e. `d[i]`; `None` past
    /// the last bucket or past the namespace's offset bits.
    pub fn bucket(&self, base: NvmpgOffset, i: u16) -> Option<NvmpgOffset> {
        if i >= self.keys {
            return None;
        }
        let off = self.bucket_bytes.checked_mul(u64::from(i))?;
        NvmpgOffset::new(base.ns(), base.offset().checked_add(off)?)
    }

    /// Checks that a journal can start at `base`: not "none", page aligned, and its last
    /// bucket addressable in the namespace.
    pub fn check_base(&self, base: NvmpgOffset) -> Result<(), SbError> {
        if base.is_none() {
            return Err(SbError::NullJournal);
        }
        if base.offset() & (u64::from(PAGE_SIZE) - 1) != 0 {
            return Err(SbError::Unaligned { d0: base.0 });
        }
        match self.bucket(base, self.keys - 1) {
            Some(_) => Ok(()),
            None => Err(SbError::PastNamespace { d0: base.0 }),
        }
    }

    /// Checks `d[0..keys]` (fewer entries is an error, extra ones are ignored) and returns the
    /// journal's start, `d[0]`.
    pub fn check_d(&self, d: impl IntoIterator<Item = u64>) -> Result<NvmpgOffset, SbError> {
        let mut d = d.into_iter();
        let missing = |found| SbError::MissingBuckets {
            found,
            keys: self.keys,
        };
        let base = NvmpgOffset(d.next().ok_or(missing(0))?);
        self.check_base(base)?;
        for index in 1..self.keys {
            let found = d.next().ok_or(missing(index))?;
            let expected = self.bucket(base, index).map_or(0, |o| o.0);
            if found != expected {
                return Err(SbError::NotConsecutive {
                    index,
                    found,
                    expected,
                });
            }
        }
        Ok(base)
    }

    /// Stores `d[i]` for a journal range starting at `base` into the superblock in `buf`
    /// (csum not updated).
    pub fn fill_d(&self, base: NvmpgOffset, buf: &mut [u8]) -> Result<(), SbError> {
        self.check_base(base)?;
        for i in 0..self.keys {
            let d = self
                .bucket(base, i)
                .ok_or(SbError::PastNamespace { d0: base.0 })?;
            CacheSb::set_journal_bucket(buf, i, d.0)?;
        }
        Ok(())
    }
}

/// Finds the journal among the ranges recorded for the cache set: feed it every range the
/// allocator reports for the owner (`get_head(set_uuid, |off, order| m.offer(off, order))`),
/// then [`RangeMatch::finish`] names what is wrong, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeMatch {
    base: NvmpgOffset,
    order: u8,
    exact: bool,
    wrong_size: Option<u8>,
    inside: Option<NvmpgOffset>,
}

impl RangeMatch {
    /// A search for the range of `geom` starting at `base` (as [`JournalGeometry::check_d`]
    /// returned it).
    pub const fn new(geom: &JournalGeometry, base: NvmpgOffset) -> Self {
        Self {
            base,
            order: geom.order,
            exact: false,
            wrong_size: None,
            inside: None,
        }
    }

    /// Considers one recorded range: `2^order` pages at `start`.
    pub fn offer(&mut self, start: NvmpgOffset, order: u8) {
        if start == self.base {
            if order == self.order {
                self.exact = true;
            } else {
                self.wrong_size = Some(order);
            }
            return;
        }
        let end = u64::from(PAGE_SIZE)
            .checked_shl(order.into())
            .and_then(|bytes| start.offset().checked_add(bytes));
        let holds = start.ns() == self.base.ns()
            && start.offset() < self.base.offset()
            && end.is_some_and(|end| self.base.offset() < end);
        if holds {
            self.inside = Some(start);
        }
    }

    /// The verdict: `Ok` if a range of exactly the journal's order starts at `d[0]`.
    pub const fn finish(&self) -> Result<(), SbError> {
        let d0 = self.base.0;
        if self.exact {
            Ok(())
        } else if let Some(order) = self.wrong_size {
            Err(SbError::SizeMismatch {
                d0,
                order,
                expected: self.order,
            })
        } else if let Some(range) = self.inside {
            Err(SbError::NotRangeStart { d0, range: range.0 })
        } else {
            Err(SbError::NoRecord { d0 })
        }
    }
}

/// Checks that `owner` (the cache set's uuid) holds, among the ranges recorded in `alloc`,
/// exactly the journal range of `geom` starting at `base`. An owner without a head in the
/// lists (nothing ever recorded for it, or no lists loaded) is [`SbError::NoOwner`]; a failure
/// of the lists themselves is [`SbError::AllocLists`].
pub fn check_recorded<M: Media, F: GrowVecFamily>(
    alloc: &Allocator<M, F>,
    owner: &[u8; 16],
    geom: &JournalGeometry,
    base: NvmpgOffset,
) -> Result<(), SbError> {
    let mut m = RangeMatch::new(geom, base);
    match alloc.get_head(owner, |start, order| m.offer(start, order)) {
        Ok(_) => m.finish(),
        Err(Error::NotFound) => Err(SbError::NoOwner),
        Err(e) => Err(SbError::AllocLists(e)),
    }
}

/// Turns the encoded cache superblock in `buf` into one whose journal is the NVDIMM range at
/// `base` (`bcache-nvm make-cache --nvdimm-meta`): version raised to
/// [`SB_VERSION_CDEV_WITH_FEATURES`], [`INCOMPAT_NVDIMM_META`] set, `d[0..keys]` filled,
/// `csum` recomputed. Returns the geometry (the range must be of its order). `buf` is only
/// changed on success.
pub fn set_nvdimm_meta(buf: &mut [u8], base: NvmpgOffset) -> Result<JournalGeometry, SbError> {
    let mut sb = CacheSb::check_header(buf)?;
    if !sb.is_cache_device() {
        return Err(SbError::NotCacheDevice {
            version: sb.version,
        });
    }
    sb.check_features()?;
    let geom = JournalGeometry::of_sb(&sb)?;
    geom.check_base(base)?;
    sb.version = SB_VERSION_CDEV_WITH_FEATURES;
    sb.feature_incompat |= INCOMPAT_NVDIMM_META;
    sb.encode(buf)?;
    geom.fill_d(base, buf)?;
    CacheSb::seal(buf)?;
    Ok(geom)
}

/// Marks the cache superblock in `buf` for a journal on an NVDIMM without locating it
/// (`bcache-nvm make-cache --nvdimm-meta`): the kernel allocates the range and fills `d[]` when
/// the new cache set first runs. Checks identity and csum ([`CacheSb::check_header`]) and that
/// it is a cache device, raises `version` to [`SB_VERSION_CDEV_WITH_FEATURES`], sets
/// [`INCOMPAT_NVDIMM_META`] and reseals; `d[]` and every other byte are untouched. The feature
/// words of an older version are unused, so they must be zero (raising the version would give
/// stray bits a meaning); those of a newer one must stay within [`super::features::INCOMPAT_SUPP`].
/// Returns the superblock as it was, for the caller to judge whether it is still new
/// (`CACHE_SYNC` clear) and whether the bit was already set. `buf` is only changed on success.
pub fn mark_nvdimm_meta(buf: &mut [u8]) -> Result<CacheSb, SbError> {
    let old = CacheSb::check_header(buf)?;
    if !old.is_cache_device() {
        return Err(SbError::NotCacheDevice {
            version: old.version,
        });
    }
    let mut sb = old;
    if old.version < SB_VERSION_CDEV_WITH_FEATURES {
        let words = [
            (FeatureKind::Compat, old.feature_compat),
            (FeatureKind::RoCompat, old.feature_ro_compat),
            (FeatureKind::Incompat, old.feature_incompat),
        ];
        if let Some(&(kind, bits)) = words.iter().find(|(_, bits)| *bits != 0) {
            return Err(SbError::UnknownFeatures { kind, bits });
        }
    }
    sb.version = SB_VERSION_CDEV_WITH_FEATURES;
    sb.feature_incompat |= INCOMPAT_NVDIMM_META;
    sb.check_features()?;
    sb.encode(buf)?;
    CacheSb::seal(buf)?;
    Ok(old)
}

/// The NVDIMM journal described by the cache superblock in `buf` (identity, csum, features,
/// geometry and `d[]` checked), or `None` if [`INCOMPAT_NVDIMM_META`] is clear. Matching it
/// against the allocator's records is left to [`RangeMatch`].
pub fn nvdimm_journal(buf: &[u8]) -> Result<Option<(JournalGeometry, NvmpgOffset)>, SbError> {
    let sb = CacheSb::check_header(buf)?;
    sb.check_features()?;
    if !sb.is_cache_device() || !sb.nvdimm_meta() {
        return Ok(None);
    }
    let geom = JournalGeometry::of_sb(&sb)?;
    let base = geom.check_d((0..sb.keys).map_while(|i| CacheSb::journal_bucket(buf, i)))?;
    Ok(Some((geom, base)))
}
