//! Consistency check of an nvm-pages set: walks the superblocks of all namespace images, the
//! set header, every head and every recs chain of namespace 0, and reports every problem found.
//!
//! The rules are the format's ([`crate::pure::nvmpg::format`]), the very functions the
//! allocator's loaders apply: the walk calls them on everything it reads and collects every
//! problem they report, where a loader stops at the first. A few rules only the walk applies,
//! as only it sees what they need: every namespace of the set is there exactly once, no head
//! at or past `set_header.used` is ALLOC ([`SetHeader::check_used`]; the loader reads no head
//! there), and `recs.used` counts the live records ([`RecsHeader::check_used`]; a hint the
//! loader repairs instead).
//!
//! The walk needs no allocation: images are read through [`Image`] a few bytes at a time (never
//! more than one fixed structure on the stack), problems and the structures met on the way go
//! to a [`Visitor`], and the overlap check sorts records in a scratch slice the caller lends.

use super::format::{
    check_overlaps, Field, FormatError, Head, NvmpgOffset, Rec, RecsHeader, Sb, Seen, SetHeader,
    HEAD_STATE_FREE, NS_MAX, RECLIST_HEAD_OFFSET, SB_OFFSET, SYSRECS_BLOCKS,
};
use crate::pure::media::OutOfRange;

pub use super::format::RecordRef;

/// Read access to one namespace image.
pub trait Image {
    /// Size of the namespace in bytes.
    fn size(&self) -> u64;

    /// Copies `dst.len()` bytes at byte `off` into `dst`.
    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange>;
}

impl Image for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        let start = usize::try_from(off).map_err(|_| OutOfRange)?;
        let end = start.checked_add(dst.len()).ok_or(OutOfRange)?;
        dst.copy_from_slice(self.get(start..end).ok_or(OutOfRange)?);
        Ok(())
    }
}

/// One problem of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problem {
    /// Index of the image the offset in `error` refers to; `None` for a problem of the set as
    /// a whole (a missing namespace).
    pub image: Option<usize>,
    /// What is wrong, where.
    pub error: FormatError,
}

/// Scratch records needed to check any set for overlaps: every slot of the recs area.
pub const MAX_RECORDS: usize = SYSRECS_BLOCKS * RecsHeader::MAX_RECS;

/// Receives what the walk finds. Only problems must be handled; the structures are passed to
/// whoever wants to show them, in on-media order, valid or not.
pub trait Visitor {
    /// A problem.
    fn problem(&mut self, problem: &Problem);

    /// The decoded sb of image `image` (before it is validated).
    fn sb(&mut self, _image: usize, _sb: &Sb) {}

    /// The fixed part of the set header of namespace 0.
    fn set_header(&mut self, _header: &SetHeader) {}

    /// `heads[index]`, for every head that is not FREE.
    fn head(&mut self, _index: usize, _head: &Head) {}

    /// A recs block of the chain of namespace `ns` of `heads[head]`, stored at byte `at`.
    fn recs(&mut self, _head: usize, _ns: usize, _at: u64, _recs: &RecsHeader) {}

    /// A live record of `heads[head]`, stored at byte `at`.
    fn rec(&mut self, _head: usize, _at: u64, _rec: Rec) {}
}

/// Totals of a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Problems reported.
    pub problems: usize,
    /// Live records met.
    pub records: usize,
    /// Per namespace id: pages covered by valid records (overlaps counted once).
    pub allocated: [u64; NS_MAX],
}

/// What the walk keeps of each namespace's sb.
#[derive(Clone, Copy)]
struct Ns {
    pages_total: u64,
}

/// One bit per block of the recs area.
type BlockSet = [u8; SYSRECS_BLOCKS.div_ceil(8)];

/// Sets bit `index`, returning whether it was set already (out-of-range bits count as set).
fn test_and_set(set: &mut BlockSet, index: usize) -> bool {
    match set.get_mut(index / 8) {
        Some(byte) => {
            let bit = 1u8 << (index % 8);
            let was = *byte & bit != 0;
            *byte |= bit;
            was
        }
        None => true,
    }
}

/// Where the walk sends what it finds, apart from its own state (so a rule can report while
/// the walk lends it other parts of its state).
struct Out<'a, V: Visitor + ?Sized> {
    visitor: &'a mut V,
    summary: Summary,
}

impl<V: Visitor + ?Sized> Out<'_, V> {
    fn problem(&mut self, image: Option<usize>, error: FormatError) {
        self.summary.problems += 1;
        self.visitor.problem(&Problem { image, error });
    }
}

struct Walk<'a, I: Image + ?Sized, V: Visitor + ?Sized> {
    images: &'a [&'a I],
    out: Out<'a, V>,
    scratch: &'a mut [RecordRef],
    /// Records in `scratch`.
    kept: usize,
    ns: [Option<Ns>; NS_MAX],
    /// Recs blocks met in any chain.
    blocks_seen: BlockSet,
}

