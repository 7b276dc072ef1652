// SPDX-License-Identifier: GPL-2.0

//! `/sys/fs/bcache/{register_nvdimm_meta, unregister_nvdimm_meta, release_nvdimm_owner,
//! nvdimm_meta, journal_latency}`.
//!
//! The attributes are listed in super.c (hook patches 0002, 0005); these are their handlers. A user
//! writes a namespace's device path (`echo /dev/pmem0 > register_nvdimm_meta`); errors come
//! back as the write's errno and one dmesg line naming the device and the reason.

use crate::pure::nvmpg::format::NS_MAX;
use crate::registry::{parse_uuid, MetaSet, Registry, Uuid};
use core::fmt::{self, Write};
use kernel::ffi::c_char;
use kernel::{
    bindings,
    error::code::*,
    prelude::*,
    str::{BStr, CString},
};

/// Longest accepted path (as `PATH_MAX`, without the NUL).
const PATH_MAX: usize = kernel::bindings::PATH_MAX as usize - 1;

/// `raw` without leading and trailing ASCII whitespace (`<[u8]>::trim_ascii` is newer than
/// the kernel's minimum Rust).
fn trim(raw: &[u8]) -> &[u8] {
    let start = raw
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(raw.len());
    let end = raw
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    raw.get(start..end).unwrap_or(&[])
}

/// The path written to a store handler: trimmed of surrounding whitespace, NUL-terminated,
/// its bytes otherwise kept as written (a path is bytes, not UTF-8).
fn parse_path(raw: &[u8], node: &str) -> Result<CString> {
    let path = trim(raw);
    if path.is_empty() || path.len() > PATH_MAX || path.contains(&0) {
        pr_err!(
            "{}: expected a device path, got {} bytes\n",
            node,
            path.len()
        );
        return Err(EINVAL);
    }
    // Every refusal names the device: the copy can fail too (out of memory).
    copy_path(path).inspect_err(|e| {
        pr_err!(
            "{}: {}: cannot copy the path ({})\n",
            node,
            BStr::from_bytes(path),
            e.to_errno()
        );
    })
}

/// `path` as a NUL-terminated string, byte for byte.
fn copy_path(path: &[u8]) -> Result<CString> {
    let mut v = KVec::with_capacity(path.len() + 1, GFP_KERNEL)?;
    v.extend_from_slice(path, GFP_KERNEL)?;
    v.push(0, GFP_KERNEL)?;
    let s = kernel::str::CStr::from_bytes_with_nul(&v).map_err(|_| EINVAL)?;
    // Byte for byte: formatting a `CStr` would escape non-ASCII bytes as `\xNN`.
    Ok(CString::try_from(s)?)
}

fn to_ssize(r: Result<usize>) -> isize {
    match r {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

fn register(buf: &[u8]) -> Result<usize> {
    // `MetaSet::register` logs every failure with the device and the reason.
    MetaSet::register(parse_path(buf, "register_nvdimm_meta")?)?;
    Ok(buf.len())
}

fn unregister(buf: &[u8]) -> Result<usize> {
    let path = parse_path(buf, "unregister_nvdimm_meta")?;
    let old = Registry::with(|set| set.unregister(&path))??;
    // The devices are released here, outside the lock.
    drop(old);
    pr_info!("nvm-pages: {}: set unregistered\n", &*path);
    Ok(buf.len())
}

fn release(buf: &[u8]) -> Result<usize> {
    let Some(owner) = parse_uuid(trim(buf)) else {
        pr_err!("release_nvdimm_owner: expected a cache set uuid\n");
        return Err(EINVAL);
    };
    Registry::with(|set| set.release(&owner))??;
    Ok(buf.len())
}

/// A sysfs show page being filled; what does not fit is dropped.
struct SysfsPage<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl SysfsPage<'_> {
    /// Bytes still free in the page.
    fn room(&self) -> usize {
        self.buf.len().saturating_sub(self.len)
    }
}

impl Write for SysfsPage<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len().saturating_sub(self.len);
        let n = s.len().min(room);
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.len..self.len + n),
            s.as_bytes().get(..n),
        ) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        if n < s.len() {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

fn show_set(set: &MetaSet, out: &mut SysfsPage<'_>) -> fmt::Result {
    for id in 0..NS_MAX as u8 {
        let (Some(Some(path)), Some(b), Some(uuid)) = (
            set.paths.get(usize::from(id)),
            set.alloc.buddy(id),
            set.alloc.namespace_uuid(id),
        ) else {
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
    // Head 0 is the allocator's own (the set's uuid), not an owner.
    let owners = (1..lists.heads_used()).filter_map(|h| Some((h, lists.head_uuid(h)?)));
    let total = owners.clone().count();
    for (shown, (h, owner)) in owners.enumerate() {
        let (mut pages, mut ranges) = (0u64, 0usize);
        let _ = set.alloc.get_head(&owner, |_, order| {
            pages += 1u64 << order;
            ranges += 1;
        });
        let pins = set.pins(&owner);
        let mut line = LineBuf::default();
        writeln!(
            line,
            "owner {} head {} pages {} ranges {} {}",
            Uuid(&owner),
            h,
            pages,
            ranges,
            if pins > 0 { "in-use" } else { "idle" }
        )?;
        // Keep room for the line saying how many did not fit.
        if out.room() < line.len + MORE_LINE {
            return writeln!(out, "... {} more", total - shown);
        }
        out.write_str(line.as_str())?;
    }
    Ok(())
}

/// Room kept at the end of the `nvdimm_meta` page for "... N more".
const MORE_LINE: usize = 24;

/// One listing line, formatted before it is known to fit.
struct LineBuf {
    buf: [u8; 160],
    len: usize,
}

impl Default for LineBuf {
    fn default() -> Self {
        Self {
            buf: [0; 160],
            len: 0,
        }
    }
}

impl LineBuf {
    fn as_str(&self) -> &str {
        self.buf
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let dst = self
            .buf
            .get_mut(self.len..self.len + s.len())
            .ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

/// The bytes a store handler was given.
///
/// # Safety
///
/// `buf` must point to `size` readable bytes that stay valid for `'a`.
unsafe fn store_buf<'a>(buf: *const c_char, size: usize) -> &'a [u8] {
    // SAFETY: guaranteed by the caller.
    unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), size) }
}

/// The page a show handler fills.
///
/// # Safety
///
/// `buf` must point to `PAGE_SIZE` writable bytes that stay valid for `'a` and are not
/// accessed otherwise meanwhile.
unsafe fn show_page<'a>(buf: *mut c_char) -> SysfsPage<'a> {
    // SAFETY: guaranteed by the caller.
    let page =
        unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), kernel::page::PAGE_SIZE) };
    SysfsPage { buf: page, len: 0 }
}

