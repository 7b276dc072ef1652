//! The journal's write and replay paths on a host namespace: write_jset's stores and fence,
//! the bucket scan's stop rules (journal_read_bucket), the replay list's keep/skip rules, and
//! the bucket search of bch_journal_read against rings written by a model journal.

mod journal_util;

use bcache_nvm_core::crash::{Event, HostMedia, XorShift};
use bcache_nvm_core::journal::error::JournalError;
use bcache_nvm_core::journal::geometry::Geometry;
use bcache_nvm_core::journal::scan::{read_bucket, Found, ScanEnd};
use bcache_nvm_core::journal::write::write_jset;
use bcache_nvm_core::nvmpg::format::NvmpgOffset;
use bcache_nvm_core::replay_model::read::{journal_read, read_nvdimm_journal, JournalPos};
use bcache_nvm_core::replay_model::replay::{Entry, Missing, Replay};
use journal_util::build_jset;

const SET_MAGIC: u64 = 0x1234_5678_9abc_def0;
const MAGIC: u64 = SET_MAGIC ^ journal_util::JSET_MAGIC_C;
const BUCKET: u64 = 8192;
const BLOCK: u64 = 512;
/// Bucket `i` is at 16 KiB + i * 8 KiB of namespace 0.
fn bucket(i: u64) -> NvmpgOffset {
    NvmpgOffset::new(0, (16 << 10) + i * BUCKET).unwrap()
}

fn geo() -> Geometry {
    Geometry::new(BUCKET, BLOCK).unwrap()
}

fn jset(seq: u64, last_seq: u64, keys: u32) -> Vec<u8> {
    build_jset(SET_MAGIC, seq, last_seq, keys, BLOCK as usize)
}

/// Writes jsets `(seq, last_seq, keys)` one after the other into bucket `b` from offset 0.
fn fill(m: &mut HostMedia, b: u64, jsets: &[(u64, u64, u32)]) -> Vec<u64> {
    let mut off = 0;
    let mut offs = Vec::new();
    for &(seq, last, keys) in jsets {
        let j = jset(seq, last, keys);
        write_jset(m, &geo(), bucket(b), off, &j).unwrap();
        offs.push(off);
        off += j.len() as u64;
    }
    offs
}

fn scan(m: &HostMedia, b: u64) -> (Vec<Found>, ScanEnd) {
    let mut found = Vec::new();
    let end = read_bucket(m, bucket(b).offset(), &geo(), MAGIC, |f| {
        found.push(f);
        Ok(())
    })
    .unwrap();
    (found, end)
}

fn seqs(found: &[Found]) -> Vec<u64> {
    found.iter().map(|f| f.seq).collect()
}

#[test]
fn write_is_one_flushed_copy_then_a_fence() {
    let mut m = HostMedia::new(64 << 10);
    m.start_recording();
    let j = jset(5, 4, 40);
    write_jset(&mut m, &geo(), bucket(1), 1024, &j).unwrap();
    let at = bucket(1).offset() + 1024;
    assert_eq!(&m.bytes()[at as usize..][..j.len()], &j[..]);
    let rec = m.take_recording().unwrap();
    assert_eq!(
        rec.events(),
        &[
            Event::Store {
                off: at,
                data: j.clone()
            },
            Event::Flush {
                off: at,
                len: j.len() as u64
            },
            Event::Fence
        ]
    );

    m.start_recording();
    let refused = |m: &mut HostMedia, off: u64, data: &[u8]| {
        assert!(write_jset(m, &geo(), bucket(1), off, data).is_err());
    };
    refused(&mut m, 100, &j); // not block aligned
    refused(&mut m, BUCKET - 512, &j); // past the bucket
    refused(&mut m, 0, &j[..300]); // shorter than its keys
    refused(&mut m, 0, &j[..100]); // not even a header
    let mut huge = jset(6, 4, 4000); // 32 240 bytes
    huge.resize(40 << 10, 0);
    assert!(write_jset(
        &mut m,
        &Geometry::new(1 << 20, 512).unwrap(),
        bucket(1),
        0,
        &huge
    )
    .is_err());
    assert!(m.take_recording().unwrap().events().is_empty());
    let mut small = HostMedia::new(20 << 10);
    assert_eq!(
        write_jset(&mut small, &geo(), bucket(1), 0, &j),
        Err(JournalError::OutOfRange)
    );
}

