//! cache_sb_disk: offsets pinned to the C definition (gcc offsetof on 6.12's
//! bcache_ondisk.h), decode/encode, the csum rule against an independent crc, features.

mod journal_util;
mod super_util;

use bcache_nvm_core::cache_sb::error::SbError;
use bcache_nvm_core::cache_sb::features::*;
use bcache_nvm_core::cache_sb::sb::*;
use journal_util::bitwise_crc64;
use super_util::{make_cache_sb, reseal, MAGIC, SET_UUID};

#[test]
fn offsets_match_c() {
    // offsetof(struct cache_sb_disk, f) printed by gcc for 6.12's bcache_ondisk.h.
    let c = [
        ("csum", 0),
        ("offset", 8),
        ("version", 16),
        ("magic", 24),
        ("uuid", 40),
        ("set_uuid", 56),
        ("label", 72),
        ("flags", 104),
        ("seq", 112),
        ("feature_compat", 120),
        ("feature_incompat", 128),
        ("feature_ro_compat", 136),
        ("pad", 144),
        ("nbuckets", 184),
        ("block_size", 192),
        ("bucket_size", 194),
        ("nr_in_set", 196),
        ("nr_this_dev", 198),
        ("last_mount", 200),
        ("first_bucket", 204),
        ("keys", 206),
        ("d", 208),
        ("obso_bucket_size_hi", 2256),
        ("sizeof", 2264),
    ];
    let ours = [
        CacheSb::OFF_CSUM,
        CacheSb::OFF_OFFSET,
        CacheSb::OFF_VERSION,
        CacheSb::OFF_MAGIC,
        CacheSb::OFF_UUID,
        CacheSb::OFF_SET_UUID,
        CacheSb::OFF_LABEL,
        CacheSb::OFF_FLAGS,
        CacheSb::OFF_SEQ,
        CacheSb::OFF_FEATURE_COMPAT,
        CacheSb::OFF_FEATURE_INCOMPAT,
        CacheSb::OFF_FEATURE_RO_COMPAT,
        CacheSb::OFF_PAD,
        CacheSb::OFF_NBUCKETS,
        CacheSb::OFF_BLOCK_SIZE,
        CacheSb::OFF_BUCKET_SIZE,
        CacheSb::OFF_NR_IN_SET,
        CacheSb::OFF_NR_THIS_DEV,
        CacheSb::OFF_LAST_MOUNT,
        CacheSb::OFF_FIRST_BUCKET,
        CacheSb::OFF_KEYS,
        CacheSb::OFF_D,
        CacheSb::OFF_OBSO_BUCKET_SIZE_HI,
        CacheSb::SIZE,
    ];
    for ((name, off), o) in c.iter().zip(ours) {
        assert_eq!(o, *off, "{name}");
    }
    assert_eq!(CacheSb::OFF_D + SB_JOURNAL_BUCKETS as usize * 8, 2256);
    assert_eq!((SB_SECTOR, SB_OFFSET, SB_SIZE), (8, 4096, 4096));
    assert_eq!(
        (SB_LABEL_SIZE, SB_JOURNAL_BUCKETS, MAX_CACHES_PER_SET),
        (32, 256, 8)
    );
    assert_eq!(BCACHE_MAGIC, MAGIC);
    assert_eq!(
        [
            SB_VERSION_CDEV,
            SB_VERSION_BDEV,
            SB_VERSION_CDEV_WITH_UUID,
            SB_VERSION_BDEV_WITH_OFFSET,
            SB_VERSION_CDEV_WITH_FEATURES,
            SB_VERSION_BDEV_WITH_FEATURES
        ],
        [0, 1, 3, 4, 5, 6]
    );
}

