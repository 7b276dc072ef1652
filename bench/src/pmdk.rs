//! The few libpmemobj / libpmem calls the comparison needs (PMDK 1.x C API).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `PMEMobjpool` (opaque).
#[repr(C)]
pub struct PmemObjPool {
    _private: [u8; 0],
}

/// `PMEMoid`: a persistent pointer.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PmemOid {
    pool_uuid_lo: u64,
    off: u64,
}

type Constructor = unsafe extern "C" fn(*mut PmemObjPool, *mut c_void, *mut c_void) -> c_int;

extern "C" {
    fn pmemobj_create(
        path: *const c_char,
        layout: *const c_char,
        poolsize: usize,
        mode: u32,
    ) -> *mut PmemObjPool;
    fn pmemobj_close(pop: *mut PmemObjPool);
    fn pmemobj_alloc(
        pop: *mut PmemObjPool,
        oidp: *mut PmemOid,
        size: usize,
        type_num: u64,
        constructor: Option<Constructor>,
        arg: *mut c_void,
    ) -> c_int;
    fn pmemobj_free(oidp: *mut PmemOid);
    fn pmemobj_direct(oid: PmemOid) -> *mut c_void;
    fn pmemobj_errormsg() -> *const c_char;
    fn pmem_is_pmem(addr: *const c_void, len: usize) -> c_int;
}

fn last_error() -> io::Error {
    // SAFETY: pmemobj_errormsg returns a thread-local NUL-terminated string.
    let msg = unsafe { CStr::from_ptr(pmemobj_errormsg()) };
    io::Error::other(msg.to_string_lossy().into_owned())
}

/// An open pool; closed on drop.
pub struct Pool(*mut PmemObjPool);

impl Pool {
    /// Creates a pool file of `size` bytes at `path` (which must not exist).
    pub fn create(path: &Path, size: usize) -> io::Result<Self> {
        let path = CString::new(path.as_os_str().as_bytes())?;
        // SAFETY: both strings are NUL-terminated and outlive the call.
        let pop = unsafe { pmemobj_create(path.as_ptr(), c"bench".as_ptr(), size, 0o600) };
        if pop.is_null() {
            return Err(last_error());
        }
        Ok(Pool(pop))
    }

    /// `pmemobj_alloc(pop, &oid, size, type_num, NULL, NULL)`.
    pub fn alloc(&mut self, size: usize, type_num: u64) -> io::Result<PmemOid> {
        let mut oid = PmemOid::default();
        // SAFETY: the pool is open; no constructor.
        let rc =
            unsafe { pmemobj_alloc(self.0, &mut oid, size, type_num, None, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(last_error());
        }
        Ok(oid)
    }

    /// `pmemobj_free(&oid)`.
    pub fn free(&mut self, mut oid: PmemOid) {
        // SAFETY: `oid` came from `alloc` on this open pool and is freed once.
        unsafe { pmemobj_free(&mut oid) }
    }

    /// `pmem_is_pmem` over the first `len` bytes of the object: whether libpmem flushes with
    /// cache-line write-backs (1) or falls back to msync (0).
    pub fn is_pmem(&self, oid: PmemOid, len: usize) -> bool {
        // SAFETY: the object is allocated in this open pool, so the address is mapped.
        unsafe { pmem_is_pmem(pmemobj_direct(oid), len) != 0 }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: opened by `create`, closed once.
        unsafe { pmemobj_close(self.0) }
    }
}
