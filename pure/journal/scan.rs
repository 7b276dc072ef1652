//! Walking the jsets of one journal bucket on the NVDIMM for replay (`journal_read_bucket`,
//! the seed's `__jnl_rd_nvm_bkt`).
//!
//! From offset 0, each block-aligned jset is checked in mainline's order and the walk stops at
//! the first one that fails: wrong magic (the end of what was written in this cycle, or a
//! never-written bucket), a size beyond the rest of the bucket or [`JSET_MAX_BYTES`], a
//! checksum mismatch (a torn or corrupted jset: nothing after it is trusted). Unlike
//! mainline, a jset whose version is not [`JSET_VERSION`] also stops the walk: only this code
//! writes NVDIMM journals, so another version means a format it cannot read. Valid jsets are
//! reported in bucket order; which of them are kept is replay's decision (bcache's C; modelled on the host in
//! `host/src/replay_model`).
//!
//! The bytes are read straight from the mapping in small pieces, so no jset-sized buffer is
//! needed and the stack use stays under 512 bytes.

use crate::pure::crc64::Crc64;
use crate::pure::media::Media;

use super::error::JournalError;
use super::geometry::Geometry;
use super::jset::{JsetHeader, JSET_MAX_BYTES, JSET_VERSION};

/// Bytes checksummed per media read.
const CHUNK: usize = 256;

/// A valid jset found in a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Its sequence number.
    pub seq: u64,
    /// Its `last_seq`.
    pub last_seq: u64,
    /// Byte offset in the bucket.
    pub offset: u64,
    /// `set_bytes`: header plus keys.
    pub bytes: u64,
}

/// Why the walk of a bucket ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanEnd {
    /// The bucket's last block was reached.
    BucketEnd,
    /// The block at `offset` does not start with the cache set's jset magic.
    BadMagic {
        /// Offset in the bucket.
        offset: u64,
    },
    /// The jset at `offset` claims more bytes than the bucket has left or a jset may have.
    TooBig {
        /// Offset in the bucket.
        offset: u64,
        /// Its `set_bytes`.
        bytes: u64,
    },
    /// The jset at `offset` does not match its checksum.
    BadCsum {
        /// Offset in the bucket.
        offset: u64,
    },
    /// The jset at `offset` has another version than [`JSET_VERSION`].
    BadVersion {
        /// Offset in the bucket.
        offset: u64,
        /// Its version.
        version: u32,
    },
}

/// Walks the bucket at byte `bucket_start` of `media` (`sb.d[i]`'s offset in its namespace)
/// and calls `visit` with every valid jset of magic `magic` until the walk ends; returns why
/// it ended. An error of `visit` stops the walk and is returned.
pub fn read_bucket<M: Media + ?Sized>(
    media: &M,
    bucket_start: u64,
    geo: &Geometry,
    magic: u64,
    mut visit: impl FnMut(Found) -> Result<(), JournalError>,
) -> Result<ScanEnd, JournalError> {
    let mut offset = 0;
    while offset < geo.bucket_bytes() {
        let at = bucket_start
            .checked_add(offset)
            .ok_or(JournalError::OutOfRange)?;
        let mut raw = [0u8; JsetHeader::SIZE];
        media.read(at, &mut raw)?;
        let j = JsetHeader::decode(&raw)?;
        if j.magic != magic {
            return Ok(ScanEnd::BadMagic { offset });
        }
        let bytes = j.bytes();
        if bytes > geo.bucket_bytes() - offset || bytes > JSET_MAX_BYTES {
            return Ok(ScanEnd::TooBig { offset, bytes });
        }
        if media_csum(media, at, &raw, bytes)? != j.csum {
            return Ok(ScanEnd::BadCsum { offset });
        }
        if j.version != JSET_VERSION {
            return Ok(ScanEnd::BadVersion {
                offset,
                version: j.version,
            });
        }
        visit(Found {
            seq: j.seq,
            last_seq: j.last_seq,
            offset,
            bytes,
        })?;
        offset += geo.jset_span(j.keys);
    }
    Ok(ScanEnd::BucketEnd)
}

/// `csum_set()` of the `bytes`-byte jset at `at`, whose header is already in `header`.
fn media_csum<M: Media + ?Sized>(
    media: &M,
    at: u64,
    header: &[u8; JsetHeader::SIZE],
    bytes: u64,
) -> Result<u64, JournalError> {
    let mut crc = Crc64::new();
    crc.update(header.get(JsetHeader::CSUM_START..).unwrap_or_default());
    let mut done = JsetHeader::SIZE as u64;
    let mut chunk = [0u8; CHUNK];
    while done < bytes {
        let n = (bytes - done).min(CHUNK as u64) as usize;
        let piece = chunk.get_mut(..n).unwrap_or_default();
        media.read(at.checked_add(done).ok_or(JournalError::OutOfRange)?, piece)?;
        crc.update(piece);
        done += n as u64;
    }
    Ok(crc.finish())
}