#[test]
fn features_are_mainline_plus_nvdimm() {
    assert_eq!(INCOMPAT_OBSO_LARGE_BUCKET, 0x1);
    assert_eq!(INCOMPAT_LOG_LARGE_BUCKET_SIZE, 0x2);
    assert_eq!(INCOMPAT_NVDIMM_META, 0x4);
    assert_eq!(INCOMPAT_SUPP_MAINLINE, 0x3);
    assert_eq!(INCOMPAT_SUPP, 0x7);
    assert_eq!((COMPAT_SUPP, RO_COMPAT_SUPP), (0, 0));
    assert_eq!(unknown_features(0, 0, 0x7), None);
    assert_eq!(
        unknown_features(0, 0, 0xf),
        Some((FeatureKind::Incompat, 0x8))
    );
    assert_eq!(
        unknown_features(0, 2, 0xf),
        Some((FeatureKind::RoCompat, 2))
    );
    assert_eq!(unknown_features(1, 2, 0xf), Some((FeatureKind::Compat, 1)));
    // A mainline kernel refuses the NVDIMM bit as an unknown incompat feature.
    assert_ne!(INCOMPAT_NVDIMM_META & !INCOMPAT_SUPP_MAINLINE, 0);
}

#[test]
fn decode_reads_the_c_fields() {
    let mut s = make_cache_sb(1024, 4, 4096);
    s[2256..2258].copy_from_slice(&3u16.to_le_bytes());
    reseal(&mut s);
    let sb = CacheSb::check_header(&s).unwrap();
    assert_eq!(sb.offset, 8);
    assert_eq!(sb.version, SB_VERSION_CDEV_WITH_UUID);
    assert_eq!(sb.magic, MAGIC);
    assert_eq!(&sb.uuid, b"device-uuid-0001");
    assert_eq!(sb.set_uuid, SET_UUID);
    assert_eq!(
        sb.set_magic(),
        u64::from_le_bytes(SET_UUID[..8].try_into().unwrap())
    );
    assert_eq!(&sb.label[..6], b"label\0");
    assert_eq!((sb.flags, sb.seq), (1, 7));
    assert_eq!(
        (sb.nbuckets, sb.block_size, sb.bucket_size),
        (4096, 1, 1024)
    );
    assert_eq!(
        (sb.nr_in_set, sb.nr_this_dev, sb.first_bucket, sb.keys),
        (1, 0, 1, 4)
    );
    assert_eq!(sb.obso_bucket_size_hi, 3);
    assert!(sb.is_cache_device() && !sb.nvdimm_meta());
    for i in 0..4 {
        assert_eq!(CacheSb::journal_bucket(&s, i), Some(1 + u64::from(i)));
    }
    assert_eq!(CacheSb::journal_bucket(&s, 256), None);
    assert_eq!(CacheSb::journal_bucket(&s[..300], 20), None);
}

