// SPDX-License-Identifier: GPL-2.0

//! bcache-nvm's KUnit cases (Rust). Each is listed in `tests/kunit/cases.h`.

#[path = "crc64.rs"]
mod crc64;
#[path = "dax.rs"]
mod dax;
#[path = "alloc.rs"]
mod alloc;
#[path = "journal.rs"]
mod journal;
