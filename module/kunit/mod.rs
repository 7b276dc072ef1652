// SPDX-License-Identifier: GPL-2.0

//! bcache-nvm's KUnit cases (Rust). Each is listed in `module/kunit/cases.h`.

mod alloc;
mod crc64;
mod dax;
mod journal;
