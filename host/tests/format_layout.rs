//! Pins every constant, field offset and size of the nvm-pages format to the spec tables
//! (shared/spec/nvmpg-format.md), through the encoder: each field gets a distinct value and
//! the test looks for its little-endian bytes at the offset the spec gives.

use bcache_nvm_core::crc64::bch_crc64;
use bcache_nvm_core::nvmpg::format::*;

/// Little-endian bytes of `v` truncated to `width` bytes.
fn le(v: u64, width: usize) -> Vec<u8> {
    v.to_le_bytes()[..width].to_vec()
}

/// A distinct recognisable value per field index.
fn val(i: u64) -> u64 {
    (0x0101_0101_0101_0101 * (i + 1)) ^ 0x8000_0000_0000_0000
}

#[test]
fn constants() {
    assert_eq!(SB_OFFSET, 4096);
    assert_eq!(RECLIST_HEAD_OFFSET, 8192);
    assert_eq!(SYSRECS_OFFSET, 16384);
    assert_eq!(START, 16 * 1024 * 1024);
    assert_eq!(NS_MAX, 8);
    assert_eq!(LBL_SIZE, 32);
    assert_eq!((SB_VERSION, SB_VERSION_MAX), (0, 0));
    assert_eq!(MAX_ORDER, 20);
    assert_eq!(PAGE_SIZE, 4096);
    assert_eq!((HEAD_STATE_FREE, HEAD_STATE_ALLOC), (0, 1));
    assert_eq!(SetHeader::MAX_HEADS, 67);
    assert_eq!(RecsHeader::MAX_RECS, 1013);
    assert_eq!(Head::SIZE, 120);
    assert_eq!(
        (SetHeader::BLOCK_SIZE, RecsHeader::BLOCK_SIZE),
        (8192, 8192)
    );
    assert_eq!(SYSRECS_BLOCKS, 2046);
    assert_eq!(SEED_RECS_BLOCKS, 64);
    assert_eq!(FIRST_PAGE, 4096);
    assert_eq!(Sb::SIZE, 232);
    assert_eq!(Sb::MAX_KEYS, (4096 - 232) / 8);
    assert_eq!(SYS_HEAD_LABEL, b"nvmpg_sys_alloc");
    let magic = [
        0x17, 0xbd, 0x53, 0x7f, 0x1b, 0x23, 0xd6, 0x83, 0x46, 0xa4, 0xf8, 0x28, 0x17, 0xda, 0xec,
        0xa9,
    ];
    assert_eq!(NVMPG_MAGIC, magic);
    let recs = [
        0x39, 0x25, 0x3f, 0xf7, 0x27, 0x17, 0xd0, 0xb9, 0x10, 0xe6, 0xd2, 0xda, 0x38, 0x68, 0x26,
        0xae,
    ];
    assert_eq!(RECS_MAGIC, recs);
}

