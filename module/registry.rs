// SPDX-License-Identifier: GPL-2.0

//! The module's registry of NVDIMM meta devices: the nvm-pages allocator over the registered,
//! DAX-mapped namespaces, behind one mutex, with the paths users registered them by.
//!
//! The module root owns the [`Registry`] and publishes it for the sysfs handlers (C calls
//! them with no context pointer) before bcache's init creates the sysfs files; it withdraws
//! it only after bcache's exit has removed them, and kernfs drains running handlers on removal.

use crate::pure::nvmpg::alloc::Allocator;
use crate::pure::nvmpg::format::NS_MAX;
use crate::wrappers::{dax::DaxNamespace, kvvec::KernelVecs};
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::ffi::{c_int, c_void};
use kernel::{
    error::code::*,
    new_mutex,
    prelude::*,
    str::{CStr, CString},
    sync::Mutex,
};

/// The allocator as the kernel instantiates it.
pub type KernelAllocator = Allocator<DaxNamespace, KernelVecs>;

/// The registered set.
pub struct MetaSet {
    /// The allocator over the registered namespaces.
    pub alloc: KernelAllocator,
    /// The path each registered namespace was registered by, by namespace id.
    pub paths: [Option<CString>; NS_MAX],
    /// Owners whose ranges a running cache set uses, with how many users each; the set
    /// cannot be unregistered while this is not empty.
    pinned: KVec<([u8; 16], usize)>,
}

/// The module's registry of NVDIMM meta devices.
#[pin_data]
pub struct Registry {
    #[pin]
    set: Mutex<MetaSet>,
}

/// The published registry, for the sysfs handlers; null when none is published.
static PUBLISHED: AtomicPtr<Registry> = AtomicPtr::new(core::ptr::null_mut());

impl Registry {
    /// An empty registry.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            set <- new_mutex!(
                MetaSet { alloc: Allocator::new(), paths: Default::default(), pinned: KVec::new() },
                "Registry::set"
            ),
        })
    }

    /// Makes `this` the registry [`Registry::with`] finds.
    ///
    /// # Safety
    ///
    /// `this` must stay valid until [`Registry::withdraw`] has returned and no caller of
    /// [`Registry::with`] can still be running.
    pub unsafe fn publish(this: Pin<&Self>) {
        let p = &*this as *const Self as *mut Self;
        PUBLISHED.store(p, Ordering::Release);
    }

    /// Withdraws the published registry.
    pub fn withdraw() {
        PUBLISHED.store(core::ptr::null_mut(), Ordering::Release);
    }

    /// Runs `f` on the set, under its lock. `ENODEV` if no registry is published.
    pub fn with<R>(f: impl FnOnce(&mut MetaSet) -> R) -> Result<R> {
        let p = PUBLISHED.load(Ordering::Acquire);
        if p.is_null() {
            return Err(ENODEV);
        }
        // SAFETY: a published registry stays valid until it is withdrawn and its users are
        // gone (the contract of `publish`).
        let reg = unsafe { &*p };
        let mut set = reg.set.lock();
        Ok(f(&mut set))
    }
}

impl MetaSet {
    /// Registers the namespace at `path`: opens and maps it (before taking the lock),
    /// checks its sb and adds it to the set. Returns its namespace id. Every failure is
    /// logged with the device and the reason.
    pub fn register(path: CString) -> Result<u8> {
        if Registry::with(|set| set.find(&path).is_some())? {
            pr_err!("register_nvdimm_meta: {}: already registered\n", &*path);
            return Err(EBUSY);
        }
        let ns = DaxNamespace::open(&path).map_err(|e| {
            pr_err!(
                "register_nvdimm_meta: {}: {} ({})\n",
                &*path,
                e,
                e.errno.to_errno()
            );
            Error::from(e)
        })?;
        Registry::with(|set| {
            if set.find(&path).is_some() {
                pr_err!("register_nvdimm_meta: {}: already registered\n", &*path);
                return Err(EBUSY);
            }
            let id = set.alloc.register(ns).map_err(|e| {
                let err = Error::from(e);
                pr_err!(
                    "register_nvdimm_meta: {}: {} ({})\n",
                    &*path,
                    e,
                    err.to_errno()
                );
                err
            })?;
            let free = set.alloc.buddy(id).map_or(0, |b| b.free_pages());
            pr_info!(
                "nvm-pages: {}: registered as namespace {}, {} pages free\n",
                &*path,
                id,
                free
            );
            if let Some(slot) = set.paths.get_mut(usize::from(id)) {
                *slot = Some(path);
            }
            Ok(id)
        })?
    }

