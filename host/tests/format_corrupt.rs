//! Corrupted-image table: each corruption of a well-formed set must give exactly its own
//! problem(s), and a clean set none.

use bcache_nvm_core::nvmpg::check::{check, walk, Problem, RecordRef, Visitor, MAX_RECORDS};
use bcache_nvm_core::nvmpg::format::*;

/// 16 MiB reserved + 64 pages.
const NS_BYTES: usize = START as usize + 64 * 4096;
const PAGES: u64 = (NS_BYTES / 4096) as u64;
const SET_UUID: [u8; 16] = [0x5e; 16];
const SB: usize = SB_OFFSET as usize;
const HDR: usize = RECLIST_HEAD_OFFSET as usize;
const HEAD0: usize = HDR + SetHeader::OFF_HEADS;
const HEAD1: usize = HEAD0 + Head::SIZE;
const BLK0: usize = SYSRECS_OFFSET as usize;
const BLK1: usize = BLK0 + RecsHeader::BLOCK_SIZE;

fn namespace(total_ns: u32, this_ns: u32) -> Vec<u8> {
    let mut img = vec![0u8; NS_BYTES];
    let sb = Sb::formatted([this_ns as u8 + 1; 16], SET_UUID, total_ns, this_ns, PAGES);
    write_formatted(&mut img, &sb).unwrap();
    img
}

