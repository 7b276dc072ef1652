//! Host build of the module's pure `no_std` files.
//!
//! The kernel module includes the very same files (see `bcache_nvm.rs`); this crate compiles
//! them for the host so they are unit-tested, fuzzed, crash-tested and benchmarked in seconds.
#![no_std]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

/// nvm-pages: on-media format, bcache's crc64, media access, buddy and allocation lists.
#[path = "../../nvmpg"]
pub mod nvmpg {
    pub mod media;
}
