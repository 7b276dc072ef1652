// SPDX-License-Identifier: GPL-2.0

//! An fsdax namespace, opened exclusively by path and DAX-mapped whole.
//!
//! [`DaxNamespace::open`] maps every page of the namespace. `dax_direct_access` may return
//! fewer pages than asked when the namespace is made of more than one mapping range; we then
//! keep asking from where it stopped and remember each piece as an [`Extent`], so the whole
//! namespace is reachable (the seed used the first range only). Stores go through the
//! [`Media`] implementation: plain copy + `arch_wb_cache_pmem` for metadata, `memcpy_flushcache`
//! for bulk copies, `pmem_wmb` as the fence.

use super::pmem::{self, Linear};
use crate::nvmpg::media::{Media, OutOfRange};
use core::ffi::{c_char, c_long, c_ulong, c_void};
use kernel::error::code::{EINVAL, EIO, ENODEV};
use core::ptr::NonNull;
use kernel::{bindings, error::from_err_ptr, prelude::*, str::CStr};

/// `EOPNOTSUPP`, `EOVERFLOW`: not among `kernel::error::code` in 6.12.
fn errno(e: u32) -> Error {
    Error::from_errno(-(e as i32))
}

extern "C" {
    fn bnvm_bdev_open_rw(path: *const c_char, holder: *mut c_void) -> *mut c_void;
    fn bnvm_bdev_nr_bytes(bdev_file: *mut c_void) -> u64;
    fn bnvm_dax_get(bdev_file: *mut c_void, start: *mut u64, holder: *mut c_void)
        -> *mut c_void;
    fn bnvm_dax_put(dax: *mut c_void, holder: *mut c_void);
    fn bnvm_dax_map(dax: *mut c_void, pgoff: c_ulong, nr: c_long, kaddr: *mut *mut c_void)
        -> c_long;
}

const PAGE: u64 = bindings::PAGE_SIZE as u64;

/// One linearly mapped piece of a namespace.
struct Extent {
    /// Byte offset of the piece in the namespace.
    start: u64,
    /// The mapped bytes.
    map: Linear,
}

/// An fsdax block device held exclusively, with its whole DAX range mapped.
///
/// # Invariants
///
/// - `file` is a block device file opened by `bnvm_bdev_open_rw` with holder `holder`, and
///   `dax` the DAX device got for it with the same holder; both are released only in `drop`.
/// - `extents` are sorted, contiguous from 0, cover exactly `[0, len)`, and each maps
///   `extent.map.len()` bytes of the namespace at `extent.start`, valid while `dax` is held.
pub struct DaxNamespace {
    file: NonNull<c_void>,
    dax: NonNull<c_void>,
    extents: KVec<Extent>,
    len: u64,
    // Its address is the exclusive-open holder: unique and stable while we hold the device.
    holder: KBox<u8>,
}

// SAFETY: the device references are plain kernel objects usable from any thread, and the
// mapped memory is only written through `&mut self`.
unsafe impl Send for DaxNamespace {}
// SAFETY: `&self` methods only read the mapping.
unsafe impl Sync for DaxNamespace {}

impl DaxNamespace {
    /// Opens the block device at `path` exclusively and maps its whole DAX range.
    ///
    /// Errors: `ENOENT` (no such device), `EBUSY` (held by someone else), `EOPNOTSUPP` (no
    /// fsdax: a raw-mode or non-pmem device), `EINVAL` (not page-aligned), or what
    /// `dax_direct_access` returns.
    pub fn open(path: &CStr) -> Result<Self> {
        let mut holder = KBox::new(0u8, GFP_KERNEL)?;
        let holder_ptr: *mut c_void = (&mut *holder as *mut u8).cast();
        // SAFETY: `path` is NUL-terminated; `holder_ptr` stays valid as long as the device
        // is held (it moves into the returned value, which releases the device in `drop`).
        let file = from_err_ptr(unsafe { bnvm_bdev_open_rw(path.as_char_ptr().cast(), holder_ptr) })?;
        let file = NonNull::new(file).ok_or(ENODEV)?;
        // From here on, `Opened` releases what has been taken if we return early.
        let mut opened = Opened { file, dax: None, holder: holder_ptr };
        // SAFETY: `file` is an open block device file.
        let len = unsafe { bnvm_bdev_nr_bytes(file.as_ptr()) };
        let mut start_off = 0u64;
        // SAFETY: as above; `start_off` is a valid out pointer.
        let dax = unsafe { bnvm_dax_get(file.as_ptr(), &mut start_off, holder_ptr) };
        let dax = NonNull::new(dax).ok_or_else(|| errno(bindings::EOPNOTSUPP))?;
        opened.dax = Some(dax);
        if len == 0 || len % PAGE != 0 || start_off % PAGE != 0 {
            return Err(EINVAL);
        }
        let extents = map_all(dax, start_off / PAGE, len / PAGE)?;
        core::mem::forget(opened);
        // INVARIANT: device and DAX taken with `holder`; `map_all` covered [0, len).
        Ok(Self { file, dax, extents, len, holder })
    }

