//! Consistency check of an nvm-pages set: walks the superblocks of all namespace images, the
//! set header, every head and every recs chain of namespace 0, and reports every problem found.
//!
//! The walk needs no allocation: images are read through [`Image`] a few bytes at a time (never
//! more than one fixed structure on the stack), problems and the structures met on the way go
//! to a [`Visitor`], and the overlap check sorts records in a scratch slice the caller lends.

use super::format::{
    Field, FormatError, Head, NvmpgOffset, Rec, RecsHeader, Sb, SetHeader, FIRST_PAGE,
    HEAD_STATE_ALLOC, HEAD_STATE_FREE, NS_MAX, NVMPG_MAGIC, RECLIST_HEAD_OFFSET, RECS_MAGIC,
    SB_OFFSET, SYSRECS_BLOCKS,
};
use crate::pure::media::OutOfRange;

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

/// A live record and where it is stored (byte offset of its slot in namespace 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordRef {
    /// The record.
    pub rec: Rec,
    /// Byte offset of its slot.
    pub at: u64,
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

struct Walk<'a, I: Image + ?Sized, V: Visitor + ?Sized> {
    images: &'a [&'a I],
    visitor: &'a mut V,
    scratch: &'a mut [RecordRef],
    /// Records in `scratch`.
    kept: usize,
    summary: Summary,
    ns: [Option<Ns>; NS_MAX],
    /// Recs blocks met in any chain.
    blocks_seen: BlockSet,
}

