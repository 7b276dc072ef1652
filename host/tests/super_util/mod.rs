//! Helpers of the superblock tests: a cache superblock as bcache-tools' make-bcache writes it,
//! built at the C offsets independently of the code under test. Needs `mod journal_util;`
//! beside it for the bitwise crc.
#![allow(dead_code)]

use crate::journal_util::bitwise_crc64 as crc;

/// bcache_magic[] of super.c.
pub const MAGIC: [u8; 16] = [
    0xc6, 0x85, 0x73, 0xf6, 0x4e, 0x1a, 0x45, 0xca, 0x82, 0x65, 0xf5, 0x7f, 0x48, 0xba, 0x6d, 0x81,
];

pub const SET_UUID: [u8; 16] = *b"cache-set-uuid-1";

/// A 4 KiB cache superblock (version 3, CDEV_WITH_UUID): `bucket` sectors per bucket,
/// `keys` journal buckets at `d[i] = first_bucket + i`, csum over `[8, 208 + keys * 8)`.
pub fn make_cache_sb(bucket: u16, keys: u16, nbuckets: u64) -> Vec<u8> {
    let mut s = vec![0u8; 4096];
    s[8..16].copy_from_slice(&8u64.to_le_bytes());
    s[16..24].copy_from_slice(&3u64.to_le_bytes());
    s[24..40].copy_from_slice(&MAGIC);
    s[40..56].copy_from_slice(b"device-uuid-0001");
    s[56..72].copy_from_slice(&SET_UUID);
    s[72..77].copy_from_slice(b"label");
    s[104..112].copy_from_slice(&1u64.to_le_bytes()); // CACHE_SYNC
    s[112..120].copy_from_slice(&7u64.to_le_bytes());
    s[184..192].copy_from_slice(&nbuckets.to_le_bytes());
    s[192..194].copy_from_slice(&1u16.to_le_bytes());
    s[194..196].copy_from_slice(&bucket.to_le_bytes());
    s[196..198].copy_from_slice(&1u16.to_le_bytes());
    let first_bucket = 23 / bucket + 1;
    s[204..206].copy_from_slice(&first_bucket.to_le_bytes());
    s[206..208].copy_from_slice(&keys.to_le_bytes());
    for i in 0..keys as usize {
        let d = u64::from(first_bucket) + i as u64;
        s[208 + i * 8..216 + i * 8].copy_from_slice(&d.to_le_bytes());
    }
    reseal(&mut s);
    s
}

/// Recomputes the csum of `s` independently.
pub fn reseal(s: &mut [u8]) {
    let keys = u16::from_le_bytes([s[206], s[207]]) as usize;
    let c = crc(&s[8..208 + keys * 8]);
    s[0..8].copy_from_slice(&c.to_le_bytes());
}
