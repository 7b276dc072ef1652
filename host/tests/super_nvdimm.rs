//! The NVDIMM journal location in the cache superblock: geometry (the seed's order formula),
//! `set_nvdimm_meta` on a make-bcache superblock, the d[] checks that replace read_super's
//! "journal buckets not sequential", and matching against the allocator's real records.

mod journal_util;
mod super_util;

use bcache_nvm_core::cache_sb::error::SbError;
use bcache_nvm_core::cache_sb::features::INCOMPAT_NVDIMM_META;
use bcache_nvm_core::cache_sb::nvdimm::*;
use bcache_nvm_core::cache_sb::sb::*;
use bcache_nvm_core::crash::{format_namespace, HostMedia, HostVecs};
use bcache_nvm_core::nvmpg::alloc::Allocator;
use bcache_nvm_core::nvmpg::format::NvmpgOffset;
use journal_util::bitwise_crc64;
use super_util::{make_cache_sb, reseal, SET_UUID};

type Alloc = Allocator<HostMedia, HostVecs>;

/// A registered one-namespace set of `mib` MiB.
fn allocator(mib: usize) -> Alloc {
    let mut a = Alloc::new();
    a.register(format_namespace(mib << 20, [0x5a; 16], 1, 0).unwrap())
        .expect("register");
    a
}

fn d_of(s: &[u8], keys: u16) -> Vec<u64> {
    (0..keys)
        .map(|i| CacheSb::journal_bucket(s, i).unwrap())
        .collect()
}

#[test]
fn geometry_is_the_seeds_order() {
    for (bucket, keys) in [(8u32, 2u16), (8, 256), (1024, 4), (1024, 128), (4096, 64)] {
        let g = JournalGeometry::new(bucket, keys).unwrap();
        // order = ilog2(bucket_size * keys / PAGE_SECTORS)
        let pages = u64::from(bucket) * u64::from(keys) / 8;
        assert_eq!(u32::from(g.order()), pages.ilog2(), "{bucket} x {keys}");
        assert_eq!(4096u64 << g.order(), g.bucket_bytes() * u64::from(keys));
        assert_eq!(g.bucket_bytes(), u64::from(bucket) * 512);
    }
    assert_eq!(
        JournalGeometry::new(1024, 3),
        Err(SbError::JournalNotPowerOfTwo { pages: 384 })
    );
    assert_eq!(
        JournalGeometry::new(4, 4),
        Err(SbError::BadBucketSize { sectors: 4 })
    );
    assert_eq!(
        JournalGeometry::new(1000, 4),
        Err(SbError::BadBucketSize { sectors: 1000 })
    );
    assert_eq!(
        JournalGeometry::new(1024, 0),
        Err(SbError::NoJournalBuckets)
    );
    assert_eq!(
        JournalGeometry::new(1 << 17, 256),
        Err(SbError::JournalTooLarge { order: 22 })
    );
    assert!(JournalGeometry::new(1 << 12, 256).is_ok()); // order 17
}

#[test]
fn make_cache_nvdimm_meta_round_trip() {
    let mut a = allocator(24);
    let orig = make_cache_sb(1024, 4, 1 << 14);
    let geom = JournalGeometry::of_sb(&CacheSb::decode(&orig).unwrap()).unwrap();
    assert_eq!(geom.order(), 9);
    let base = a.alloc_pages(geom.order(), &SET_UUID).unwrap();

    // Mainline's superblock passes its own sequential check, and is not NVDIMM.
    assert_eq!(nvdimm_journal(&orig), Ok(None));
    let mut s = orig.clone();
    assert_eq!(set_nvdimm_meta(&mut s, base), Ok(geom));

    // What bcache-super-show and read_super check: the csum, independently computed.
    let csum = bitwise_crc64(&s[8..208 + 4 * 8]);
    assert_eq!(&s[0..8], &csum.to_le_bytes());
    let sb = CacheSb::check_header(&s).unwrap();
    assert_eq!(sb.version, SB_VERSION_CDEV_WITH_FEATURES);
    assert_eq!(sb.feature_incompat, INCOMPAT_NVDIMM_META);
    assert!(sb.nvdimm_meta());
    let d = d_of(&s, 4);
    for (i, &di) in d.iter().enumerate() {
        assert_eq!(di, base.0 + i as u64 * (512 << 10));
    }
    // Only csum, version, incompat and d[0..4] changed.
    let changed = |i: usize| {
        i < 8 || (16..24).contains(&i) || (128..136).contains(&i) || (208..240).contains(&i)
    };
    assert!((0..4096).all(|i| changed(i) || s[i] == orig[i]));
    // Mainline's check now fails, which is why the bit must keep mainline kernels away.
    assert!(d
        .iter()
        .enumerate()
        .any(|(i, &di)| di != u64::from(sb.first_bucket) + i as u64));

    assert_eq!(nvdimm_journal(&s), Ok(Some((geom, base))));
    assert_eq!(check_recorded(&a, &SET_UUID, &geom, base), Ok(()));

    // After a reboot the journal is found again by d[0] among the owner's records.
    let mut b = Alloc::new();
    b.register(a.media(0).unwrap().clone()).unwrap();
    assert_eq!(check_recorded(&b, &SET_UUID, &geom, base), Ok(()));
}

