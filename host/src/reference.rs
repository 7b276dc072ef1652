//! Reference implementations for tests, written from the definitions and independent of the
//! code under test: bcache's crc64 bit by bit, and jsets built by poking fields at their C
//! offsets.

use std::vec;
use std::vec::Vec;

/// bcache's `bch_crc64` from the polynomial-division definition: ECMA-182, MSB first,
/// initial value and final xor all ones. Slow and obviously right.
pub fn bitwise_crc64(data: &[u8]) -> u64 {
    let mut reg = !0u64;
    for &byte in data {
        for bit in (0..8).rev() {
            let top = (reg >> 63) ^ u64::from(byte >> bit) & 1;
            reg <<= 1;
            if top != 0 {
                reg ^= 0x42F0_E1EB_A9EA_3693;
            }
        }
    }
    !reg
}

/// `JSET_MAGIC` from bcache_ondisk.h.
pub const JSET_MAGIC_C: u64 = 0x245235c1a3625032;

/// A sealed jset as journal_write_unlocked builds it: `keys` u64 of key data derived from
/// `seq`, block-rounded with zero padding.
pub fn build_jset(set_magic: u64, seq: u64, last_seq: u64, keys: u32, block: usize) -> Vec<u8> {
    let bytes = 240 + keys as usize * 8;
    let mut j = vec![0u8; bytes.div_ceil(block) * block];
    j[8..16].copy_from_slice(&(set_magic ^ JSET_MAGIC_C).to_le_bytes());
    j[16..24].copy_from_slice(&seq.to_le_bytes());
    j[24..28].copy_from_slice(&1u32.to_le_bytes());
    j[28..32].copy_from_slice(&keys.to_le_bytes());
    j[32..40].copy_from_slice(&last_seq.to_le_bytes());
    for w in 0..8 {
        j[40 + w * 8..48 + w * 8].copy_from_slice(&(seq * 100 + w as u64).to_le_bytes());
        j[104 + w * 8..112 + w * 8].copy_from_slice(&(seq * 1000 + w as u64).to_le_bytes());
        j[176 + w * 8..184 + w * 8].copy_from_slice(&(seq << 8 | w as u64).to_le_bytes());
    }
    j[168..170].copy_from_slice(&((seq % 4) as u16).to_le_bytes());
    for k in 0..keys as usize {
        let v = seq.rotate_left(17) ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        j[240 + k * 8..248 + k * 8].copy_from_slice(&v.to_le_bytes());
    }
    let csum = bitwise_crc64(&j[8..bytes]);
    j[0..8].copy_from_slice(&csum.to_le_bytes());
    j
}
