//! On-media allocation lists: the set header's heads (one per requester, keyed by uuid) and
//! their chains of 8 KiB recs blocks taken from the area `[16 KiB, 16 MiB)` of namespace 0.
//!
//! A head has one chain per namespace (`recs_offset[ns]`); the records of a chain all describe
//! ranges of that namespace. All 2046 blocks of the area are usable (the seed stopped at 64).
//! In memory we keep a mirror of the heads and of the chain links and exact per-block record
//! counts, so finding a block or a free slot costs no media reads, and an index of where every
//! live record sits (record, head, slot byte offset), so finding the record to remove costs no
//! media reads either. The media stays the truth: the index is rebuilt by [`AllocLists::load`] and
//! changed only after the fence that commits a step, like the rest of the mirror.
//!
//! # Costs
//!
//! With `n` live records and `c` blocks in the owner's chain for the namespace:
//! - [`AllocLists::remove`] and [`AllocLists::find_rec`]: `O(log n)` to find the slot by
//!   binary search in the index, no media reads; the stores are the fixed ones below. Emptying
//!   a block that is not the first of its chain also walks the in-memory chain (`O(c)`, no
//!   media reads) to find the link to rewrite.
//! - [`AllocLists::add`]: `O(c)` in memory to find a block with room, then a media scan of that
//!   block from its first possibly free slot; `O(log n)` plus `O(sqrt n)` amortized element
//!   moves to index the record (see below).
//! - [`AllocLists::load`]: one read of every block of every chain, then a natural merge sort of
//!   the index through a scratch copy, dropped at the end (`O(n log r)` for `r` ascending
//!   runs, nothing if the chains already hold the records in order; a heapsort in place if
//!   the copy cannot be allocated).
//! - [`AllocLists::for_each_rec`]: reads the chains from the media, in chain order, as before.
//!
//! The index is two sorted runs of 12-byte entries ordered by (record, head, slot offset): a
//! main run built by `load`, where a remove only marks the entry dead, and a small run of
//! recent adds (at most about `sqrt n` entries) that a remove shifts out. When the small run is
//! full the next add first merges it into the main run in place, dropping the dead entries
//! (`O(n)` every `sqrt n` adds). So no update shifts more than `O(sqrt n)` entries, where one
//! sorted array would shift `O(n)` of them per add and per remove (slower at 50k live records
//! than the media walk it replaces). A record names a unique range, but the index is keyed by
//! (record, head, slot) and so also copes with an image that holds a record twice.
//!
//! Memory: every index allocation happens before the first media store of an `add` (a merge,
//! which changes no index content, and room for one more entry); `remove` never allocates.
//! A [`Error::NoMem`] thus leaves the media, the mirror and the index as they were.
//!
//! # Persistence order
//!
//! Notation: `S(x)` store, `F` flush of what was stored, `|` fence (`pmem_wmb`). A store is
//! durable once flushed and fenced; stores not yet fenced reach the media in any subset, 8 bytes
//! at a time (see `media.rs`).
//!
//! Load rules, which every step below preserves at every fence:
//! - A head is an owner iff its index is below `set_header.used` and its state is ALLOC.
//! - A recs block is in use iff it is reachable from an owner head. Any other block
//!   is free whatever it holds: a block written but never linked is simply reused.
//! - Record slots are the truth. A record is one 8-byte store (never bitfield by bitfield), so a
//!   slot is either empty (`pgoff == 0`) or a whole record. `recs.used` is a hint that may lag
//!   its slots after a crash: load recounts it and, once the whole load succeeded, rewrites
//!   the stale ones (`S(used) F ... |`).
//!
//! Steps (each ends with the fence that commits it; the caller returns only after it):
//! - add record into a block with a free slot `s`:
//!   `S(slot s = rec) S(used + 1) F |`. Either store alone is a consistent state.
//! - add record into a new block `b` (a free block, unreachable):
//!   `S(b header: head_offset, next 0, magic, uuid, size, used 1) S(slot 0 = rec)
//!   S(other slots = 0, only where not already 0) F |` then `S(link = b) F |`, where the link
//!   is the tail's `next_offset` or, for an empty chain, `head.recs_offset[ns]`. The first
//!   fence keeps a reachable block from ever holding garbage; the 8-byte link commits.
//! - remove record from slot `s`:
//!   `S(slot s = 0) S(used - 1) F |`; the range may go back to the buddy only after this fence,
//!   else a crash could show it recorded for its old owner and, reallocated, for a new one.
//!   If that empties a block that is not the first of its chain, the block is unlinked in the
//!   same step: `S(link to b = b.next) F` before the fence. The clear and the unlink each
//!   remove the record, so any subset is consistent; `b` is reused only after the fence.
//! - new head `h` (the first FREE head below `used`, else `h = used`):
//!   `S(head h: uuid, label 0, state FREE, flags 0, recs_offset[*] 0) [S(set_header.used =
//!   h + 1)] F |` then `S(head h.state = ALLOC) F |`. The state word commits: a FREE head is
//!   ignored whatever its other fields hold, and no head at or past `used` is ever ALLOC
//!   (the offline checker requires that), so a crash in between only leaves a FREE head that
//!   the next new head reuses.
//!
//! - release head `h` (an owner gives up everything it holds):
//!   `S(head h.state = FREE) F |`. One 8-byte word commits the whole release: before it, `h`
//!   owns all its records; after it, none (its blocks are unreachable, so free). The ranges go
//!   back to the buddy only after this fence.
//!
//! So after a crash: lists load cleanly, a range is recorded at most once (no range is both
//! free and owned once the buddy is rebuilt from the records), and every record whose add had
//! returned is still there while every record whose remove had returned is gone.
//! `host/tests/crash_alloc.rs` checks this on every crash state of recorded sequences; removing
//! any of these fences except the last one of a new head (whose stores the next record's first
//! fence covers anyway) makes it fail.
//!
//! A full header or record area gives [`Error::NoSpace`] before anything is stored.

