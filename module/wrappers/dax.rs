// SPDX-License-Identifier: GPL-2.0

//! An fsdax namespace, opened exclusively by path and DAX-mapped whole.
//!
//! [`DaxNamespace::open`] maps every page of the namespace. `dax_direct_access` may return
//! fewer pages than asked when the namespace is made of more than one mapping range; we then
//! keep asking from where it stopped and remember each piece as an [`Extent`], so the whole
//! namespace is reachable (the seed used the first range only). Pages the pmem driver knows
//! are bad (its badblocks list: `dax_direct_access` refuses any request that touches them
//! with `EHWPOISON`) are found by bisection and kept as unmapped extents: the rest of the
//! namespace is usable, and an access to them fails (`EIO` to users) with a dmesg line naming
//! the namespace bytes. Accesses go through the
//! [`Media`] implementation, piece by piece: plain copies out; plain stores (one 64-bit
//! store for an aligned 8-byte one) written back with `arch_wb_cache_pmem`, or
//! `memcpy_flushcache` for bulk copies; `pmem_wmb` as the fence.

use super::pmem::{self, PmemRange};
use crate::errno::eopnotsupp;
use crate::pure::media::{Media, OutOfRange};
use core::fmt;
use core::ptr::NonNull;
use kernel::error::code::{EBUSY, EINVAL, EIO, ENODEV, ENOENT, ENOMEM, ENOTBLK};
use kernel::ffi::{c_char, c_int, c_long, c_ulong, c_void};
use kernel::types::ScopeGuard;
use kernel::{bindings, error::from_err_ptr, prelude::*, str::CStr};

/// `struct dax_device`, opaque (not in the 6.12 bindings).
#[repr(C)]
pub struct DaxDevice {
    _opaque: [u8; 0],
}

// `bindings::file` holds a zero-sized `lock_class_key` when lockdep is off, which the lint
// calls FFI-unsafe; only pointers to it cross, never the struct.
#[allow(improper_ctypes)]
extern "C" {
    fn bch_nvm_bdev_open_rw(path: *const c_char, holder: *mut c_void) -> *mut bindings::file;
    fn bch_nvm_bdev_nr_bytes(bdev_file: *mut bindings::file) -> u64;
    fn bch_nvm_dax_get(
        bdev_file: *mut bindings::file,
        start_off: *mut u64,
        holder: *mut c_void,
        why: *mut c_int,
    ) -> *mut DaxDevice;
    fn bch_nvm_dax_put(dax_dev: *mut DaxDevice, holder: *mut c_void);
    fn bch_nvm_dax_map(
        dax_dev: *mut DaxDevice,
        pgoff: c_ulong,
        nr_pages: c_long,
        kaddr: *mut *mut c_void,
    ) -> c_long;
}

const PAGE: u64 = bindings::PAGE_SIZE as u64;

/// Why a namespace could not be opened: the errno users get, and the reason for dmesg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenError {
    /// The errno.
    pub errno: Error,
    /// What it means for this device.
    pub why: &'static str,
}

impl OpenError {
    fn new(errno: Error, why: &'static str) -> Self {
        Self { errno, why }
    }

    /// The reason for an errno of the block device open or of `dax_direct_access`.
    fn from_errno(errno: Error) -> Self {
        let why = if errno == ENOENT {
            "no such device"
        } else if errno == EBUSY {
            "device busy (held by someone else)"
        } else if errno == ENOTBLK {
            "not a block device"
        } else {
            "cannot open or map"
        };
        Self { errno, why }
    }
}

impl From<Error> for OpenError {
    fn from(e: Error) -> Self {
        Self::from_errno(e)
    }
}

impl From<kernel::alloc::AllocError> for OpenError {
    fn from(_: kernel::alloc::AllocError) -> Self {
        Self::new(ENOMEM, "out of memory")
    }
}

impl From<OpenError> for Error {
    fn from(e: OpenError) -> Self {
        e.errno
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.why)
    }
}

/// `bch_nvm_dax_get`'s reasons (module/shims.h).
const DAX_NONE: c_int = 1;
const DAX_UNALIGNED: c_int = 2;
const DAX_HELD: c_int = 3;
const DAX_ASYNC: c_int = 4;

/// One piece of a namespace: linearly mapped, or known bad.
struct Extent {
    /// Byte offset of the piece in the namespace.
    start: u64,
    /// Its length in bytes.
    len: u64,
    /// The mapped bytes (`len` of them); `None` for pages on the driver's badblocks list,
    /// which are never mapped.
    map: Option<PmemRange>,
}

impl Extent {
    /// The mapping, or a logged refusal for a known-bad piece.
    fn mapped(
        map: &mut Option<PmemRange>,
        start: u64,
        len: u64,
    ) -> Result<&mut PmemRange, OutOfRange> {
        map.as_mut().ok_or_else(|| bad_access(start, len))
    }
}