#[test]
fn d_checks_name_what_is_wrong() {
    let geom = JournalGeometry::new(1024, 4).unwrap();
    let base = NvmpgOffset::new(1, 16 << 20).unwrap();
    let good: Vec<u64> = (0..4).map(|i| geom.bucket(base, i).unwrap().0).collect();
    assert_eq!(geom.check_d(good.iter().copied()), Ok(base));
    assert_eq!(good[1], base.0 + (512 << 10));
    assert_eq!(geom.bucket(base, 4), None);

    let mut d = good.clone();
    d[2] += 4096;
    assert_eq!(
        geom.check_d(d.iter().copied()),
        Err(SbError::NotConsecutive {
            index: 2,
            found: good[2] + 4096,
            expected: good[2]
        })
    );
    let shifted: Vec<u64> = good.iter().map(|x| x + 512).collect();
    assert_eq!(
        geom.check_d(shifted.iter().copied()),
        Err(SbError::Unaligned { d0: base.0 + 512 })
    );
    assert_eq!(geom.check_d([0, 1, 2, 3]), Err(SbError::NullJournal));
    assert_eq!(
        geom.check_d(good[..3].iter().copied()),
        Err(SbError::MissingBuckets { found: 3, keys: 4 })
    );
    // Another namespace is not consecutive either.
    let mut d = good.clone();
    d[3] = NvmpgOffset::new(2, good[3] & NvmpgOffset::OFFSET_MASK)
        .unwrap()
        .0;
    assert!(matches!(
        geom.check_d(d.iter().copied()),
        Err(SbError::NotConsecutive { index: 3, .. })
    ));
    let top = NvmpgOffset::new(0, NvmpgOffset::OFFSET_MASK & !4095).unwrap();
    assert_eq!(
        geom.check_base(top),
        Err(SbError::PastNamespace { d0: top.0 })
    );

    // Through the superblock: a d[] edited on disk (csum resealed) is refused by name.
    let mut a = allocator(24);
    let base = a.alloc_pages(9, &SET_UUID).unwrap();
    let mut s = make_cache_sb(1024, 4, 1 << 14);
    set_nvdimm_meta(&mut s, base).unwrap();
    s[208 + 8..216 + 8].copy_from_slice(&(base.0 + 4096).to_le_bytes());
    reseal(&mut s);
    assert_eq!(
        nvdimm_journal(&s),
        Err(SbError::NotConsecutive {
            index: 1,
            found: base.0 + 4096,
            expected: base.0 + (512 << 10)
        })
    );
}

#[test]
fn recorded_range_must_be_exactly_the_journal() {
    let mut a = allocator(40);
    let geom = JournalGeometry::new(1024, 4).unwrap(); // order 9
    let other = *b"some-other-owner";
    assert_eq!(
        check_recorded(&a, &SET_UUID, &geom, NvmpgOffset(16 << 20)),
        Err(SbError::NoOwner)
    );
    let small = a.alloc_pages(8, &SET_UUID).unwrap();
    let big = a.alloc_pages(10, &SET_UUID).unwrap();
    let foreign = a.alloc_pages(9, &other).unwrap();
    assert_eq!(
        check_recorded(&a, &SET_UUID, &geom, small),
        Err(SbError::SizeMismatch {
            d0: small.0,
            order: 8,
            expected: 9
        })
    );
    let inside = NvmpgOffset(big.0 + (1 << 20));
    assert_eq!(
        check_recorded(&a, &SET_UUID, &geom, inside),
        Err(SbError::NotRangeStart {
            d0: inside.0,
            range: big.0
        })
    );
    // Another owner's range of the right size does not count.
    assert_eq!(
        check_recorded(&a, &SET_UUID, &geom, foreign),
        Err(SbError::NoRecord { d0: foreign.0 })
    );
    assert_eq!(check_recorded(&a, &other, &geom, foreign), Ok(()));
    let exact = a.alloc_pages(9, &SET_UUID).unwrap();
    assert_eq!(check_recorded(&a, &SET_UUID, &geom, exact), Ok(()));

    // The matcher alone: an exact record wins whatever else is offered.
    let mut m = RangeMatch::new(&geom, exact);
    m.offer(big, 10);
    m.offer(exact, 3);
    assert!(matches!(
        m.finish(),
        Err(SbError::SizeMismatch { order: 3, .. })
    ));
    m.offer(exact, 9);
    assert_eq!(m.finish(), Ok(()));
}

