//! The nvm-pages allocator over a set of up to 8 namespaces: registration, page allocation
//! and free for requesters identified by uuid, and lookup of a requester's ranges.
//!
//! Each namespace has a [`Buddy`] over its pages `[pages_offset / 4096, pages_total)`; the
//! allocation lists live on namespace 0 ([`AllocLists`]). A buddy is rebuilt from the records
//! whenever its namespace or namespace 0 registers, so until namespace 0 is registered nothing
//! can be allocated.
//!
//! Ordering against the lists (see `reclist.rs` for the stores inside each step):
//! - alloc: take the range from the buddy, then record it; `alloc_pages` returns only after the
//!   record's fence. If recording fails before storing anything the range goes back to the
//!   buddy; after a media error it stays out of it (leaked until the next register, never
//!   handed out twice).
//! - free: remove the record (fenced) first, then give the range back to the buddy, so it can
//!   be handed out again only once no crash can resurrect the old record. The lists find the
//!   record in their in-memory index (`O(log n)` in the live records, no media reads), so a
//!   free costs the same whatever the owner holds; a range the owner does not hold is refused
//!   by that lookup before anything is allocated or stored.
//!
//! All methods take `&mut self` or `&self`: the kernel side serializes them with one mutex.
//! Memory is allocated (registration, `reserve_free`, room in the lists' record index) before
//! any media store that needs it, so [`Error::NoMem`] changes nothing.

use super::buddy::{Block, Buddy};
use super::format::{
    check_overlaps, first_problem, NvmpgOffset, Rec, RecordRef, Sb, MAX_ORDER, NS_MAX, PAGE_SIZE,
    SB_OFFSET,
};
use super::reclist::AllocLists;
use crate::pure::grow_vec::{GrowVec, GrowVecFamily};
use crate::pure::media::Media;

pub use super::error::Error;

const PAGE: u64 = PAGE_SIZE as u64;

/// The buddy of a namespace, over the family's sequences.
pub type NsBuddy<F> = Buddy<<F as GrowVecFamily>::GrowVec<u64>>;

/// A registered namespace: its allocatable pages are `[first, end)`.
struct Namespace<M: Media, F: GrowVecFamily> {
    media: M,
    id: u8,
    uuid: [u8; 16],
    first: u64,
    end: u64,
    buddy: NsBuddy<F>,
}

/// The allocator of one nvm-pages set.
pub struct Allocator<M: Media, F: GrowVecFamily> {
    ns: [Option<Namespace<M, F>>; NS_MAX],
    lists: AllocLists<F>,
    /// `set_uuid` and `total_ns` of the set, from the first namespace registered.
    set: Option<([u8; 16], u32)>,
}

impl<M: Media, F: GrowVecFamily> Default for Allocator<M, F> {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads the sb of `m` and checks it with the sb rules ([`Sb::check`]): the first broken
/// rule is the error, and a read of `d[]` that fails is [`Error::Media`].
fn read_sb<M: Media>(m: &M) -> Result<Sb, Error> {
    let mut raw = [0u8; Sb::SIZE];
    m.read(SB_OFFSET, &mut raw)?;
    let sb = Sb::decode(&raw)?;
    let mut media = false;
    let read = |off, buf: &mut [u8]| {
        let ok = m.read(off, buf).is_ok();
        media |= !ok;
        ok
    };
    let checked = first_problem(|report| sb.check(&raw, m.len(), read, report));
    if media {
        return Err(Error::Media);
    }
    checked?;
    Ok(sb)
}

impl<M: Media, F: GrowVecFamily> Allocator<M, F> {
    /// An allocator with no namespace.
    pub fn new() -> Self {
        Allocator {
            ns: core::array::from_fn(|_| None),
            lists: AllocLists::new(),
            set: None,
        }
    }

    /// Hands out only the first `n` recs blocks (see [`AllocLists::limit_blocks`]); applies to
    /// lists loaded afterwards.
    pub fn limit_blocks(&mut self, n: usize) {
        self.lists.limit_blocks(n);
    }

