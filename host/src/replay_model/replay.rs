//! Which jsets replay keeps, in which order (the list logic of `journal_read_bucket`).
//!
//! The list is sorted by `seq`, oldest first. A jset found by the scan is handled exactly as
//! mainline does: first the list's oldest entries below the new jset's `last_seq` are dropped
//! (they are no longer needed by anything newer); then, from the newest entry down, the jset
//! is skipped if its `seq` is already listed or is below an entry's `last_seq` (it is
//! expired), and otherwise inserted after the first entry older than it. After every bucket
//! has been read, the list is `[last_seq of the newest, newest]`, possibly with holes that
//! [`Replay::missing`] reports as `bch_journal_replay` does.
//!
//! The list holds locations, not jset copies: the caller copies each kept jset out of the
//! NVDIMM when it replays it. Storage is the caller's [`GrowVec`] (a `KVec` in the kernel).

use crate::pure::grow_vec::{GrowVec, NoMem};
use crate::pure::media::Media;

use crate::pure::journal::error::JournalError;
use crate::pure::journal::geometry::Geometry;
use crate::pure::journal::scan::{read_bucket, Found, ScanEnd};

/// A kept jset: its sequence numbers and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Entry {
    /// Sequence number.
    pub seq: u64,
    /// Its `last_seq`.
    pub last_seq: u64,
    /// Journal bucket (index into `sb.d[]`).
    pub bucket: u16,
    /// Byte offset in the bucket.
    pub offset: u64,
    /// `set_bytes` of the jset.
    pub bytes: u64,
}

/// The replay list under construction.
#[derive(Debug)]
pub struct Replay<S: GrowVec<Entry>> {
    list: S,
}

impl<S: GrowVec<Entry>> Replay<S> {
    /// An empty list kept in `list` (emptied first).
    pub fn new(mut list: S) -> Self {
        list.clear();
        Self { list }
    }

    /// The kept jsets, oldest first.
    pub fn entries(&self) -> &[Entry] {
        self.list.as_slice()
    }

    /// The newest kept jset.
    pub fn newest(&self) -> Option<Entry> {
        self.list.as_slice().last().copied()
    }

    /// Gives the storage back.
    pub fn into_inner(self) -> S {
        self.list
    }

    /// Offers one valid jset; returns whether it was added (mainline's `ret = 1`).
    pub fn add(&mut self, e: Entry) -> Result<bool, NoMem> {
        let len = self.list.len();
        let expired = self
            .list
            .as_slice()
            .iter()
            .take_while(|i| i.seq < e.last_seq)
            .count();
        if expired > 0 {
            // `expired <= len`: it counts elements of the slice.
            self.list.as_mut_slice().rotate_left(expired);
            self.list.truncate(len - expired);
        }
        let mut at = 0;
        for (idx, i) in self.list.as_slice().iter().enumerate().rev() {
            if e.seq == i.seq || e.seq < i.last_seq {
                return Ok(false);
            }
            if e.seq > i.seq {
                at = idx + 1;
                break;
            }
        }
        self.list.try_insert(at, e)?;
        Ok(true)
    }

    /// Scans journal bucket `bucket`, which starts at byte `bucket_start` of `media`, and
    /// offers every valid jset of magic `magic`. Returns the newest `seq` added from this
    /// bucket (`None`: nothing added, mainline's `ret == 0`) and why the scan ended.
    pub fn read_bucket<M: Media + ?Sized>(
        &mut self,
        media: &M,
        bucket: u16,
        bucket_start: u64,
        geo: &Geometry,
        magic: u64,
    ) -> Result<(Option<u64>, ScanEnd), JournalError> {
        let mut newest: Option<u64> = None;
        let end = read_bucket(media, bucket_start, geo, magic, |f: Found| {
            let e = Entry {
                seq: f.seq,
                last_seq: f.last_seq,
                bucket,
                offset: f.offset,
                bytes: f.bytes,
            };
            if self.add(e)? {
                newest = Some(newest.map_or(f.seq, |n| n.max(f.seq)));
            }
            Ok(())
        })?;
        Ok((newest, end))
    }

    /// The first hole in `[last_seq of the newest, newest]`, or `None` if the list is
    /// complete (`bch_journal_replay`'s "journal entries missing" check).
    pub fn missing(&self) -> Option<Missing> {
        let start = self.newest()?.last_seq;
        let mut n = start;
        for e in self.list.as_slice() {
            if e.seq != n {
                return Some(Missing {
                    first: n,
                    last: e.seq.saturating_sub(1),
                    at_start: n == start,
                });
            }
            n = e.seq.saturating_add(1);
        }
        None
    }
}

/// A hole in the replay list: jsets `first..=last` are needed but were not found.
///
/// A hole at the start is what reusing a bucket leaves when the first write into it tears:
/// mainline's journal_reclaim reuses a bucket once its jsets are below the *current*
/// `last_seq`, which can be newer than the `last_seq` the newest durable jset recorded. Those
/// jsets' keys are already in written btree nodes (that is what moved `last_seq`), so mainline
/// tolerates exactly this hole when discard is enabled; the NVDIMM journal should too, or
/// reclaim against the newest durable `last_seq`. Any other hole is lost journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing {
    /// First missing seq.
    pub first: u64,
    /// Last missing seq.
    pub last: u64,
    /// Whether the hole starts at the newest jset's `last_seq`.
    pub at_start: bool,
}