#[test]
fn empty_bucket_has_nothing() {
    let m = HostMedia::new(64 << 10);
    assert_eq!(scan(&m, 0), (vec![], ScanEnd::BadMagic { offset: 0 }));
}

#[test]
fn several_jsets_in_bucket_order() {
    let mut m = HostMedia::new(64 << 10);
    let offs = fill(
        &mut m,
        2,
        &[(10, 8, 0), (11, 8, 100), (12, 9, 34), (13, 9, 35)],
    );
    assert_eq!(offs, [0, 512, 2048, 2560]);
    let (found, end) = scan(&m, 2);
    assert_eq!(
        found[1],
        Found {
            seq: 11,
            last_seq: 8,
            offset: 512,
            bytes: 1040
        }
    );
    assert_eq!(seqs(&found), [10, 11, 12, 13]);
    assert_eq!(found.iter().map(|f| f.offset).collect::<Vec<_>>(), offs);
    assert_eq!(end, ScanEnd::BadMagic { offset: 3584 });

    // A bucket filled to its last block ends at the bucket end.
    let full: Vec<_> = (0..16).map(|i| (20 + i, 20, 0)).collect();
    fill(&mut m, 3, &full);
    let (found, end) = scan(&m, 3);
    assert_eq!(found.len(), 16);
    assert_eq!(end, ScanEnd::BucketEnd);
}

#[test]
fn torn_last_jset_ends_the_scan() {
    let mut m = HostMedia::new(64 << 10);
    let offs = fill(&mut m, 0, &[(1, 1, 10), (2, 1, 10), (3, 1, 60)]);
    // One 8-byte word of the last jset's keys never reached the media.
    let at = (bucket(0).offset() + offs[2] + 400) as usize;
    m.bytes_mut()[at..at + 8].fill(0);
    assert_eq!(
        scan(&m, 0),
        (scan(&m, 0).0, ScanEnd::BadCsum { offset: offs[2] })
    );
    assert_eq!(seqs(&scan(&m, 0).0), [1, 2]);
    // Torn in the header (its seq) is caught the same way.
    let mut m2 = HostMedia::new(64 << 10);
    fill(&mut m2, 0, &[(1, 1, 10), (2, 1, 10)]);
    let at = (bucket(0).offset() + 512 + 16) as usize;
    m2.bytes_mut()[at] ^= 1;
    assert_eq!(scan(&m2, 0).1, ScanEnd::BadCsum { offset: 512 });
}

#[test]
fn corrupted_middle_jset_hides_the_rest_of_the_bucket() {
    let mut m = HostMedia::new(64 << 10);
    let offs = fill(&mut m, 1, &[(5, 5, 0), (6, 5, 0), (7, 5, 0), (8, 5, 0)]);
    let at = (bucket(1).offset() + offs[1] + 100) as usize;
    m.bytes_mut()[at] ^= 0x80;
    let (found, end) = scan(&m, 1);
    assert_eq!(seqs(&found), [5]);
    assert_eq!(end, ScanEnd::BadCsum { offset: 512 });
}

#[test]
fn size_magic_and_version_rules() {
    let mut m = HostMedia::new(64 << 10);
    // A jset claiming more than the rest of the bucket.
    fill(&mut m, 0, &[(1, 1, 0)]);
    let mut j = jset(2, 1, 0);
    j[28..32].copy_from_slice(&1000u32.to_le_bytes()); // 8240 bytes > 7680 left
    m.bytes_mut()[(bucket(0).offset() + 512) as usize..][..512].copy_from_slice(&j);
    assert_eq!(
        scan(&m, 0).1,
        ScanEnd::TooBig {
            offset: 512,
            bytes: 8240
        }
    );
    // Larger than a jset may be, in a bucket that would hold it.
    let big = Geometry::new(1 << 16, 512).unwrap();
    j[28..32].copy_from_slice(&5000u32.to_le_bytes());
    m.bytes_mut()[(bucket(0).offset() + 512) as usize..][..512].copy_from_slice(&j);
    let end = read_bucket(&m, bucket(0).offset(), &big, MAGIC, |_| Ok(())).unwrap();
    assert_eq!(
        end,
        ScanEnd::TooBig {
            offset: 512,
            bytes: 40240
        }
    );
    // Another cache set's jset.
    let other = build_jset(SET_MAGIC + 1, 2, 1, 0, 512);
    m.bytes_mut()[(bucket(0).offset() + 512) as usize..][..512].copy_from_slice(&other);
    assert_eq!(scan(&m, 0).1, ScanEnd::BadMagic { offset: 512 });
    // A well-formed jset of another version.
    let mut v2 = jset(2, 1, 0);
    v2[24] = 2;
    bcache_nvm_core::journal::jset::seal(&mut v2).unwrap();
    m.bytes_mut()[(bucket(0).offset() + 512) as usize..][..512].copy_from_slice(&v2);
    assert_eq!(
        scan(&m, 0),
        (
            scan(&m, 0).0,
            ScanEnd::BadVersion {
                offset: 512,
                version: 2
            }
        )
    );
    assert_eq!(seqs(&scan(&m, 0).0), [1]);
    // A visitor error stops the scan and is returned.
    let r = read_bucket(&m, bucket(0).offset(), &geo(), MAGIC, |_| {
        Err(JournalError::NoMem)
    });
    assert_eq!(r, Err(JournalError::NoMem));
    // A bucket outside the mapping.
    let r = read_bucket(&m, (64 << 10) - 100, &geo(), MAGIC, |_| Ok(()));
    assert_eq!(r, Err(JournalError::OutOfRange));
}

