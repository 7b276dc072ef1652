//! Buddy allocator over the free page ranges of one namespace.
//!
//! The free blocks live in ordinary memory, in one sorted [`GrowVec`] of keys
//! `order << 56 | pgoff`: the free list of an order is the run of keys with that order, lowest
//! page first. Nothing is kept per page (no `struct page` lists, no bitmap), so
//! [`Buddy::rebuild`] costs time and memory in the number of busy ranges, not in the size of
//! the namespace.
//!
//! Invariants: free blocks never overlap, each is aligned to its size and lies inside the
//! allocatable region `[start, end)`, and `free_pages` is the sum of their sizes. Every public
//! operation but [`Buddy::rebuild`] and [`Buddy::withhold`] either succeeds or leaves the
//! state unchanged; a failed rebuild leaves the buddy empty, a failed withhold keeps what it
//! withheld before it failed.
//!
//! The buddy checks the ranges it is given only to keep these invariants: it knows nothing of
//! the on-media records. The allocator checks the records with the format's rules first
//! ([`super::format::Rec::check`], [`super::format::check_overlaps`]), which name the bad
//! record.

use super::format::Rec;
use crate::pure::grow_vec::{GrowVec, NoMem};
use crate::pure::sort::heapsort;

/// Number of block orders (`BCH_MAX_ORDER`): a block is `2^order` pages with
/// `order < MAX_ORDER`.
pub use super::format::MAX_ORDER;

/// Page offsets must stay below this bound (the width of `bch_nvmpg_rec.pgoff`).
pub const PGOFF_LIMIT: u64 = 1 << Rec::PGOFF_BITS;

const ORDER_SHIFT: u32 = 56;

/// A naturally aligned range of `2^order` pages starting at page `pgoff` of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Block {
    /// First page of the range.
    pub pgoff: u64,
    /// log2 of the number of pages.
    pub order: u8,
}

impl Block {
    /// Number of pages in the block.
    pub fn pages(self) -> u64 {
        1u64 << self.order.min(63)
    }

    /// Whether the block is well formed (order below [`MAX_ORDER`], aligned) and lies inside
    /// `[start, end)`.
    pub fn is_valid_in(self, start: u64, end: u64) -> bool {
        self.order < MAX_ORDER
            && self.pgoff & (self.pages() - 1) == 0
            && self.pgoff >= start
            && self
                .pgoff
                .checked_add(self.pages())
                .is_some_and(|e| e <= end)
    }
}

/// Error of a buddy operation; the allocator turns it into its own
/// [`Error`](super::error::Error) (`NoSpace`, `Invalid`, `NoMem`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuddyError {
    /// No free block of the requested order or larger.
    NoSpace,
    /// Bad order or range: misaligned, outside the region, overlapping a free or busy range.
    Invalid,
    /// The free list could not grow.
    NoMem,
}

impl From<NoMem> for BuddyError {
    fn from(_: NoMem) -> Self {
        BuddyError::NoMem
    }
}

/// The buddy allocator of one namespace.
pub struct Buddy<S: GrowVec<u64>> {
    start: u64,
    end: u64,
    free_pages: u64,
    keys: S,
}

fn key(order: u8, pgoff: u64) -> u64 {
    (u64::from(order) << ORDER_SHIFT) | pgoff
}

/// The maximal naturally aligned blocks covering `[at, end)`, in ascending order.
fn aligned_blocks(mut at: u64, end: u64) -> impl Iterator<Item = Block> + Clone {
    core::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let fit = 63 - (end - at).leading_zeros();
        let order = at.trailing_zeros().min(fit).min(u32::from(MAX_ORDER) - 1) as u8;
        let b = Block { pgoff: at, order };
        at += b.pages();
        Some(b)
    })
}

fn unkey(k: u64) -> Block {
    Block {
        pgoff: k & ((1 << ORDER_SHIFT) - 1),
        order: (k >> ORDER_SHIFT) as u8,
    }
}

impl<S: GrowVec<u64>> Buddy<S> {
    /// An empty buddy (no allocatable region) using `keys` as storage.
    pub fn new(mut keys: S) -> Self {
        keys.clear();
        Buddy {
            start: 0,
            end: 0,
            free_pages: 0,
            keys,
        }
    }

