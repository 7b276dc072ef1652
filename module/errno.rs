// SPDX-License-Identifier: GPL-2.0

//! The errno of each pure error, so `?` carries the right one into the kernel's [`Error`].
//!
//! The pure layers say *what* went wrong (their `Display` text goes into the dmesg line);
//! this file alone says which errno a user sees for it.

use crate::pure::cache_sb::error::SbError;
use crate::pure::journal::error::JournalError;
use crate::pure::nvmpg::error::Error as AllocError;
use kernel::error::{code::*, Error};

/// `EOPNOTSUPP`: not among `kernel::error::code` in 6.12.
pub fn eopnotsupp() -> Error {
    Error::from_errno(-(kernel::bindings::EOPNOTSUPP as i32))
}

impl From<AllocError> for Error {
    fn from(e: AllocError) -> Self {
        match e {
            AllocError::NoSpace => ENOSPC,
            AllocError::Invalid | AllocError::Corrupt(_) => EINVAL,
            AllocError::NoMem => ENOMEM,
            AllocError::NotFound => ENOENT,
            AllocError::Exists => EBUSY,
            AllocError::Media => EIO,
        }
    }
}

impl From<SbError> for Error {
    fn from(e: SbError) -> Self {
        match e {
            SbError::AllocLists(e) => e.into(),
            // Every other problem is a superblock that does not match what is recorded.
            _ => EINVAL,
        }
    }
}

impl From<JournalError> for Error {
    fn from(e: JournalError) -> Self {
        match e {
            JournalError::OutOfRange => EIO,
            JournalError::NoMem => ENOMEM,
            _ => EINVAL,
        }
    }
}