    /// Registers a namespace (`bch_register_namespace`): checks its sb and that it belongs to
    /// the set; namespace 0 loads the lists. Builds the buddy of every namespace whose records
    /// are now known. Returns the namespace id. On error the allocator is unchanged (loading
    /// namespace 0 may have rewritten stale `recs.used` hints, see `reclist.rs`).
    pub fn register(&mut self, mut media: M) -> Result<u8, Error> {
        let sb = read_sb(&media)?;
        let id = u8::try_from(sb.this_ns).map_err(|_| Error::Invalid)?;
        if let Some((set_uuid, total_ns)) = self.set {
            first_problem(|report| sb.check_set(&set_uuid, total_ns, report))?;
        }
        if self
            .ns
            .get(usize::from(id))
            .ok_or(Error::Invalid)?
            .is_some()
        {
            return Err(Error::Exists);
        }
        let (first, end) = (sb.pages_offset / PAGE, sb.pages_total);
        // Until namespace 0 is known the records are not: the buddy stays empty.
        let mut buddy = Buddy::new(F::new_seq());
        if id == 0 {
            let mut lists = AllocLists::<F>::new();
            lists.limit_blocks(self.lists.block_limit());
            lists.load(&mut media, sb.total_ns)?;
            // Build every buddy before changing anything.
            let mut others: [Option<NsBuddy<F>>; NS_MAX] = core::array::from_fn(|_| None);
            for (slot, other) in self.ns.iter().zip(others.iter_mut()) {
                if let Some(n) = slot {
                    let mut b = Buddy::new(F::new_seq());
                    rebuild(&lists, &media, n.id, &mut b, n.first, n.end)?;
                    withhold_bad(&n.media, &mut b)?;
                    *other = Some(b);
                }
            }
            rebuild(&lists, &media, 0, &mut buddy, first, end)?;
            withhold_bad(&media, &mut buddy)?;
            for (slot, other) in self.ns.iter_mut().zip(others) {
                if let (Some(n), Some(b)) = (slot.as_mut(), other) {
                    n.buddy = b;
                }
            }
            self.lists = lists;
        } else if let Some(n0) = self.namespace(0) {
            rebuild(&self.lists, &n0.media, id, &mut buddy, first, end)?;
            withhold_bad(&media, &mut buddy)?;
        }
        self.set = Some((sb.set_uuid, sb.total_ns));
        let slot = self.ns.get_mut(usize::from(id)).ok_or(Error::Invalid)?;
        *slot = Some(Namespace {
            media,
            id,
            uuid: sb.uuid,
            first,
            end,
            buddy,
        });
        Ok(id)
    }

    /// Whether `owner` is the allocator's own `heads[0]`.
    fn is_sys(&self, owner: &[u8; 16]) -> bool {
        self.lists.head_uuid(0).is_some_and(|u| u == *owner)
    }

    /// Allocates `2^order` pages for `owner` (`bch_nvmpg_alloc_pages`) from the first
    /// namespace with room, and returns their nvmpg offset once the record is durable.
    /// [`Error::NoSpace`] if no namespace has room or the lists are full (nothing changes).
    pub fn alloc_pages(&mut self, order: u8, owner: &[u8; 16]) -> Result<NvmpgOffset, Error> {
        if order >= MAX_ORDER || self.is_sys(owner) {
            return Err(Error::Invalid);
        }
        if !self.lists.is_loaded() {
            return Err(Error::NotFound);
        }
        let mut err = Error::NoSpace;
        for k in 0..NS_MAX as u8 {
            let fits = self.namespace(k).is_some_and(|n| n.buddy.can_alloc(order));
            if !fits {
                continue;
            }
            if let Err(e) = self.lists.check_room(owner, k) {
                err = e;
                continue;
            }
            return self.alloc_in(k, order, owner);
        }
        Err(err)
    }

    fn alloc_in(&mut self, k: u8, order: u8, owner: &[u8; 16]) -> Result<NvmpgOffset, Error> {
        let (media, buddy, lists) = self.parts(k)?;
        let pgoff = buddy.alloc(order)?;
        let rec = Rec::new(pgoff, order, k).ok_or(Error::Invalid);
        match rec.and_then(|rec| lists.add(media, owner, rec)) {
            Ok(()) => NvmpgOffset::new(k, pgoff * PAGE).ok_or(Error::Invalid),
            Err(Error::Media) => Err(Error::Media),
            Err(e) => {
                // Nothing was stored. Cannot fail: undoing the split needs no more room than
                // the split had, and a GrowVec never releases capacity.
                let _ = buddy.free(pgoff, order);
                Err(e)
            }
        }
    }