use super::error::Error;
use super::format::{
    first_problem, Field, FormatError, Head, NvmpgOffset, Rec, RecsHeader, Seen, SetHeader,
    HEAD_STATE_ALLOC, HEAD_STATE_FREE, NS_MAX, RECLIST_HEAD_OFFSET, START, SYSRECS_BLOCKS,
    SYSRECS_OFFSET,
};
use crate::pure::grow_vec::{GrowVec, GrowVecFamily, NoMem};
use crate::pure::media::Media;
use crate::pure::sort::heapsort;

/// "No block" in the in-memory chain links.
const NIL: u16 = u16::MAX;
/// Owner of a free block.
const FREE: u8 = u8::MAX;
/// Bytes of record slots read or cleared at a time (keeps stack use small).
const CHUNK: usize = 256;
static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// In-memory mirror of a head.
#[derive(Debug, Clone, Copy)]
struct HeadInfo {
    uuid: [u8; 16],
    alloc: bool,
    first: [u16; NS_MAX],
}

/// In-memory state of a recs block: owning head (`FREE` if unreachable), namespace of its
/// chain, live records, next block of the chain, and a slot below which all slots are in use
/// (where the search for a free slot starts).
#[derive(Debug, Clone, Copy)]
struct BlockInfo {
    owner: u8,
    ns: u8,
    used: u16,
    next: u16,
    hint: u16,
}

const FREE_BLOCK: BlockInfo = BlockInfo {
    owner: FREE,
    ns: 0,
    used: 0,
    next: NIL,
    hint: 0,
};

/// Bit 0 of [`Entry::pos`]: the entry of the main run is dead (its record was removed). Slot
/// offsets are multiples of 8, so setting it keeps the main run sorted.
const DEAD: u32 = 1;
/// Bits of [`Entry::pos`] below the head index: slot byte offsets are below `START` (16 MiB).
const POS_HEAD_SHIFT: u32 = 24;
/// Smallest capacity of the run of recent adds.
const FRESH_MIN: usize = 64;

/// Where a live record sits, in 12 bytes: the record, as its high and low halves so that the
/// derived order is the record's, and `pos = head << 24 | slot byte offset` (bit 0: [`DEAD`]).
/// Ordered by (record, head, slot offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    rec: [u32; 2],
    pos: u32,
}

impl Entry {
    /// The entry of `rec` held by head `h` in the slot at byte offset `at` of namespace 0.
    fn new(rec: Rec, h: usize, at: u64) -> Result<Self, Error> {
        let h = u32::try_from(h).map_err(|_| Error::Invalid)?;
        let at = u32::try_from(at).map_err(|_| Error::Invalid)?;
        if h >> (u32::BITS - POS_HEAD_SHIFT) != 0 || at >> POS_HEAD_SHIFT != 0 || at & DEAD != 0 {
            return Err(Error::Invalid);
        }
        Ok(Self::key(rec, (h << POS_HEAD_SHIFT) | at))
    }

    /// The smallest entry of `rec` with position `pos`.
    const fn key(rec: Rec, pos: u32) -> Self {
        Entry {
            rec: [(rec.0 >> 32) as u32, rec.0 as u32],
            pos,
        }
    }

    fn rec(self) -> Rec {
        let [hi, lo] = self.rec;
        Rec((u64::from(hi) << 32) | u64::from(lo))
    }

    fn head(self) -> usize {
        (self.pos >> POS_HEAD_SHIFT) as usize
    }

    /// Byte offset of the slot in namespace 0.
    fn at(self) -> u64 {
        u64::from(self.pos & ((1 << POS_HEAD_SHIFT) - 1) & !DEAD)
    }

    fn is_dead(self) -> bool {
        self.pos & DEAD != 0
    }
}

/// Index of the first element of the sorted `v` that is not below `key`.
fn lower_bound(v: &[Entry], key: Entry) -> usize {
    let (mut lo, mut hi) = (0, v.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match v.get(mid) {
            Some(e) if *e < key => lo = mid + 1,
            _ => hi = mid,
        }
    }
    lo
}

/// End of the ascending run of `v` that starts at `i`.
fn run_end(v: &[Entry], i: usize) -> usize {
    let tail = v.get(i..).unwrap_or_default();
    let len = tail
        .windows(2)
        .position(|w| matches!(w, [a, b] if a > b))
        .map_or(tail.len(), |p| p + 1);
    i + len
}

/// Merges the sorted `a` and `b` into `out` (`a.len() + b.len()` long).
fn merge_into(a: &[Entry], b: &[Entry], out: &mut [Entry]) {
    let (mut i, mut j) = (0, 0);
    for slot in out.iter_mut() {
        *slot = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if y < x => {
                j += 1;
                *y
            }
            (Some(x), _) => {
                i += 1;
                *x
            }
            (None, Some(y)) => {
                j += 1;
                *y
            }
            (None, None) => return,
        };
    }
}

/// One pass of a natural merge sort: merges each pair of adjacent ascending runs of `src`
/// into the same place of `dst` (as long as `src`); returns how many merged runs it wrote.
fn merge_pass(src: &[Entry], dst: &mut [Entry]) -> usize {
    let (n, mut i, mut runs) = (src.len(), 0, 0);
    while i < n {
        let mid = run_end(src, i);
        let end = run_end(src, mid);
        if let (Some(a), Some(b), Some(out)) =
            (src.get(i..mid), src.get(mid..end), dst.get_mut(i..end))
        {
            merge_into(a, b, out);
        }
        i = end;
        runs += 1;
    }
    runs
}