#[test]
fn encode_round_trips_and_keeps_unmodelled_bytes() {
    let s = make_cache_sb(512, 8, 1 << 20);
    let mut sb = CacheSb::decode(&s).unwrap();
    sb.seq = 0x1122_3344_5566_7788;
    sb.feature_incompat = 0x5;
    sb.last_mount = 0xdead_beef;
    let mut out = s.clone();
    sb.encode(&mut out).unwrap();
    assert_eq!(CacheSb::decode(&out).unwrap(), sb);
    assert_eq!(&out[112..120], &0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!(&out[200..204], &0xdead_beefu32.to_le_bytes());
    // pad[] and d[] untouched; only seq, incompat and last_mount differ.
    let changed: Vec<usize> = (0..4096).filter(|&i| out[i] != s[i]).collect();
    assert!(changed
        .iter()
        .all(|&i| (112..120).contains(&i) || (128..136).contains(&i) || (200..204).contains(&i)));
    let mut short = vec![0u8; CacheSb::SIZE - 1];
    assert_eq!(
        sb.encode(&mut short),
        Err(SbError::Truncated {
            need: 2264,
            have: 2263
        })
    );
    assert!(short.iter().all(|&b| b == 0));
}

#[test]
fn csum_covers_offset_to_end_of_d_keys() {
    let mut s = make_cache_sb(1024, 16, 4096);
    let expect = bitwise_crc64(&s[8..208 + 16 * 8]);
    assert_eq!(CacheSb::compute_csum(&s), Ok(expect));
    assert_eq!(CacheSb::verify_csum(&s), Ok(()));
    // Bytes past d[keys] are not covered, d[keys - 1] is.
    s[208 + 16 * 8] ^= 1;
    assert_eq!(CacheSb::verify_csum(&s), Ok(()));
    s[208 + 15 * 8] ^= 1;
    assert_eq!(
        CacheSb::verify_csum(&s),
        Err(SbError::BadCsum {
            found: expect,
            expected: bitwise_crc64(&s[8..336])
        })
    );
    assert_eq!(CacheSb::seal(&mut s), Ok(bitwise_crc64(&s[8..336])));
    assert_eq!(CacheSb::verify_csum(&s), Ok(()));
    // keys above SB_JOURNAL_BUCKETS is refused before anything is checksummed.
    s[206..208].copy_from_slice(&257u16.to_le_bytes());
    assert_eq!(
        CacheSb::compute_csum(&s),
        Err(SbError::TooManyJournalBuckets { keys: 257 })
    );
    s[206..208].copy_from_slice(&256u16.to_le_bytes());
    assert_eq!(CacheSb::compute_csum(&s), Ok(bitwise_crc64(&s[8..2256])));
    assert_eq!(
        CacheSb::compute_csum(&s[..2000]),
        Err(SbError::Truncated {
            need: 2256,
            have: 2000
        })
    );
}

#[test]
fn header_checks_name_the_problem() {
    let good = make_cache_sb(1024, 4, 4096);
    let mut s = good.clone();
    s[8] = 9;
    reseal(&mut s);
    assert_eq!(
        CacheSb::check_header(&s),
        Err(SbError::BadOffset { found: 9 })
    );
    let mut s = good.clone();
    s[30] ^= 0xff;
    reseal(&mut s);
    assert_eq!(CacheSb::check_header(&s), Err(SbError::BadMagic));
    let mut s = good.clone();
    s[100] ^= 1;
    assert!(matches!(
        CacheSb::check_header(&s),
        Err(SbError::BadCsum { .. })
    ));
    assert_eq!(
        CacheSb::check_header(&good[..100]),
        Err(SbError::Truncated {
            need: 2264,
            have: 100
        })
    );
}

#[test]
fn bucket_size_follows_get_bucket_size() {
    let mut sb = CacheSb::decode(&make_cache_sb(1024, 4, 4096)).unwrap();
    sb.obso_bucket_size_hi = 2;
    sb.feature_incompat = INCOMPAT_OBSO_LARGE_BUCKET;
    // Feature bits do not count before version 5.
    assert_eq!(sb.bucket_sectors(), Some(1024));
    sb.version = SB_VERSION_CDEV_WITH_FEATURES;
    assert_eq!(sb.bucket_sectors(), Some(1024 + (2 << 16)));
    sb.feature_incompat = INCOMPAT_LOG_LARGE_BUCKET_SIZE;
    sb.bucket_size = 20;
    assert_eq!(sb.bucket_sectors(), Some(1 << 20));
    sb.bucket_size = 31;
    assert_eq!(sb.bucket_sectors(), Some(1 << 31));
    sb.bucket_size = 32;
    assert_eq!(sb.bucket_sectors(), None);
    sb.feature_incompat = INCOMPAT_NVDIMM_META | 0x100;
    assert_eq!(
        sb.check_features(),
        Err(SbError::UnknownFeatures {
            kind: FeatureKind::Incompat,
            bits: 0x100
        })
    );
    assert!(sb.nvdimm_meta());
    sb.version = SB_VERSION_CDEV_WITH_UUID;
    assert_eq!(sb.check_features(), Ok(()));
    assert!(!sb.nvdimm_meta());
    sb.version = SB_VERSION_BDEV_WITH_FEATURES;
    assert!(!sb.is_cache_device());
}
