//! Host build of bcache-nvm's pure `no_std` tree, plus what only the host needs.
//!
//! [`pure`] is the very list of files the kernel module includes (`pure/mod.rs`, shared by
//! `module/bcache_nvm.rs`); this crate compiles it for the host so it is unit-tested, fuzzed,
//! crash-tested and benchmarked in seconds, and re-exports it at the crate root
//! (`bcache_nvm_core::nvmpg`, `bcache_nvm_core::journal`, ...). Host-only code lives beside
//! this file: [`replay_model`] (mainline's rules for which jsets replay keeps, for the tool
//! and the journal crash test), [`crash`] (recording media and crash-state enumeration) and
//! [`reference`](mod@reference) (slow reference implementations tests compare against).
#![no_std]
#![deny(missing_docs)]

extern crate std;

#[path = "../../pure/mod.rs"]
pub mod pure;
pub use pure::*;

pub mod crash;
pub mod reference;
pub mod replay_model;