/// Where [`Index::find`] found an entry: its position in the main run or in the fresh one.
#[derive(Debug, Clone, Copy)]
enum Found {
    Main(usize),
    Fresh(usize),
}

/// The record index (see "Costs" at the top of the file): `main`, sorted, may hold dead
/// entries (counted by `dead`); `fresh`, sorted, holds the records added since the last merge.
struct Index<F: GrowVecFamily> {
    main: F::GrowVec<Entry>,
    fresh: F::GrowVec<Entry>,
    dead: usize,
}

impl<F: GrowVecFamily> Index<F> {
    fn new() -> Self {
        Index {
            main: F::new_seq(),
            fresh: F::new_seq(),
            dead: 0,
        }
    }

    fn clear(&mut self) {
        self.main.clear();
        self.fresh.clear();
        self.dead = 0;
    }

    /// Live entries.
    fn len(&self) -> usize {
        self.main.len().saturating_sub(self.dead) + self.fresh.len()
    }

    /// Appends an entry found by `load`, in any order; [`Index::sort_loaded`] sorts them.
    fn push_loaded(&mut self, e: Entry) -> Result<(), NoMem> {
        self.main.try_push(e)
    }

    /// Sorts the loaded entries: a natural merge sort through a scratch copy (each chain is
    /// often already in order, so few passes), or a heapsort in place if there is no memory
    /// for the copy.
    fn sort_loaded(&mut self) {
        let v = self.main.as_mut_slice();
        if !v.windows(2).any(|w| matches!(w, [a, b] if a > b)) {
            return;
        }
        let mut tmp: F::GrowVec<Entry> = F::new_seq();
        if tmp.try_reserve(v.len()).is_err() {
            return heapsort(v);
        }
        for e in v.iter() {
            if tmp.try_push(*e).is_err() {
                return heapsort(v);
            }
        }
        let tmp = tmp.as_mut_slice();
        let mut in_v = true;
        loop {
            let runs = if in_v {
                merge_pass(v, tmp)
            } else {
                merge_pass(tmp, v)
            };
            in_v = !in_v;
            if runs <= 1 {
                break;
            }
        }
        if !in_v {
            v.copy_from_slice(tmp);
        }
    }

    /// The live entry of `rec` held by head `h`.
    fn find(&self, rec: Rec, h: usize) -> Option<(Found, Entry)> {
        let h = u32::try_from(h).ok()?;
        let key = Entry::key(rec, h.checked_shl(POS_HEAD_SHIFT)?);
        let same = |e: &&Entry| e.rec == key.rec && e.head() == key.head();
        let main = self.main.as_slice();
        let i = lower_bound(main, key);
        let in_main = main.get(i..).unwrap_or_default().iter().take_while(same);
        if let Some((d, e)) = in_main.enumerate().find(|(_, e)| !e.is_dead()) {
            return Some((Found::Main(i + d), *e));
        }
        let fresh = self.fresh.as_slice();
        let j = lower_bound(fresh, key);
        let e = fresh.get(j).filter(same)?;
        Some((Found::Fresh(j), *e))
    }

    /// Capacity of the fresh run: about the square root of the live entries.
    fn fresh_cap(&self) -> usize {
        let bits = usize::BITS - self.len().leading_zeros();
        FRESH_MIN.max(1usize.checked_shl(bits.div_ceil(2)).unwrap_or(usize::MAX))
    }

    /// Makes sure [`Index::insert`] cannot fail: merges a full fresh run into the main one,
    /// then reserves one more fresh entry. On error the content is unchanged.
    fn reserve_one(&mut self) -> Result<(), NoMem> {
        if self.fresh.len() >= self.fresh_cap() {
            self.merge()?;
        }
        self.fresh.try_reserve(1)
    }

    /// Moves the fresh run into the main one and drops the dead entries, in place. On error
    /// the content is unchanged (the dead entries may be gone).
    fn merge(&mut self) -> Result<(), NoMem> {
        // Drop the dead entries: they are not content, and it frees room the merge reuses.
        let mut live = 0;
        let main = self.main.as_mut_slice();
        for i in 0..main.len() {
            match main.get(i).copied() {
                Some(e) if !e.is_dead() => {
                    if let Some(slot) = main.get_mut(live) {
                        *slot = e;
                    }
                    live += 1;
                }
                _ => {}
            }
        }
        self.main.truncate(live);
        self.dead = 0;
        let add = self.fresh.len();
        self.main.try_reserve(add)?;
        for e in self.fresh.as_slice() {
            if let Err(e) = self.main.try_push(*e) {
                self.main.truncate(live);
                return Err(e);
            }
        }
        // Merge from the back: main[..i] and fresh[..j] into main[..k].
        let (mut i, mut j) = (live, add);
        let main = self.main.as_mut_slice();
        let fresh = self.fresh.as_slice();
        while j > 0 {
            let (a, b) = (
                main.get(i.wrapping_sub(1)).copied(),
                fresh.get(j - 1).copied(),
            );
            let take = match (a, b) {
                (Some(a), Some(b)) if a > b => {
                    i -= 1;
                    a
                }
                (_, Some(b)) => {
                    j -= 1;
                    b
                }
                (_, None) => break,
            };
            if let Some(slot) = main.get_mut(i + j) {
                *slot = take;
            }
        }
        self.fresh.clear();
        Ok(())
    }

    /// Adds `e`; cannot fail after [`Index::reserve_one`].
    fn insert(&mut self, e: Entry) -> Result<(), NoMem> {
        let at = lower_bound(self.fresh.as_slice(), e);
        self.fresh.try_insert(at, e)
    }

