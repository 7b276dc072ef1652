//! Helpers of the journal tests, written from the C definitions and independent of the code
//! under test: a bitwise bch_crc64 and a jset builder poking fields at their C offsets.
#![allow(dead_code, unused_imports)]

pub use bcache_nvm_core::reference::bitwise_crc64;

pub use bcache_nvm_core::reference::{build_jset, JSET_MAGIC_C};