    /// Releases the whole set `path` belongs to and returns its allocator, whose drop unmaps
    /// and releases every namespace (let it drop outside the lock). `ENOENT` if `path` is not
    /// registered, `EBUSY` while a running cache set uses pages of the set (see [`MetaSet::pin`]).
    pub fn unregister(&mut self, path: &CStr) -> Result<KernelAllocator> {
        if self.find(path).is_none() {
            pr_err!("unregister_nvdimm_meta: {}: not registered\n", path);
            return Err(ENOENT);
        }
        if let Some((owner, users)) = self.pinned.first() {
            pr_err!(
                "unregister_nvdimm_meta: {}: pages of owner {} in use by {} cache set(s)\n",
                path,
                Uuid(owner),
                users
            );
            return Err(EBUSY);
        }
        self.paths = Default::default();
        Ok(core::mem::take(&mut self.alloc))
    }

    /// The DAX device of a registered namespace is going away (its driver unbinds): releases
    /// the whole set if no running cache set uses it, else says how many do.
    fn device_going(&mut self, holder: *const c_void) -> Going {
        let Some(id) = (0..NS_MAX as u8)
            .find(|&id| self.alloc.media(id).is_some_and(|ns| ns.is_holder(holder)))
        else {
            return Going::NotOurs;
        };
        let users: usize = self.pinned.iter().map(|&(_, n)| n).sum();
        if users > 0 {
            return Going::Busy { id, users };
        }
        self.paths = Default::default();
        Going::Released {
            id,
            alloc: core::mem::take(&mut self.alloc),
        }
    }

    /// Marks `owner`'s pages as in use by a running cache set (its journal, say): the set
    /// cannot be unregistered until as many [`MetaSet::unpin`]s. `ENOENT` if `owner` holds
    /// nothing in this set.
    pub fn pin(&mut self, owner: &[u8; 16]) -> Result {
        if self.alloc.get_head(owner, |_, _| {})? == 0 {
            return Err(ENOENT);
        }
        if let Some(p) = self.pinned.iter_mut().find(|(o, _)| o == owner) {
            p.1 += 1;
            return Ok(());
        }
        self.pinned.push((*owner, 1), GFP_KERNEL)?;
        Ok(())
    }

    /// How many running cache sets use `owner`'s pages.
    pub fn pins(&self, owner: &[u8; 16]) -> usize {
        self.pinned
            .iter()
            .find(|(o, _)| o == owner)
            .map_or(0, |&(_, n)| n)
    }

    /// Releases `owner`: frees every range it holds and its head, for a cache set that will
    /// never run again. `EBUSY` while a running cache set uses it, `ENOENT` if it holds no
    /// head, `ENODEV` if no set is registered. Logs one line either way.
    pub fn release(&mut self, owner: &[u8; 16]) -> Result<u64> {
        if !self.alloc.lists().is_loaded() {
            pr_err!(
                "release_nvdimm_owner: {}: no NVDIMM meta device registered\n",
                Uuid(owner)
            );
            return Err(ENODEV);
        }
        let users = self.pins(owner);
        if users > 0 {
            pr_err!(
                "release_nvdimm_owner: {}: in use by {} running cache set(s)\n",
                Uuid(owner),
                users
            );
            return Err(EBUSY);
        }
        match self.alloc.release_owner(owner) {
            Ok(pages) => {
                pr_info!(
                    "release_nvdimm_owner: {}: released, {} pages freed\n",
                    Uuid(owner),
                    pages
                );
                Ok(pages)
            }
            Err(e) => {
                let err = Error::from(e);
                pr_err!(
                    "release_nvdimm_owner: {}: {} ({})\n",
                    Uuid(owner),
                    e,
                    err.to_errno()
                );
                Err(err)
            }
        }
    }

