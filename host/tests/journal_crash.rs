//! Crash consistency of the NVDIMM journal: record every store, flush and fence of a run of
//! jset writes over a ring of buckets that still hold a previous cycle's jsets, enumerate the
//! images a crash can leave, replay each with the real scan, list and bucket search, and check
//! it against the model.
//!
//! Per crash image: the newest jset replayed is the last one whose write returned, or the one
//! in flight; the replay list is exactly `[last_seq, seq]` of that newest jset (no hole, no
//! stale jset of the previous cycle, nothing newer); every listed jset is where the model put
//! it and its bytes on the image are the bytes written (never a torn jset); the search resumes
//! at the newest jset's bucket.
//!
//! `NVMPG_CRASH_FULL=1` widens the budget and the run.

mod journal_util;

use std::collections::BTreeMap;
use std::io::Write;

use bcache_nvm_core::crash::{Budget, CrashState, HostMedia, Recording, XorShift};
use bcache_nvm_core::journal::geometry::Geometry;
use bcache_nvm_core::journal::write::write_jset;
use bcache_nvm_core::media::Media;
use bcache_nvm_core::nvmpg::format::NvmpgOffset;
use bcache_nvm_core::replay_model::read::read_nvdimm_journal;
use bcache_nvm_core::replay_model::replay::{Entry, Replay};
use journal_util::{build_jset, JSET_MAGIC_C};

const SET_MAGIC: u64 = 0x0bad_cafe_f00d_d00d;
const BUCKET: u64 = 4096;
const BLOCK: u64 = 512;
const NBUCKETS: u64 = 6;
/// The journal range starts at 4 KiB of the namespace.
const BASE: u64 = 4096;

fn d() -> Vec<u64> {
    (0..NBUCKETS)
        .map(|i| NvmpgOffset::new(0, BASE + i * BUCKET).unwrap().0)
        .collect()
}

/// One jset the model wrote.
#[derive(Clone, Debug)]
struct Written {
    last_seq: u64,
    bucket: u16,
    offset: u64,
    bytes: Vec<u8>,
}

/// The journal writer of the model: journal.c's placement (next block-aligned offset in the
/// current bucket, else offset 0 of the next bucket of the ring) with monotonic `last_seq`.
struct Journal {
    geo: Geometry,
    seq: u64,
    last_seq: u64,
    bucket: u16,
    offset: u64,
    /// Every jset written, by seq.
    jsets: BTreeMap<u64, Written>,
    /// Which seqs each bucket holds intact, by offset.
    buckets: Vec<BTreeMap<u64, u64>>,
}

impl Journal {
    fn new() -> Self {
        Journal {
            geo: Geometry::new(BUCKET, BLOCK).unwrap(),
            seq: 0,
            last_seq: 1,
            bucket: 0,
            offset: 0,
            jsets: BTreeMap::new(),
            buckets: vec![BTreeMap::new(); NBUCKETS as usize],
        }
    }

    /// Writes the next jset of `keys` keys with `last_seq` moved up by at most `lag`.
    fn write(&mut self, m: &mut HostMedia, keys: u32, rng: &mut XorShift) {
        let seq = self.seq + 1;
        let j = build_jset(SET_MAGIC, seq, self.last_seq, keys, BLOCK as usize);
        if self.offset + j.len() as u64 > BUCKET {
            // journal_reclaim: the next bucket may only be reused once all it holds is below
            // the last_seq of the newest jset already durable.
            self.bucket = (self.bucket + 1) % NBUCKETS as u16;
            self.offset = 0;
            let durable_last = self.jsets.get(&self.seq).map_or(1, |w| w.last_seq);
            let stale = &self.buckets[self.bucket as usize];
            assert!(stale.values().all(|&s| s < durable_last), "ring too small");
        }
        let b = self.bucket as usize;
        // The jset overwrites whatever the previous cycle left under it.
        let end = self.offset + j.len() as u64;
        let hit: Vec<u64> = self.buckets[b]
            .iter()
            .filter(|(&o, s)| o < end && o + self.jsets[s].bytes.len() as u64 > self.offset)
            .map(|(&o, _)| o)
            .collect();
        for o in hit {
            self.buckets[b].remove(&o);
        }
        write_jset(m, &self.geo, NvmpgOffset(d()[b]), self.offset, &j).unwrap();
        self.buckets[b].insert(self.offset, seq);
        self.jsets.insert(
            seq,
            Written {
                last_seq: self.last_seq,
                bucket: self.bucket,
                offset: self.offset,
                bytes: j.clone(),
            },
        );
        self.offset = end;
        self.seq = seq;
        // Btree writes complete: the next jset may pin less.
        self.last_seq = (self.last_seq + rng.below(3))
            .min(seq + 1)
            .max(seq.saturating_sub(4));
    }
}

