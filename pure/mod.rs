// SPDX-License-Identifier: GPL-2.0

//! The pure half of bcache-nvm: plain `no_std` Rust that both builds include from this one
//! list, the kernel module (`module/bcache_nvm.rs`) and the host crate (`host/src/lib.rs`).
//!
//! Nothing here calls the kernel or allocates on its own: persistent memory is reached only
//! through [`media::Media`], growable state only through [`grow_vec::GrowVec`]. So the host
//! can unit-test, fuzz, crash-enumerate and benchmark exactly the code the module runs.
//!
//! - primitives: [`le`] (bounded little-endian access), [`crc64`] (bcache's checksum),
//!   [`media`] (the persistent-memory model), [`grow_vec`] (fallible growable sequences),
//!   [`sort`] (an in-place heapsort), [`layout`] (the macro that declares each on-media
//!   struct once: fields, offsets, size, checked decode and encode);
//! - [`nvmpg`]: the nvm-pages allocator and its on-media format;
//! - [`journal`]: jsets and their persistent write on the NVDIMM;
//! - [`cache_sb`]: bcache's cache superblock and the NVDIMM journal's place in it;
//! - [`flush`]: group-committed flushes of a backing device (who waits for which flush).
//!
//! The module builds this tree with `--cfg bch_nvm_module` (and `--cfg bch_nvm_kunit` for its
//! KUnit build); code only the host and the KUnit cases use is gated on those.

pub mod crc64;
pub mod flush;
pub mod grow_vec;
pub mod layout;
pub mod le;
pub mod media;
pub mod sort;

pub mod nvmpg {
    //! nvm-pages: the on-media format of an NVDIMM meta device, the buddy of free pages, the
    //! allocation lists on namespace 0, the allocator over them and the offline checker.
    pub mod alloc;
    pub mod buddy;
    pub mod check;
    pub mod error;
    pub mod format;
    pub mod reclist;
}

pub mod journal {
    //! bcache's journal on an NVDIMM: the jset format, its persistent write and the write
    //! latency histogram. Replay reads jsets with bcache's own C rules; the bucket scan
    //! ([`scan`]) serves the host crash tests, the tool and the module's KUnit cases.
    pub mod error;
    pub mod geometry;
    pub mod jset;
    pub mod latency;
    #[cfg(any(not(bch_nvm_module), bch_nvm_kunit))]
    pub mod scan;
    pub mod write;
}

pub mod cache_sb {
    //! bcache's cache superblock (`cache_sb_disk`): layout, checksum, feature bits and the
    //! NVDIMM journal's location checks on `d[]`.
    pub mod error;
    pub mod features;
    pub mod nvdimm;
    pub mod sb;
}