#[test]
fn sb_layout() {
    let mut pad = [0; 8];
    pad.iter_mut()
        .enumerate()
        .for_each(|(i, p)| *p = val(100 + i as u64));
    let sb = Sb {
        csum: val(0),
        sb_offset: val(1),
        ns_start: val(2),
        version: val(3),
        magic: [0xa1; 16],
        uuid: [0xa2; 16],
        page_size: val(4) as u32,
        total_ns: val(5) as u32,
        this_ns: val(6) as u32,
        set_uuid: [0xa3; 16],
        flags: val(7),
        seq: val(8),
        feature_compat: val(9),
        feature_incompat: val(10),
        feature_ro_compat: val(11),
        pages_offset: val(12),
        pages_total: val(13),
        pad,
        set_header_offset: NvmpgOffset(val(14)),
        keys: val(15) as u32,
    };
    let mut b = vec![0xee; 300];
    sb.encode(&mut b).unwrap();
    // (offset, expected bytes) straight from the spec table.
    let mut table = vec![
        (0, le(val(0), 8)),
        (8, le(val(1), 8)),
        (16, le(val(2), 8)),
        (24, le(val(3), 8)),
        (32, vec![0xa1; 16]),
        (48, vec![0xa2; 16]),
        (64, le(val(4), 4)),
        (68, le(val(5), 4)),
        (72, le(val(6), 4)),
        (76, vec![0; 4]),
        (80, vec![0xa3; 16]),
        (96, le(val(7), 8)),
        (104, le(val(8), 8)),
        (112, le(val(9), 8)),
        (120, le(val(10), 8)),
        (128, le(val(11), 8)),
        (136, le(val(12), 8)),
        (144, le(val(13), 8)),
        (216, le(val(14), 8)),
        (224, le(val(15), 4)),
        (228, vec![0; 4]),
        (232, vec![0xee; 8]),
    ];
    table.extend((0..8).map(|i| (152 + 8 * i, le(val(100 + i as u64), 8))));
    for (off, bytes) in table {
        assert_eq!(b[off..off + bytes.len()], bytes[..], "sb offset {off}");
    }
    assert_eq!(Sb::decode(&b).unwrap(), sb);
    let offs = [
        Sb::OFF_CSUM,
        Sb::OFF_SB_OFFSET,
        Sb::OFF_NS_START,
        Sb::OFF_VERSION,
        Sb::OFF_MAGIC,
        Sb::OFF_UUID,
        Sb::OFF_PAGE_SIZE,
        Sb::OFF_TOTAL_NS,
        Sb::OFF_THIS_NS,
        Sb::OFF_SET_UUID,
        Sb::OFF_FLAGS,
        Sb::OFF_SEQ,
        Sb::OFF_FEATURE_COMPAT,
        Sb::OFF_FEATURE_INCOMPAT,
        Sb::OFF_FEATURE_RO_COMPAT,
        Sb::OFF_PAGES_OFFSET,
        Sb::OFF_PAGES_TOTAL,
        Sb::OFF_PAD,
        Sb::OFF_SET_HEADER_OFFSET,
        Sb::OFF_KEYS,
        Sb::OFF_D,
    ];
    let spec = [
        0, 8, 16, 24, 32, 48, 64, 68, 72, 80, 96, 104, 112, 120, 128, 136, 144, 152, 216, 224, 232,
    ];
    assert_eq!(offs, spec);
}

#[test]
fn sb_csum_covers_8_to_232_plus_keys() {
    let mut b = vec![0u8; 4096];
    let sb = Sb::formatted([1; 16], [2; 16], 1, 0, 5000);
    let csum = sb.encode_sealed(&mut b).unwrap();
    assert_eq!(csum, bch_crc64(&b[8..232]));
    assert_eq!(u64::from_le_bytes(b[0..8].try_into().unwrap()), csum);
    // Bytes past the covered range do not matter; d[] counts once keys says so.
    b[232] = 0x55;
    assert_eq!(Sb::compute_csum(&b).unwrap(), csum);
    b[224] = 2;
    assert_eq!(Sb::compute_csum(&b).unwrap(), bch_crc64(&b[8..248]));
    // keys beyond the sb page is an error, not a panic or a huge read.
    b[224..228].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Sb::compute_csum(&b),
        Err(FormatError::TooLarge {
            field: Field::SbKeys,
            ..
        })
    ));
    assert!(matches!(
        Sb::compute_csum(&b[..100]),
        Err(FormatError::Truncated { .. })
    ));
}

#[test]
fn set_header_and_head_layout() {
    let header = SetHeader {
        size: 0x1111_2222,
        used: 0x3333_4444,
        pad: [val(1), val(2), val(3), val(4)],
    };
    let mut b = vec![0; 40];
    header.encode(&mut b).unwrap();
    assert_eq!(b[0..4], le(0x1111_2222, 4)[..]);
    assert_eq!(b[4..8], le(0x3333_4444, 4)[..]);
    (0..4).for_each(|i| assert_eq!(b[8 + 8 * i..16 + 8 * i], le(val(1 + i as u64), 8)[..]));
    assert_eq!(SetHeader::decode(&b).unwrap(), header);
    assert_eq!(
        (
            SetHeader::OFF_SIZE,
            SetHeader::OFF_USED,
            SetHeader::OFF_PAD,
            SetHeader::OFF_HEADS
        ),
        (0, 4, 8, 40)
    );
    assert_eq!(SetHeader::head_off(0), Some(40));
    assert_eq!(SetHeader::head_off(66), Some(40 + 66 * 120));
    assert_eq!(SetHeader::head_off(67), None);
    assert_eq!(
        SetHeader::head_nvmpg_offset(1),
        Some(NvmpgOffset(8192 + 40 + 120))
    );

    let mut recs_offset = [NvmpgOffset::NONE; 8];
    recs_offset
        .iter_mut()
        .enumerate()
        .for_each(|(i, r)| *r = NvmpgOffset(val(10 + i as u64)));
    let head = Head {
        uuid: [0xb1; 16],
        label: [0xb2; 32],
        state: 0x5555_6666,
        flags: 0x7777_8888,
        recs_offset,
    };
    let mut b = vec![0; 120];
    head.encode(&mut b).unwrap();
    assert_eq!(b[0..16], [0xb1; 16]);
    assert_eq!(b[16..48], [0xb2; 32]);
    assert_eq!(b[48..52], le(0x5555_6666, 4)[..]);
    assert_eq!(b[52..56], le(0x7777_8888, 4)[..]);
    (0..8).for_each(|i| assert_eq!(b[56 + 8 * i..64 + 8 * i], le(val(10 + i as u64), 8)[..]));
    assert_eq!(Head::decode(&b).unwrap(), head);
    assert_eq!(
        (
            Head::OFF_UUID,
            Head::OFF_LABEL,
            Head::OFF_STATE,
            Head::OFF_FLAGS,
            Head::OFF_RECS_OFFSET
        ),
        (0, 16, 48, 52, 56)
    );
}

