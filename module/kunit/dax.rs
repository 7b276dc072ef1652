// SPDX-License-Identifier: GPL-2.0

//! `DaxNamespace` over the guest's real fsdax namespace (`/dev/pmem0`).

use crate::pure::media::Media;
use crate::wrappers::dax::DaxNamespace;
use crate::wrappers::kunit::Test;
use kernel::{c_str, error::code::*};

fn open_pmem0(t: &Test<'_>) -> Option<DaxNamespace> {
    match DaxNamespace::open(c_str!("/dev/pmem0")) {
        Ok(ns) => Some(ns),
        Err(e) => {
            t.fail(format_args!("open /dev/pmem0: {:?}", e));
            None
        }
    }
}

/// Maps the whole namespace; persistent copies read back, also across the last page.
fn dax_store_read_back(t: &Test<'_>) {
    let Some(mut ns) = open_pmem0(t) else { return };
    let len = ns.len();
    t.check(
        len >= 16 << 20 && len % 4096 == 0,
        "a page-aligned namespace of 16 MiB or more",
    );
    t.check(ns.extent_count() >= 1, "at least one mapped extent");
    let mut pat = [0u8; 300];
    for (i, b) in pat.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    for &off in &[16u64 << 20, len - 4096 - 100, len - 300] {
        t.check(
            ns.store_flush(off, &pat).is_ok(),
            "store_flush inside the namespace",
        );
        ns.fence();
        let mut back = [0u8; 300];
        t.check(ns.read(off, &mut back).is_ok(), "read inside the namespace");
        t.check(back == pat, "read back what was stored");
        t.check(
            ns.store(off, &[0u8; 8]).is_ok() && ns.flush(off, 8).is_ok(),
            "plain store",
        );
    }
    t.check(
        ns.store_flush(len - 100, &pat).is_err(),
        "a store past the end is refused",
    );
    t.check(
        ns.read(u64::MAX - 10, &mut [0u8; 16]).is_err(),
        "an overflowing read is refused",
    );
}

/// The device is held exclusively; a missing or non-DAX device gives a clear errno.
fn dax_open_errors(t: &Test<'_>) {
    let Some(ns) = open_pmem0(t) else { return };
    let again = DaxNamespace::open(c_str!("/dev/pmem0"));
    t.check_eq(
        again.err().map(|e| e.errno),
        Some(EBUSY),
        "second open while held",
    );
    drop(ns);
    t.check(
        DaxNamespace::open(c_str!("/dev/pmem0")).is_ok(),
        "open again after release",
    );
    t.check_eq(
        DaxNamespace::open(c_str!("/dev/nonexistent"))
            .err()
            .map(|e| e.errno),
        Some(ENOENT),
        "no such device",
    );
    let not_dax = DaxNamespace::open(c_str!("/dev/vda")).err();
    t.check_eq(
        not_dax.map(|e| e.errno),
        Some(crate::errno::eopnotsupp()),
        "not DAX-capable",
    );
    t.check(
        not_dax.is_some_and(|e| e.why.starts_with("not DAX-capable")),
        "and says so",
    );
}

crate::kunit_case!(bch_nvm_kunit_dax_store_read_back, dax_store_read_back);
crate::kunit_case!(bch_nvm_kunit_dax_open_errors, dax_open_errors);
