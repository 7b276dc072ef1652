//! struct jset: offsets pinned to the C definition (gcc offsetof on 6.12's bcache_ondisk.h),
//! encode/decode, the csum rule against an independent crc, jset_magic, block rounding.

mod journal_util;

use bcache_nvm_core::journal::error::JournalError;
use bcache_nvm_core::journal::geometry::Geometry;
use bcache_nvm_core::journal::jset::*;
use journal_util::{bitwise_crc64, build_jset, JSET_MAGIC_C};

#[test]
fn offsets_match_c() {
    let c = [0, 8, 16, 24, 28, 32, 40, 104, 168, 170, 176, 240, 240];
    let ours = [
        JsetHeader::OFF_CSUM,
        JsetHeader::OFF_MAGIC,
        JsetHeader::OFF_SEQ,
        JsetHeader::OFF_VERSION,
        JsetHeader::OFF_KEYS,
        JsetHeader::OFF_LAST_SEQ,
        JsetHeader::OFF_UUID_BUCKET,
        JsetHeader::OFF_BTREE_ROOT,
        JsetHeader::OFF_BTREE_LEVEL,
        JsetHeader::OFF_PAD,
        JsetHeader::OFF_PRIO_BUCKET,
        JsetHeader::OFF_D,
        JsetHeader::SIZE, // sizeof(struct jset)
    ];
    assert_eq!(ours, c);
    assert_eq!(JSET_MAGIC, JSET_MAGIC_C);
    assert_eq!(
        (JSET_VERSION, BKEY_PAD, JSET_BITS, JSET_MAX_BYTES),
        (1, 8, 3, 32768)
    );
    assert_eq!(
        jset_magic(0x0123_4567_89ab_cdef),
        0x0123_4567_89ab_cdef ^ JSET_MAGIC_C
    );
    assert_eq!(JsetHeader::set_bytes(0), 240);
    assert_eq!(
        JsetHeader::set_bytes(u32::MAX),
        240 + 8 * u64::from(u32::MAX)
    );
}

#[test]
fn decode_reads_what_c_wrote() {
    let j = build_jset(0x77, 42, 40, 5, 512);
    let h = JsetHeader::decode(&j).unwrap();
    assert_eq!(h.magic, 0x77 ^ JSET_MAGIC_C);
    assert_eq!((h.seq, h.last_seq, h.version, h.keys), (42, 40, 1, 5));
    assert_eq!(h.uuid_bucket[3], 4203);
    assert_eq!(h.btree_root[7], 42007);
    assert_eq!(h.btree_level, 2);
    assert_eq!(h.prio_bucket[5], 42 << 8 | 5);
    assert_eq!(h.csum, u64::from_le_bytes(j[..8].try_into().unwrap()));
    assert_eq!(h.bytes(), 280);
    assert_eq!(
        JsetHeader::decode(&j[..239]),
        Err(JournalError::Truncated {
            need: 240,
            have: 239
        })
    );
}

#[test]
fn encode_round_trips() {
    let h = JsetHeader {
        csum: 1,
        magic: 2,
        seq: 3,
        version: 4,
        keys: 5,
        last_seq: 6,
        uuid_bucket: [7, 8, 9, 10, 11, 12, 13, 14],
        btree_root: [15; 8],
        btree_level: 16,
        pad: [17, 18, 19],
        prio_bucket: [20, 21, 22, 23, 24, 25, 26, 27],
    };
    let mut buf = [0xeeu8; 300];
    h.encode(&mut buf).unwrap();
    assert_eq!(JsetHeader::decode(&buf), Ok(h));
    assert_eq!(&buf[170..176], &[17, 0, 18, 0, 19, 0]);
    assert!(buf[240..].iter().all(|&b| b == 0xee));
    let mut short = [0u8; 100];
    assert!(h.encode(&mut short).is_err());
    assert_eq!(short, [0u8; 100]);
}

#[test]
fn csum_covers_8_to_end_of_keys() {
    let mut j = build_jset(1, 9, 9, 30, 512);
    let end = 240 + 30 * 8;
    let expect = bitwise_crc64(&j[8..end]);
    assert_eq!(jset_csum(&j), Ok(expect));
    // Padding past the keys is not covered.
    j[end] ^= 0xff;
    assert_eq!(jset_csum(&j), Ok(expect));
    // The header is: flip keys' neighbour `version`.
    j[24] ^= 1;
    assert_ne!(jset_csum(&j), Ok(expect));
    assert_eq!(seal(&mut j), Ok(bitwise_crc64(&j[8..end])));
    assert_eq!(&j[..8], &bitwise_crc64(&j[8..end]).to_le_bytes());
    // A keys count beyond the buffer is a truncation, not a panic.
    j[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(jset_csum(&j), Err(JournalError::Truncated { .. })));
}

#[test]
fn geometry_rounds_to_blocks() {
    let g = Geometry::new(8192, 512).unwrap();
    assert_eq!(g.jset_span(0), 512);
    assert_eq!(g.jset_span(34), 512); // 240 + 272 = 512
    assert_eq!(g.jset_span(35), 1024);
    let g4 = Geometry::new(1 << 20, 4096).unwrap();
    assert_eq!(g4.jset_span(100), 4096);
    for (bucket, block) in [(8192, 256), (8192, 768), (1000, 512), (0, 512), (256, 512)] {
        assert_eq!(
            Geometry::new(bucket, block),
            Err(JournalError::BadGeometry {
                bucket_bytes: bucket,
                block_bytes: block
            })
        );
    }
}