#[test]
fn recs_layout() {
    let recs = RecsHeader {
        head_offset: NvmpgOffset(val(1)),
        next_offset: NvmpgOffset(val(2)),
        magic: [0xc1; 16],
        uuid: [0xc2; 16],
        size: 0x1234_5678,
        used: 0x9abc_def0,
        pad: [val(3), val(4), val(5), val(6)],
    };
    let mut b = vec![0; 88];
    recs.encode(&mut b).unwrap();
    assert_eq!(b[0..8], le(val(1), 8)[..]);
    assert_eq!(b[8..16], le(val(2), 8)[..]);
    assert_eq!(b[16..32], [0xc1; 16]);
    assert_eq!(b[32..48], [0xc2; 16]);
    assert_eq!(b[48..52], le(0x1234_5678, 4)[..]);
    assert_eq!(b[52..56], le(0x9abc_def0, 4)[..]);
    (0..4).for_each(|i| assert_eq!(b[56 + 8 * i..64 + 8 * i], le(val(3 + i as u64), 8)[..]));
    assert_eq!(RecsHeader::decode(&b).unwrap(), recs);
    let offs = [
        RecsHeader::OFF_HEAD_OFFSET,
        RecsHeader::OFF_NEXT_OFFSET,
        RecsHeader::OFF_MAGIC,
        RecsHeader::OFF_UUID,
        RecsHeader::OFF_SIZE,
        RecsHeader::OFF_USED,
        RecsHeader::OFF_PAD,
        RecsHeader::OFF_RECS,
    ];
    assert_eq!(offs, [0, 8, 16, 32, 48, 52, 56, 88]);
    assert_eq!(RecsHeader::rec_off(0), Some(88));
    assert_eq!(RecsHeader::rec_off(1012), Some(8192 - 8));
    assert_eq!(RecsHeader::rec_off(1013), None);
    assert_eq!(RecsHeader::block_offset(0), Some(16384));
    assert_eq!(
        RecsHeader::block_offset(2045),
        Some(16 * 1024 * 1024 - 8192)
    );
    assert_eq!(RecsHeader::block_offset(2046), None);
}

#[test]
fn rec_bitfields() {
    let rec = Rec::new(0x000A_BCDE_F012_3456, 19, 7).unwrap();
    assert_eq!(rec.0, 0x000A_BCDE_F012_3456 | 19 << 52 | 7 << 58);
    assert_eq!(
        (rec.pgoff(), rec.order(), rec.ns_id(), rec.reserved()),
        (0x000A_BCDE_F012_3456, 19, 7, 0)
    );
    assert_eq!(rec.pages(), 1 << 19);
    assert_eq!(rec.end(), 0x000A_BCDE_F012_3456 + (1 << 19));
    let mut b = [0u8; 8];
    rec.encode(&mut b).unwrap();
    assert_eq!(b, rec.0.to_le_bytes());
    assert_eq!(Rec::decode(&b).unwrap(), rec);
    assert_eq!(Rec(7 << 61).reserved(), 7);
    assert_eq!(Rec(0x3f << 52).order(), 63);
    assert!(Rec(0x3f << 52).is_empty());
    assert!(Rec::new(0, 0, 0).is_none(), "pgoff 0 marks an empty slot");
    assert!(Rec::new(1 << 52, 0, 0).is_none());
    assert!(Rec::new(1, MAX_ORDER, 0).is_none());
    assert!(Rec::new(1, 0, 8).is_none());
}

