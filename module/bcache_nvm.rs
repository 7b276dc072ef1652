// SPDX-License-Identifier: GPL-2.0

//! bcache-nvm: bcache with its metadata journal on an NVDIMM.
//!
//! `bcache.ko` is the upstream bcache C (built from the kernel tree, with the hook patches of
//! `bcache/`) plus this crate. The crate root only owns the module's life: it runs bcache's own
//! init and exit and holds the pieces that live as long as the module. The logic lives in:
//!
//! - [`pure`]: everything that does not need the kernel (on-media formats, crc64, the
//!   nvm-pages allocator, jsets), shared with the host crate;
//! - [`registry`]: the registered NVDIMM meta devices behind one lock;
//! - [`journal`]: the journal's C entry points and a cache's mapped journal range;
//! - [`flush`]: a backing device's flush bookkeeping, for the C flush paths of patch 0006;
//! - [`sysfs`]: the handlers of the `/sys/fs/bcache` files this module adds;
//! - [`wrappers`]: safe wrappers over C APIs the 6.12 `kernel` crate lacks.

use kernel::prelude::*;
use kernel::types::ScopeGuard;
use registry::Registry;

#[path = "../pure/mod.rs"]
pub mod pure;

pub mod journal {
    //! The journal's C entry points ([`hooks`]) and a cache's mapped journal range ([`window`]).
    pub mod hooks;
    pub mod window;
}
pub mod errno;
pub mod flush;
pub mod registry;
pub mod sysfs;

pub mod wrappers {
    //! Safe wrappers over C APIs the 6.12 `kernel` crate lacks: bcache's own init/exit, DAX
    //! mapping, persistent-memory stores, `KVVec` as a [`crate::pure::grow_vec::GrowVec`], KUnit.
    pub mod bcache_c;
    pub mod dax;
    #[cfg(bch_nvm_kunit)]
    pub mod kunit;
    pub mod kvvec;
    pub mod pmem;
    pub mod sched;
}

#[cfg(bch_nvm_kunit)]
mod kunit;

module! {
    type: BcacheNvm,
    name: "bcache",
    author: "Kent Overstreet <kent.overstreet@gmail.com>, bcache-nvm developers",
    description: "Bcache: a Linux block layer cache, with its journal on NVDIMM",
    license: "GPL",
}

/// The loaded module. Dropping it runs bcache's exit, then releases the NVDIMM set.
///
/// # Invariants
///
/// bcache's init has succeeded and its exit has not run yet; `_registry` is published.
struct BcacheNvm {
    /// Owned for its drop, which releases every registered namespace; reached through
    /// [`Registry::with`] while published.
    _registry: Pin<KBox<Registry>>,
}

impl kernel::Module for BcacheNvm {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let registry = KBox::pin_init(Registry::new(), GFP_KERNEL)?;
        // SAFETY: the registry is withdrawn in `drop` (or by the guard below on failure),
        // after bcache's exit removed the sysfs files whose handlers use it; kernfs waits for
        // running handlers when it removes a file.
        unsafe { Registry::publish(registry.as_ref()) };
        let published = ScopeGuard::new(Registry::withdraw);
        // SAFETY: called once, from module init; paired with the `exit` in `drop`.
        unsafe { wrappers::bcache_c::init() }?;
        published.dismiss();
        pr_info!("bcache-nvm loaded\n");
        // INVARIANT: `init` succeeded and the registry is published.
        Ok(BcacheNvm {
            _registry: registry,
        })
    }
}

impl Drop for BcacheNvm {
    fn drop(&mut self) {
        // SAFETY: by the type invariant bcache's init succeeded, and this is the only exit.
        unsafe { wrappers::bcache_c::exit() };
        // No sysfs handler can run any more: withdraw the registry; it drops after this,
        // unmapping and releasing every registered namespace.
        Registry::withdraw();
    }
}
