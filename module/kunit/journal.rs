// SPDX-License-Identifier: GPL-2.0

//! The journal's C entry points (`module/journal/hooks.rs`) over the real namespace, called the way
//! the hooks in super.c and journal.c call them.

use crate::journal::hooks::*;
use crate::pure::journal::geometry::Geometry;
use crate::pure::journal::jset::{jset_magic, seal, JsetHeader, JSET_VERSION};
use crate::pure::journal::scan::read_bucket;
use crate::pure::nvmpg::error::Error as AllocError;
use crate::registry::{MetaSet, Registry};
use crate::wrappers::kunit::Test;
use core::ptr::null_mut;
use kernel::ffi::c_void;
use kernel::{error::code::*, prelude::*, str::CString};

const SET: [u8; 16] = *b"kunit-cache-set.";
const OTHER: [u8; 16] = *b"kunit-no-such-cs";
const BUCKET_SECTORS: u32 = 256;
const FIRST_BUCKET: u16 = 1;
const SET_MAGIC: u64 = 0x005e_ed0f_cac4_e5e7;

fn pmem0() -> Result<CString> {
    CString::try_from_fmt(format_args!("/dev/pmem0"))
}

/// A sealed jset of `seq` with no keys, padded to one 512-byte block.
fn jset(seq: u64) -> Option<[u8; 512]> {
    let mut buf = [0u8; 512];
    let h = JsetHeader {
        magic: jset_magic(SET_MAGIC),
        seq,
        version: JSET_VERSION,
        last_seq: 1,
        ..Default::default()
    };
    h.encode(&mut buf).ok()?;
    seal(&mut buf).ok()?;
    Some(buf)
}

