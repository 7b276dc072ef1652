//! Fuzz target: decode and check arbitrary nvm-pages images; nothing may panic, and every
//! decoded structure must survive an encode/decode round trip.
//!
//! Input layout: bytes 0..2 = namespace size in pages past the 16 MiB reserved area (LE u16),
//! byte 2 bit 0 = also pass a second namespace (the same bytes with `this_ns` = 1), the rest is
//! laid over the namespace from its sb (byte 4096) on; everything else reads as zeros.
//!
//! Run (stable toolchain, no sanitizer needed for safe code), from `fuzz/`:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none check corpus/check seeds/check -- -max_len=45000`
//! (`seeds/check` holds formatted images with records and a two-block chain).

#![no_main]

use std::fmt::Write;

use bcache_nvm_core::media::OutOfRange;
use bcache_nvm_core::nvmpg::check::{check, Image, RecordRef};
use bcache_nvm_core::nvmpg::format::{Head, Rec, RecsHeader, Sb, SetHeader, SB_OFFSET, START};
use libfuzzer_sys::fuzz_target;

/// A namespace of `size` bytes holding `data` at [`SB_OFFSET`] and zeros elsewhere.
struct Sparse<'a> {
    data: &'a [u8],
    size: u64,
    this_ns: Option<u8>,
}

impl Image for Sparse<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        let end = off.checked_add(dst.len() as u64).ok_or(OutOfRange)?;
        if end > self.size {
            return Err(OutOfRange);
        }
        for (i, b) in dst.iter_mut().enumerate() {
            let at = off + i as u64;
            *b = match at.checked_sub(SB_OFFSET) {
                Some(rel) if rel == Sb::OFF_THIS_NS as u64 && self.this_ns.is_some() => {
                    self.this_ns.unwrap_or(0)
                }
                Some(rel) => self.data.get(rel as usize).copied().unwrap_or(0),
                None => 0,
            };
        }
        Ok(())
    }
}

macro_rules! round_trip {
    ($ty:ty, $bytes:expr) => {
        if let Ok(v) = <$ty>::decode($bytes) {
            let mut buf = vec![0u8; $bytes.len()];
            v.encode(&mut buf)
                .expect("encode into a buffer decode accepted");
            assert_eq!(<$ty>::decode(&buf).expect("decode what encode wrote"), v);
        }
    };
}

fuzz_target!(|input: &[u8]| {
    let Some((head, data)) = input.split_first_chunk::<3>() else {
        return;
    };
    let size = START + u64::from(u16::from_le_bytes([head[0], head[1]])) * 4096;
    round_trip!(Sb, data);
    round_trip!(SetHeader, data);
    round_trip!(Head, data);
    round_trip!(RecsHeader, data);
    round_trip!(Rec, data);
    let _ = Sb::compute_csum(data);

    let first = Sparse {
        data,
        size,
        this_ns: None,
    };
    let second = Sparse {
        data,
        size,
        this_ns: Some(1),
    };
    let images: Vec<&Sparse<'_>> = if head[2] & 1 != 0 {
        vec![&first, &second]
    } else {
        vec![&first]
    };
    let mut scratch = vec![RecordRef::default(); 4096];
    let mut text = String::new();
    let summary = check(&images, &mut scratch, |p| {
        let _ = writeln!(text, "{}", p.error);
    });
    assert_eq!(summary.problems, text.lines().count());
});
