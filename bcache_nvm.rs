// SPDX-License-Identifier: GPL-2.0

//! bcache-nvm: bcache with its metadata journal on an NVDIMM.
//!
//! `bcache.ko` is the upstream bcache C (built from the kernel tree, with the hook patches of
//! `bcache/`) plus this crate. The crate root only owns the module's life: it runs bcache's own
//! init and exit and holds the pieces that live as long as the module. The logic lives in:
//!
//! - [`nvmpg`]: the nvm-pages allocator (on-media format, crc64, buddy, allocation lists);
//! - [`wrap`]: safe wrappers over C APIs the 6.12 `kernel` crate lacks.

use kernel::prelude::*;
use nvmpg::registry::Registry;

#[path = "nvmpg"]
pub mod nvmpg {
    //! nvm-pages: pure `no_std` code shared with the host crate.
    pub mod alloc;
    pub mod buddy;
    pub mod check;
    pub mod crc64;
    pub mod format;
    pub mod le;
    pub mod media;
    pub mod reclist;
    pub mod registry;
    pub mod seq;
    pub mod sort;
}

#[path = "journal"]
pub mod journal {
    //! The bcache journal on an NVDIMM: jset format, persistent write, latency; the kernel
    //! side (`hooks`, `window`). Replay reads jsets with bcache's own C rules, so the pure
    //! bucket scan and replay order (`scan`, `read`, `replay`) serve the host crash tests and
    //! the tool, and the kernel builds the scan only for its KUnit cases.
    pub mod error;
    pub mod geometry;
    pub mod hooks;
    pub mod jset;
    pub mod latency;
    #[cfg(bnvm_kunit)]
    pub mod scan;
    pub mod window;
    pub mod write;
}

#[path = "super_"]
pub mod super_ {
    //! bcache's cache superblock: layout, checksum, features and the NVDIMM journal location.
    pub mod error;
    pub mod features;
    pub mod nvdimm;
    pub mod sb;
}

#[path = "sysfs"]
pub mod sysfs {
    //! sysfs nodes under `/sys/fs/bcache`.
    pub mod nvdimm_meta;
}

#[path = "rust"]
pub mod wrap {
    //! Safe wrappers over C APIs (bcache's own C, KUnit, crc64) that `kernel` lacks.
    pub mod bcache_c;
    pub mod dax;
    pub mod kvec_seq;
    pub mod pmem;
    #[cfg(bnvm_kunit)]
    pub mod kunit;
}

#[cfg(bnvm_kunit)]
#[path = "tests/kunit/cases.rs"]
mod kunit_cases;

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
        // SAFETY: the registry is withdrawn in `drop` (or just below on failure), after
        // bcache's exit removed the sysfs files whose handlers use it; kernfs waits for
        // running handlers when it removes a file.
        unsafe { Registry::publish(registry.as_ref()) };
        if let Err(e) = wrap::bcache_c::init() {
            Registry::withdraw();
            return Err(e);
        }
        pr_info!("bcache-nvm loaded\n");
        // INVARIANT: `init` succeeded and the registry is published.
        Ok(BcacheNvm { _registry: registry })
    }
}

impl Drop for BcacheNvm {
    fn drop(&mut self) {
        // The type invariant says bcache's init succeeded and this is the only exit.
        wrap::bcache_c::exit();
        // No sysfs handler can run any more: withdraw the registry; it drops after this,
        // unmapping and releasing every registered namespace.
        Registry::withdraw();
    }
}
