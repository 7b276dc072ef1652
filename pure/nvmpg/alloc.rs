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

use super::buddy::{Block, Buddy, BuddyError};
use super::format::{
    Field, FormatError, NvmpgOffset, Rec, Sb, MAX_ORDER, NS_MAX, NVMPG_MAGIC, PAGE_SIZE, SB_OFFSET,
};
use super::reclist::AllocLists;
use crate::pure::grow_vec::{GrowVec, GrowVecFamily};
use crate::pure::media::Media;

pub use super::error::Error;

const PAGE: u64 = PAGE_SIZE as u64;

/// The buddy of a namespace, over the family's sequences.
pub type NsBuddy<F> = Buddy<<F as GrowVecFamily>::GrowVec<u64>>;

impl From<BuddyError> for Error {
    fn from(e: BuddyError) -> Self {
        match e {
            BuddyError::NoSpace => Error::NoSpace,
            BuddyError::Invalid => Error::Invalid,
            BuddyError::NoMem => Error::NoMem,
        }
    }
}

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

/// Reads the sb of `m` and checks it: magic, checksum, then [`Sb::check_fields`]. The first
/// broken rule is the error.
fn read_sb<M: Media>(m: &M) -> Result<Sb, Error> {
    let at = |off: usize| SB_OFFSET + off as u64;
    let mut raw = [0u8; Sb::SIZE];
    m.read(SB_OFFSET, &mut raw)?;
    let sb = Sb::decode(&raw)?;
    if sb.magic != NVMPG_MAGIC {
        return Err(FormatError::BadMagic {
            field: Field::SbMagic,
            offset: at(Sb::OFF_MAGIC),
        }
        .into());
    }
    if Sb::csum_end(sb.keys).is_none() {
        let (found, max) = (sb.keys.into(), Sb::MAX_KEYS.into());
        let offset = at(Sb::OFF_KEYS);
        return Err(FormatError::TooLarge {
            field: Field::SbKeys,
            offset,
            found,
            max,
        }
        .into());
    }
    let expected = Sb::csum_with(&raw, sb.keys, |pos, buf| m.read(at(pos), buf).is_ok())
        .ok_or(Error::Media)?;
    if expected != sb.csum {
        let found = sb.csum;
        return Err(FormatError::BadCsum {
            offset: at(Sb::OFF_CSUM),
            found,
            expected,
        }
        .into());
    }
    let mut first = None;
    sb.check_fields(m.len(), |e| {
        first.get_or_insert(e);
    });
    match first {
        Some(e) => Err(e.into()),
        None => Ok(sb),
    }
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
            if sb.set_uuid != set_uuid || sb.total_ns != total_ns {
                let offset = SB_OFFSET + Sb::OFF_SET_UUID as u64;
                return Err(FormatError::UuidMismatch {
                    field: Field::SbSetUuid,
                    offset,
                }
                .into());
            }
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
                    *other = Some(b);
                }
            }
            rebuild(&lists, &media, 0, &mut buddy, first, end)?;
            for (slot, other) in self.ns.iter_mut().zip(others) {
                if let (Some(n), Some(b)) = (slot.as_mut(), other) {
                    n.buddy = b;
                }
            }
            self.lists = lists;
        } else if let Some(n0) = self.namespace(0) {
            rebuild(&self.lists, &n0.media, id, &mut buddy, first, end)?;
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

/// Rebuilds `buddy` over `[first, end)` with the records of namespace `ns` busy; turns a
/// rejected record into the [`FormatError`] that names it.
fn rebuild<F: GrowVecFamily, M: Media>(
    lists: &AllocLists<F>,
    m0: &M,
    ns: u8,
    buddy: &mut NsBuddy<F>,
    first: u64,
    end: u64,
) -> Result<(), Error> {
    let mut busy: F::GrowVec<Block> = F::new_seq();
    lists.for_each_rec(m0, None, ns, |_, _, rec| {
        Ok(busy.try_push(Block {
            pgoff: rec.pgoff(),
            order: rec.order(),
        })?)
    })?;
    match buddy.rebuild(first, end, busy.as_mut_slice()) {
        Ok(()) => Ok(()),
        Err(BuddyError::Invalid) => Err(culprit(lists, m0, ns, busy.as_slice(), first, end)),
        Err(e) => Err(e.into()),
    }
}

/// Names the first record that [`Buddy::rebuild`] rejected; `sorted` are the busy blocks as
/// the rebuild left them (sorted).
fn culprit<F: GrowVecFamily, M: Media>(
    lists: &AllocLists<F>,
    m0: &M,
    ns: u8,
    sorted: &[Block],
    first: u64,
    end: u64,
) -> Error {
    // The overlapping pair, if any: (earlier, later).
    let pair = sorted.windows(2).find_map(|w| match *w {
        [a, b] if b.pgoff < a.pgoff.saturating_add(a.pages()) => Some((a, b)),
        _ => None,
    });
    let mut found = None;
    let (mut at_a, mut at_b) = (None, None);
    let walk = lists.for_each_rec(m0, None, ns, |_, at, rec| {
        let (pgoff, rec_end) = (rec.pgoff(), rec.end());
        if found.is_none() && pgoff < first {
            found = Some(FormatError::RecordInReserved {
                offset: at,
                pgoff,
                first,
            });
        } else if found.is_none() && rec_end > end {
            found = Some(FormatError::RecordPastEnd {
                offset: at,
                end: rec_end,
                pages_total: end,
            });
        }
        if let Some((a, b)) = pair {
            let blk = Block {
                pgoff,
                order: rec.order(),
            };
            if blk == a && at_a.is_none() {
                at_a = Some(at);
            } else if blk == b && at_b.is_none() {
                at_b = Some(at);
            }
        }
        Ok(())
    });
    match (walk, found, at_a, at_b) {
        (Err(e), ..) => e,
        (Ok(()), Some(e), ..) => Error::Corrupt(e),
        (Ok(()), None, Some(other), Some(offset)) => {
            Error::Corrupt(FormatError::RecordOverlap { offset, other })
        }
        _ => Error::Invalid,
    }
}
