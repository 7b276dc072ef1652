//! Host-only media: an in-memory namespace that can record every store, flush and fence, and
//! the crash-state enumerator that turns a recording into the images a crash could leave.
//!
//! Model (the one documented in `nvmpg/media.rs`): a store is durable once a flush covering it
//! and a later fence have completed. At a crash, every 8-byte word that still has non-durable
//! stores holds either its durable value or any value it was given since, independently of the
//! other words. Flushes are taken at word granularity (not cache lines), the strictest reading:
//! code cannot lean on a neighbour's flush. A crash anywhere between two fences leaves a subset
//! of the images a crash just before the second fence can leave, so crash points are "just
//! before each fence" and "at the end".
//!
//! Also here: the host's [`GrowVec`] for `Vec`, formatted test namespaces and a small fixed-seed
//! PRNG for tests.

use std::collections::BTreeMap;
use std::vec;
use std::vec::Vec;

use crate::pure::grow_vec::{GrowVec, GrowVecFamily, NoMem};
use crate::pure::media::{Media, OutOfRange, ATOMIC_STORE};
use crate::pure::nvmpg::check::Image;
use crate::pure::nvmpg::format::{write_formatted, FormatError, Sb};

impl<T: Copy> GrowVec<T> for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn as_slice(&self) -> &[T] {
        Vec::as_slice(self)
    }
    fn as_mut_slice(&mut self) -> &mut [T] {
        Vec::as_mut_slice(self)
    }
    fn try_push(&mut self, v: T) -> Result<(), NoMem> {
        self.try_reserve(1).map_err(|_| NoMem)?;
        self.push(v);
        Ok(())
    }
    fn try_reserve(&mut self, additional: usize) -> Result<(), NoMem> {
        Vec::try_reserve(self, additional).map_err(|_| NoMem)
    }
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len)
    }
}

/// The host's [`GrowVecFamily`]: `Vec`.
#[derive(Debug)]
pub struct HostVecs;

impl GrowVecFamily for HostVecs {
    type GrowVec<T: Copy> = Vec<T>;
    fn new_seq<T: Copy>() -> Vec<T> {
        Vec::new()
    }
}

/// xorshift64*: a tiny deterministic PRNG for randomized tests with fixed seeds.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator; `seed` 0 is replaced by a fixed non-zero constant.
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A zeroed namespace of `len` bytes formatted as namespace `this_ns` of a set of `total_ns`
/// (`bcache make -M`): sb, and on namespace 0 the set header with `heads[0]` and its block.
/// Its uuid is `set_uuid` with the last byte replaced by `this_ns`. Fails if `len` cannot hold
/// the reserved area.
pub fn format_namespace(
    len: usize,
    set_uuid: [u8; 16],
    total_ns: u32,
    this_ns: u32,
) -> Result<HostMedia, FormatError> {
    let mut m = HostMedia::new(len);
    let mut uuid = set_uuid;
    uuid[15] = this_ns as u8;
    let sb = Sb::formatted(uuid, set_uuid, total_ns, this_ns, (len / 4096) as u64);
    write_formatted(m.bytes_mut(), &sb)?;
    Ok(m)
}

impl Image for HostMedia {
    fn size(&self) -> u64 {
        Media::len(self)
    }
    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        Media::read(self, off, dst)
    }
}

impl Image for CrashImage<'_> {
    fn size(&self) -> u64 {
        Media::len(self)
    }
    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        Media::read(self, off, dst)
    }
}

/// One recorded media call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `store(off, data)`.
    Store {
        /// Byte offset.
        off: u64,
        /// Bytes stored.
        data: Vec<u8>,
    },
    /// `flush(off, len)`.
    Flush {
        /// Byte offset.
        off: u64,
        /// Length in bytes.
        len: u64,
    },
    /// `fence()`.
    Fence,
    /// An operation of the test returned (see [`HostMedia::mark`]).
    Mark,
}

/// The calls made on a [`HostMedia`] since [`HostMedia::start_recording`], and the image they
/// started from.
#[derive(Debug, Clone)]
pub struct Recording {
    base: Vec<u8>,
    events: Vec<Event>,
}