/// Logs an access to known-bad pages and returns the error for it.
fn bad_access(start: u64, len: u64) -> OutOfRange {
    pr_err!(
        "nvm-pages: namespace bytes {:#x}..{:#x} are known bad blocks (poison): access refused\n",
        start,
        start + len
    );
    OutOfRange
}

/// An fsdax block device held exclusively, with its whole DAX range mapped.
///
/// # Invariants
///
/// - `file` is a block device file opened by `bch_nvm_bdev_open_rw` with holder `holder`, and
///   `dax` the DAX device got for it with the same holder; both are released only in `drop`.
/// - `extents` are sorted, contiguous from 0, cover exactly `[0, len)`; each covers
///   `extent.len` bytes at `extent.start`, mapped by `extent.map` (valid while `dax` is held)
///   unless the driver listed them as bad.
pub struct DaxNamespace {
    file: NonNull<bindings::file>,
    dax: NonNull<DaxDevice>,
    extents: KVec<Extent>,
    len: u64,
    // Its address is the exclusive-open holder: unique and stable while we hold the device.
    holder: KBox<u8>,
}

// SAFETY: the file and DAX device references may be used and released from any thread, and
// the mapping is reached only through the `PmemRange`s, which are `Send`.
unsafe impl Send for DaxNamespace {}
// SAFETY: `&self` methods only read the mapping (`PmemRange` is `Sync`) and the sizes.
unsafe impl Sync for DaxNamespace {}

impl DaxNamespace {
    /// Opens the block device at `path` exclusively and maps its whole DAX range.
    ///
    /// Errors, each with its own reason: `ENOENT` (no such device), `EBUSY` (the device or
    /// its DAX device held by someone else), `EOPNOTSUPP` (no fsdax: a raw-mode or non-pmem
    /// device; or DAX that is not synchronous, such as virtio-pmem, where stores are durable
    /// only after a flush request this code does not send), `EINVAL` (not page-aligned), or
    /// what `dax_direct_access` returns.
    pub fn open(path: &CStr) -> Result<Self, OpenError> {
        let mut holder = KBox::new(0u8, GFP_KERNEL)?;
        let holder_ptr: *mut c_void = (&mut *holder as *mut u8).cast();
        // SAFETY: `path` is NUL-terminated; `holder_ptr` stays valid as long as the device
        // is held (it moves into the returned value, which releases the device in `drop`).
        let file = from_err_ptr(unsafe { bch_nvm_bdev_open_rw(path.as_char_ptr(), holder_ptr) })?;
        let file = NonNull::new(file).ok_or(ENODEV)?;
        // Released if we return early; dismissed once `Self` owns the file.
        let file_guard = ScopeGuard::new_with_data(file, release_file);
        // SAFETY: `file` is an open block device file.
        let len = unsafe { bch_nvm_bdev_nr_bytes(file.as_ptr()) };
        let (mut start_off, mut why) = (0u64, 0);
        // SAFETY: as above; `start_off` and `why` are valid out pointers.
        let dax = unsafe { bch_nvm_dax_get(file.as_ptr(), &mut start_off, holder_ptr, &mut why) };
        let dax = NonNull::new(dax).ok_or_else(|| match why {
            DAX_NONE => OpenError::new(eopnotsupp(), "not DAX-capable (needs an fsdax namespace)"),
            DAX_UNALIGNED => OpenError::new(EINVAL, "namespace size or offset not page-aligned"),
            DAX_HELD => OpenError::new(EBUSY, "DAX device held by another user"),
            DAX_ASYNC => OpenError::new(
                eopnotsupp(),
                "not synchronous DAX (stores would need a flush: virtio-pmem?)",
            ),
            _ => OpenError::new(EIO, "cannot get the DAX device"),
        })?;
        // SAFETY: `dax` was got with `holder_ptr` and is put once, here or in `drop`.
        let dax_guard = ScopeGuard::new_with_data(dax, |d| unsafe { release_dax(d, holder_ptr) });
        if len == 0 || len % PAGE != 0 || start_off % PAGE != 0 {
            return Err(OpenError::new(
                EINVAL,
                "namespace size or offset not page-aligned",
            ));
        }
        let extents = map_all(dax, start_off / PAGE, len / PAGE)?;
        let (dax, file) = (dax_guard.dismiss(), file_guard.dismiss());
        // INVARIANT: device and DAX taken with `holder`; `map_all` covered [0, len).
        Ok(Self {
            file,
            dax,
            extents,
            len,
            holder,
        })
    }

    /// Whether `holder` is this namespace's holder of its block and DAX devices (the cookie
    /// the DAX device's failure notifications carry).
    pub fn is_holder(&self, holder: *const c_void) -> bool {
        core::ptr::eq(&*self.holder as *const u8, holder.cast())
    }