fn put_u32(img: &mut [u8], at: usize, v: u32) {
    img[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(img: &mut [u8], at: usize, v: u64) {
    img[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u32(img: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(img[at..at + 4].try_into().unwrap())
}

/// Stores `rec` in `slot` of the block at `blk` and bumps its `used`.
fn add_rec(img: &mut [u8], blk: usize, slot: usize, rec: Rec) {
    put_u64(img, blk + RecsHeader::rec_off(slot).unwrap(), rec.0);
    let used = get_u32(img, blk + RecsHeader::OFF_USED);
    put_u32(img, blk + RecsHeader::OFF_USED, used + 1);
}

fn reseal(img: &mut [u8]) {
    Sb::decode(&img[SB..])
        .unwrap()
        .encode_sealed(&mut img[SB..SB + 4096])
        .unwrap();
}

/// Namespace 0 of a one-namespace set whose allocator head owns pages 4096 and 4104..4112.
fn base() -> Vec<u8> {
    let mut img = namespace(1, 0);
    add_rec(&mut img, BLK0, 0, Rec::new(4096, 0, 0).unwrap());
    add_rec(&mut img, BLK0, 5, Rec::new(4104, 3, 0).unwrap());
    img
}

fn problems(images: &[&[u8]]) -> Vec<Problem> {
    let mut scratch = vec![RecordRef::default(); MAX_RECORDS];
    let mut found = Vec::new();
    let summary = check(images, &mut scratch, |p| found.push(*p));
    assert_eq!(summary.problems, found.len());
    found
}

fn errors(img: &[u8]) -> Vec<FormatError> {
    problems(&[img]).into_iter().map(|p| p.error).collect()
}

#[test]
fn clean_sets_have_no_problems() {
    let img = base();
    let mut scratch = vec![RecordRef::default(); MAX_RECORDS];
    let summary = check(&[&img[..]], &mut scratch, |p| panic!("{}", p.error));
    assert_eq!((summary.problems, summary.records), (0, 2));
    assert_eq!(summary.allocated[0], 9);
    let (ns0, ns1) = (namespace(2, 0), namespace(2, 1));
    assert!(
        problems(&[&ns1[..], &ns0[..]]).is_empty(),
        "images in any order"
    );
}

/// Applies `corrupt` to the base image and expects exactly `expected`.
fn case(name: &str, corrupt: impl FnOnce(&mut Vec<u8>), expected: &[FormatError]) {
    let mut img = base();
    corrupt(&mut img);
    assert_eq!(errors(&img), expected, "case {name}");
}

#[test]
fn sb_corruptions() {
    case(
        "magic",
        |i| i[SB + 32] ^= 1,
        &[FormatError::BadMagic {
            field: Field::SbMagic,
            offset: 4128,
        }],
    );
    case(
        "csum",
        |i| i[SB] ^= 1,
        &[FormatError::BadCsum {
            offset: 4096,
            found: u64::from_le_bytes(base()[SB..SB + 8].try_into().unwrap()) ^ 1,
            expected: u64::from_le_bytes(base()[SB..SB + 8].try_into().unwrap()),
        }],
    );
    let resealed = |at: usize, v: u32| {
        move |i: &mut Vec<u8>| {
            put_u32(i, SB + at, v);
            reseal(i)
        }
    };
    case(
        "version",
        resealed(Sb::OFF_VERSION, 1),
        &[FormatError::BadVersion {
            offset: 4120,
            found: 1,
        }],
    );
    case(
        "page size",
        resealed(Sb::OFF_PAGE_SIZE, 8192),
        &[FormatError::BadPageSize {
            offset: 4160,
            found: 8192,
        }],
    );
    case(
        "total_ns",
        resealed(Sb::OFF_TOTAL_NS, 9),
        &[FormatError::BadTotalNs {
            offset: 4164,
            found: 9,
        }],
    );
    case(
        "this_ns",
        resealed(Sb::OFF_THIS_NS, 1),
        &[
            FormatError::BadThisNs {
                offset: 4168,
                found: 1,
                total_ns: 1,
            },
            FormatError::MissingNamespace { ns: 0 },
        ],
    );
    let bad = |field, at: usize, found: u64, expected: u64| FormatError::BadValue {
        field,
        offset: 4096 + at as u64,
        found,
        expected,
    };
    case(
        "sb_offset",
        resealed(Sb::OFF_SB_OFFSET, 8192),
        &[bad(Field::SbSbOffset, 8, 8192, 4096)],
    );
    case(
        "pages_offset",
        resealed(Sb::OFF_PAGES_OFFSET, 4096),
        &[bad(Field::SbPagesOffset, 136, 4096, START)],
    );
    case(
        "set_header_offset",
        resealed(Sb::OFF_SET_HEADER_OFFSET, 4096),
        &[bad(Field::SbSetHeaderOffset, 216, 4096, 8192)],
    );
    case(
        "incompat",
        resealed(Sb::OFF_FEATURE_INCOMPAT, 4),
        &[bad(Field::SbFeatureIncompat, 120, 4, 0)],
    );
    case(
        "pages_total big",
        resealed(Sb::OFF_PAGES_TOTAL, PAGES as u32 + 1),
        &[FormatError::TooLarge {
            field: Field::SbPagesTotal,
            offset: 4240,
            found: PAGES + 1,
            max: PAGES,
        }],
    );
    case(
        "pages_total small",
        resealed(Sb::OFF_PAGES_TOTAL, 4096),
        &[
            FormatError::TooSmall {
                field: Field::SbPagesTotal,
                offset: 4240,
                found: 4096,
                min: 4097,
            },
            FormatError::RecordPastEnd {
                offset: 16472,
                end: 4097,
                pages_total: 4096,
            },
            FormatError::RecordPastEnd {
                offset: 16512,
                end: 4112,
                pages_total: 4096,
            },
        ],
    );
    case(
        "keys",
        |i| put_u32(i, SB + Sb::OFF_KEYS, u32::MAX),
        &[FormatError::TooLarge {
            field: Field::SbKeys,
            offset: 4320,
            found: u32::MAX.into(),
            max: Sb::MAX_KEYS.into(),
        }],
    );
}

#[test]
fn chain_corruptions() {
    let link = (HEAD0 + Head::OFF_RECS_OFFSET) as u64;
    let next = (BLK0 + RecsHeader::OFF_NEXT_OFFSET) as u64;
    case(
        "out of range",
        |i| put_u64(i, link as usize, START),
        &[FormatError::OffsetOutOfRange {
            field: Field::HeadRecsOffset,
            offset: link,
            found: START,
        }],
    );
    case(
        "other namespace",
        |i| put_u64(i, link as usize, 1 << 61 | SYSRECS_OFFSET),
        &[FormatError::OffsetOutOfRange {
            field: Field::HeadRecsOffset,
            offset: link,
            found: 1 << 61 | SYSRECS_OFFSET,
        }],
    );
    case(
        "misaligned",
        |i| put_u64(i, next as usize, SYSRECS_OFFSET + 4096),
        &[FormatError::OffsetMisaligned {
            field: Field::RecsNextOffset,
            offset: next,
            found: SYSRECS_OFFSET + 4096,
            align: 8192,
        }],
    );
    case(
        "cycle",
        |i| put_u64(i, next as usize, SYSRECS_OFFSET),
        &[FormatError::ChainCycle {
            offset: next,
            found: SYSRECS_OFFSET,
        }],
    );
    case(
        "recs magic",
        |i| i[BLK0 + 16] ^= 0xff,
        &[FormatError::BadMagic {
            field: Field::RecsMagic,
            offset: 16400,
        }],
    );
    case(
        "recs uuid",
        |i| i[BLK0 + 32] ^= 0xff,
        &[FormatError::UuidMismatch {
            field: Field::RecsUuid,
            offset: 16416,
        }],
    );
    case(
        "head_offset",
        |i| put_u64(i, BLK0, HEAD1 as u64),
        &[FormatError::HeadOffsetMismatch {
            offset: 16384,
            found: HEAD1 as u64,
            expected: HEAD0 as u64,
        }],
    );
    case(
        "recs size",
        |i| put_u32(i, BLK0 + RecsHeader::OFF_SIZE, 64),
        &[FormatError::BadValue {
            field: Field::RecsSize,
            offset: 16432,
            found: 64,
            expected: 1013,
        }],
    );
    case(
        "recs used",
        |i| put_u32(i, BLK0 + RecsHeader::OFF_USED, 5),
        &[FormatError::UsedMismatch {
            field: Field::RecsUsed,
            offset: 16436,
            found: 5,
            expected: 2,
        }],
    );
    // A chain continuing into a second, valid block is fine; linking it twice is not.
    case(
        "second block",
        |i| {
            put_u64(i, next as usize, BLK1 as u64);
            RecsHeader::empty(NvmpgOffset(HEAD0 as u64), SET_UUID)
                .encode(&mut i[BLK1..])
                .unwrap();
            add_rec(i, BLK1, 1012, Rec::new(4112, 4, 0).unwrap());
        },
        &[],
    );
    case(
        "shared block",
        |i| {
            put_u32(i, HDR + SetHeader::OFF_USED, 2);
            Head {
                uuid: SET_UUID,
                state: HEAD_STATE_ALLOC,
                ..Head::default()
            }
            .encode(&mut i[HEAD1..])
            .unwrap();
            put_u64(i, HEAD1 + Head::OFF_RECS_OFFSET, SYSRECS_OFFSET);
        },
        &[FormatError::RecsShared {
            offset: (HEAD1 + Head::OFF_RECS_OFFSET) as u64,
            found: SYSRECS_OFFSET,
        }],
    );
    case(
        "chain for absent namespace",
        |i| put_u64(i, link as usize + 8, SYSRECS_OFFSET),
        &[FormatError::BadValue {
            field: Field::HeadRecsOffset,
            offset: link + 8,
            found: SYSRECS_OFFSET,
            expected: 0,
        }],
    );
}

#[test]
fn header_corruptions() {
    case(
        "heads size",
        |i| put_u32(i, HDR, 66),
        &[FormatError::BadValue {
            field: Field::HdrSize,
            offset: 8192,
            found: 66,
            expected: 67,
        }],
    );
    case(
        "heads used big",
        |i| put_u32(i, HDR + 4, 68),
        &[FormatError::TooLarge {
            field: Field::HdrUsed,
            offset: 8196,
            found: 68,
            max: 67,
        }],
    );
    case(
        "heads used small",
        |i| {
            Head {
                uuid: [9; 16],
                state: HEAD_STATE_ALLOC,
                ..Head::default()
            }
            .encode(&mut i[HEAD1..])
            .unwrap();
        },
        &[FormatError::UsedMismatch {
            field: Field::HdrUsed,
            offset: 8196,
            found: 1,
            expected: 2,
        }],
    );
    case(
        "head state",
        |i| put_u32(i, HEAD1 + Head::OFF_STATE, 7),
        &[FormatError::BadHeadState {
            offset: (HEAD1 + 48) as u64,
            found: 7,
        }],
    );
    case(
        "sys head free",
        |i| put_u32(i, HEAD0 + Head::OFF_STATE, HEAD_STATE_FREE),
        &[FormatError::BadValue {
            field: Field::HeadState,
            offset: (HEAD0 + 48) as u64,
            found: 0,
            expected: 1,
        }],
    );
}

#[test]
fn record_corruptions() {
    let slot = |s: usize| (BLK0 + RecsHeader::rec_off(s).unwrap()) as u64;
    let with = |rec: u64| move |i: &mut Vec<u8>| add_rec(i, BLK0, 9, Rec(rec));
    case(
        "overlap",
        with(Rec::new(4108, 1, 0).unwrap().0),
        &[FormatError::RecordOverlap {
            offset: slot(9),
            other: slot(5),
        }],
    );
    case(
        "in reserved",
        with(Rec::new(4000, 0, 0).unwrap().0),
        &[FormatError::RecordInReserved {
            offset: slot(9),
            pgoff: 4000,
            first: 4096,
        }],
    );
    case(
        "past end",
        with(Rec::new(PAGES, 2, 0).unwrap().0),
        &[FormatError::RecordPastEnd {
            offset: slot(9),
            end: 4160 + 4,
            pages_total: PAGES,
        }],
    );
    case(
        "order",
        with(4128 | 20 << 52),
        &[FormatError::RecordBadOrder {
            offset: slot(9),
            found: 20,
        }],
    );
    case(
        "ns_id",
        with(4128 | 1 << 58),
        &[FormatError::RecordBadNs {
            offset: slot(9),
            found: 1,
            expected: 0,
        }],
    );
    case(
        "misaligned",
        with(Rec::new(4129, 1, 0).unwrap().0),
        &[FormatError::RecordMisaligned {
            offset: slot(9),
            pgoff: 4129,
            order: 1,
        }],
    );
    case(
        "reserved bits",
        with(4128 | 1 << 61),
        &[FormatError::RecordReservedBits {
            offset: slot(9),
            found: 4128 | 1 << 61,
        }],
    );
}

#[test]
fn set_corruptions() {
    let ns0 = namespace(2, 0);
    let ns1 = namespace(2, 1);
    assert_eq!(
        problems(&[&ns0[..]]),
        [Problem {
            image: None,
            error: FormatError::MissingNamespace { ns: 1 }
        }]
    );
    assert_eq!(
        problems(&[&ns0[..], &ns0[..]]),
        [
            Problem {
                image: Some(1),
                error: FormatError::DuplicateNamespace {
                    offset: 4168,
                    ns: 0
                }
            },
            Problem {
                image: None,
                error: FormatError::MissingNamespace { ns: 1 }
            },
        ]
    );
    let mut other = ns1.clone();
    other[SB + Sb::OFF_SET_UUID] ^= 1;
    reseal(&mut other);
    assert_eq!(
        problems(&[&ns0[..], &other[..]]),
        [Problem {
            image: Some(1),
            error: FormatError::UuidMismatch {
                field: Field::SbSetUuid,
                offset: 4176
            },
        }]
    );
    // Records of namespace 1 are checked against namespace 1's size.
    let mut ns0 = ns0;
    put_u64(&mut ns0, HEAD0 + Head::OFF_RECS_OFFSET + 8, BLK1 as u64);
    RecsHeader::empty(NvmpgOffset(HEAD0 as u64), SET_UUID)
        .encode(&mut ns0[BLK1..])
        .unwrap();
    add_rec(&mut ns0, BLK1, 0, Rec::new(PAGES, 0, 1).unwrap());
    add_rec(&mut ns0, BLK1, 1, Rec::new(4096, 0, 1).unwrap());
    let at = (BLK1 + RecsHeader::OFF_RECS) as u64;
    assert_eq!(
        problems(&[&ns0[..], &ns1[..]]),
        [Problem {
            image: Some(0),
            error: FormatError::RecordPastEnd {
                offset: at,
                end: PAGES + 1,
                pages_total: PAGES
            },
        }]
    );
}

#[test]
fn truncated_images_are_reported_not_panics() {
    let img = base();
    for len in [0, 4096, 4200, 8192, 8300, 16384, 16400, 16500, 20000] {
        let errs = errors(&img[..len]);
        assert!(!errs.is_empty(), "len {len}");
        assert!(
            errs.iter()
                .any(|e| matches!(e, FormatError::Truncated { .. })),
            "len {len}: {errs:?}"
        );
    }
}

#[test]
fn small_scratch_is_reported() {
    let img = base();
    let mut scratch = [RecordRef::default(); 1];
    let mut found = Vec::new();
    check(&[&img[..]], &mut scratch, |p| found.push(p.error));
    assert_eq!(found, [FormatError::ScratchExhausted { capacity: 1 }]);
}

#[test]
fn walk_shows_structures_in_media_order() {
    #[derive(Default)]
    struct Seen(Vec<String>);
    impl Visitor for Seen {
        fn problem(&mut self, p: &Problem) {
            self.0.push(format!("problem {}", p.error));
        }
        fn sb(&mut self, image: usize, sb: &Sb) {
            self.0.push(format!("sb {image} ns {}", sb.this_ns));
        }
        fn head(&mut self, index: usize, head: &Head) {
            self.0.push(format!(
                "head {index} {}",
                String::from_utf8_lossy(head.label_bytes())
            ));
        }
        fn recs(&mut self, head: usize, ns: usize, at: u64, recs: &RecsHeader) {
            self.0
                .push(format!("recs {head} {ns} {at} used {}", recs.used));
        }
        fn rec(&mut self, head: usize, at: u64, rec: Rec) {
            self.0
                .push(format!("rec {head} {at} {} {}", rec.pgoff(), rec.order()));
        }
    }
    let img = base();
    let mut seen = Seen::default();
    let mut scratch = vec![RecordRef::default(); 16];
    walk(&[&img[..]], &mut scratch, &mut seen);
    assert_eq!(
        seen.0,
        [
            "sb 0 ns 0",
            "head 0 nvmpg_sys_alloc",
            "recs 0 0 16384 used 2",
            "rec 0 16472 4096 0",
            "rec 0 16512 4104 3",
        ]
    );
}
