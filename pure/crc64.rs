//! bcache's crc64: the checksum of every bcache superblock, jset and nvm-pages superblock.
//!
//! The polynomial is ECMA-182 (`0x42F0E1EBA9EA3693`), processed MSB-first exactly like the
//! kernel's `crc64_be()` (lib/crc64.c, no reflection). bcache's `bch_crc64()` (util.h) seeds the
//! register with all ones and inverts the result, which makes it the CRC-64/WE variant.
//! The 256-entry table is computed at compile time.

/// The ECMA-182 generator polynomial, MSB-first (the kernel's `CRC64_ECMA182_POLY`).
pub const CRC64_ECMA182_POLY: u64 = 0x42F0_E1EB_A9EA_3693;

/// Initial register value and final xor of [`bch_crc64`].
const BCH_CRC64_INIT: u64 = !0;

/// Builds the MSB-first lookup table of `poly`: entry `i` is the remainder of `i << 56`.
const fn make_table(poly: u64) -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u64) << 56;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & (1 << 63) != 0 {
                (crc << 1) ^ poly
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// Lookup table of [`CRC64_ECMA182_POLY`] (the kernel's generated `crc64table`).
static TABLE: [u64; 256] = make_table(CRC64_ECMA182_POLY);

/// Feeds `data` into the raw register `crc`: the kernel's `crc64_be()`, no seed, no final xor.
pub fn crc64_be(mut crc: u64, data: &[u8]) -> u64 {
    for &byte in data {
        let index = ((crc >> 56) as u8 ^ byte) as usize;
        crc = TABLE[index] ^ (crc << 8);
    }
    crc
}

/// bcache's `bch_crc64()` of one contiguous buffer.
pub fn bch_crc64(data: &[u8]) -> u64 {
    let mut crc = Crc64::new();
    crc.update(data);
    crc.finish()
}

/// Incremental [`bch_crc64`]: feeding the pieces of a buffer in order gives the checksum of
/// the whole buffer, so a checksum never needs the checksummed bytes in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc64 {
    reg: u64,
}

impl Crc64 {
    /// A checksum of no bytes yet.
    pub const fn new() -> Self {
        Self {
            reg: BCH_CRC64_INIT,
        }
    }

    /// Feeds the next piece of the checksummed bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.reg = crc64_be(self.reg, data);
    }

    /// The checksum of every byte fed so far (feeding may continue afterwards).
    pub const fn finish(&self) -> u64 {
        self.reg ^ BCH_CRC64_INIT
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}
