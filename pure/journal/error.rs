//! Errors of the journal's pure code (format, write, replay scan).

use core::fmt;

use crate::pure::grow_vec::NoMem;
use crate::pure::media::OutOfRange;

/// What went wrong while encoding, writing or reading jsets. A jset that fails validation
/// during replay is not an error: it ends its bucket's scan (see [`crate::pure::journal::scan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalError {
    /// The buffer ends before the bytes the operation needs.
    Truncated {
        /// Bytes needed.
        need: u64,
        /// Bytes available.
        have: u64,
    },
    /// A media access fell outside the namespace's mapping.
    OutOfRange,
    /// Block or bucket size unusable: the block not a power of two of at least a sector, the
    /// bucket not a non-zero multiple of it.
    BadGeometry {
        /// Bucket bytes.
        bucket_bytes: u64,
        /// Block bytes.
        block_bytes: u64,
    },
    /// A jset write would not fit the bucket, is not block aligned, or is larger than a jset
    /// may be.
    DoesNotFit {
        /// Offset in the bucket.
        offset: u64,
        /// Bytes to write.
        bytes: u64,
    },
    /// More journal buckets than `SB_JOURNAL_BUCKETS`, or none.
    BadBucketCount {
        /// Buckets given.
        buckets: usize,
    },
    /// The replay list could not grow.
    NoMem,
}

impl From<OutOfRange> for JournalError {
    fn from(_: OutOfRange) -> Self {
        Self::OutOfRange
    }
}

impl From<NoMem> for JournalError {
    fn from(_: NoMem) -> Self {
        Self::NoMem
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { need, have } => write!(f, "jset truncated: need {need}, have {have}"),
            Self::OutOfRange => f.write_str("journal access outside the NVDIMM mapping"),
            Self::BadGeometry {
                bucket_bytes,
                block_bytes,
            } => write!(
                f,
                "bad journal geometry: bucket {bucket_bytes}, block {block_bytes}"
            ),
            Self::DoesNotFit { offset, bytes } => {
                write!(
                    f,
                    "jset of {bytes} bytes does not fit at bucket offset {offset}"
                )
            }
            Self::BadBucketCount { buckets } => write!(f, "bad journal bucket count {buckets}"),
            Self::NoMem => f.write_str("out of memory for the replay list"),
        }
    }
}