/// An in-memory namespace; optionally records every call.
#[derive(Debug, Clone)]
pub struct HostMedia {
    buf: Vec<u8>,
    rec: Option<Recording>,
    /// Known-bad byte ranges `(start, len)`, ascending: reads there fail, as DAX refuses them.
    bad: Vec<(u64, u64)>,
}

impl HostMedia {
    /// A zero-filled namespace of `len` bytes.
    pub fn new(len: usize) -> Self {
        Self::from_vec(vec![0; len])
    }
    /// A namespace holding `buf`.
    pub fn from_vec(buf: Vec<u8>) -> Self {
        HostMedia {
            buf,
            rec: None,
            bad: Vec::new(),
        }
    }
    /// Puts `[start, start + len)` on the known-bad list (the pmem driver's badblocks).
    pub fn mark_bad(&mut self, start: u64, len: u64) {
        self.bad.push((start, len));
        self.bad.sort_unstable();
    }
    /// The current contents (every store, durable or not).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
    /// Mutable access to the contents, bypassing the recording (for corrupting images in tests).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
    /// Starts recording from the current contents, taken as durable.
    pub fn start_recording(&mut self) {
        self.rec = Some(Recording {
            base: self.buf.clone(),
            events: Vec::new(),
        });
    }
    /// Records that an operation of the test has returned.
    pub fn mark(&mut self) {
        self.log(Event::Mark);
    }
    /// Stops recording and returns what was recorded.
    pub fn take_recording(&mut self) -> Option<Recording> {
        self.rec.take()
    }
    fn log(&mut self, e: Event) {
        if let Some(r) = &mut self.rec {
            r.events.push(e);
        }
    }
    fn range(&self, off: u64, len: usize) -> Result<core::ops::Range<usize>, OutOfRange> {
        let start = usize::try_from(off).map_err(|_| OutOfRange)?;
        let end = start.checked_add(len).ok_or(OutOfRange)?;
        if end > self.buf.len() {
            return Err(OutOfRange);
        }
        Ok(start..end)
    }
}

impl Media for HostMedia {
    fn len(&self) -> u64 {
        self.buf.len() as u64
    }
    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        let r = self.range(off, dst.len())?;
        let end = off + dst.len() as u64;
        if self.bad.iter().any(|&(s, l)| s < end && off < s + l) {
            return Err(OutOfRange);
        }
        dst.copy_from_slice(&self.buf[r]);
        Ok(())
    }
    fn bad_range(&self, i: usize) -> Option<(u64, u64)> {
        self.bad.get(i).copied()
    }
    fn store(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        let r = self.range(off, src.len())?;
        self.buf[r].copy_from_slice(src);
        self.log(Event::Store {
            off,
            data: src.to_vec(),
        });
        Ok(())
    }
    fn flush(&mut self, off: u64, len: u64) -> Result<(), OutOfRange> {
        self.range(off, usize::try_from(len).map_err(|_| OutOfRange)?)?;
        self.log(Event::Flush { off, len });
        Ok(())
    }
    fn fence(&mut self) {
        self.log(Event::Fence);
    }
}

/// A crash image: a durable base plus the non-durable words that happened to reach the media.
/// Stores (e.g. repairs done by register) go to the overlay; the base is never written.
#[derive(Debug, Clone)]
pub struct CrashImage<'a> {
    base: &'a [u8],
    /// Word index -> value, overriding the base.
    words: BTreeMap<u64, u64>,
}

const WORD: u64 = ATOMIC_STORE as u64;

impl<'a> CrashImage<'a> {
    /// An image equal to `base` (e.g. an untouched namespace of the set).
    pub fn new(base: &'a [u8]) -> Self {
        CrashImage {
            base,
            words: BTreeMap::new(),
        }
    }
    fn word(&self, w: u64) -> u64 {
        if let Some(&v) = self.words.get(&w) {
            return v;
        }
        let mut b = [0u8; 8];
        let s = (w * WORD) as usize;
        let n = self.base.len().saturating_sub(s).min(8);
        b[..n].copy_from_slice(&self.base[s..s + n]);
        u64::from_le_bytes(b)
    }
    fn check(&self, off: u64, len: usize) -> Result<(), OutOfRange> {
        match off.checked_add(len as u64) {
            Some(end) if end <= self.base.len() as u64 => Ok(()),
            _ => Err(OutOfRange),
        }
    }
}