impl<I: Image + ?Sized, V: Visitor + ?Sized> Walk<'_, I, V> {
    /// Reads `buf.len()` bytes of image `k` at `off`, reporting a truncated `field` on failure.
    fn read(&mut self, k: usize, field: Field, off: u64, buf: &mut [u8]) -> bool {
        let Some(image) = self.images.get(k) else {
            return false;
        };
        if image.read(off, buf).is_ok() {
            return true;
        }
        let have = image.size().saturating_sub(off);
        let need = buf.len() as u64;
        self.out.problem(
            Some(k),
            FormatError::Truncated {
                field,
                offset: off,
                need,
                have,
            },
        );
        false
    }

    /// Reads and checks the sb of image `k`; `None` if it is not an nvm-pages sb at all.
    fn sb(&mut self, k: usize) -> Option<Sb> {
        let image = *self.images.get(k)?;
        let mut raw = [0u8; Sb::SIZE];
        if !self.read(k, Field::Sb, SB_OFFSET, &mut raw) {
            return None;
        }
        let sb = Sb::decode(&raw).ok()?;
        self.out.visitor.sb(k, &sb);
        let read = |off, buf: &mut [u8]| image.read(off, buf).is_ok();
        sb.check(&raw, image.size(), read, |e| self.out.problem(Some(k), e))
            .then_some(sb)
    }

    /// Checks every sb and their agreement; returns the sb of namespace 0 and its image.
    fn sbs(&mut self) -> Option<(usize, Sb)> {
        let mut first: Option<Sb> = None;
        let mut zero = None;
        for k in 0..self.images.len() {
            let Some(sb) = self.sb(k) else { continue };
            match first {
                Some(set) => sb.check_set(&set.set_uuid, set.total_ns, |e| {
                    self.out.problem(Some(k), e)
                }),
                None => first = Some(sb),
            }
            let id = sb.this_ns as usize;
            if id >= NS_MAX || sb.this_ns >= sb.total_ns {
                continue;
            }
            match self.ns.get_mut(id) {
                Some(slot) if slot.is_none() => {
                    *slot = Some(Ns {
                        pages_total: sb.pages_total,
                    });
                    if id == 0 {
                        zero = Some((k, sb));
                    }
                }
                _ => self.out.problem(
                    Some(k),
                    FormatError::DuplicateNamespace {
                        offset: SB_OFFSET + Sb::OFF_THIS_NS as u64,
                        ns: sb.this_ns,
                    },
                ),
            }
        }
        let set = first?;
        // An invalid total_ns is reported already; it names no namespace to miss.
        let total = match set.total_ns as usize {
            total @ 1..=NS_MAX => total,
            _ => 0,
        };
        for ns in 0..total {
            if self.ns.get(ns).is_some_and(|n| n.is_none()) {
                self.out
                    .problem(None, FormatError::MissingNamespace { ns: ns as u32 });
            }
        }
        zero
    }

    /// Checks the set header and every head of namespace 0 (image `k`), and walks the chains
    /// of the owner heads.
    fn heads(&mut self, k: usize, sb: &Sb) {
        let mut raw = [0u8; SetHeader::SIZE];
        if !self.read(k, Field::SetHeader, RECLIST_HEAD_OFFSET, &mut raw) {
            return;
        }
        let Ok(header) = SetHeader::decode(&raw) else {
            return;
        };
        self.out.visitor.set_header(&header);
        let img = Some(k);
        header.check(|e| self.out.problem(img, e));
        let mut alloc_end = 0;
        for index in 0..SetHeader::MAX_HEADS {
            let Some(off) = SetHeader::head_off(index) else {
                break;
            };
            let head_at = RECLIST_HEAD_OFFSET + off as u64;
            let mut raw = [0u8; Head::SIZE];
            if !self.read(k, Field::Head, head_at, &mut raw) {
                return;
            }
            let Ok(head) = Head::decode(&raw) else { return };
            if head.state != HEAD_STATE_FREE {
                self.out.visitor.head(index, &head);
            }
            if !head.check_state(index, head_at, |e| self.out.problem(img, e)) {
                continue;
            }
            alloc_end = index + 1;
            for ns in 0..NS_MAX {
                let first = head.check_link(ns, sb.total_ns, head_at, |e| self.out.problem(img, e));
                if let Some(first) = first {
                    self.chain(k, index, &head, ns, head_at, first);
                }
            }
        }
        header.check_used(alloc_end, |e| self.out.problem(img, e));
    }

    /// Walks the chain of namespace `ns` of `heads[index]` (stored at `head_at`) whose first
    /// link is `first`.
    fn chain(
        &mut self,
        k: usize,
        index: usize,
        head: &Head,
        ns: usize,
        head_at: u64,
        first: NvmpgOffset,
    ) {
        let img = Some(k);
        let head_ptr = SetHeader::head_nvmpg_offset(index).unwrap_or_default();
        let mut chain: BlockSet = [0; SYSRECS_BLOCKS.div_ceil(8)];
        let mut ptr = first;
        let mut link_at = head_at + (Head::OFF_RECS_OFFSET + ns * 8) as u64;
        let mut field = Field::HeadRecsOffset;
        while !ptr.is_none() {
            let blocks_seen = &mut self.blocks_seen;
            let seen = |block| {
                if test_and_set(&mut chain, block) {
                    Seen::ThisChain
                } else if test_and_set(blocks_seen, block) {
                    Seen::OtherChain
                } else {
                    Seen::No
                }
            };
            let report = |e| self.out.problem(img, e);
            let Some(block) = RecsHeader::follow(ptr, field, link_at, seen, report) else {
                return;
            };
            let Some(at) = RecsHeader::block_offset(block) else {
                return;
            };
            let mut raw = [0u8; RecsHeader::SIZE];
            if !self.read(k, Field::Recs, at, &mut raw) {
                return;
            }
            let Ok(recs) = RecsHeader::decode(&raw) else {
                return;
            };
            self.out.visitor.recs(index, ns, at, &recs);
            if !recs.check(at, &head.uuid, head_ptr, |e| self.out.problem(img, e)) {
                return;
            }
            let Some(live) = self.records(k, index, ns, at) else {
                return;
            };
            recs.check_used(at, live, |e| self.out.problem(img, e));
            ptr = recs.next_offset;
            link_at = at + RecsHeader::OFF_NEXT_OFFSET as u64;
            field = Field::RecsNextOffset;
        }
    }

    /// Checks every slot of the recs block at `at` (chain of namespace `ns` of
    /// `heads[index]`) and keeps the sound records for the overlap check; returns the number
    /// of live records.
    fn records(&mut self, k: usize, index: usize, ns: usize, at: u64) -> Option<u64> {
        let ns_id = u8::try_from(ns).ok()?;
        // Records of a namespace whose size is unknown cannot be checked for overlaps.
        let pages_total = self.ns.get(ns).copied().flatten().map(|n| n.pages_total);
        let mut live = 0;
        for slot in 0..RecsHeader::MAX_RECS {
            let slot_at = at + RecsHeader::rec_off(slot)? as u64;
            let mut raw = [0u8; Rec::SIZE];
            if !self.read(k, Field::Rec, slot_at, &mut raw) {
                return None;
            }
            let rec = Rec::decode(&raw).ok()?;
            if rec.is_empty() {
                continue;
            }
            live += 1;
            self.out.summary.records += 1;
            self.out.visitor.rec(index, slot_at, rec);
            let sound = rec.check(slot_at, ns_id, pages_total, |e| {
                self.out.problem(Some(k), e)
            });
            if sound && pages_total.is_some() {
                self.keep(RecordRef { rec, at: slot_at });
            }
        }
        Some(live)
    }

    /// Keeps a sound record for the overlap check.
    fn keep(&mut self, rec: RecordRef) {
        let capacity = self.scratch.len();
        if let Some(slot) = self.scratch.get_mut(self.kept) {
            *slot = rec;
        } else if self.kept == capacity {
            let capacity = capacity as u64;
            self.out
                .problem(None, FormatError::ScratchExhausted { capacity });
        }
        self.kept = self.kept.saturating_add(1);
    }

    /// Checks the kept records for overlaps ([`check_overlaps`]) and totals allocated pages.
    fn overlaps(&mut self, k: usize) {
        let kept = self.kept.min(self.scratch.len());
        let Some(recs) = self.scratch.get_mut(..kept) else {
            return;
        };
        let mut added = [0u64; NS_MAX];
        let report = |e| self.out.problem(Some(k), e);
        check_overlaps(recs, report, |ns, pages| {
            if let Some(total) = added.get_mut(usize::from(ns)) {
                *total += pages;
            }
        });
        for (total, pages) in self.out.summary.allocated.iter_mut().zip(added) {
            *total += pages;
        }
    }
}