    /// Removes the entry [`Index::find`] found (no allocation).
    fn remove(&mut self, found: Found) {
        match found {
            Found::Main(i) => {
                if let Some(e) = self.main.as_mut_slice().get_mut(i) {
                    if !e.is_dead() {
                        e.pos |= DEAD;
                        self.dead += 1;
                    }
                }
            }
            Found::Fresh(j) => {
                let _ = self.fresh.remove(j);
            }
        }
    }

    /// Removes every live entry of head `h`, calling `f` with its record (no allocation).
    fn remove_head(&mut self, h: usize, mut f: impl FnMut(Rec)) {
        for e in self.main.as_mut_slice() {
            if !e.is_dead() && e.head() == h {
                f(e.rec());
                e.pos |= DEAD;
                self.dead += 1;
            }
        }
        let fresh = self.fresh.as_mut_slice();
        let mut kept = 0;
        for i in 0..fresh.len() {
            let Some(&e) = fresh.get(i) else { break };
            if e.head() == h {
                f(e.rec());
            } else if let Some(slot) = fresh.get_mut(kept) {
                *slot = e;
                kept += 1;
            }
        }
        self.fresh.truncate(kept);
    }

    /// Calls `f` on every live entry, in order.
    fn for_each(&self, mut f: impl FnMut(Entry)) {
        let main = self.main.as_slice().iter().filter(|e| !e.is_dead());
        let mut fresh = self.fresh.as_slice().iter().peekable();
        for a in main {
            while let Some(b) = fresh.next_if(|b| *b < a) {
                f(*b);
            }
            f(*a);
        }
        fresh.for_each(|b| f(*b));
    }
}

/// The allocation lists of a set, mirrored from namespace 0.
pub struct AllocLists<F: GrowVecFamily> {
    heads: F::GrowVec<HeadInfo>,
    blocks: F::GrowVec<BlockInfo>,
    index: Index<F>,
    head_capacity: usize,
    block_limit: usize,
}

fn block_off(idx: u16) -> Result<u64, Error> {
    RecsHeader::block_offset(usize::from(idx)).ok_or(Error::Invalid)
}

fn block_ptr(idx: u16) -> Result<NvmpgOffset, Error> {
    NvmpgOffset::new(0, block_off(idx)?).ok_or(Error::Invalid)
}

fn head_off(h: usize) -> Result<u64, Error> {
    SetHeader::head_off(h)
        .map(|o| RECLIST_HEAD_OFFSET + o as u64)
        .ok_or(Error::Invalid)
}

fn store_flush<M: Media>(m: &mut M, off: u64, bytes: &[u8]) -> Result<(), Error> {
    Ok(m.store_flush(off, bytes)?)
}

/// Calls `visit(slot, offset, rec)` on the slots of block `idx` from slot `from` on, in order,
/// until it returns `true`; returns the slot it stopped at.
fn scan<M: Media>(
    m: &M,
    idx: u16,
    from: usize,
    mut visit: impl FnMut(usize, u64, Rec) -> Result<bool, Error>,
) -> Result<Option<usize>, Error> {
    let base = block_off(idx)? + RecsHeader::OFF_RECS as u64;
    let mut buf = [0u8; CHUNK];
    let mut slot = from;
    while slot < RecsHeader::MAX_RECS {
        let n = (RecsHeader::MAX_RECS - slot).min(CHUNK / Rec::SIZE);
        let bytes = buf.get_mut(..n * Rec::SIZE).ok_or(Error::Invalid)?;
        let off = base + (slot * Rec::SIZE) as u64;
        m.read(off, bytes)?;
        for (i, w) in bytes.chunks_exact(Rec::SIZE).enumerate() {
            let rec = Rec::decode(w)?;
            if visit(slot + i, off + (i * Rec::SIZE) as u64, rec)? {
                return Ok(Some(slot + i));
            }
        }
        slot += n;
    }
    Ok(None)
}

impl<F: GrowVecFamily> Default for AllocLists<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: GrowVecFamily> AllocLists<F> {
    /// Empty lists: nothing loaded, nothing allocated.
    pub fn new() -> Self {
        AllocLists {
            heads: F::new_seq(),
            blocks: F::new_seq(),
            index: Index::new(),
            head_capacity: 0,
            block_limit: SYSRECS_BLOCKS,
        }
    }

    /// Hands out only the first `n` recs blocks of the area (e.g. 64 to stay within what the
    /// seed kernel reads). Blocks beyond are still loaded if an image links them.
    pub fn limit_blocks(&mut self, n: usize) {
        self.block_limit = n.min(SYSRECS_BLOCKS);
    }

    /// How many recs blocks may be handed out.
    pub fn block_limit(&self) -> usize {
        self.block_limit
    }

    /// Whether lists have been loaded.
    pub fn is_loaded(&self) -> bool {
        !self.blocks.is_empty()
    }

    /// Heads in use (`set_header.used`), including the allocator's own `heads[0]`.
    pub fn heads_used(&self) -> usize {
        self.heads.len()
    }

    /// Heads the set header has room for.
    pub fn head_capacity(&self) -> usize {
        self.head_capacity
    }

    /// Recs blocks linked into some chain.
    pub fn blocks_used(&self) -> usize {
        self.blocks
            .as_slice()
            .iter()
            .filter(|b| b.owner != FREE)
            .count()
    }

    /// Index of the ALLOC head of `uuid`.
    pub fn find_head(&self, uuid: &[u8; 16]) -> Option<usize> {
        self.heads
            .as_slice()
            .iter()
            .position(|h| h.alloc && h.uuid == *uuid)
    }

    /// Uuid of head `h`, if it is an ALLOC head.
    pub fn head_uuid(&self, h: usize) -> Option<[u8; 16]> {
        self.heads
            .as_slice()
            .get(h)
            .filter(|h| h.alloc)
            .map(|h| h.uuid)
    }