    /// Number of linearly mapped pieces (1 unless the namespace has several ranges).
    pub fn extent_count(&self) -> usize {
        self.extents.len()
    }

    /// A handle for `[off, off + len)` if it lies inside one extent (a journal window).
    ///
    /// # Safety
    ///
    /// As [`PmemRange::split_off`]: those bytes are not accessed through this namespace while
    /// the handle is used, and the handle is dropped before the namespace.
    pub unsafe fn split_off(&self, off: u64, len: u64) -> Option<PmemRange> {
        let e = self
            .extents
            .iter()
            .find(|e| e.start <= off && off - e.start < e.len)?;
        // SAFETY: the caller's contract is `split_off`'s.
        unsafe { e.map.as_ref()?.split_off(off - e.start, len) }
    }

    /// The first mapped piece of `[pos, end)`, `end` inside the namespace: `(extent index,
    /// offset in the extent, bytes)`.
    fn piece(&self, pos: u64, end: u64) -> Result<(usize, u64, u64), OutOfRange> {
        let i = self
            .extents
            .iter()
            .position(|e| e.start <= pos && pos - e.start < e.len);
        let i = i.ok_or(OutOfRange)?;
        let e = self.extents.get(i).ok_or(OutOfRange)?;
        let n = end.min(e.start + e.len) - pos;
        Ok((i, pos - e.start, n))
    }

    /// Walks `[off, off + len)` piece by piece; `OutOfRange` if it ends past the namespace.
    fn pieces(&self, off: u64, len: u64) -> Result<Pieces, OutOfRange> {
        let end = off
            .checked_add(len)
            .filter(|&e| e <= self.len)
            .ok_or(OutOfRange)?;
        Ok(Pieces { off, pos: off, end })
    }

    /// Calls `f(extent's mapping, offset in it, range of the request it covers)` for each
    /// mapped piece of `[off, off + len)`, in order.
    fn each_piece(
        &mut self,
        off: u64,
        len: u64,
        mut f: impl FnMut(&mut PmemRange, u64, core::ops::Range<usize>) -> Result<(), OutOfRange>,
    ) -> Result<(), OutOfRange> {
        let mut walk = self.pieces(off, len)?;
        while let Some(p) = walk.next(self) {
            let (i, rel, part) = p?;
            let e = self.extents.get_mut(i).ok_or(OutOfRange)?;
            f(Extent::mapped(&mut e.map, e.start, e.len)?, rel, part)?;
        }
        Ok(())
    }
}

/// One mapped piece of a request: extent index, offset in the extent, and the range of the
/// request it covers.
type Piece = (usize, u64, core::ops::Range<usize>);

/// A walk over the mapped pieces of a byte range of a [`DaxNamespace`]. It holds no borrow, so
/// a store can borrow the namespace mutably between two steps.
struct Pieces {
    off: u64,
    pos: u64,
    end: u64,
}

impl Pieces {
    /// The next piece, if any.
    fn next(&mut self, ns: &DaxNamespace) -> Option<Result<Piece, OutOfRange>> {
        if self.pos >= self.end {
            return None;
        }
        Some(ns.piece(self.pos, self.end).map(|(i, rel, n)| {
            let done = (self.pos - self.off) as usize;
            self.pos += n;
            (i, rel, done..done + n as usize)
        }))
    }
}

/// `dax_direct_access` of `pages` pages from `pgoff`: `(pages mapped, address)` or the errno.
fn dax_map(dax: NonNull<DaxDevice>, pgoff: u64, pages: u64) -> Result<(u64, NonNull<u8>)> {
    let want =
        c_long::try_from(pages).map_err(|_| Error::from_errno(-(bindings::EOVERFLOW as i32)))?;
    let mut kaddr: *mut c_void = core::ptr::null_mut();
    // SAFETY: `dax` is a live DAX device we hold; `kaddr` is a valid out pointer.
    let got = unsafe { bch_nvm_dax_map(dax.as_ptr(), pgoff as c_ulong, want, &mut kaddr) };
    if got < 0 {
        return Err(Error::from_errno(got as i32));
    }
    let kaddr = NonNull::new(kaddr.cast::<u8>()).ok_or(EIO)?;
    if got == 0 {
        return Err(EIO);
    }
    Ok((got as u64, kaddr))
}

/// Whether `e` is the driver's "these pages are on the badblocks list".
fn is_poison(e: Error) -> bool {
    e.to_errno() == -(bindings::EHWPOISON as i32)
}

/// Pages from `pgoff` (fewer than `pages`, the first of which are bad) that map cleanly.
fn clean_prefix(dax: NonNull<DaxDevice>, pgoff: u64, pages: u64) -> Result<u64> {
    // `ok` pages map cleanly, `bad` do not: bisect between them.
    let (mut ok, mut bad) = (0, pages);
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        match dax_map(dax, pgoff, mid) {
            Ok(_) => ok = mid,
            Err(e) if is_poison(e) => bad = mid,
            Err(e) => return Err(e),
        }
    }
    Ok(ok)
}