/// Walks a set of namespace images, reporting every problem and every structure to `visitor`.
///
/// `images` are the namespaces of one set in any order. `scratch` holds the records for the
/// overlap check; [`MAX_RECORDS`] entries are enough for any set (a smaller slice is reported
/// as [`FormatError::ScratchExhausted`] when it fills up).
pub fn walk<I: Image + ?Sized, V: Visitor + ?Sized>(
    images: &[&I],
    scratch: &mut [RecordRef],
    visitor: &mut V,
) -> Summary {
    let mut w = Walk {
        images,
        out: Out {
            visitor,
            summary: Summary::default(),
        },
        scratch,
        kept: 0,
        ns: [None; NS_MAX],
        blocks_seen: [0; SYSRECS_BLOCKS.div_ceil(8)],
    };
    if let Some((k, sb)) = w.sbs() {
        w.heads(k, &sb);
        w.overlaps(k);
    }
    w.out.summary
}

/// Checks a set of namespace images, calling `report` once per problem. Returns the totals;
/// the set is clean when `problems` is 0. See [`walk`] for `images` and `scratch`.
pub fn check<I: Image + ?Sized>(
    images: &[&I],
    scratch: &mut [RecordRef],
    report: impl FnMut(&Problem),
) -> Summary {
    struct Report<F>(F);
    impl<F: FnMut(&Problem)> Visitor for Report<F> {
        fn problem(&mut self, problem: &Problem) {
            (self.0)(problem)
        }
    }
    walk(images, scratch, &mut Report(report))
}