    fn block(&self, idx: u16) -> Result<BlockInfo, Error> {
        self.blocks
            .as_slice()
            .get(usize::from(idx))
            .copied()
            .ok_or(Error::Invalid)
    }

    fn block_mut(&mut self, idx: u16) -> Result<&mut BlockInfo, Error> {
        self.blocks
            .as_mut_slice()
            .get_mut(usize::from(idx))
            .ok_or(Error::Invalid)
    }

    fn first(&self, h: usize, ns: u8) -> Result<u16, Error> {
        let head = self.heads.as_slice().get(h).ok_or(Error::Invalid)?;
        head.first
            .get(usize::from(ns))
            .copied()
            .ok_or(Error::Invalid)
    }

    /// Loads the lists of namespace 0 of a set of `total_ns` namespaces: the set header, every
    /// head below `used` and every block of the chains of the ALLOC ones, each checked with the
    /// format's rules as it is read ([`SetHeader::check`], [`Head::check_state`],
    /// [`Head::check_link`], [`RecsHeader::follow`], [`RecsHeader::check`], [`Rec::check`]
    /// without the namespace's size, which the allocator checks when it builds the buddy); the
    /// first broken rule is the error. Rewrites a `recs.used` that lags its slots after a
    /// crash instead of refusing it. On error the lists are left unloaded.
    pub fn load<M: Media>(&mut self, m: &mut M, total_ns: u32) -> Result<(), Error> {
        self.heads.clear();
        self.blocks.clear();
        self.index.clear();
        let r = self.load_inner(m, total_ns);
        if r.is_err() {
            self.heads.clear();
            self.blocks.clear();
            self.index.clear();
        }
        r
    }

    fn load_inner<M: Media>(&mut self, m: &mut M, total_ns: u32) -> Result<(), Error> {
        if m.len() < START {
            return Err(FormatError::Truncated {
                field: Field::SetHeader,
                offset: 0,
                need: START,
                have: m.len(),
            }
            .into());
        }
        let mut buf = [0u8; Head::SIZE];
        let hdr_buf = buf.get_mut(..SetHeader::SIZE).ok_or(Error::Invalid)?;
        m.read(RECLIST_HEAD_OFFSET, hdr_buf)?;
        let hdr = SetHeader::decode(hdr_buf)?;
        first_problem(|report| hdr.check(report))?;
        self.head_capacity = hdr.size as usize;
        self.blocks.try_reserve(SYSRECS_BLOCKS)?;
        self.heads.try_reserve(self.head_capacity)?;
        for _ in 0..SYSRECS_BLOCKS {
            self.blocks.try_push(FREE_BLOCK)?;
        }
        for h in 0..hdr.used as usize {
            let at = head_off(h)?;
            m.read(at, &mut buf)?;
            let head = Head::decode(&buf)?;
            let alloc = first_problem(|report| head.check_state(h, at, report))?;
            self.heads.try_push(HeadInfo {
                uuid: head.uuid,
                alloc,
                first: [NIL; NS_MAX],
            })?;
            if alloc {
                for ns in 0..NS_MAX as u8 {
                    let ns_id = usize::from(ns);
                    let link =
                        first_problem(|report| head.check_link(ns_id, total_ns, at, report))?;
                    if let Some(ptr) = link {
                        let link_at = at + (Head::OFF_RECS_OFFSET + ns_id * 8) as u64;
                        self.load_chain(m, h, ns, ptr, link_at)?;
                    }
                }
            }
        }
        self.index.sort_loaded();
        self.repair_used(m)
    }

    /// Rewrites every `recs.used` that differs from the live records of its block (a crash
    /// between a slot store and its `used` store), once the whole load has succeeded.
    fn repair_used<M: Media>(&self, m: &mut M) -> Result<(), Error> {
        let mut repaired = false;
        for (idx, b) in self.blocks.as_slice().iter().enumerate() {
            if b.owner == FREE {
                continue;
            }
            let idx = u16::try_from(idx).map_err(|_| Error::Invalid)?;
            let at = block_off(idx)? + RecsHeader::OFF_USED as u64;
            let mut used = [0u8; 4];
            m.read(at, &mut used)?;
            let count = u32::from(b.used).to_le_bytes();
            if used != count {
                store_flush(m, at, &count)?;
                repaired = true;
            }
        }
        if repaired {
            m.fence();
        }
        Ok(())
    }

    /// Loads the chain of head `h` for namespace `ns` starting at `ptr` (read at `link_at`).
    fn load_chain<M: Media>(
        &mut self,
        m: &M,
        h: usize,
        ns: u8,
        mut ptr: NvmpgOffset,
        mut link_at: u64,
    ) -> Result<(), Error> {
        let head = *self.heads.as_slice().get(h).ok_or(Error::Invalid)?;
        let head_ptr = SetHeader::head_nvmpg_offset(h).ok_or(Error::Invalid)?;
        let mut prev = NIL;
        let mut field = Field::HeadRecsOffset;
        while !ptr.is_none() {
            let seen = |idx: usize| match self.blocks.as_slice().get(idx) {
                Some(b) if b.owner == FREE => Seen::No,
                Some(b) if usize::from(b.owner) == h && b.ns == ns => Seen::ThisChain,
                Some(_) => Seen::OtherChain,
                None => Seen::No,
            };
            let idx =
                first_problem(|report| RecsHeader::follow(ptr, field, link_at, seen, report))?
                    .ok_or(Error::Invalid)?;
            let idx = u16::try_from(idx).map_err(|_| Error::Invalid)?;
            let at = block_off(idx)?;
            let mut buf = [0u8; RecsHeader::SIZE];
            m.read(at, &mut buf)?;
            let rh = RecsHeader::decode(&buf)?;
            first_problem(|report| rh.check(at, &head.uuid, head_ptr, report))?;
            let mut count: u16 = 0;
            let mut hint = None;
            let index = &mut self.index;
            scan(m, idx, 0, |slot, off, rec| {
                if rec.is_empty() {
                    hint = hint.or(Some(slot));
                } else {
                    // The range's end is checked when the namespace's buddy is built.
                    first_problem(|report| rec.check(off, ns, None, report))?;
                    index.push_loaded(Entry::new(rec, h, off)?)?;
                    count += 1;
                }
                Ok(false)
            })?;
            let hint =
                u16::try_from(hint.unwrap_or(RecsHeader::MAX_RECS)).map_err(|_| Error::Invalid)?;
            let owner = u8::try_from(h).map_err(|_| Error::Invalid)?;
            *self.block_mut(idx)? = BlockInfo {
                owner,
                ns,
                used: count,
                next: NIL,
                hint,
            };
            if prev == NIL {
                self.set_first(h, ns, idx)?;
            } else {
                self.block_mut(prev)?.next = idx;
            }
            prev = idx;
            ptr = rh.next_offset;
            link_at = at + RecsHeader::OFF_NEXT_OFFSET as u64;
            field = Field::RecsNextOffset;
        }
        Ok(())
    }