    /// The media of namespace 0, the buddy of namespace `k` and the lists, at once.
    fn parts(&mut self, k: u8) -> Result<(&mut M, &mut NsBuddy<F>, &mut AllocLists<F>), Error> {
        let (head, tail) = self.ns.split_at_mut(1);
        let n0 = head
            .first_mut()
            .and_then(Option::as_mut)
            .ok_or(Error::NotFound)?;
        if k == 0 {
            return Ok((&mut n0.media, &mut n0.buddy, &mut self.lists));
        }
        let nk = tail
            .get_mut(usize::from(k) - 1)
            .and_then(Option::as_mut)
            .ok_or(Error::Invalid)?;
        Ok((&mut n0.media, &mut nk.buddy, &mut self.lists))
    }

    /// Frees the `2^order` pages at `offset` held by `owner` (`bch_nvmpg_free_pages`): the
    /// record is removed durably, then the range returns to the buddy. [`Error::Invalid`] if
    /// `owner` does not hold exactly that range; nothing changes then.
    pub fn free_pages(
        &mut self,
        offset: NvmpgOffset,
        order: u8,
        owner: &[u8; 16],
    ) -> Result<(), Error> {
        if offset.offset() & (PAGE - 1) != 0 || self.is_sys(owner) {
            return Err(Error::Invalid);
        }
        let pgoff = offset.offset() / PAGE;
        let rec = Rec::new(pgoff, order, offset.ns()).ok_or(Error::Invalid)?;
        let (media, buddy, lists) = self.parts(offset.ns())?;
        if !(Block { pgoff, order }).is_valid_in(buddy.start(), buddy.end()) {
            return Err(Error::Invalid);
        }
        // The ownership check, from the index: a bad free allocates nothing.
        if lists.find_rec(owner, rec).is_none() {
            return Err(Error::Invalid);
        }
        buddy.reserve_free()?;
        lists.remove(media, owner, rec)?;
        // Cannot fail: room is reserved, and a recorded range is never free in the buddy.
        // Were it to, the range would only stay unused until the next register.
        let _ = buddy.free(pgoff, order);
        Ok(())
    }

    /// Releases `owner` (`bch_nvmpg_release_owner` in spirit; the seed had no such call):
    /// every range it holds goes back to the buddies and its head becomes FREE, reused by the
    /// next new owner. Returns the pages freed in registered namespaces. [`Error::NotFound`]
    /// if `owner` holds no head; [`Error::Invalid`] for the allocator's own uuid.
    ///
    /// One durable step (see `reclist.rs`, "release head"): after a crash `owner` holds all it
    /// held or nothing. Room in every buddy is reserved before the step, so a
    /// [`Error::NoMem`] changes nothing; ranges of a namespace not registered yet are simply
    /// free when it registers (its buddy is built from the records of ALLOC heads).
    pub fn release_owner(&mut self, owner: &[u8; 16]) -> Result<u64, Error> {
        if self.is_sys(owner) {
            return Err(Error::Invalid);
        }
        if !self.lists.is_loaded() {
            return Err(Error::NotFound);
        }
        let per_ns = self.lists.records_per_ns(owner).ok_or(Error::NotFound)?;
        for (slot, &n) in self.ns.iter_mut().zip(per_ns.iter()) {
            if let (Some(ns), true) = (slot.as_mut(), n > 0) {
                ns.buddy.reserve_frees(n)?;
            }
        }
        let (first, rest) = self.ns.split_at_mut(1);
        let n0 = first
            .first_mut()
            .and_then(Option::as_mut)
            .ok_or(Error::NotFound)?;
        let Namespace {
            media, buddy: b0, ..
        } = n0;
        let mut pages = 0u64;
        self.lists.release(media, owner, |rec| {
            let buddy = match usize::from(rec.ns_id()) {
                0 => Some(&mut *b0),
                k => rest
                    .get_mut(k - 1)
                    .and_then(Option::as_mut)
                    .map(|n| &mut n.buddy),
            };
            // Cannot fail: room is reserved, and a recorded range is never free in the buddy.
            if buddy.is_some_and(|b| b.free(rec.pgoff(), rec.order()).is_ok()) {
                pages += 1u64 << rec.order();
            }
        })?;
        Ok(pages)
    }