    /// Number of linearly mapped pieces (1 unless the namespace has several ranges).
    pub fn extent_count(&self) -> usize {
        self.extents.len()
    }

    /// The mapping of `[off, off + len)` if it lies inside one extent (a journal window).
    pub fn linear(&self, off: u64, len: u64) -> Option<Linear> {
        let e = self.extents.iter().find(|e| e.start <= off && off - e.start < e.map.len())?;
        e.map.sub(off - e.start, len)
    }

    /// Calls `f(piece, done)` for each mapped piece of `[off, off + len)`, in order, where
    /// `done` is how many bytes of the range came before the piece.
    fn pieces(&self, off: u64, len: u64, mut f: impl FnMut(Linear, usize)) -> Result<(), OutOfRange> {
        let end = off.checked_add(len).filter(|&e| e <= self.len).ok_or(OutOfRange)?;
        let mut pos = off;
        for e in self.extents.iter() {
            let e_end = e.start + e.map.len();
            if pos >= end {
                break;
            }
            if pos >= e_end {
                continue;
            }
            let n = end.min(e_end) - pos;
            let piece = e.map.sub(pos - e.start, n).ok_or(OutOfRange)?;
            f(piece, (pos - off) as usize);
            pos += n;
        }
        Ok(())
    }
}

/// Asks `dax_direct_access` for `pages` pages from `first` until all are mapped.
fn map_all(dax: NonNull<c_void>, first: u64, pages: u64) -> Result<KVec<Extent>> {
    let mut extents = KVec::new();
    let mut done = 0u64;
    while done < pages {
        let want = c_long::try_from(pages - done).map_err(|_| errno(bindings::EOVERFLOW))?;
        let mut kaddr: *mut c_void = core::ptr::null_mut();
        // SAFETY: `dax` is a live DAX device we hold; `kaddr` is a valid out pointer.
        let got = unsafe { bnvm_dax_map(dax.as_ptr(), (first + done) as c_ulong, want, &mut kaddr) };
        if got < 0 {
            return Err(Error::from_errno(got as i32));
        }
        let kaddr = NonNull::new(kaddr.cast::<u8>()).ok_or(EIO)?;
        if got == 0 {
            return Err(EIO);
        }
        let n = (got as u64).min(pages - done);
        // SAFETY: `dax_direct_access` mapped `got >= n` pages at `kaddr`, valid while the DAX
        // device is held, which the `DaxNamespace` owning the extent does.
        let map = unsafe { Linear::new(kaddr, n * PAGE) };
        extents.push(Extent { start: done * PAGE, map }, GFP_KERNEL)?;
        done += n;
    }
    Ok(extents)
}

/// What `open` has taken so far; released if `open` fails half way.
struct Opened {
    file: NonNull<c_void>,
    dax: Option<NonNull<c_void>>,
    holder: *mut c_void,
}

impl Drop for Opened {
    fn drop(&mut self) {
        release(self.file, self.dax, self.holder);
    }
}

fn release(file: NonNull<c_void>, dax: Option<NonNull<c_void>>, holder: *mut c_void) {
    if let Some(dax) = dax {
        // SAFETY: `dax` was got with `holder` and is put once, here.
        unsafe { bnvm_dax_put(dax.as_ptr(), holder) };
    }
    // `bdev_fput`, not `fput`: the final fput of a file is deferred (to a workqueue when
    // called from a kernel thread), and the exclusive claim must end now, so that the next
    // open (a re-register, or bcache's own user of the device) does not see EBUSY.
    // SAFETY: `file` was opened by `bnvm_bdev_open_rw` and is put once, here.
    unsafe { bindings::bdev_fput(file.as_ptr().cast()) };
}

impl Drop for DaxNamespace {
    fn drop(&mut self) {
        let holder: *mut c_void = (&mut *self.holder as *mut u8).cast();
        release(self.file, Some(self.dax), holder);
    }
}

impl Media for DaxNamespace {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        self.pieces(off, dst.len() as u64, |p, done| {
            if let Some(d) = dst.get_mut(done..done + p.len() as usize) {
                p.read(d);
            }
        })
    }

    fn store(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        self.pieces(off, src.len() as u64, |mut p, done| {
            if let Some(s) = src.get(done..done + p.len() as usize) {
                p.store(s);
            }
        })
    }

    fn flush(&mut self, off: u64, len: u64) -> Result<(), OutOfRange> {
        self.pieces(off, len, |mut p, _| p.flush())
    }

    fn fence(&mut self) {
        pmem::fence()
    }

    fn store_flush(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        self.pieces(off, src.len() as u64, |mut p, done| {
            if let Some(s) = src.get(done..done + p.len() as usize) {
                p.store_flush(s);
            }
        })
    }
}