    /// Rebuilds the free lists of the region `[start, end)` (in pages) in which the ranges of
    /// `busy` are in use: the gaps between them are carved into maximal aligned blocks.
    ///
    /// `busy` is sorted in place. Fails with [`BuddyError::Invalid`] if `start > end`, `end` is
    /// past [`PGOFF_LIMIT`] or a busy range is misaligned, outside the region or overlaps
    /// another one; on any error the buddy is left empty.
    pub fn rebuild(&mut self, start: u64, end: u64, busy: &mut [Block]) -> Result<(), BuddyError> {
        heapsort(busy);
        self.rebuild_sorted(start, end, busy.iter().copied())
    }

    /// [`Buddy::rebuild`] from busy ranges given in ascending order of `pgoff`: fails with
    /// [`BuddyError::Invalid`] if they are not, as for a bad range.
    pub(crate) fn rebuild_sorted(
        &mut self,
        start: u64,
        end: u64,
        busy: impl IntoIterator<Item = Block>,
    ) -> Result<(), BuddyError> {
        self.keys.clear();
        self.start = 0;
        self.end = 0;
        self.free_pages = 0;
        if start > end || end > PGOFF_LIMIT {
            return Err(BuddyError::Invalid);
        }
        let mut at = start;
        for b in busy {
            if !b.is_valid_in(at, end) {
                self.keys.clear();
                return Err(BuddyError::Invalid);
            }
            self.carve(at, b.pgoff).inspect_err(|_| self.keys.clear())?;
            at = b.pgoff + b.pages();
        }
        self.carve(at, end).inspect_err(|_| self.keys.clear())?;
        heapsort(self.keys.as_mut_slice());
        self.start = start;
        self.end = end;
        self.free_pages = self.keys.as_slice().iter().map(|&k| unkey(k).pages()).sum();
        Ok(())
    }

    /// Appends the maximal aligned blocks covering `[at, end)` (unsorted).
    fn carve(&mut self, at: u64, end: u64) -> Result<(), NoMem> {
        for b in aligned_blocks(at, end) {
            self.keys.try_push(key(b.order, b.pgoff))?;
        }
        Ok(())
    }

    /// Takes the free pages of `[lo, hi)` out of the buddy for good (known bad pages): each
    /// free block that overlaps the range is replaced by the aligned blocks of its pages
    /// outside it. Returns how many pages were withheld. On [`NoMem`] the block being split
    /// is left as it was (blocks handled before it stay withheld): the invariants hold.
    pub fn withhold(&mut self, lo: u64, hi: u64) -> Result<u64, NoMem> {
        let mut taken = 0;
        loop {
            let overlapping = self
                .free_blocks()
                .find(|b| b.pgoff < hi && lo < b.pgoff + b.pages());
            let Some(b) = overlapping else {
                break;
            };
            let (b_end, cut_lo, cut_hi) = (b.pgoff + b.pages(), lo.max(b.pgoff), hi);
            let keep = aligned_blocks(b.pgoff, cut_lo).chain(aligned_blocks(cut_hi, b_end));
            // Insert the kept pieces first so a failure can be undone by removals alone;
            // pieces never overlap the range, so the loop ends.
            for (inserted, piece) in keep.clone().enumerate() {
                if let Err(e) = self.insert(piece) {
                    keep.take(inserted).for_each(|p| self.remove(p));
                    return Err(e);
                }
            }
            self.remove(b);
            let gone = cut_hi.min(b_end) - cut_lo;
            self.free_pages -= gone;
            taken += gone;
        }
        Ok(taken)
    }

    /// First page of the allocatable region.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// End (exclusive, in pages) of the allocatable region.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Number of free pages.
    pub fn free_pages(&self) -> u64 {
        self.free_pages
    }

    /// Whether [`Buddy::alloc`] of `order` would succeed (memory permitting).
    pub fn can_alloc(&self, order: u8) -> bool {
        order < MAX_ORDER && self.first_at_least(order).is_some()
    }