/// Create (new cache set) -> write through prepare/commit -> read back -> detach -> the sb
/// check and attach find the same range -> the jset is still there.
fn journal_create_write_attach(t: &Test<'_>) {
    let Ok(path) = pmem0() else { return };
    if !t.check(MetaSet::register(path).is_ok(), "register /dev/pmem0") {
        return;
    }
    let (mut keys, mut d, mut w) = (37u16, [0u64; 256], null_mut::<c_void>());
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe {
        bch_nvm_journal_create(
            SET.as_ptr(),
            BUCKET_SECTORS,
            FIRST_BUCKET,
            &mut keys,
            d.as_mut_ptr(),
            &mut w,
        )
    };
    t.check_eq(rc, 0, "create");
    // As run_cache_set() once the new set's superblock is written.
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    unsafe { bch_nvm_journal_started(w) };
    t.check_eq(keys, 32, "keys rounded down to a power of two");
    t.check(!w.is_null(), "a window");
    let bucket = 128 * 1024u64;
    t.check(
        d[1] == d[0] + bucket && d[31] == d[0] + 31 * bucket && d[0] % 4096 == 0,
        "d[] consecutive",
    );
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc =
        unsafe { bch_nvm_sb_check(SET.as_ptr(), BUCKET_SECTORS, FIRST_BUCKET, keys, d.as_ptr()) };
    t.check(rc.is_null(), "sb check passes");
    let unregister = || Registry::with(|s| s.unregister(kernel::c_str!("/dev/pmem0")).map(drop));
    t.check_eq(
        unregister(),
        Ok(Err(EBUSY)),
        "the running journal pins the set",
    );

    // Bucket 3, 8 sectors in: the journal key's offset on the cache device's reserved bucket.
    let Some(j) = jset(7) else { return };
    let ptr = u64::from(FIRST_BUCKET + 3) * u64::from(BUCKET_SECTORS) + 8;
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe { bch_nvm_journal_prepare(w, 3, ptr, j.as_ptr().cast(), j.len()) };
    t.check_eq(rc, 0, "prepare");
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe { bch_nvm_journal_commit(w, 0) };
    t.check_eq(rc, 0, "commit stores the jset");
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe { bch_nvm_journal_commit(w, 0) };
    t.check_eq(
        rc,
        EIO.to_errno(),
        "a commit with nothing stored is an error",
    );
    let mut back = [0u8; 512];
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe { bch_nvm_journal_read(w, 3, 8, back.as_mut_ptr().cast(), back.len()) };
    t.check_eq(rc, 0, "read");
    t.check(back == j, "the jset read back is the one written");
    // A failed flush: the jset must not be stored.
    let Some(j2) = jset(8) else { return };
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe { bch_nvm_journal_prepare(w, 3, ptr + 1, j2.as_ptr().cast(), j2.len()) };
    t.check_eq(rc, 0, "prepare 2");
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe { bch_nvm_journal_commit(w, EIO.to_errno()) };
    t.check_eq(rc, 0, "a failed flush is reported by bcache, not again");
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe { bch_nvm_journal_read(w, 3, 9, back.as_mut_ptr().cast(), back.len()) };
    t.check_eq(rc, 0, "read 2");
    t.check(
        back.iter().all(|&b| b == 0),
        "nothing stored after a failed flush",
    );
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe { bch_nvm_journal_prepare(w, 3, ptr - 9, j.as_ptr().cast(), j.len()) };
    t.check(rc != 0, "refuses a write before its bucket");
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe { bch_nvm_journal_prepare(w, 32, ptr, j.as_ptr().cast(), j.len()) };
    t.check(rc != 0, "refuses bucket 32 of 32");
    // The scan (replay's rules) finds the jset on the namespace itself.
    let found = Registry::with(|s| {
        let (Some(ns), Ok(geo)) = (s.alloc.media(0), Geometry::new(bucket, 512)) else {
            return None;
        };
        let mut seqs = KVec::new();
        let end = read_bucket(
            ns,
            (d[3] & ((1 << 61) - 1)) + 4096,
            &geo,
            jset_magic(SET_MAGIC),
            |f| {
                let _ = seqs.push(f.seq, GFP_KERNEL);
                Ok(())
            },
        );
        Some((end.is_ok(), seqs))
    });
    t.check(
        matches!(&found, Ok(Some((true, s))) if s.as_slice() == [7]),
        "the scan finds seq 7",
    );

    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    unsafe { bch_nvm_journal_detach(&mut w) };
    t.check(w.is_null(), "detach clears the window");
    let wrong = [d[0] + 4096; 1];
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe {
        bch_nvm_sb_check(
            SET.as_ptr(),
            BUCKET_SECTORS,
            FIRST_BUCKET,
            1,
            wrong.as_ptr(),
        )
    };
    t.check(!rc.is_null(), "wrong d[] refused");
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe {
        bch_nvm_sb_check(
            OTHER.as_ptr(),
            BUCKET_SECTORS,
            FIRST_BUCKET,
            keys,
            d.as_ptr(),
        )
    };
    t.check(!rc.is_null(), "another set's uuid refused");
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe {
        bch_nvm_journal_attach(
            OTHER.as_ptr(),
            BUCKET_SECTORS,
            FIRST_BUCKET,
            keys,
            d.as_ptr(),
            &mut w,
        )
    };
    t.check(rc != 0 && w.is_null(), "attach refuses another owner");
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe {
        bch_nvm_journal_attach(
            SET.as_ptr(),
            BUCKET_SECTORS,
            FIRST_BUCKET,
            keys,
            d.as_ptr(),
            &mut w,
        )
    };
    t.check_eq(rc, 0, "attach");
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe { bch_nvm_journal_read(w, 3, 8, back.as_mut_ptr().cast(), back.len()) };
    t.check_eq(rc, 0, "read after attach");
    t.check(back == j, "the jset survived detach and attach");
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    unsafe { bch_nvm_journal_detach(&mut w) };

    // A new set that never gets to write its superblock gives its range back on detach.
    let (mut keys2, mut d2, mut w2) = (32u16, [0u64; 256], null_mut::<c_void>());
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    let rc = unsafe {
        bch_nvm_journal_create(
            OTHER.as_ptr(),
            BUCKET_SECTORS,
            FIRST_BUCKET,
            &mut keys2,
            d2.as_mut_ptr(),
            &mut w2,
        )
    };
    t.check_eq(rc, 0, "create for a set that will not start");
    let holds = |u: &[u8; 16]| Registry::with(|s| s.alloc.get_head(u, |_, _| {}));
    t.check_eq(holds(&OTHER), Ok(Ok(1)), "it holds its range meanwhile");
    // SAFETY: the uuids, d[], keys and buffers are live locals of the sizes C passes; `w`
    // is null or the window create/attach handed out, used by this case only.
    unsafe { bch_nvm_journal_detach(&mut w2) };
    t.check_eq(
        holds(&OTHER),
        Ok(Err(AllocError::NotFound)),
        "range and head freed on detach",
    );
    t.check_eq(holds(&SET), Ok(Ok(1)), "the started set keeps its range");

    // Leave the namespace as found: release the owner, then the set.
    let released = Registry::with(|s| s.release(&SET));
    t.check_eq(
        released,
        Ok(Ok(1 << 10)),
        "release frees the journal range (32 x 128 KiB)",
    );
    t.check_eq(
        holds(&SET),
        Ok(Err(AllocError::NotFound)),
        "released owner holds nothing",
    );
    t.check_eq(unregister(), Ok(Ok(())), "unregister once detached");
}

crate::kunit_case!(
    bch_nvm_kunit_journal_create_write_attach,
    journal_create_write_attach
);