    /// Calls `f(offset, order)` for every range `owner` holds (`bch_get_nvmpg_head`), in list
    /// order, and returns how many. [`Error::NotFound`] if `owner` has no head.
    pub fn get_head(
        &self,
        owner: &[u8; 16],
        mut f: impl FnMut(NvmpgOffset, u8),
    ) -> Result<usize, Error> {
        let h = self.lists.find_head(owner).ok_or(Error::NotFound)?;
        let n0 = self.namespace(0).ok_or(Error::NotFound)?;
        let mut n = 0;
        for ns in 0..NS_MAX as u8 {
            self.lists
                .for_each_rec(&n0.media, Some(h), ns, |_, _, rec| {
                    let off =
                        NvmpgOffset::new(rec.ns_id(), rec.pgoff() * PAGE).ok_or(Error::Invalid)?;
                    f(off, rec.order());
                    n += 1;
                    Ok(())
                })?;
        }
        Ok(n)
    }

    fn namespace(&self, k: u8) -> Option<&Namespace<M, F>> {
        self.ns.get(usize::from(k)).and_then(Option::as_ref)
    }

    /// The media of namespace `k` (e.g. for the journal's stores into its pages).
    pub fn media(&self, k: u8) -> Option<&M> {
        self.namespace(k).map(|n| &n.media)
    }

    /// The media of namespace `k`, mutably. Only the allocated ranges are the caller's.
    pub fn media_mut(&mut self, k: u8) -> Option<&mut M> {
        self.ns
            .get_mut(usize::from(k))
            .and_then(Option::as_mut)
            .map(|n| &mut n.media)
    }

    /// The uuid of namespace `k` (`sb.uuid`).
    pub fn namespace_uuid(&self, k: u8) -> Option<[u8; 16]> {
        self.namespace(k).map(|n| n.uuid)
    }

    /// The buddy of namespace `k`.
    pub fn buddy(&self, k: u8) -> Option<&NsBuddy<F>> {
        self.namespace(k).map(|n| &n.buddy)
    }

    /// The allocation lists.
    pub fn lists(&self) -> &AllocLists<F> {
        &self.lists
    }

    /// Free pages over all registered namespaces.
    pub fn free_pages_total(&self) -> u64 {
        self.ns.iter().flatten().map(|n| n.buddy.free_pages()).sum()
    }
}

/// Rebuilds `buddy` over `[first, end)` (the namespace's `pages_offset`, which the sb rules pin
/// to the first allocatable page, and `pages_total`, in pages) with the records of namespace
/// `ns` busy, once they pass the rules that need the namespace's size: [`Rec::check`] with
/// `end` as `pages_total`, then [`check_overlaps`]. The first broken rule is the error.
/// Takes the pages of `media`'s known-bad ranges ([`Media::bad_range`]) out of `buddy`, so no
/// allocation lands on them. Not persistent: the badblocks list is the driver's, and is asked
/// again at every register. Pages of a range that went bad while allocated come back to the
/// buddy when freed, until the next register.
fn withhold_bad<M: Media, S: GrowVec<u64>>(media: &M, buddy: &mut Buddy<S>) -> Result<(), Error> {
    let mut i = 0;
    while let Some((start, len)) = media.bad_range(i) {
        let lo = (start / PAGE).max(buddy.start());
        let hi = start.saturating_add(len).div_ceil(PAGE).min(buddy.end());
        if lo < hi {
            buddy.withhold(lo, hi)?;
        }
        i += 1;
    }
    Ok(())
}

fn rebuild<F: GrowVecFamily, M: Media>(
    lists: &AllocLists<F>,
    m0: &M,
    ns: u8,
    buddy: &mut NsBuddy<F>,
    first: u64,
    end: u64,
) -> Result<(), Error> {
    let mut busy: F::GrowVec<RecordRef> = F::new_seq();
    lists.for_each_rec(m0, None, ns, |_, at, rec| {
        Ok(busy.try_push(RecordRef { rec, at })?)
    })?;
    let busy = busy.as_mut_slice();
    first_problem(|report| {
        for r in busy.iter() {
            r.rec.check(r.at, ns, Some(end), &mut *report);
        }
        check_overlaps(busy, report, |_, _| {});
    })?;
    let blocks = busy.iter().map(|r| Block {
        pgoff: r.rec.pgoff(),
        order: r.rec.order(),
    });
    Ok(buddy.rebuild_sorted(first, end, blocks)?)
}
