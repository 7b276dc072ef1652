//! The error of the nvm-pages allocator and its allocation lists, and its text.

use super::buddy::BuddyError;
use super::format::FormatError;
use crate::pure::grow_vec::NoMem;
use crate::pure::media::OutOfRange;
use core::fmt;

/// Error of the nvm-pages lists and allocator.
///
/// The module maps each to an errno in `module/errno.rs` (`NoSpace` -> `ENOSPC`, `Invalid`
/// and `Corrupt` -> `EINVAL`, `NoMem` -> `ENOMEM`, `NotFound` -> `ENOENT`, `Exists` -> `EBUSY`,
/// `Media` -> `EIO`) and prints the [`Display`](fmt::Display) text in its dmesg line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// No free pages, no free head or no free recs block.
    NoSpace,
    /// Bad argument, or the owner does not hold that record.
    Invalid,
    /// In-memory state could not grow.
    NoMem,
    /// No head for that uuid, or the namespace holding the lists is not registered.
    NotFound,
    /// The namespace is already registered.
    Exists,
    /// The media holds something the format forbids.
    Corrupt(FormatError),
    /// An access fell outside a namespace's mapping.
    Media,
}

impl From<BuddyError> for Error {
    fn from(e: BuddyError) -> Self {
        match e {
            BuddyError::NoSpace => Error::NoSpace,
            BuddyError::Invalid => Error::Invalid,
            BuddyError::NoMem => Error::NoMem,
        }
    }
}

impl From<NoMem> for Error {
    fn from(_: NoMem) -> Self {
        Error::NoMem
    }
}

impl From<OutOfRange> for Error {
    fn from(_: OutOfRange) -> Self {
        Error::Media
    }
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error::Corrupt(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSpace => f.write_str("no space left on the NVDIMM meta device"),
            Error::Invalid => f.write_str("invalid request (the owner does not hold that range)"),
            Error::NoMem => f.write_str("out of memory"),
            Error::NotFound => f.write_str("not found"),
            Error::Exists => f.write_str("this namespace of the set is already registered"),
            Error::Corrupt(e) => write!(f, "{e}"),
            Error::Media => f.write_str("access outside the mapped namespace"),
        }
    }
}