    /// Drops one [`MetaSet::pin`] of `owner`.
    pub fn unpin(&mut self, owner: &[u8; 16]) {
        let Some(i) = self.pinned.iter().position(|(o, _)| o == owner) else {
            return;
        };
        let last = self.pinned.len() - 1;
        if let Some(p) = self.pinned.get_mut(i) {
            p.1 -= 1;
            if p.1 > 0 {
                return;
            }
        }
        // Move the last entry into the emptied one and shorten by one.
        self.pinned.as_mut_slice().swap(i, last);
        crate::pure::grow_vec::GrowVec::truncate(&mut self.pinned, last);
    }

    /// The path namespace `id` was registered by, for dmesg.
    pub fn path_of(&self, id: u8) -> &CStr {
        match self.paths.get(usize::from(id)) {
            Some(Some(p)) => p,
            _ => kernel::c_str!("?"),
        }
    }

    /// The namespace id registered by `path`.
    pub fn find(&self, path: &CStr) -> Option<u8> {
        let i = self
            .paths
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.as_bytes() == path.as_bytes()))?;
        u8::try_from(i).ok()
    }
}

/// What [`MetaSet::device_going`] found.
enum Going {
    /// Not a namespace of the registered set.
    NotOurs,
    /// Namespace `id`'s set has running cache sets (`users` pins).
    Busy { id: u8, users: usize },
    /// Namespace `id`'s set was unregistered: drop `alloc` (outside the lock) to release it.
    Released { id: u8, alloc: KernelAllocator },
}

/// `notify_failure` of the DAX holder of every registered namespace (`module/shims.c`).
///
/// `MF_MEM_PRE_REMOVE` (the namespace's driver is unbinding, e.g. `echo namespace0.0 >
/// /sys/bus/nd/drivers/nd_pmem/unbind`): the mapping must not outlive this call. With no
/// running cache set using the set, it is unregistered here and its devices released; with
/// running cache sets, the unbind waits until they are stopped (their journals live in that
/// mapping), and says so once in dmesg. Other failures (poison) are logged; reads that meet
/// poison fail on their own (`copy_mc_to_kernel`).
///
/// # Safety
///
/// Called by the DAX core only; `holder` is only compared, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn bch_nvm_dax_notify(
    holder: *mut c_void,
    offset: u64,
    len: u64,
    mf_flags: c_int,
) -> c_int {
    if mf_flags as u32 & kernel::bindings::mf_flags_MF_MEM_PRE_REMOVE == 0 {
        pr_err!(
            "nvm-pages: memory failure in a registered namespace at {:#x}, {:#x} bytes\n",
            offset,
            len
        );
        return 0;
    }
    let mut told = false;
    loop {
        let going = Registry::with(|set| {
            let going = set.device_going(holder);
            match &going {
                Going::Busy { id, users } if !told => pr_warn!(
                    "nvm-pages: {}: device going away; the unbind waits for {} running cache set(s) using it to stop\n",
                    set.path_of(*id),
                    users
                ),
                Going::Released { id, .. } => {
                    pr_warn!("nvm-pages: namespace {}: device going away; set unregistered\n", id)
                }
                _ => {}
            }
            going
        });
        match going {
            Ok(Going::Busy { .. }) => {
                told = true;
                // SAFETY: process context (a driver unbind); sleeping is allowed.
                unsafe { kernel::bindings::msleep(100) };
            }
            // The devices are released here, outside the lock.
            Ok(Going::Released { alloc, .. }) => {
                drop(alloc);
                return 0;
            }
            _ => return 0,
        }
    }
}

/// A uuid as 8-4-4-4-12 hex, for dmesg and sysfs.
pub struct Uuid<'a>(pub &'a [u8; 16]);

impl core::fmt::Display for Uuid<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{:02x}", b)?;
        }
        Ok(())
    }
}

/// Parses a uuid written as 32 hex digits, dashes anywhere (`8-4-4-4-12` is the usual form).
pub fn parse_uuid(s: &[u8]) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let mut n = 0usize;
    for &c in s.iter().filter(|&&c| c != b'-') {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        let byte = out.get_mut(n / 2)?;
        *byte = (*byte << 4) | v;
        n += 1;
    }
    (n == 32).then_some(out)
}
