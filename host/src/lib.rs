//! Host build of the module's pure `no_std` files.
//!
//! The kernel module includes the very same files (see `bcache_nvm.rs` at the repository root);
//! this crate compiles them for the host so they are unit-tested, fuzzed, crash-tested and
//! benchmarked in seconds. Host-only helpers (the recording media) live beside this file.
#![no_std]
#![deny(missing_docs)]

extern crate std;

/// nvm-pages: on-media format, bcache's crc64, media access, buddy and allocation lists.
#[path = "../../nvmpg"]
pub mod nvmpg {
    pub mod alloc;
    pub mod buddy;
    pub mod check;
    pub mod crc64;
    pub mod format;
    pub mod le;
    pub mod media;
    pub mod reclist;
    pub mod seq;
    pub mod sort;
}

/// The bcache journal on an NVDIMM: jset format, persistent write, replay scan and order.
#[path = "../../journal"]
pub mod journal {
    pub mod error;
    pub mod geometry;
    pub mod jset;
    pub mod latency;
    pub mod read;
    pub mod replay;
    pub mod scan;
    pub mod write;
}

/// bcache's cache superblock: layout, checksum, features and the NVDIMM journal location.
#[path = "../../super_"]
pub mod super_ {
    pub mod error;
    pub mod features;
    pub mod nvdimm;
    pub mod sb;
}

pub mod crash;
pub mod reference;
