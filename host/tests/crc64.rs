//! bcache's crc64 against published check values and an independent bitwise implementation.

use bcache_nvm_core::crc64::{bch_crc64, crc64_be, Crc64, CRC64_ECMA182_POLY};

const CHECK_INPUT: &[u8] = b"123456789";

/// Bit-at-a-time MSB-first CRC over `data`, written from the polynomial-division definition.
fn bitwise(poly: u64, init: u64, xorout: u64, data: &[u8]) -> u64 {
    let mut reg = init;
    for &byte in data {
        for bit in (0..8).rev() {
            let input = u64::from(byte >> bit) & 1;
            let top = reg >> 63;
            reg <<= 1;
            if top ^ input != 0 {
                reg ^= poly;
            }
        }
    }
    reg ^ xorout
}

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[test]
fn ecma182_check_value() {
    // CRC-64/ECMA-182 (non-reflected, init 0, xorout 0), the kernel's crc64_be() from 0.
    assert_eq!(crc64_be(0, CHECK_INPUT), 0x6C40_DF5F_0B49_7347);
    assert_eq!(
        bitwise(CRC64_ECMA182_POLY, 0, 0, CHECK_INPUT),
        0x6C40_DF5F_0B49_7347
    );
}

#[test]
fn bch_crc64_is_crc64_we() {
    // bch_crc64() seeds with ~0 and inverts: CRC-64/WE, whose published check is 0x62EC59E3F1A4F00A.
    assert_eq!(bch_crc64(CHECK_INPUT), 0x62EC_59E3_F1A4_F00A);
    assert_eq!(
        bitwise(CRC64_ECMA182_POLY, !0, !0, CHECK_INPUT),
        0x62EC_59E3_F1A4_F00A
    );
    // Not the reflected CRC-64/XZ (check 0x995DC9BBDF1939FA).
    assert_ne!(bch_crc64(CHECK_INPUT), 0x995D_C9BB_DF19_39FA);
}

#[test]
fn empty_input() {
    assert_eq!(bch_crc64(&[]), 0);
    assert_eq!(crc64_be(0x1234, &[]), 0x1234);
}

#[test]
fn table_first_entries_match_the_kernel_table() {
    // From 0, one byte b yields crc64table[b]: [1] is the polynomial, [2] the polynomial
    // shifted once (its top bit is clear).
    assert_eq!(crc64_be(0, &[1]), 0x42F0_E1EB_A9EA_3693);
    assert_eq!(crc64_be(0, &[2]), 0x85E1_C3D7_53D4_6D26);
}

#[test]
fn table_matches_bitwise_on_many_inputs() {
    for len in [1, 2, 7, 8, 63, 64, 232, 1000, 4096] {
        let data = noise(len, len as u64 + 1);
        for init in [0, !0, 0x0123_4567_89ab_cdef] {
            assert_eq!(
                crc64_be(init, &data),
                bitwise(CRC64_ECMA182_POLY, init, 0, &data),
                "len {len}"
            );
        }
        assert_eq!(
            bch_crc64(&data),
            bitwise(CRC64_ECMA182_POLY, !0, !0, &data),
            "len {len}"
        );
    }
}

#[test]
fn incremental_equals_one_shot_at_every_split() {
    let data = noise(300, 42);
    let whole = bch_crc64(&data);
    for split in 0..=data.len() {
        let (a, b) = data.split_at(split);
        let mut crc = Crc64::new();
        crc.update(a);
        crc.update(b);
        assert_eq!(crc.finish(), whole, "split at {split}");
    }
    let mut bytewise = Crc64::default();
    data.iter()
        .for_each(|b| bytewise.update(core::slice::from_ref(b)));
    assert_eq!(bytewise.finish(), whole);
}

#[test]
fn single_bit_flips_change_the_checksum() {
    let data = noise(64, 7);
    let reference = bch_crc64(&data);
    for bit in 0..data.len() * 8 {
        let mut flipped = data.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_ne!(bch_crc64(&flipped), reference, "bit {bit}");
    }
}