fn entry(seq: u64, last_seq: u64) -> Entry {
    Entry {
        seq,
        last_seq,
        bucket: 0,
        offset: 0,
        bytes: 240,
    }
}

fn list(r: &Replay<Vec<Entry>>) -> Vec<u64> {
    r.entries().iter().map(|e| e.seq).collect()
}

#[test]
fn replay_list_keeps_mainlines_jsets() {
    let mut r = Replay::new(vec![entry(99, 99)]);
    assert!(r.entries().is_empty());
    assert_eq!(r.add(entry(10, 8)), Ok(true));
    assert_eq!(r.add(entry(12, 8)), Ok(true));
    assert_eq!(r.add(entry(11, 8)), Ok(true)); // between
    assert_eq!(r.add(entry(9, 8)), Ok(true)); // before all
    assert_eq!(r.add(entry(11, 8)), Ok(false)); // duplicate
    assert_eq!(list(&r), [9, 10, 11, 12]);
    assert_eq!(
        r.missing(),
        Some(Missing {
            first: 8,
            last: 8,
            at_start: true
        })
    );
    assert_eq!(r.add(entry(8, 7)), Ok(true));
    assert_eq!(r.missing(), None);
    // A newer jset's last_seq expires the oldest entries.
    assert_eq!(r.add(entry(13, 10)), Ok(true));
    assert_eq!(list(&r), [10, 11, 12, 13]);
    // Older than a listed jset's last_seq: expired, skipped.
    assert_eq!(r.add(entry(9, 1)), Ok(false));
    // Trimming happens even for a jset then skipped as a duplicate (mainline's order).
    assert_eq!(r.add(entry(12, 11)), Ok(false));
    assert_eq!(list(&r), [11, 12, 13]);
    assert_eq!(r.newest(), Some(entry(13, 10)));
    assert_eq!(
        r.missing(),
        Some(Missing {
            first: 10,
            last: 10,
            at_start: true
        })
    );
    // A hole in the middle.
    let mut h = Replay::new(Vec::new());
    for s in [5, 6, 8] {
        h.add(entry(s, 5)).unwrap();
    }
    assert_eq!(
        h.missing(),
        Some(Missing {
            first: 7,
            last: 7,
            at_start: false
        })
    );
    assert_eq!(Replay::<Vec<Entry>>::new(Vec::new()).missing(), None);
}

