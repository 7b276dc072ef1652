// SPDX-License-Identifier: GPL-2.0

//! Our `bch_crc64` against the kernel's `crc64_be`, on the same buffers.

use crate::pure::crc64;
use crate::wrappers::kunit::Test;
use kernel::prelude::*;

extern "C" {
    // lib/crc64.c: u64 crc64_be(u64 crc, const void *p, size_t len);
    #[link_name = "crc64_be"]
    fn kernel_crc64_be(crc: u64, p: *const kernel::ffi::c_void, len: usize) -> u64;
}

/// bcache's rule (util.h `bch_crc64`), computed with the kernel's table code.
fn kernel_bch_crc64(data: &[u8]) -> u64 {
    // SAFETY: `data` is a valid slice for its whole length; crc64_be only reads it.
    !unsafe { kernel_crc64_be(!0, data.as_ptr().cast(), data.len()) }
}

fn crc64_matches_kernel(t: &Test<'_>) {
    let Ok(mut buf) = KVec::from_elem(0u8, 9000, GFP_KERNEL) else {
        t.fail(format_args!("no memory for the test buffer"));
        return;
    };
    // A byte pattern that is not periodic over short strides (xorshift64).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in buf.as_mut_slice() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let all = buf.as_slice();
    // Lengths around table strides, odd offsets, and a jset-sized tail.
    for &(off, len) in &[
        (0, 0),
        (0, 1),
        (3, 7),
        (1, 8),
        (5, 63),
        (0, 4096),
        (7, 4089),
        (0, 9000),
    ] {
        let Some(s) = all.get(off..off + len) else {
            continue;
        };
        if !t.check_eq(
            crc64::bch_crc64(s),
            kernel_bch_crc64(s),
            "bch_crc64 vs kernel",
        ) {
            return;
        }
        // SAFETY: as above.
        let k = unsafe { kernel_crc64_be(0x1234, s.as_ptr().cast(), s.len()) };
        if !t.check_eq(crc64::crc64_be(0x1234, s), k, "crc64_be with a seed") {
            return;
        }
    }
    t.check_eq(
        kernel_bch_crc64(b"123456789"),
        crc64::bch_crc64(b"123456789"),
        "check string",
    );
}

crate::kunit_case!(bch_nvm_kunit_crc64_matches_kernel, crc64_matches_kernel);
