//! bcache's superblock feature sets (`features.h`) with the NVDIMM-meta incompat bit of the seed.
//!
//! Feature bits are only meaningful from superblock version
//! [`crate::pure::cache_sb::sb::SB_VERSION_CDEV_WITH_FEATURES`] on (`bch_has_feature_*()` return 0 for
//! older versions). A kernel that does not know a set incompat bit must refuse the device:
//! that is what keeps a kernel without NVDIMM support away from a journal it cannot find.

/// `BCH_FEATURE_INCOMPAT_OBSO_LARGE_BUCKET`: 32-bit bucket size (obsolete).
pub const INCOMPAT_OBSO_LARGE_BUCKET: u64 = 0x0001;
/// `BCH_FEATURE_INCOMPAT_LOG_LARGE_BUCKET_SIZE`: the bucket size field holds log2 of the size.
pub const INCOMPAT_LOG_LARGE_BUCKET_SIZE: u64 = 0x0002;
/// `BCH_FEATURE_INCOMPAT_NVDIMM_META`: the journal lives on an NVDIMM; `sb.d[]` holds nvmpg
/// offsets instead of bucket indexes.
pub const INCOMPAT_NVDIMM_META: u64 = 0x0004;

/// `BCH_FEATURE_COMPAT_SUPP`.
pub const COMPAT_SUPP: u64 = 0;
/// `BCH_FEATURE_RO_COMPAT_SUPP`.
pub const RO_COMPAT_SUPP: u64 = 0;
/// Mainline's `BCH_FEATURE_INCOMPAT_SUPP`, without the NVDIMM bit.
pub const INCOMPAT_SUPP_MAINLINE: u64 = INCOMPAT_OBSO_LARGE_BUCKET | INCOMPAT_LOG_LARGE_BUCKET_SIZE;
/// `BCH_FEATURE_INCOMPAT_SUPP` of a kernel with NVDIMM-meta support.
pub const INCOMPAT_SUPP: u64 = INCOMPAT_SUPP_MAINLINE | INCOMPAT_NVDIMM_META;

/// Which of the three feature words a bit belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    /// `feature_compat`.
    Compat,
    /// `feature_ro_compat`.
    RoCompat,
    /// `feature_incompat`.
    Incompat,
}

/// The first feature word (in read_super's order: compat, ro_compat, incompat) holding bits
/// outside its supported set, with those bits; `None` if every bit is supported.
pub const fn unknown_features(
    compat: u64,
    ro_compat: u64,
    incompat: u64,
) -> Option<(FeatureKind, u64)> {
    if compat & !COMPAT_SUPP != 0 {
        Some((FeatureKind::Compat, compat & !COMPAT_SUPP))
    } else if ro_compat & !RO_COMPAT_SUPP != 0 {
        Some((FeatureKind::RoCompat, ro_compat & !RO_COMPAT_SUPP))
    } else if incompat & !INCOMPAT_SUPP != 0 {
        Some((FeatureKind::Incompat, incompat & !INCOMPAT_SUPP))
    } else {
        None
    }
}