/// A recorded run: the model after the setup and `ops` recorded writes.
struct Run {
    rec: Recording,
    journal: Journal,
    /// Newest seq after `i` recorded writes returned.
    newest: Vec<u64>,
}

fn run(setup: usize, ops: usize, seed: u64) -> Run {
    let mut rng = XorShift::new(seed);
    let mut m = HostMedia::new((BASE + NBUCKETS * BUCKET) as usize);
    let mut j = Journal::new();
    let keys = |rng: &mut XorShift| match rng.below(4) {
        0 => 0,
        1 => rng.below(34) as u32,
        2 => 34 + rng.below(64) as u32,
        _ => 100 + rng.below(60) as u32,
    };
    for _ in 0..setup {
        let k = keys(&mut rng);
        j.write(&mut m, k, &mut rng);
    }
    m.start_recording();
    let mut newest = vec![j.seq];
    for _ in 0..ops {
        let k = keys(&mut rng);
        j.write(&mut m, k, &mut rng);
        m.mark();
        newest.push(j.seq);
    }
    Run {
        rec: m.take_recording().unwrap(),
        journal: j,
        newest,
    }
}

fn check_state(s: &CrashState<'_>, r: &Run) -> Result<(), String> {
    let img = &s.image;
    let mut replay = Replay::new(Vec::new());
    let mut bucket_seq = vec![0; NBUCKETS as usize];
    let geo = r.journal.geo;
    let magic = SET_MAGIC ^ JSET_MAGIC_C;
    let pos = read_nvdimm_journal(img, &d(), &geo, magic, &mut replay, &mut bucket_seq)
        .map_err(|e| format!("read: {e}"))?
        .ok_or("empty journal")?;
    let got: &[Entry] = replay.entries();
    let newest = got.last().ok_or("no entries")?.seq;
    let done = r.newest[s.ops_done];
    if newest != done && Some(&newest) != r.newest.get(s.ops_done + 1) {
        return Err(format!("newest {newest}, {done} completed"));
    }
    let w = &r.journal.jsets[&newest];
    let want: Vec<u64> = (w.last_seq..=newest).collect();
    let seqs: Vec<u64> = got.iter().map(|e| e.seq).collect();
    if seqs != want {
        return Err(format!("replayed {seqs:?}, want {want:?}"));
    }
    if replay.missing().is_some() || pos.seq != newest || pos.cur_idx != w.bucket {
        return Err(format!("pos {pos:?}, missing {:?}", replay.missing()));
    }
    for e in got {
        let w = &r.journal.jsets[&e.seq];
        if (e.bucket, e.offset, e.last_seq) != (w.bucket, w.offset, w.last_seq) {
            return Err(format!("seq {} found at {e:?}, written at {w:?}", e.seq));
        }
        let mut bytes = vec![0; e.bytes as usize];
        img.read(
            NvmpgOffset(d()[e.bucket as usize]).offset() + e.offset,
            &mut bytes,
        )
        .map_err(|_| "read jset")?;
        if bytes[..] != w.bytes[..e.bytes as usize] {
            return Err(format!("seq {} replayed torn", e.seq));
        }
    }
    Ok(())
}

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn crash_during_jset_writes() {
    let full = std::env::var_os("NVMPG_CRASH_FULL").is_some();
    let (seeds, ops, budget) = if full {
        (
            1..=12u64,
            120,
            Budget {
                exhaustive: 1 << 12,
                random: 256,
                seed: 1,
            },
        )
    } else {
        (
            1..=3u64,
            40,
            Budget {
                exhaustive: 256,
                random: 24,
                seed: 1,
            },
        )
    };
    let (mut states, mut violations, mut points) = (0, 0, 0);
    for seed in seeds {
        // The setup fills the ring once, so every recorded write lands on a previous cycle.
        let r = run(16, ops, seed);
        let n = r.rec.crash_states(Budget { seed, ..budget }, |s| {
            if let Err(e) = check_state(&s, &r) {
                if violations < 5 {
                    say(&format!(
                        "seed {seed} point {} (ops done {}): {e}",
                        s.point, s.ops_done
                    ));
                }
                violations += 1;
            }
        });
        states += n.states;
        points += n.points;
    }
    say(&format!("journal crash points: {points}"));
    say(&format!(
        "journal crash states explored: {states}, violations: {violations}"
    ));
    assert!(states > 1000);
    assert_eq!(violations, 0);
}