    /// The free blocks, by order then page.
    pub fn free_blocks(&self) -> impl Iterator<Item = Block> + '_ {
        self.keys.as_slice().iter().map(|&k| unkey(k))
    }

    /// The lowest free block of the smallest order `>= order`.
    fn first_at_least(&self, order: u8) -> Option<Block> {
        let keys = self.keys.as_slice();
        keys.get(keys.partition_point(|&k| k < key(order, 0)))
            .map(|&k| unkey(k))
    }

    fn find(&self, b: Block) -> Result<usize, usize> {
        self.keys.as_slice().binary_search(&key(b.order, b.pgoff))
    }

    fn insert(&mut self, b: Block) -> Result<(), NoMem> {
        match self.find(b) {
            Ok(_) => Ok(()),
            Err(idx) => self.keys.try_insert(idx, key(b.order, b.pgoff)),
        }
    }

    fn remove(&mut self, b: Block) {
        if let Ok(idx) = self.find(b) {
            self.keys.remove(idx);
        }
    }

    /// Allocates `2^order` pages: splits the lowest block of the smallest order that fits.
    /// Returns the first page.
    pub fn alloc(&mut self, order: u8) -> Result<u64, BuddyError> {
        if order >= MAX_ORDER {
            return Err(BuddyError::Invalid);
        }
        let big = self.first_at_least(order).ok_or(BuddyError::NoSpace)?;
        // Insert the upper halves first so a failure can be undone by removals alone.
        for o in order..big.order {
            let half = Block {
                pgoff: big.pgoff + (1 << o),
                order: o,
            };
            if let Err(e) = self.insert(half) {
                for u in order..o {
                    self.remove(Block {
                        pgoff: big.pgoff + (1 << u),
                        order: u,
                    });
                }
                return Err(e.into());
            }
        }
        self.remove(big);
        self.free_pages -= 1 << order;
        Ok(big.pgoff)
    }

    /// Whether any page of `[pgoff, pgoff + 2^order)` is free.
    pub fn overlaps_free(&self, b: Block) -> bool {
        let keys = self.keys.as_slice();
        let end = b.pgoff.saturating_add(b.pages());
        (0..MAX_ORDER).any(|o| {
            if o >= b.order {
                let mask = (1u64 << o) - 1;
                self.find(Block {
                    pgoff: b.pgoff & !mask,
                    order: o,
                })
                .is_ok()
            } else {
                let idx = keys.partition_point(|&k| k < key(o, b.pgoff));
                keys.get(idx).is_some_and(|&k| k < key(o, end))
            }
        })
    }

    /// Makes sure the next [`Buddy::free`] cannot fail for lack of memory: call it before
    /// committing anything that the free completes.
    pub fn reserve_free(&mut self) -> Result<(), NoMem> {
        self.reserve_frees(1)
    }

    /// Makes room so that the next `n` [`Buddy::free`]s cannot fail for lack of memory.
    pub fn reserve_frees(&mut self, n: usize) -> Result<(), NoMem> {
        self.keys.try_reserve(n)
    }

    /// Gives `2^order` pages at `pgoff` back, merging with free buddies as far as alignment
    /// and the region allow. Fails with [`BuddyError::Invalid`] for a block that is not
    /// allocatable or not entirely in use (double free).
    pub fn free(&mut self, pgoff: u64, order: u8) -> Result<(), BuddyError> {
        let b = Block { pgoff, order };
        if !b.is_valid_in(self.start, self.end) || self.overlaps_free(b) {
            return Err(BuddyError::Invalid);
        }
        // Both halves of a merge are free blocks inside the region, so the merged block is too.
        let mut merged = b;
        while merged.order + 1 < MAX_ORDER {
            let buddy = Block {
                pgoff: merged.pgoff ^ merged.pages(),
                order: merged.order,
            };
            if self.find(buddy).is_err() {
                break;
            }
            merged = Block {
                pgoff: merged.pgoff & !merged.pages(),
                order: merged.order + 1,
            };
        }
        self.insert(merged)?;
        for o in order..merged.order {
            let base = pgoff & !((1u64 << o) - 1);
            self.remove(Block {
                pgoff: base ^ (1 << o),
                order: o,
            });
        }
        self.free_pages += b.pages();
        Ok(())
    }
}