    fn set_first(&mut self, h: usize, ns: u8, idx: u16) -> Result<(), Error> {
        let head = self.heads.as_mut_slice().get_mut(h).ok_or(Error::Invalid)?;
        *head.first.get_mut(usize::from(ns)).ok_or(Error::Invalid)? = idx;
        Ok(())
    }

    /// Calls `f(head, at, rec)` for every record of the chains of namespace `ns` of head `only`,
    /// or of every ALLOC head when `only` is `None`; `at` is the byte offset of its slot.
    pub fn for_each_rec<M: Media>(
        &self,
        m: &M,
        only: Option<usize>,
        ns: u8,
        mut f: impl FnMut(usize, u64, Rec) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for (h, head) in self.heads.as_slice().iter().enumerate() {
            if !head.alloc || only.is_some_and(|o| o != h) {
                continue;
            }
            let mut idx = self.first(h, ns)?;
            while idx != NIL {
                scan(m, idx, 0, |_, at, rec| {
                    if !rec.is_empty() {
                        f(h, at, rec)?;
                    }
                    Ok(false)
                })?;
                idx = self.block(idx)?.next;
            }
        }
        Ok(())
    }

    /// The first block of head `h`'s chain for `ns` with a free slot, and the chain's tail.
    fn room(&self, h: usize, ns: u8) -> Result<(Option<u16>, u16), Error> {
        let mut idx = self.first(h, ns)?;
        let mut tail = NIL;
        while idx != NIL {
            let b = self.block(idx)?;
            if usize::from(b.used) < RecsHeader::MAX_RECS {
                return Ok((Some(idx), tail));
            }
            tail = idx;
            idx = b.next;
        }
        Ok((None, tail))
    }

    /// The head a new owner gets: the first FREE head below `used`, else `used`.
    fn free_head(&self) -> Option<usize> {
        let heads = self.heads.as_slice();
        let h = heads.iter().position(|h| !h.alloc).unwrap_or(heads.len());
        (h < self.head_capacity).then_some(h)
    }

