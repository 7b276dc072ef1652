//! Writing one jset into a journal bucket on the NVDIMM (the seed's replacement of the
//! journal bio in `journal_write_unlocked`).
//!
//! # Persistence order
//!
//! 1. The caller fills the jset in DRAM (keys, btree root, `last_seq`, ...) and seals it:
//!    `csum` covers every byte from offset 8 to the end of `d[keys]` ([`super::jset::seal`]).
//!    In the kernel (`journal/hooks.rs`, patch 0004) the jset is then stored only once an
//!    empty `REQ_PREFLUSH` bio to the cache device has completed: the btree nodes and data its
//!    keys point at were completed before, and the flush makes them durable, so no replayed
//!    key can point at data the cache device lost. This is the flush half of the stock journal
//!    bio's `REQ_PREFLUSH | REQ_FUA`; the FUA half is step 2. A failed flush drops the jset.
//! 2. [`write_jset`] copies the whole jset into the bucket with flushing stores
//!    (`memcpy_flushcache`) and then fences (`pmem_wmb`). Only once the fence has completed
//!    is the jset durable; it returns after the fence.
//! 3. Only then may the caller complete the journal write's closure: that completion is what
//!    tells bcache the keys are journaled (waiters in `journal_wait_for_write`, btree writes
//!    that wait for the journal, `bch_journal_meta` callers). This is the NVDIMM equivalent of
//!    the bio's `REQ_PREFLUSH | REQ_FUA`: nothing may rely on the jset before step 2 ends.
//! 4. bcache serialises journal writes (`io_in_flight`): the next jset is stored only after
//!    the previous write completed, so at most one jset is ever not durable, and every jset
//!    older than it is.
//!
//! What a crash leaves: every completed jset intact, plus the in-flight one either intact or
//! torn at 8-byte granularity in any pattern. A torn jset fails its checksum — the checksum
//! covers all its bytes, the header included — so replay's scan of its bucket stops there
//! ([`super::scan`]); nothing after it in that bucket can be newer, because it was the last
//! write. Order inside the copy does not matter, which is why no fence splits it.
//!
//! Stale jsets: a bucket is reused only after journal reclaim has moved `last_seq` past every
//! jset in it (`ja->seq[last_idx] < last_seq`), and the range is never zeroed again. So the
//! bucket can still hold intact, correctly checksummed jsets of an earlier cycle after (or,
//! when the new write is torn or not yet started, at) the write position. They are harmless:
//! every one has `seq` below the `last_seq` of every jset written since the bucket's reuse,
//! so replay drops them by the `last_seq` rule (modelled in `host/src/replay_model/replay.rs`);
//! and a bucket whose first
//! jset is stale only ever holds an older run of the ring, which the bucket search of
//! `host/src/replay_model/read.rs` treats like any other older bucket.
//!
//! Bucket reuse and a torn first write: a torn jset also destroys the jsets it overwrote.
//! Mainline reuses a bucket once its jsets are below the journal's *current* `last_seq`, which
//! may already be past the `last_seq` the newest durable jset recorded (pins drop without the
//! journal lock). A crash during the first write into such a bucket then leaves a hole at the
//! start of the replay range: benign (those keys are in written btree nodes) and reported as
//! such by the host model (`replay_model::replay::Missing::at_start`). Reclaiming against the newest durable
//! `last_seq` instead avoids the hole altogether.

use crate::pure::media::Media;
use crate::pure::nvmpg::format::NvmpgOffset;

use super::error::JournalError;
use super::geometry::Geometry;
use super::jset::{JsetHeader, JSET_MAX_BYTES};

/// Stores the sealed jset `jset` at `offset` in the bucket at `bucket` (the bucket's `sb.d[]`
/// entry; `media` must be the mapping of its namespace) and makes it durable: flushing
/// copy, then fence. `jset` may carry the padding up to its block-rounded size.
///
/// Refused before any store: `offset` not block aligned, `jset` shorter than its header says
/// or longer than [`JSET_MAX_BYTES`], or not fitting in the rest of the bucket.
pub fn write_jset<M: Media>(
    media: &mut M,
    geo: &Geometry,
    bucket: NvmpgOffset,
    offset: u64,
    jset: &[u8],
) -> Result<(), JournalError> {
    let bytes = jset.len() as u64;
    let header = JsetHeader::decode(jset)?;
    let does_not_fit = JournalError::DoesNotFit { offset, bytes };
    let fits = offset
        .checked_add(bytes)
        .is_some_and(|end| end <= geo.bucket_bytes());
    if header.bytes() > bytes || bytes > JSET_MAX_BYTES || !fits {
        return Err(does_not_fit);
    }
    if offset & (geo.block_bytes() - 1) != 0 {
        return Err(does_not_fit);
    }
    let at = bucket
        .offset()
        .checked_add(offset)
        .ok_or(JournalError::OutOfRange)?;
    media.store_flush(at, jset)?;
    media.fence();
    Ok(())
}