impl Media for CrashImage<'_> {
    fn len(&self) -> u64 {
        self.base.len() as u64
    }
    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        self.check(off, dst.len())?;
        let s = off as usize;
        dst.copy_from_slice(&self.base[s..s + dst.len()]);
        let end = off + dst.len() as u64;
        for (&w, &v) in self.words.range(off / WORD..end.div_ceil(WORD)) {
            for (i, byte) in v.to_le_bytes().iter().enumerate() {
                let at = w * WORD + i as u64;
                if (off..end).contains(&at) {
                    dst[(at - off) as usize] = *byte;
                }
            }
        }
        Ok(())
    }
    fn store(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        self.check(off, src.len())?;
        for (i, byte) in src.iter().enumerate() {
            let at = off + i as u64;
            let mut b = self.word(at / WORD).to_le_bytes();
            b[(at % WORD) as usize] = *byte;
            self.words.insert(at / WORD, u64::from_le_bytes(b));
        }
        Ok(())
    }
    fn flush(&mut self, off: u64, len: u64) -> Result<(), OutOfRange> {
        self.check(off, len as usize)
    }
    fn fence(&mut self) {}
}

/// How many images to try at one crash point.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Enumerate every combination when there are at most this many.
    pub exhaustive: u64,
    /// Otherwise: none, all, each single word, all but each single word, and this many
    /// random combinations.
    pub random: usize,
    /// Seed of the random combinations.
    pub seed: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            exhaustive: 64,
            random: 16,
            seed: 1,
        }
    }
}

/// One state a crash can leave.
#[derive(Debug)]
pub struct CrashState<'a> {
    /// How many [`HostMedia::mark`]s were recorded before the crash point: the operations that
    /// had returned.
    pub ops_done: usize,
    /// Index of the crash point (fences before it).
    pub point: usize,
    /// The image.
    pub image: CrashImage<'a>,
}

/// Counts of an enumeration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Explored {
    /// Crash points visited.
    pub points: usize,
    /// Images produced.
    pub states: usize,
}

/// Per word: values stored since the durable one, and how many of them a flush has covered.
#[derive(Debug, Default)]
struct Pending {
    values: Vec<u64>,
    flushed: usize,
}

impl Recording {
    /// The recorded calls.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The same recording with its `n`th fence (counting from 0) left out: a negative
    /// control, to show that a crash test fails when the code forgets that fence.
    pub fn without_fence(&self, n: usize) -> Recording {
        let mut seen = 0;
        let events = self
            .events
            .iter()
            .filter(|e| {
                let drop = matches!(e, Event::Fence) && seen == n;
                if matches!(e, Event::Fence) {
                    seen += 1;
                }
                !drop
            })
            .cloned()
            .collect();
        Recording {
            base: self.base.clone(),
            events,
        }
    }

    /// Index of the last fence before the `n`th [`HostMedia::mark`] (counting from 0): the
    /// fence that commits operation `n`.
    pub fn commit_fence_of(&self, n: usize) -> Option<usize> {
        let (mut fences, mut marks, mut last) = (0, 0, None);
        for e in &self.events {
            match e {
                Event::Fence => {
                    last = Some(fences);
                    fences += 1;
                }
                Event::Mark if marks == n => return last,
                Event::Mark => marks += 1,
                _ => {}
            }
        }
        None
    }