impl<I: Image + ?Sized, V: Visitor + ?Sized> Walk<'_, I, V> {
    fn report(&mut self, image: Option<usize>, error: FormatError) {
        self.summary.problems += 1;
        self.visitor.problem(&Problem { image, error });
    }

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
        self.report(
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

    /// bch_crc64 over `[8, 232 + keys * 8)` of the sb of image `k`, read piecewise.
    fn sb_csum(&mut self, k: usize, fixed: &[u8], keys: u32) -> Option<u64> {
        if Sb::csum_end(keys).is_none() {
            let (max, offset) = (Sb::MAX_KEYS.into(), SB_OFFSET + Sb::OFF_KEYS as u64);
            let found = keys.into();
            self.report(
                Some(k),
                FormatError::TooLarge {
                    field: Field::SbKeys,
                    offset,
                    found,
                    max,
                },
            );
            return None;
        }
        Sb::csum_with(fixed, keys, |pos, piece| {
            self.read(k, Field::Sb, SB_OFFSET + pos as u64, piece)
        })
    }

    /// Reads and validates the sb of image `k`; `None` if it is not an nvm-pages sb at all.
    fn sb(&mut self, k: usize) -> Option<Sb> {
        let mut raw = [0u8; Sb::SIZE];
        if !self.read(k, Field::Sb, SB_OFFSET, &mut raw) {
            return None;
        }
        let sb = Sb::decode(&raw).ok()?;
        self.visitor.sb(k, &sb);
        let at = |off: usize| SB_OFFSET + off as u64;
        let img = Some(k);
        if sb.magic != NVMPG_MAGIC {
            self.report(
                img,
                FormatError::BadMagic {
                    field: Field::SbMagic,
                    offset: at(Sb::OFF_MAGIC),
                },
            );
            return None;
        }
        if let Some(expected) = self.sb_csum(k, &raw, sb.keys) {
            if expected != sb.csum {
                self.report(
                    img,
                    FormatError::BadCsum {
                        offset: at(Sb::OFF_CSUM),
                        found: sb.csum,
                        expected,
                    },
                );
            }
        }
        let size = self.images.get(k).map_or(0, |i| i.size());
        sb.check_fields(size, |e| self.report(img, e));
        Some(sb)
    }

    /// Validates every sb and their agreement; returns the sb of namespace 0 and its image.
    fn sbs(&mut self) -> Option<(usize, Sb)> {
        let mut first: Option<(usize, Sb)> = None;
        let mut zero = None;
        for k in 0..self.images.len() {
            let Some(sb) = self.sb(k) else { continue };
            let offset = |off: usize| SB_OFFSET + off as u64;
            if let Some((_, set)) = first {
                if sb.set_uuid != set.set_uuid {
                    self.report(
                        Some(k),
                        FormatError::UuidMismatch {
                            field: Field::SbSetUuid,
                            offset: offset(Sb::OFF_SET_UUID),
                        },
                    );
                }
                if sb.total_ns != set.total_ns {
                    let (found, expected) = (sb.total_ns.into(), set.total_ns.into());
                    self.report(
                        Some(k),
                        FormatError::BadValue {
                            field: Field::SbTotalNs,
                            offset: offset(Sb::OFF_TOTAL_NS),
                            found,
                            expected,
                        },
                    );
                }
            } else {
                first = Some((k, sb));
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
                _ => self.report(
                    Some(k),
                    FormatError::DuplicateNamespace {
                        offset: offset(Sb::OFF_THIS_NS),
                        ns: sb.this_ns,
                    },
                ),
            }
        }
        let (_, set) = first?;
        // An invalid total_ns is reported already; it names no namespace to miss.
        let total = match set.total_ns as usize {
            total @ 1..=NS_MAX => total,
            _ => 0,
        };
        for ns in 0..total {
            if self.ns.get(ns).is_some_and(|n| n.is_none()) {
                self.report(None, FormatError::MissingNamespace { ns: ns as u32 });
            }
        }
        zero
    }

    /// Validates the set header and every head of namespace 0 (image `k`).
    fn heads(&mut self, k: usize, sb: &Sb) {
        let mut raw = [0u8; SetHeader::SIZE];
        if !self.read(k, Field::SetHeader, RECLIST_HEAD_OFFSET, &mut raw) {
            return;
        }
        let Ok(header) = SetHeader::decode(&raw) else {
            return;
        };
        self.visitor.set_header(&header);
        let img = Some(k);
        let at = |off: usize| RECLIST_HEAD_OFFSET + off as u64;
        let max = SetHeader::MAX_HEADS as u64;
        if u64::from(header.size) != max {
            let found = header.size.into();
            self.report(
                img,
                FormatError::BadValue {
                    field: Field::HdrSize,
                    offset: at(SetHeader::OFF_SIZE),
                    found,
                    expected: max,
                },
            );
        }
        if u64::from(header.used) > max {
            let found = header.used.into();
            self.report(
                img,
                FormatError::TooLarge {
                    field: Field::HdrUsed,
                    offset: at(SetHeader::OFF_USED),
                    found,
                    max,
                },
            );
        }
        let mut alloc_end = 0;
        for index in 0..SetHeader::MAX_HEADS {
            let Some(head_at) = SetHeader::head_off(index).map(at) else {
                break;
            };
            let mut raw = [0u8; Head::SIZE];
            if !self.read(k, Field::Head, head_at, &mut raw) {
                return;
            }
            let Ok(head) = Head::decode(&raw) else { return };
            let state_at = head_at + Head::OFF_STATE as u64;
            if index == 0 && head.state != HEAD_STATE_ALLOC {
                let found = head.state.into();
                let expected = HEAD_STATE_ALLOC.into();
                self.report(
                    img,
                    FormatError::BadValue {
                        field: Field::HeadState,
                        offset: state_at,
                        found,
                        expected,
                    },
                );
            }
            if head.state == HEAD_STATE_FREE {
                continue;
            }
            self.visitor.head(index, &head);
            if head.state != HEAD_STATE_ALLOC {
                self.report(
                    img,
                    FormatError::BadHeadState {
                        offset: state_at,
                        found: head.state,
                    },
                );
                continue;
            }
            alloc_end = index + 1;
            for ns in 0..NS_MAX {
                let link_at = head_at + (Head::OFF_RECS_OFFSET + ns * 8) as u64;
                let first = head.recs_offset.get(ns).copied().unwrap_or_default();
                self.chain(k, sb, index, &head, ns, link_at, first);
            }
        }
        if u64::from(header.used) < alloc_end as u64 {
            let (found, expected) = (header.used.into(), alloc_end as u64);
            self.report(
                img,
                FormatError::UsedMismatch {
                    field: Field::HdrUsed,
                    offset: at(SetHeader::OFF_USED),
                    found,
                    expected,
                },
            );
        }
    }

    /// Walks the chain of namespace `ns` of `heads[index]`, whose first link `first` is
    /// stored at `link_at`.
    #[allow(clippy::too_many_arguments)]
    fn chain(
        &mut self,
        k: usize,
        sb: &Sb,
        index: usize,
        head: &Head,
        ns: usize,
        link_at: u64,
        first: NvmpgOffset,
    ) {
        let img = Some(k);
        if first.is_none() {
            return;
        }
        if ns >= sb.total_ns as usize {
            self.report(
                img,
                FormatError::BadValue {
                    field: Field::HeadRecsOffset,
                    offset: link_at,
                    found: first.0,
                    expected: 0,
                },
            );
            return;
        }
        let expected_head = SetHeader::head_nvmpg_offset(index).unwrap_or_default();
        let mut chain: BlockSet = [0; SYSRECS_BLOCKS.div_ceil(8)];
        let (mut ptr, mut link_at, mut field) = (first, link_at, Field::HeadRecsOffset);
        while !ptr.is_none() {
            let block = match RecsHeader::block_index(ptr, field, link_at) {
                Ok(block) => block,
                Err(e) => return self.report(img, e),
            };
            if test_and_set(&mut chain, block) {
                return self.report(
                    img,
                    FormatError::ChainCycle {
                        offset: link_at,
                        found: ptr.0,
                    },
                );
            }
            if test_and_set(&mut self.blocks_seen, block) {
                return self.report(
                    img,
                    FormatError::RecsShared {
                        offset: link_at,
                        found: ptr.0,
                    },
                );
            }
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
            self.visitor.recs(index, ns, at, &recs);
            let off = |o: usize| at + o as u64;
            if recs.magic != RECS_MAGIC {
                return self.report(
                    img,
                    FormatError::BadMagic {
                        field: Field::RecsMagic,
                        offset: off(RecsHeader::OFF_MAGIC),
                    },
                );
            }
            if recs.uuid != head.uuid {
                self.report(
                    img,
                    FormatError::UuidMismatch {
                        field: Field::RecsUuid,
                        offset: off(RecsHeader::OFF_UUID),
                    },
                );
            }
            if recs.head_offset != expected_head {
                let (found, expected) = (recs.head_offset.0, expected_head.0);
                self.report(
                    img,
                    FormatError::HeadOffsetMismatch {
                        offset: off(RecsHeader::OFF_HEAD_OFFSET),
                        found,
                        expected,
                    },
                );
            }
            let max = RecsHeader::MAX_RECS as u64;
            if u64::from(recs.size) != max {
                let found = recs.size.into();
                self.report(
                    img,
                    FormatError::BadValue {
                        field: Field::RecsSize,
                        offset: off(RecsHeader::OFF_SIZE),
                        found,
                        expected: max,
                    },
                );
            }
            let Some(live) = self.records(k, index, ns, at) else {
                return;
            };
            if u64::from(recs.used) != live {
                let found = recs.used.into();
                self.report(
                    img,
                    FormatError::UsedMismatch {
                        field: Field::RecsUsed,
                        offset: off(RecsHeader::OFF_USED),
                        found,
                        expected: live,
                    },
                );
            }
            (ptr, link_at, field) = (
                recs.next_offset,
                off(RecsHeader::OFF_NEXT_OFFSET),
                Field::RecsNextOffset,
            );
        }
    }

    /// Validates every slot of the recs block at `at` (chain of namespace `ns` of
    /// `heads[index]`); returns the number of live records.
    fn records(&mut self, k: usize, index: usize, ns: usize, at: u64) -> Option<u64> {
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
            self.summary.records += 1;
            self.visitor.rec(index, slot_at, rec);
            if self.record(k, ns, slot_at, rec) {
                self.keep(RecordRef { rec, at: slot_at });
            }
        }
        Some(live)
    }

    /// Validates one live record of the chain of namespace `ns`; returns whether its range
    /// is trustworthy enough for the overlap check.
    fn record(&mut self, k: usize, ns: usize, offset: u64, rec: Rec) -> bool {
        let img = Some(k);
        if rec.reserved() != 0 {
            self.report(
                img,
                FormatError::RecordReservedBits {
                    offset,
                    found: rec.0,
                },
            );
        }
        if rec.order() >= super::format::MAX_ORDER {
            self.report(
                img,
                FormatError::RecordBadOrder {
                    offset,
                    found: rec.order(),
                },
            );
            return false;
        }
        if usize::from(rec.ns_id()) != ns {
            self.report(
                img,
                FormatError::RecordBadNs {
                    offset,
                    found: rec.ns_id(),
                    expected: ns as u8,
                },
            );
            return false;
        }
        let mut ok = true;
        if rec.pgoff() & (rec.pages() - 1) != 0 {
            self.report(
                img,
                FormatError::RecordMisaligned {
                    offset,
                    pgoff: rec.pgoff(),
                    order: rec.order(),
                },
            );
            ok = false;
        }
        if rec.pgoff() < FIRST_PAGE {
            self.report(
                img,
                FormatError::RecordInReserved {
                    offset,
                    pgoff: rec.pgoff(),
                    first: FIRST_PAGE,
                },
            );
            ok = false;
        }
        let Some(Some(info)) = self.ns.get(ns).copied() else {
            return false;
        };
        if rec.end() > info.pages_total {
            self.report(
                img,
                FormatError::RecordPastEnd {
                    offset,
                    end: rec.end(),
                    pages_total: info.pages_total,
                },
            );
            ok = false;
        }
        ok
    }

    /// Keeps a valid record for the overlap check.
    fn keep(&mut self, rec: RecordRef) {
        let capacity = self.scratch.len();
        if let Some(slot) = self.scratch.get_mut(self.kept) {
            *slot = rec;
        } else if self.kept == capacity {
            let capacity = capacity as u64;
            self.report(None, FormatError::ScratchExhausted { capacity });
        }
        self.kept = self.kept.saturating_add(1);
    }

    /// Reports every kept record that overlaps an earlier one and totals allocated pages.
    fn overlaps(&mut self, k: usize) {
        let kept = self.kept.min(self.scratch.len());
        let Some(recs) = self.scratch.get_mut(..kept) else {
            return;
        };
        recs.sort_unstable_by_key(|r| (r.rec.ns_id(), r.rec.pgoff(), r.at));
        // (namespace, end of the furthest-reaching range so far, where that range is stored)
        let mut reach: Option<(u8, u64, u64)> = None;
        for i in 0..kept {
            let Some(r) = self.scratch.get(i).copied() else {
                break;
            };
            let (ns, start, end) = (r.rec.ns_id(), r.rec.pgoff(), r.rec.end());
            let counted = match reach {
                Some((n, reach_end, other)) if n == ns && start < reach_end => {
                    self.report(
                        Some(k),
                        FormatError::RecordOverlap {
                            offset: r.at,
                            other,
                        },
                    );
                    end.saturating_sub(reach_end)
                }
                _ => end - start,
            };
            if let Some(total) = self.summary.allocated.get_mut(usize::from(ns)) {
                *total += counted;
            }
            match reach {
                Some((n, reach_end, _)) if n == ns && reach_end >= end => {}
                _ => reach = Some((ns, end, r.at)),
            }
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
        visitor,
        scratch,
        kept: 0,
        summary: Summary::default(),
        ns: [None; NS_MAX],
        blocks_seen: [0; SYSRECS_BLOCKS.div_ceil(8)],
    };
    if let Some((k, sb)) = w.sbs() {
        w.heads(k, &sb);
        w.overlaps(k);
    }
    w.summary
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