#[test]
fn nvmpg_offset_bits() {
    let p = NvmpgOffset::new(5, 0x1234).unwrap();
    assert_eq!(p.0, 5 << 61 | 0x1234);
    assert_eq!((p.ns(), p.offset()), (5, 0x1234));
    assert!(NvmpgOffset::new(8, 0).is_none());
    assert!(NvmpgOffset::new(0, 1 << 61).is_none());
    assert!(NvmpgOffset::NONE.is_none());
    assert_eq!(NvmpgOffset(u64::MAX).ns(), 7);
}

#[test]
fn short_buffers_are_errors_and_untouched() {
    let mut b = vec![0x5a; 231];
    let err = Sb::default().encode(&mut b).unwrap_err();
    assert_eq!(
        err,
        FormatError::Truncated {
            field: Field::Sb,
            offset: 0,
            need: 232,
            have: 231
        }
    );
    assert!(b.iter().all(|&x| x == 0x5a));
    assert!(Sb::decode(&b[..231]).is_err());
    assert!(SetHeader::decode(&b[..39]).is_err());
    assert!(Head::decode(&b[..99]).is_err());
    assert!(RecsHeader::decode(&b[..87]).is_err());
    assert!(Rec::decode(&b[..7]).is_err());
    assert!(RecsHeader::default().encode(&mut b[..87]).is_err());
    assert!(Head::default().encode(&mut b[..119]).is_err());
    assert!(SetHeader::default().encode(&mut b[..39]).is_err());
    assert!(Rec::EMPTY.encode(&mut b[..7]).is_err());
}

#[test]
fn formatted_metadata_matches_the_seed_tool() {
    let mut meta = vec![0u8; 32 << 10];
    let sb = Sb::formatted([3; 16], [4; 16], 1, 0, 8192);
    write_formatted(&mut meta, &sb).unwrap();
    let got = Sb::decode(&meta[4096..]).unwrap();
    assert_eq!(
        (
            got.sb_offset,
            got.pages_offset,
            got.set_header_offset.0,
            got.page_size
        ),
        (4096, START, 8192, 4096)
    );
    assert_eq!(got.csum, bch_crc64(&meta[4096 + 8..4096 + 232]));
    let header = SetHeader::decode(&meta[8192..]).unwrap();
    assert_eq!((header.size, header.used), (67, 1));
    let head = Head::decode(&meta[8192 + 40..]).unwrap();
    assert_eq!(
        (head.uuid, head.state, head.label_bytes()),
        ([4; 16], HEAD_STATE_ALLOC, &b"nvmpg_sys_alloc"[..])
    );
    assert_eq!(head.recs_offset[0], NvmpgOffset(16384));
    assert!(head.recs_offset[1..].iter().all(|r| r.is_none()));
    let recs = RecsHeader::decode(&meta[16384..]).unwrap();
    assert_eq!(recs, RecsHeader::empty(NvmpgOffset(8192 + 40), [4; 16]));
    assert_eq!(
        (recs.size, recs.used, recs.magic, recs.next_offset),
        (1013, 0, RECS_MAGIC, NvmpgOffset::NONE)
    );
    // Other namespaces only get their sb.
    let mut other = vec![0u8; 8192];
    write_formatted(&mut other, &Sb::formatted([5; 16], [4; 16], 2, 1, 8192)).unwrap();
    assert!(other[..4096].iter().all(|&b| b == 0));
    assert!(
        write_formatted(&mut other, &sb).is_err(),
        "namespace 0 needs room for the recs block"
    );
}

#[test]
fn errors_print_field_offset_and_expectation() {
    let e = FormatError::BadMagic {
        field: Field::SbMagic,
        offset: 4128,
    };
    assert_eq!(e.to_string(), "bad sb magic at offset 4128");
    let e = FormatError::BadVersion {
        offset: 4120,
        found: 3,
    };
    assert_eq!(
        e.to_string(),
        "unsupported sb.version at offset 4120: found 3, expected <= 0"
    );
    let e = FormatError::UsedMismatch {
        field: Field::RecsUsed,
        offset: 16436,
        found: 5,
        expected: 2,
    };
    assert_eq!(
        e.to_string(),
        "recs.used mismatch at offset 16436: found 5, expected 2"
    );
}