/// Maps `pages` pages from `first` piece by piece; pages on the badblocks list become
/// unmapped extents (logged once each run).
fn map_all(dax: NonNull<DaxDevice>, first: u64, pages: u64) -> Result<KVec<Extent>> {
    let mut extents = KVec::new();
    let mut done = 0u64;
    while done < pages {
        let left = pages - done;
        let (n, map) = match dax_map(dax, first + done, left) {
            Ok((got, kaddr)) => (got.min(left), Some(kaddr)),
            Err(e) if is_poison(e) => match clean_prefix(dax, first + done, left)? {
                0 => {
                    // The first page is bad: how many bad pages follow.
                    let mut bad = 1;
                    while bad < left {
                        match dax_map(dax, first + done + bad, 1) {
                            Ok(_) => break,
                            Err(e) if is_poison(e) => bad += 1,
                            Err(e) => return Err(e),
                        }
                    }
                    pr_warn!(
                        "nvm-pages: namespace bytes {:#x}..{:#x} are on the pmem driver's badblocks list: not mapped, never allocated\n",
                        done * PAGE,
                        (done + bad) * PAGE
                    );
                    (bad, None)
                }
                clean => {
                    let (got, kaddr) = dax_map(dax, first + done, clean)?;
                    (got.min(clean), Some(kaddr))
                }
            },
            Err(e) => return Err(e),
        };
        // SAFETY: `dax_direct_access` mapped at least `n` pages at `kaddr`, valid while the DAX
        // device is held, which the `DaxNamespace` owning the extent does; the pieces it
        // returns do not overlap, so this is the only handle over them.
        let map = map.map(|kaddr| unsafe { PmemRange::new(kaddr, n * PAGE) });
        extents.push(
            Extent {
                start: done * PAGE,
                len: n * PAGE,
                map,
            },
            GFP_KERNEL,
        )?;
        done += n;
    }
    Ok(extents)
}

/// Puts the DAX device.
///
/// # Safety
///
/// `dax` was got with `holder` and is not used after this call.
unsafe fn release_dax(dax: NonNull<DaxDevice>, holder: *mut c_void) {
    // SAFETY: guaranteed by the caller.
    unsafe { bch_nvm_dax_put(dax.as_ptr(), holder) };
}

/// Ends the exclusive open of the block device.
fn release_file(file: NonNull<bindings::file>) {
    // `bdev_fput`, not `fput`: the final fput of a file is deferred (to a workqueue when
    // called from a kernel thread), and the exclusive claim must end now, so that the next
    // open (a re-register, or bcache's own user of the device) does not see EBUSY.
    // SAFETY: `file` was opened by `bch_nvm_bdev_open_rw`; its owner puts it once, here.
    unsafe { bindings::bdev_fput(file.as_ptr()) };
}

impl Drop for DaxNamespace {
    fn drop(&mut self) {
        let holder: *mut c_void = (&mut *self.holder as *mut u8).cast();
        // The mappings go first: they are valid only while the DAX device is held.
        self.extents = KVec::new();
        // SAFETY: by the type invariant `dax` was got with `holder`; it is put once, here.
        unsafe { release_dax(self.dax, holder) };
        release_file(self.file);
    }
}

impl Media for DaxNamespace {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        let mut walk = self.pieces(off, dst.len() as u64)?;
        while let Some(p) = walk.next(self) {
            let (i, rel, part) = p?;
            let e = self.extents.get(i).ok_or(OutOfRange)?;
            let map = e.map.as_ref().ok_or_else(|| bad_access(e.start, e.len))?;
            map.read_at(rel, dst.get_mut(part).ok_or(OutOfRange)?)?;
        }
        Ok(())
    }

    fn store(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        self.each_piece(off, src.len() as u64, |map, rel, part| {
            map.store_at(rel, src.get(part).ok_or(OutOfRange)?)
        })
    }

    fn flush(&mut self, off: u64, len: u64) -> Result<(), OutOfRange> {
        self.each_piece(off, len, |map, rel, part| {
            map.flush_at(rel, part.len() as u64)
        })
    }

    fn fence(&mut self) {
        pmem::fence()
    }

    fn bad_range(&self, i: usize) -> Option<(u64, u64)> {
        self.extents
            .iter()
            .filter(|e| e.map.is_none())
            .nth(i)
            .map(|e| (e.start, e.len))
    }

    fn store_flush(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        self.each_piece(off, src.len() as u64, |map, rel, part| {
            map.store_flush_at(rel, src.get(part).ok_or(OutOfRange)?)
        })
    }
}
