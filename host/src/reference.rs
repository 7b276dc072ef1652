//! Reference implementations for tests, written from the definitions and independent of the
//! code under test.

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
