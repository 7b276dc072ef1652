//! The order in which replay reads journal buckets and where journaling resumes
//! (`bch_journal_read`).
//!
//! The journal buckets form a ring written in order, so their newest `seq` rises along the
//! ring up to the bucket written last and drops after it. Mainline finds that bucket without
//! reading them all: probe buckets in golden-ratio hash order (index 0 first) until one yields
//! jsets, else try the rest linearly; binary-search between it and the next bucket already
//! read for the last bucket that still raises the newest `seq`; then read backwards from
//! there until a bucket adds nothing. The bucket holding the highest `seq` becomes `cur_idx`
//! and the next one `last_idx` (and `discard_idx`). This module is that decision logic; the
//! bucket reads are the caller's closure.

use crate::pure::cache_sb::sb::SB_JOURNAL_BUCKETS;
use crate::pure::grow_vec::GrowVec;
use crate::pure::media::Media;
use crate::pure::nvmpg::format::NvmpgOffset;

use super::replay::{Entry, Replay};
use crate::pure::journal::error::JournalError;
use crate::pure::journal::geometry::Geometry;

/// `2654435769`: the golden-ratio multiplier of the probe order (wrapping `u32` product).
const GOLDEN: u32 = 2_654_435_769;

/// Words of the bitmap of buckets read.
const BITMAP_WORDS: usize = SB_JOURNAL_BUCKETS as usize / 64;

/// Where the journal resumes after replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalPos {
    /// Newest `seq` found (`c->journal.seq`).
    pub seq: u64,
    /// Bucket holding the highest `seq` (`ja->cur_idx`).
    pub cur_idx: u16,
    /// The bucket after it (`ja->last_idx`, `ja->discard_idx`).
    pub last_idx: u16,
}

/// The state of one search: buckets read so far and their newest `seq`.
struct Search<'a, F> {
    read: F,
    bucket_seq: &'a mut [u64],
    bitmap: [u64; BITMAP_WORDS],
    n: u32,
}

impl<F> Search<'_, F> {
    fn test(&self, b: u32) -> bool {
        self.bitmap
            .get((b / 64) as usize)
            .is_some_and(|w| w & (1 << (b % 64)) != 0)
    }

    /// First bucket already read in `from..n`, or `n`.
    fn next_read(&self, from: u32) -> u32 {
        (from..self.n).find(|&b| self.test(b)).unwrap_or(self.n)
    }

    /// Reads bucket `b`; whether it added a jset (mainline's `read_bucket()` macro).
    fn read_bucket<S: GrowVec<Entry>>(
        &mut self,
        replay: &mut Replay<S>,
        b: u32,
    ) -> Result<bool, JournalError>
    where
        F: FnMut(&mut Replay<S>, u16) -> Result<Option<u64>, JournalError>,
    {
        // `b < n <= SB_JOURNAL_BUCKETS`: the conversions are exact.
        let added = (self.read)(replay, b as u16)?;
        if let Some(w) = self.bitmap.get_mut((b / 64) as usize) {
            *w |= 1 << (b % 64);
        }
        if let (Some(seq), Some(slot)) = (added, self.bucket_seq.get_mut(b as usize)) {
            *slot = (*slot).max(seq);
        }
        Ok(added.is_some())
    }
}

/// Runs mainline's bucket search over `bucket_seq.len()` journal buckets (1 to
/// `SB_JOURNAL_BUCKETS`). `read(replay, b)` scans bucket `b` into `replay` and returns the
/// newest `seq` it added (see [`Replay::read_bucket`]). `bucket_seq` (`ja->seq`) is zeroed,
/// then holds the newest `seq` added from each bucket read. Returns `None` if the journal is
/// empty.
pub fn journal_read<S: GrowVec<Entry>>(
    replay: &mut Replay<S>,
    bucket_seq: &mut [u64],
    read: impl FnMut(&mut Replay<S>, u16) -> Result<Option<u64>, JournalError>,
) -> Result<Option<JournalPos>, JournalError> {
    let buckets = bucket_seq.len();
    let n = match u16::try_from(buckets) {
        Ok(n) if n > 0 && n <= SB_JOURNAL_BUCKETS => u32::from(n),
        _ => return Err(JournalError::BadBucketCount { buckets }),
    };
    bucket_seq.fill(0);
    let mut s = Search {
        read,
        bucket_seq,
        bitmap: [0; BITMAP_WORDS],
        n,
    };

    // Golden-ratio probes (index 0 first: the ring may have wrapped), then the rest.
    let mut found = None;
    for i in 0..n {
        let l = i.wrapping_mul(GOLDEN) % n;
        if s.test(l) {
            break;
        }
        if s.read_bucket(replay, l)? {
            found = Some(l);
            break;
        }
    }
    if found.is_none() {
        for l in 0..n {
            if !s.test(l) && s.read_bucket(replay, l)? {
                found = Some(l);
                break;
            }
        }
    }
    let Some(mut l) = found else {
        return Ok(None);
    };

    // Binary search for the last bucket that raises the newest seq.
    let mut m = l;
    let mut r = s.next_read(l + 1);
    while l + 1 < r {
        let seq = replay.newest().map(|e| e.seq);
        m = (l + r) >> 1;
        s.read_bucket(replay, m)?;
        if seq != replay.newest().map(|e| e.seq) {
            l = m;
        } else {
            r = m;
        }
    }

    // Backwards around the ring until a bucket adds nothing.
    l = m;
    loop {
        l = if l == 0 { n - 1 } else { l - 1 };
        if l == m {
            break;
        }
        if s.test(l) {
            continue;
        }
        if !s.read_bucket(replay, l)? {
            break;
        }
    }

    let Some(newest) = replay.newest() else {
        return Ok(None);
    };
    let mut pos = JournalPos {
        seq: newest.seq,
        cur_idx: 0,
        last_idx: 0,
    };
    let mut seq = 0;
    for (i, &b) in (0..n as u16).zip(s.bucket_seq.iter()) {
        if b > seq {
            seq = b;
            pos.cur_idx = i;
            pos.last_idx = ((u32::from(i) + 1) % n) as u16;
        }
    }
    Ok(Some(pos))
}

/// Reads the NVDIMM journal whose bucket `i` starts at nvmpg offset `d[i]` (all in the
/// namespace mapped by `media`, as the superblock checks guarantee): [`journal_read`] with
/// [`Replay::read_bucket`] as the bucket read. `bucket_seq` must be as long as `d`.
pub fn read_nvdimm_journal<M: Media + ?Sized, S: GrowVec<Entry>>(
    media: &M,
    d: &[u64],
    geo: &Geometry,
    magic: u64,
    replay: &mut Replay<S>,
    bucket_seq: &mut [u64],
) -> Result<Option<JournalPos>, JournalError> {
    if d.len() != bucket_seq.len() {
        return Err(JournalError::BadBucketCount { buckets: d.len() });
    }
    journal_read(replay, bucket_seq, |replay, b| {
        let start = d
            .get(usize::from(b))
            .map(|&o| NvmpgOffset(o).offset())
            .ok_or(JournalError::BadBucketCount { buckets: d.len() })?;
        replay
            .read_bucket(media, b, start, geo, magic)
            .map(|(added, _)| added)
    })
}