    /// Calls `f` with every crash image the recording can leave (within `budget`), crash point
    /// by crash point.
    pub fn crash_states(&self, budget: Budget, mut f: impl FnMut(CrashState<'_>)) -> Explored {
        let mut durable = self.base.clone();
        let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
        let mut ops_done = 0;
        let mut n = Explored::default();
        let mut rng = XorShift::new(budget.seed);
        for e in self.events.iter().chain(core::iter::once(&Event::Fence)) {
            match e {
                Event::Store { off, data } => {
                    let end = off + data.len() as u64;
                    for w in off / WORD..end.div_ceil(WORD) {
                        let p = pending.entry(w).or_default();
                        let cur = p.values.last().copied();
                        let mut b = cur.unwrap_or_else(|| word_of(&durable, w)).to_le_bytes();
                        for (i, byte) in b.iter_mut().enumerate() {
                            let at = w * WORD + i as u64;
                            if (*off..end).contains(&at) {
                                *byte = data[(at - off) as usize];
                            }
                        }
                        p.values.push(u64::from_le_bytes(b));
                    }
                }
                Event::Flush { off, len } => {
                    for (_, p) in pending.range_mut(off / WORD..(off + len).div_ceil(WORD)) {
                        p.flushed = p.values.len();
                    }
                }
                Event::Mark => ops_done += 1,
                Event::Fence => {
                    let point = n.points;
                    n.points += 1;
                    n.states += emit(&durable, &pending, budget, &mut rng, |image| {
                        f(CrashState {
                            ops_done,
                            point,
                            image,
                        })
                    });
                    pending.retain(|&w, p| {
                        if p.flushed > 0 {
                            set_word(&mut durable, w, p.values[p.flushed - 1]);
                            p.values.drain(..p.flushed);
                            p.flushed = 0;
                        }
                        !p.values.is_empty()
                    });
                }
            }
        }
        n
    }
}

fn word_of(buf: &[u8], w: u64) -> u64 {
    let s = (w * WORD) as usize;
    u64::from_le_bytes(buf[s..s + 8].try_into().unwrap_or([0; 8]))
}

fn set_word(buf: &mut [u8], w: u64, v: u64) {
    let s = (w * WORD) as usize;
    buf[s..s + 8].copy_from_slice(&v.to_le_bytes());
}

/// Emits the images of one crash point; returns how many.
fn emit(
    durable: &[u8],
    pending: &BTreeMap<u64, Pending>,
    budget: Budget,
    rng: &mut XorShift,
    mut f: impl FnMut(CrashImage<'_>),
) -> usize {
    // Per word that may change: its distinct non-durable values.
    let mut choices: Vec<(u64, Vec<u64>)> = Vec::new();
    for (&w, p) in pending {
        let old = word_of(durable, w);
        let mut vals: Vec<u64> = Vec::new();
        for &v in &p.values {
            if v != old && !vals.contains(&v) {
                vals.push(v);
            }
        }
        if !vals.is_empty() {
            choices.push((w, vals));
        }
    }
    let total = choices
        .iter()
        .try_fold(1u64, |acc, (_, v)| acc.checked_mul(v.len() as u64 + 1))
        .unwrap_or(u64::MAX);
    // A pick is, per word, 0 for the durable value or 1 + index of a pending value.
    let mut picks: Vec<Vec<usize>> = Vec::new();
    if total <= budget.exhaustive {
        for mut i in 0..total {
            picks.push(
                choices
                    .iter()
                    .map(|(_, v)| {
                        let r = v.len() as u64 + 1;
                        let d = (i % r) as usize;
                        i /= r;
                        d
                    })
                    .collect(),
            );
        }
    } else {
        let k = choices.len();
        let last: Vec<usize> = choices.iter().map(|(_, v)| v.len()).collect();
        picks.push(vec![0; k]);
        picks.push(last.clone());
        for i in 0..k {
            let mut one = vec![0; k];
            one[i] = last[i];
            picks.push(one);
            let mut but = last.clone();
            but[i] = 0;
            picks.push(but);
        }
        for _ in 0..budget.random {
            picks.push(
                last.iter()
                    .map(|&l| rng.below(l as u64 + 1) as usize)
                    .collect(),
            );
        }
    }
    for pick in &picks {
        let mut image = CrashImage::new(durable);
        for ((w, vals), &p) in choices.iter().zip(pick) {
            if p > 0 {
                image.words.insert(*w, vals[p - 1]);
            }
        }
        f(image);
    }
    picks.len()
}