#[test]
fn set_nvdimm_meta_refuses_and_leaves_the_superblock_alone() {
    let base = NvmpgOffset::new(0, 16 << 20).unwrap();
    let check = |mut s: Vec<u8>, base: NvmpgOffset, err: SbError| {
        let before = s.clone();
        assert_eq!(set_nvdimm_meta(&mut s, base), Err(err));
        assert_eq!(s, before);
    };
    check(
        make_cache_sb(1024, 3, 1 << 14),
        base,
        SbError::JournalNotPowerOfTwo { pages: 384 },
    );
    check(
        make_cache_sb(1024, 4, 1 << 14),
        NvmpgOffset(base.0 + 8),
        SbError::Unaligned { d0: base.0 + 8 },
    );
    check(
        make_cache_sb(1024, 4, 1 << 14),
        NvmpgOffset::NONE,
        SbError::NullJournal,
    );
    let mut bdev = make_cache_sb(1024, 4, 1 << 14);
    bdev[16] = 1;
    reseal(&mut bdev);
    check(bdev, base, SbError::NotCacheDevice { version: 1 });
    let mut bad = make_cache_sb(1024, 4, 1 << 14);
    bad[50] ^= 1;
    let err = set_nvdimm_meta(&mut bad.clone(), base).unwrap_err();
    assert!(matches!(err, SbError::BadCsum { .. }));
    check(bad, base, err);
    // Version 5 with an unknown incompat bit.
    let mut unk = make_cache_sb(1024, 4, 1 << 14);
    unk[16] = 5;
    unk[128] = 0x10;
    reseal(&mut unk);
    check(
        unk,
        base,
        SbError::UnknownFeatures {
            kind: bcache_nvm_core::cache_sb::features::FeatureKind::Incompat,
            bits: 0x10,
        },
    );
}

#[test]
fn mark_nvdimm_meta_sets_only_version_bit_and_csum() {
    use bcache_nvm_core::cache_sb::features::FeatureKind;
    for (version, keys) in [(0u8, 0u16), (3, 0), (3, 4), (5, 4)] {
        let mut orig = make_cache_sb(1024, keys, 1 << 14);
        orig[16] = version;
        orig[104] = 0; // make-bcache leaves CACHE_SYNC clear; the caller judges it anyway
        reseal(&mut orig);
        let mut s = orig.clone();
        let old = mark_nvdimm_meta(&mut s).unwrap();
        assert_eq!(old, CacheSb::decode(&orig).unwrap());
        let csum = bitwise_crc64(&s[8..208 + usize::from(keys) * 8]);
        assert_eq!(&s[0..8], &csum.to_le_bytes());
        let sb = CacheSb::check_header(&s).unwrap();
        assert_eq!(sb.version, SB_VERSION_CDEV_WITH_FEATURES);
        assert_eq!(sb.feature_incompat, INCOMPAT_NVDIMM_META);
        assert!(sb.nvdimm_meta());
        // csum, version and feature_incompat only: d[] is the kernel's to fill.
        let changed = |i: usize| i < 8 || (16..24).contains(&i) || (128..136).contains(&i);
        assert!(
            (0..4096).all(|i| changed(i) || s[i] == orig[i]),
            "v{version}"
        );
        // Marking again changes nothing and reports the bit as already set.
        let mut again = s.clone();
        assert!(mark_nvdimm_meta(&mut again).unwrap().nvdimm_meta());
        assert_eq!(again, s);
    }

    let check = |s: Vec<u8>, err: SbError| {
        let mut t = s.clone();
        assert_eq!(mark_nvdimm_meta(&mut t), Err(err));
        assert_eq!(t, s);
    };
    let mut magic = make_cache_sb(1024, 0, 1 << 14);
    magic[24] ^= 1;
    check(magic, SbError::BadMagic);
    for version in [1u8, 4, 6, 2, 7] {
        let mut bdev = make_cache_sb(1024, 0, 1 << 14);
        bdev[16] = version;
        reseal(&mut bdev);
        check(
            bdev,
            SbError::NotCacheDevice {
                version: version.into(),
            },
        );
    }
    let mut bad = make_cache_sb(1024, 0, 1 << 14);
    bad[60] ^= 1;
    let found = u64::from_le_bytes(bad[0..8].try_into().unwrap());
    let expected = bitwise_crc64(&bad[8..208]);
    check(bad, SbError::BadCsum { found, expected });
    // Version 5: unknown bits in any word; older versions: any stray bit at all.
    for (version, off, bits, kind) in [
        (5u8, 128, 0x10u8, FeatureKind::Incompat),
        (5, 120, 0x1, FeatureKind::Compat),
        (3, 128, 0x2, FeatureKind::Incompat),
        (0, 136, 0x4, FeatureKind::RoCompat),
    ] {
        let mut s = make_cache_sb(1024, 0, 1 << 14);
        s[16] = version;
        s[off] = bits;
        reseal(&mut s);
        check(
            s,
            SbError::UnknownFeatures {
                kind,
                bits: bits.into(),
            },
        );
    }
    // Version 5 with a supported bit keeps it.
    let mut large = make_cache_sb(10, 0, 1 << 14);
    large[16] = 5;
    large[128] = 0x2;
    reseal(&mut large);
    mark_nvdimm_meta(&mut large).unwrap();
    assert_eq!(CacheSb::decode(&large).unwrap().feature_incompat, 0x6);
}