/// `register_nvdimm_meta` store handler.
///
/// # Safety
///
/// Called by kernfs only, through the attribute's `store`: `buf` holds `size` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_sysfs_register_meta(
    _kobj: *mut bindings::kobject,
    _attr: *mut bindings::kobj_attribute,
    buf: *const c_char,
    size: usize,
) -> isize {
    // SAFETY: guaranteed by the caller.
    to_ssize(register(unsafe { store_buf(buf, size) }))
}

/// `unregister_nvdimm_meta` store handler.
///
/// # Safety
///
/// Called by kernfs only, through the attribute's `store`: `buf` holds `size` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_sysfs_unregister_meta(
    _kobj: *mut bindings::kobject,
    _attr: *mut bindings::kobj_attribute,
    buf: *const c_char,
    size: usize,
) -> isize {
    // SAFETY: guaranteed by the caller.
    to_ssize(unregister(unsafe { store_buf(buf, size) }))
}

/// `release_nvdimm_owner` store handler.
///
/// # Safety
///
/// Called by kernfs only, through the attribute's `store`: `buf` holds `size` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_sysfs_release_owner(
    _kobj: *mut bindings::kobject,
    _attr: *mut bindings::kobj_attribute,
    buf: *const c_char,
    size: usize,
) -> isize {
    // SAFETY: guaranteed by the caller.
    to_ssize(release(unsafe { store_buf(buf, size) }))
}

/// `nvdimm_meta` show handler: one line per registered namespace, then one per owner (its
/// pages, ranges, head and whether a running cache set uses it), cut with "... N more" so
/// that it never fills the page.
///
/// # Safety
///
/// Called by kernfs only, through the attribute's `show`: `buf` is a page of `PAGE_SIZE`
/// writable bytes.
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_sysfs_show_meta(
    _kobj: *mut bindings::kobject,
    _attr: *mut bindings::kobj_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: guaranteed by the caller.
    let mut out = unsafe { show_page(buf) };
    // A listing cut at the page end is still useful; the lock is all that can fail.
    let r = Registry::with(|set| {
        let _ = show_set(set, &mut out);
    });
    to_ssize(r.map(|()| out.len))
}

/// `journal_latency` show handler: the journal write latency histogram.
///
/// # Safety
///
/// Called by kernfs only, through the attribute's `show`: `buf` is a page of `PAGE_SIZE`
/// writable bytes.
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_sysfs_show_journal_latency(
    _kobj: *mut bindings::kobject,
    _attr: *mut bindings::kobj_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: guaranteed by the caller.
    let mut out = unsafe { show_page(buf) };
    let _ = crate::journal::hooks::LATENCY.report(&mut out);
    out.len as isize
}