    fn free_block(&self) -> Option<u16> {
        let blocks = self.blocks.as_slice().get(..self.block_limit)?;
        blocks
            .iter()
            .position(|b| b.owner == FREE)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Whether [`AllocLists::add`] of a record of namespace `ns` for `uuid` would find room:
    /// [`Error::NoSpace`] if the set header or the record area is full.
    pub fn check_room(&self, uuid: &[u8; 16], ns: u8) -> Result<(), Error> {
        if usize::from(ns) >= NS_MAX || !self.is_loaded() {
            return Err(Error::Invalid);
        }
        match self.find_head(uuid) {
            Some(h) if self.room(h, ns)?.0.is_some() => Ok(()),
            Some(_) => self.free_block().map(|_| ()).ok_or(Error::NoSpace),
            None if self.free_head().is_some() && self.free_block().is_some() => Ok(()),
            None => Err(Error::NoSpace),
        }
    }

    /// Records `rec` for `uuid` (creating its head if needed) and makes it durable.
    ///
    /// Fails with [`Error::NoSpace`], [`Error::NoMem`], [`Error::Invalid`] or, for a block
    /// found fuller than its count, [`Error::Corrupt`] before storing anything. A
    /// [`Error::Media`] can leave a partial but consistent update behind.
    pub fn add<M: Media>(&mut self, m: &mut M, uuid: &[u8; 16], rec: Rec) -> Result<(), Error> {
        if rec.is_empty() || rec.reserved() != 0 {
            return Err(Error::Invalid);
        }
        let ns = rec.ns_id();
        self.check_room(uuid, ns)?;
        // All the memory the add needs, before the first store (a new head reserves its own).
        self.index.reserve_one()?;
        let h = match self.find_head(uuid) {
            Some(h) => h,
            None => self.new_head(m, uuid)?,
        };
        match self.room(h, ns)? {
            (Some(idx), _) => self.add_to_block(m, h, idx, rec),
            (None, tail) => self.add_new_block(m, h, tail, uuid, rec),
        }
    }

    /// Gives `uuid` a head: reuses a FREE head below `set_header.used` or appends one.
    fn new_head<M: Media>(&mut self, m: &mut M, uuid: &[u8; 16]) -> Result<usize, Error> {
        let h = self.free_head().ok_or(Error::NoSpace)?;
        let append = h == self.heads.len();
        if append {
            self.heads.try_reserve(1)?;
        }
        let at = head_off(h)?;
        let head = Head {
            uuid: *uuid,
            state: HEAD_STATE_FREE,
            ..Head::default()
        };
        let mut buf = [0u8; Head::SIZE];
        head.encode(&mut buf)?;
        store_flush(m, at, &buf)?;
        if append {
            let used = u32::try_from(h + 1).map_err(|_| Error::Invalid)?;
            let used_at = RECLIST_HEAD_OFFSET + SetHeader::OFF_USED as u64;
            store_flush(m, used_at, &used.to_le_bytes())?;
        }
        m.fence();
        store_flush(
            m,
            at + Head::OFF_STATE as u64,
            &HEAD_STATE_ALLOC.to_le_bytes(),
        )?;
        m.fence();
        let info = HeadInfo {
            uuid: *uuid,
            alloc: true,
            first: [NIL; NS_MAX],
        };
        match self.heads.as_mut_slice().get_mut(h) {
            Some(slot) => *slot = info,
            None => self.heads.try_push(info)?,
        }
        Ok(h)
    }

    fn add_to_block<M: Media>(
        &mut self,
        m: &mut M,
        h: usize,
        idx: u16,
        rec: Rec,
    ) -> Result<(), Error> {
        let at = block_off(idx)?;
        let BlockInfo { used, hint, .. } = self.block(idx)?;
        let Some(slot) = scan(m, idx, usize::from(hint), |_, _, r| Ok(r.is_empty()))? else {
            // The slots changed behind our back: the block is full although we counted less.
            return Err(FormatError::UsedMismatch {
                field: Field::RecsUsed,
                offset: at + RecsHeader::OFF_USED as u64,
                found: used.into(),
                expected: RecsHeader::MAX_RECS as u64,
            }
            .into());
        };
        let off = RecsHeader::rec_off(slot).ok_or(Error::Invalid)?;
        let entry = Entry::new(rec, h, at + off as u64)?;
        let used = used + 1;
        store_flush(m, at + off as u64, &rec.0.to_le_bytes())?;
        store_flush(
            m,
            at + RecsHeader::OFF_USED as u64,
            &u32::from(used).to_le_bytes(),
        )?;
        m.fence();
        let b = self.block_mut(idx)?;
        b.used = used;
        b.hint = u16::try_from(slot + 1).map_err(|_| Error::Invalid)?;
        // Cannot fail: `add` reserved the room.
        Ok(self.index.insert(entry)?)
    }

    fn add_new_block<M: Media>(
        &mut self,
        m: &mut M,
        h: usize,
        tail: u16,
        uuid: &[u8; 16],
        rec: Rec,
    ) -> Result<(), Error> {
        let ns = rec.ns_id();
        let idx = self.free_block().ok_or(Error::NoSpace)?;
        let at = block_off(idx)?;
        let head_ptr = SetHeader::head_nvmpg_offset(h).ok_or(Error::Invalid)?;
        let first = RecsHeader::OFF_RECS as u64;
        let entry = Entry::new(rec, h, at + first)?;
        let mut header = RecsHeader::empty(head_ptr, *uuid);
        header.used = 1;
        let mut buf = [0u8; RecsHeader::SIZE];
        header.encode(&mut buf)?;
        store_flush(m, at, &buf)?;
        store_flush(m, at + first, &rec.0.to_le_bytes())?;
        // Clear the other slots: the block may hold records of an old chain or a crashed add.
        let mut chunk = [0u8; CHUNK];
        let mut off = first + Rec::SIZE as u64;
        while off < RecsHeader::BLOCK_SIZE as u64 {
            let n = (RecsHeader::BLOCK_SIZE as u64 - off).min(CHUNK as u64) as usize;
            let old = chunk.get_mut(..n).ok_or(Error::Invalid)?;
            m.read(at + off, old)?;
            if old.iter().any(|&b| b != 0) {
                store_flush(m, at + off, ZEROS.get(..n).ok_or(Error::Invalid)?)?;
            }
            off += n as u64;
        }
        m.fence();
        let ptr = block_ptr(idx)?;
        let link_at = if tail == NIL {
            head_off(h)? + (Head::OFF_RECS_OFFSET + usize::from(ns) * 8) as u64
        } else {
            block_off(tail)? + RecsHeader::OFF_NEXT_OFFSET as u64
        };
        store_flush(m, link_at, &ptr.0.to_le_bytes())?;
        m.fence();
        let owner = u8::try_from(h).map_err(|_| Error::Invalid)?;
        *self.block_mut(idx)? = BlockInfo {
            owner,
            ns,
            used: 1,
            next: NIL,
            hint: 1,
        };
        if tail == NIL {
            self.set_first(h, ns, idx)?;
        } else {
            self.block_mut(tail)?.next = idx;
        }
        // Cannot fail: `add` reserved the room.
        Ok(self.index.insert(entry)?)
    }

    /// Removes the record `rec` of `uuid` and makes the removal durable; unlinks a block it
    /// empties unless it is the first of its chain. [`Error::Invalid`] if `uuid` does not hold
    /// exactly that record; nothing is stored then. The slot is found in the index: no media
    /// reads, and no memory is allocated.
    pub fn remove<M: Media>(&mut self, m: &mut M, uuid: &[u8; 16], rec: Rec) -> Result<(), Error> {
        let h = self.find_head(uuid).ok_or(Error::Invalid)?;
        if rec.is_empty() || usize::from(rec.ns_id()) >= NS_MAX {
            return Err(Error::Invalid);
        }
        let ns = rec.ns_id();
        let (found, entry) = self.index.find(rec, h).ok_or(Error::Invalid)?;
        let (idx, slot) = slot_at(entry.at()).ok_or(Error::Invalid)?;
        let b = self.block(idx)?;
        if usize::from(b.owner) != h || b.ns != ns || b.used == 0 {
            // The index and the mirror disagree: cannot happen.
            return Err(Error::Invalid);
        }
        let used = b.used - 1;
        let prev = if used == 0 {
            self.prev(h, ns, idx)?
        } else {
            NIL
        };
        let at = block_off(idx)?;
        let off = RecsHeader::rec_off(slot).ok_or(Error::Invalid)?;
        store_flush(m, at + off as u64, &Rec::EMPTY.0.to_le_bytes())?;
        store_flush(
            m,
            at + RecsHeader::OFF_USED as u64,
            &u32::from(used).to_le_bytes(),
        )?;
        let unlink = used == 0 && prev != NIL;
        if unlink {
            let next = if b.next == NIL {
                NvmpgOffset::NONE
            } else {
                block_ptr(b.next)?
            };
            let link_at = block_off(prev)? + RecsHeader::OFF_NEXT_OFFSET as u64;
            store_flush(m, link_at, &next.0.to_le_bytes())?;
        }
        m.fence();
        if unlink {
            self.block_mut(prev)?.next = b.next;
            *self.block_mut(idx)? = FREE_BLOCK;
        } else {
            let b = self.block_mut(idx)?;
            b.used = used;
            b.hint = b.hint.min(u16::try_from(slot).map_err(|_| Error::Invalid)?);
        }
        self.index.remove(found);
        Ok(())
    }

    /// The block before `idx` in head `h`'s chain for `ns` (in memory), or [`NIL`] if `idx`
    /// is the first; [`Error::Invalid`] if `idx` is not in that chain.
    fn prev(&self, h: usize, ns: u8, idx: u16) -> Result<u16, Error> {
        let mut prev = NIL;
        let mut cur = self.first(h, ns)?;
        for _ in 0..self.blocks.len() {
            if cur == idx {
                return Ok(prev);
            }
            if cur == NIL {
                break;
            }
            prev = cur;
            cur = self.block(cur)?.next;
        }
        Err(Error::Invalid)
    }

    /// How many live records `uuid` holds in each namespace (from the index, no media
    /// reads); `None` if it has no head.
    pub fn records_per_ns(&self, uuid: &[u8; 16]) -> Option<[usize; NS_MAX]> {
        let h = self.find_head(uuid)?;
        let mut n = [0usize; NS_MAX];
        self.index.for_each(|e| {
            if e.head() == h {
                if let Some(c) = n.get_mut(usize::from(e.rec().ns_id())) {
                    *c += 1;
                }
            }
        });
        Some(n)
    }

    /// Releases `uuid`'s head with every record it holds, durably, then calls `freed` with
    /// each of those records (so their ranges may go back to the buddies). [`Error::NotFound`]
    /// if `uuid` has no head, [`Error::Invalid`] for the allocator's own `heads[0]`; nothing
    /// is stored then. No memory is allocated.
    ///
    /// One step: `S(head h.state = FREE) F |`. The state word commits: a FREE head is ignored
    /// whatever its other fields hold, so its chains and records stop counting all at once,
    /// and its blocks are free (unreachable). Its stale `recs_offset[]` are harmless: a new
    /// head written there clears them before it becomes ALLOC (see "new head" above). The
    /// ranges go back to the buddy only after the fence, as for `remove`.
    pub fn release<M: Media>(
        &mut self,
        m: &mut M,
        uuid: &[u8; 16],
        freed: impl FnMut(Rec),
    ) -> Result<(), Error> {
        let h = self.find_head(uuid).ok_or(Error::NotFound)?;
        if h == 0 {
            return Err(Error::Invalid);
        }
        let at = head_off(h)? + Head::OFF_STATE as u64;
        store_flush(m, at, &HEAD_STATE_FREE.to_le_bytes())?;
        m.fence();
        self.index.remove_head(h, freed);
        for b in self.blocks.as_mut_slice() {
            if usize::from(b.owner) == h {
                *b = FREE_BLOCK;
            }
        }
        if let Some(head) = self.heads.as_mut_slice().get_mut(h) {
            head.alloc = false;
            head.first = [NIL; NS_MAX];
        }
        Ok(())
    }

    /// Byte offset in namespace 0 of the slot holding `rec` for `uuid`, found in the index
    /// (`O(log n)`, no media access); `None` if `uuid` does not hold that record.
    pub fn find_rec(&self, uuid: &[u8; 16], rec: Rec) -> Option<u64> {
        let h = self.find_head(uuid)?;
        self.index.find(rec, h).map(|(_, e)| e.at())
    }

    /// Live records of all heads and namespaces, as the index counts them.
    pub fn records(&self) -> usize {
        self.index.len()
    }

    /// Calls `f(head, at, rec)` for every live record of the index, ordered by (record, head,
    /// slot offset); `at` is the byte offset of its slot. No media access: after any sequence
    /// of successful operations this is exactly what [`AllocLists::for_each_rec`] finds on the
    /// media, in another order.
    pub fn for_each_indexed(&self, mut f: impl FnMut(usize, u64, Rec)) {
        self.index.for_each(|e| f(e.head(), e.at(), e.rec()));
    }
}

/// Block index and slot of the record slot at byte offset `at` of namespace 0.
fn slot_at(at: u64) -> Option<(u16, usize)> {
    let rel = at.checked_sub(SYSRECS_OFFSET)?;
    let size = RecsHeader::BLOCK_SIZE as u64;
    let idx = u16::try_from(rel / size).ok()?;
    let within = usize::try_from(rel % size).ok()?;
    let off = within.checked_sub(RecsHeader::OFF_RECS)?;
    let slot = off / Rec::SIZE;
    (off % Rec::SIZE == 0 && slot < RecsHeader::MAX_RECS).then_some((idx, slot))
}
