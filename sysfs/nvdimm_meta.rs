// SPDX-License-Identifier: GPL-2.0

//! `/sys/fs/bcache/{register_nvdimm_meta, unregister_nvdimm_meta, nvdimm_meta, journal_latency}`.
//!
//! The attributes are listed in super.c (hook patch 0002); these are their handlers. A user
//! writes a namespace's device path (`echo /dev/pmem0 > register_nvdimm_meta`); errors come
//! back as the write's errno and one dmesg line naming the device and the reason.

use crate::nvmpg::format::NS_MAX;
use crate::nvmpg::registry::{Registry, Set, Uuid};
use core::ffi::{c_char, c_void};
use core::fmt::{self, Write};
use kernel::{error::code::*, prelude::*, str::CString};

/// Longest accepted path (as `PATH_MAX`, without the NUL).
const PATH_MAX: usize = kernel::bindings::PATH_MAX as usize - 1;

/// The path written to a store handler: trimmed of surrounding whitespace, NUL-terminated.
fn parse_path(buf: *const c_char, size: usize, node: &str) -> Result<CString> {
    // SAFETY: kernfs hands store handlers a buffer of `size` readable bytes.
    let raw = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), size) };
    let path = raw.trim_ascii();
    if path.is_empty() || path.len() > PATH_MAX || path.contains(&0) {
        pr_err!("{}: expected a device path, got {} bytes\n", node, path.len());
        return Err(EINVAL);
    }
    let mut v = KVec::with_capacity(path.len() + 1, GFP_KERNEL)?;
    v.extend_from_slice(path, GFP_KERNEL)?;
    v.push(0, GFP_KERNEL)?;
    let s = kernel::str::CStr::from_bytes_with_nul(&v).map_err(|_| EINVAL)?;
    CString::try_from_fmt(format_args!("{}", s))
}

fn to_ssize(r: Result<usize>) -> isize {
    match r {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

fn register(buf: *const c_char, size: usize) -> Result<usize> {
    // `Set::register` logs every failure with the device and the reason.
    Set::register(parse_path(buf, size, "register_nvdimm_meta")?)?;
    Ok(size)
}

fn unregister(buf: *const c_char, size: usize) -> Result<usize> {
    let path = parse_path(buf, size, "unregister_nvdimm_meta")?;
    let old = Registry::with(|set| set.unregister(&path))??;
    // The devices are released here, outside the lock.
    drop(old);
    pr_info!("nvm-pages: {}: set unregistered\n", &*path);
    Ok(size)
}

/// Writes into the sysfs page, dropping what does not fit.
struct Page<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for Page<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len().saturating_sub(self.len);
        let n = s.len().min(room);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..self.len + n), s.as_bytes().get(..n)) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        if n < s.len() { Err(fmt::Error) } else { Ok(()) }
    }
}

fn show_set(set: &Set, out: &mut Page<'_>) -> fmt::Result {
    for id in 0..NS_MAX as u8 {
        let (Some(Some(path)), Some(b), Some(uuid)) =
            (set.paths.get(usize::from(id)), set.alloc.buddy(id), set.alloc.namespace_uuid(id))
        else {
            continue;
        };
        writeln!(
            out,
            "ns {} path {} uuid {} pages {} free {}",
            id,
            &**path,
            Uuid(&uuid),
            b.end() - b.start(),
            b.free_pages()
        )?;
    }
    let lists = set.alloc.lists();
    for h in 0..lists.heads_used() {
        let Some(owner) = lists.head_uuid(h) else { continue };
        let mut pages = 0u64;
        let _ = set.alloc.get_head(&owner, |_, order| pages += 1u64 << order);
        writeln!(out, "owner {} head {} pages {}", Uuid(&owner), h, pages)?;
    }
    Ok(())
}

/// `register_nvdimm_meta` store handler.
#[no_mangle]
extern "C" fn bch_nvmpg_sysfs_register(
    _k: *mut c_void,
    _attr: *mut c_void,
    buf: *const c_char,
    size: usize,
) -> isize {
    to_ssize(register(buf, size))
}

/// `unregister_nvdimm_meta` store handler.
#[no_mangle]
extern "C" fn bch_nvmpg_sysfs_unregister(
    _k: *mut c_void,
    _attr: *mut c_void,
    buf: *const c_char,
    size: usize,
) -> isize {
    to_ssize(unregister(buf, size))
}

/// `nvdimm_meta` show handler: one line per registered namespace, then one per owner.
#[no_mangle]
extern "C" fn bch_nvmpg_sysfs_show(_k: *mut c_void, _attr: *mut c_void, buf: *mut c_char) -> isize {
    // SAFETY: kernfs hands show handlers a zeroed buffer of PAGE_SIZE bytes.
    let page = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), kernel::page::PAGE_SIZE) };
    let mut out = Page { buf: page, len: 0 };
    // A listing cut at the page end is still useful; the lock is all that can fail.
    let r = Registry::with(|set| {
        let _ = show_set(set, &mut out);
    });
    to_ssize(r.map(|()| out.len))
}

/// `journal_latency` show handler: the journal write latency histogram.
#[no_mangle]
extern "C" fn bch_nvm_sysfs_journal_latency(
    _k: *mut c_void,
    _attr: *mut c_void,
    buf: *mut c_char,
) -> isize {
    // SAFETY: kernfs hands show handlers a zeroed buffer of PAGE_SIZE bytes.
    let page = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), kernel::page::PAGE_SIZE) };
    let mut out = Page { buf: page, len: 0 };
    let _ = crate::journal::hooks::LATENCY.report(&mut out);
    out.len as isize
}