#[test]
fn stale_jsets_of_an_earlier_cycle_are_dropped() {
    let mut m = HostMedia::new(64 << 10);
    // Cycle 1 filled the bucket with seq 1..=12; the journal then moved on.
    let old: Vec<_> = (1..=12u64)
        .map(|s| (s, s.saturating_sub(2).max(1), 20))
        .collect();
    fill(&mut m, 0, &old);
    // Cycle 2 reuses it: two jsets, the second one block longer than the stale slots.
    fill(&mut m, 0, &[(30, 25, 20), (31, 25, 60)]);
    let (found, end) = scan(&m, 0);
    // The scan walks on into the stale jsets still intact after the new ones...
    assert_eq!(seqs(&found), [30, 31, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert_eq!(end, ScanEnd::BadMagic { offset: 6144 });
    // ...and replay drops them: they are below last_seq.
    let mut r = Replay::new(Vec::new());
    let (added, _) = r
        .read_bucket(&m, 0, bucket(0).offset(), &geo(), MAGIC)
        .unwrap();
    assert_eq!(added, Some(31));
    assert_eq!(list(&r), [30, 31]);
    assert_eq!(r.entries()[1].offset, 512);
    // Nothing written yet in cycle 2: the stale bucket alone is replayed as it was.
    let mut m2 = HostMedia::new(64 << 10);
    fill(&mut m2, 0, &old);
    let mut r = Replay::new(Vec::new());
    r.read_bucket(&m2, 0, bucket(0).offset(), &geo(), MAGIC)
        .unwrap();
    assert_eq!(list(&r), [10, 11, 12]);
}

#[test]
fn reuse_hole_at_the_start() {
    // Bucket 0 holds seq 1; seq 2 (last_seq 1) fills bucket 1. The pin of seq 1 drops, so
    // mainline's reclaim reuses bucket 0 for seq 3 (last_seq 2) — and the write tears.
    let mut m = HostMedia::new(64 << 10);
    fill(&mut m, 0, &[(1, 1, 0)]);
    fill(&mut m, 1, &[(2, 1, 994)]); // 8192 bytes: the whole bucket
    let j3 = jset(3, 2, 0);
    write_jset(&mut m, &geo(), bucket(0), 0, &j3).unwrap();
    let at = (bucket(0).offset() + 64) as usize;
    m.bytes_mut()[at..at + 8].fill(0xa5);
    let d: Vec<u64> = (0..2).map(|i| bucket(i).0).collect();
    let mut r = Replay::new(Vec::new());
    let pos = read_nvdimm_journal(&m, &d, &geo(), MAGIC, &mut r, &mut [0; 2]).unwrap();
    assert_eq!(pos.map(|p| p.seq), Some(2));
    assert_eq!(list(&r), [2]);
    // GrowVec 1 is gone: a hole at the start, which mainline only tolerates with discard.
    assert_eq!(
        r.missing(),
        Some(Missing {
            first: 1,
            last: 1,
            at_start: true
        })
    );
}

/// A model journal on `n` buckets of `slots` jset slots: bucket contents are `(seq, last_seq)`
/// per slot, `None` past what was ever written; `torn` marks a slot whose write failed.
#[derive(Clone)]
struct Ring {
    slots: Vec<Vec<Option<(u64, u64)>>>,
    torn: Option<(usize, usize)>,
    /// `(seq, last_seq, bucket, slot)` of the last write.
    newest: Option<(u64, u64, usize, usize)>,
}

/// Writes `writes` jsets with `last_seq = seq - window`, moving to the next bucket after a
/// random number of slots (at least one). A bucket is reused only once every jset in it is
/// below the `last_seq` of the newest jset already written (see `reuse_hole_at_the_start`).
fn model_ring(n: usize, slots: usize, writes: u64, window: u64, rng: &mut XorShift) -> Ring {
    let mut ring = Ring {
        slots: vec![vec![None; slots]; n],
        torn: None,
        newest: None,
    };
    let (mut b, mut s, mut per) = (0, 0, 1 + rng.below(slots as u64) as usize);
    for seq in 1..=writes {
        if s == per {
            b = (b + 1) % n;
            s = 0;
            per = 1 + rng.below(slots as u64) as usize;
            let durable_last = (seq - 1).saturating_sub(window).max(1);
            assert!(ring.slots[b]
                .iter()
                .flatten()
                .all(|&(q, _)| q < durable_last));
        }
        let last = seq.saturating_sub(window).max(1);
        ring.slots[b][s] = Some((seq, last));
        ring.newest = Some((seq, last, b, s));
        s += 1;
    }
    ring
}

/// Runs the bucket search over a model ring; returns the result and the buckets read.
fn search(ring: &Ring) -> (Option<JournalPos>, Vec<u64>, usize) {
    let n = ring.slots.len();
    let mut r = Replay::new(Vec::new());
    let mut bucket_seq = vec![7; n];
    let mut reads = 0;
    let pos = journal_read(&mut r, &mut bucket_seq, |r, b| {
        reads += 1;
        let mut newest = None;
        for (i, slot) in ring.slots[b as usize].iter().enumerate() {
            let Some(&(seq, last_seq)) = slot.as_ref() else {
                break;
            };
            if ring.torn == Some((b as usize, i)) {
                break;
            }
            if r.add(Entry {
                seq,
                last_seq,
                bucket: b,
                offset: i as u64,
                bytes: 240,
            })? {
                newest = Some(newest.map_or(seq, |x: u64| x.max(seq)));
            }
        }
        Ok(newest)
    })
    .unwrap();
    (pos, list(&r), reads)
}

#[test]
fn bucket_search_finds_the_newest_bucket_of_any_ring() {
    let mut rng = XorShift::new(7);
    let mut cases = 0;
    for n in [2usize, 3, 5, 8, 13, 64, 256] {
        for _ in 0..40 {
            let slots = 1 + rng.below(4) as usize;
            let window = rng.below(n as u64 - 1);
            let writes = rng.below((n * slots * 3) as u64);
            let mut ring = model_ring(n, slots, writes, window, &mut rng);
            let Some((seq, last, b, slot)) = ring.newest else {
                assert_eq!(search(&ring).0, None);
                continue;
            };
            let (pos, got, reads) = search(&ring);
            let expect: Vec<u64> = (last..=seq).collect();
            assert_eq!(got, expect, "n {n} slots {slots} writes {writes}");
            let last_idx = ((b + 1) % n) as u16;
            assert_eq!(
                pos,
                Some(JournalPos {
                    seq,
                    cur_idx: b as u16,
                    last_idx
                })
            );
            assert!(reads <= n);
            cases += 1;
            // The write of the next jset tore, in this bucket or at the start of the next one
            // (if journal reclaim could have reused it): same answer.
            let (tb, ts) = if slot + 1 < slots {
                (b, slot + 1)
            } else {
                ((b + 1) % n, 0)
            };
            let next_last = (seq + 1).saturating_sub(window).max(1);
            let reusable = ts > 0 || ring.slots[tb].iter().flatten().all(|&(q, _)| q < last);
            if reusable && (tb != b || ts > 0) {
                ring.slots[tb][ts] = Some((seq + 1, next_last));
                ring.torn = Some((tb, ts));
                assert_eq!(search(&ring).1, expect, "torn at {tb}:{ts}");
            }
        }
    }
    assert!(cases > 200);
    // A journal that never wrapped its single bucket.
    let one = Ring {
        slots: vec![vec![Some((1, 1)), Some((2, 1)), Some((3, 2)), None]],
        torn: None,
        newest: Some((3, 2, 0, 2)),
    };
    let pos = JournalPos {
        seq: 3,
        cur_idx: 0,
        last_idx: 0,
    };
    assert_eq!(search(&one), (Some(pos), vec![2, 3], 1));
    let mut r = Replay::new(Vec::new());
    assert_eq!(
        journal_read(&mut r, &mut [], |_, _| Ok(None)),
        Err(JournalError::BadBucketCount { buckets: 0 })
    );
    assert_eq!(
        journal_read(&mut r, &mut [0; 257], |_, _| Ok(None)),
        Err(JournalError::BadBucketCount { buckets: 257 })
    );
}

#[test]
fn nvdimm_journal_read_over_media() {
    let mut m = HostMedia::new(64 << 10);
    fill(&mut m, 0, &[(7, 5, 3), (8, 6, 3)]);
    fill(&mut m, 1, &[(9, 7, 3)]);
    fill(&mut m, 2, &[(4, 2, 3), (5, 3, 3), (6, 4, 3)]);
    let d: Vec<u64> = (0..4).map(|i| bucket(i).0).collect();
    let mut r = Replay::new(Vec::new());
    let mut bs = vec![0; 4];
    let pos = read_nvdimm_journal(&m, &d, &geo(), MAGIC, &mut r, &mut bs).unwrap();
    assert_eq!(
        pos,
        Some(JournalPos {
            seq: 9,
            cur_idx: 1,
            last_idx: 2
        })
    );
    assert_eq!(list(&r), [7, 8, 9]);
    assert_eq!(
        r.entries()[1],
        Entry {
            seq: 8,
            last_seq: 6,
            bucket: 0,
            offset: 512,
            bytes: 264
        }
    );
    assert_eq!(bs[1], 9);
    assert_eq!(
        read_nvdimm_journal(&m, &d, &geo(), MAGIC, &mut r, &mut [0; 3]),
        Err(JournalError::BadBucketCount { buckets: 4 })
    );
}
