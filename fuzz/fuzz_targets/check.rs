//! Fuzz target: the offline checker of nvm-pages sets (`nvmpg::check`) on mutated sets.
//! Nothing may panic, the totals must agree with what the walk reported, every decoded
//! structure must survive an encode/decode round trip, and the unmutated set must be clean.
//! A set the checker finds clean must also register with the allocator (`nvmpg::alloc`),
//! which must then hold the same records and free pages.
//!
//! The input is a set of edits to a valid two-namespace set built once by the real allocator
//! (`heads[0]` plus three owners; one owner's chain on namespace 1 spans two recs blocks, and
//! chains have holes), so every input, the empty one included, reaches the set header,
//! the heads, the recs chains and the records. Each sb checksum is recomputed after the edits
//! (unless the control byte says otherwise), so mutations are not all stopped by it; a
//! non-zero edit of the csum field itself still yields a bad checksum.
//!
//! Input layout (every byte is XORed onto the base, so zeros change nothing):
//! - byte 0, control: bits 0..1 the images passed (0: ns0 ns1, 1: ns1 ns0, 2: ns0 alone,
//!   3: ns0 ns1 ns0); bit 2/3: keep the stale sb csum of ns0/ns1; bit 4: a 16-record scratch;
//!   bit 5: if the check finds nothing wrong, also register the images with the allocator;
//! - bytes 1..5, 5..9: size of ns0, ns1 in pages (LE u32);
//! - then, in order: sb of ns0 (232 bytes), set header (40), heads 0..3 (4 * 120), the header
//!   and first 8 slots of recs blocks 0..5 (6 * 152), sb of ns1 (232);
//! - then 12-byte patches: LE u32 target (bit 31: ns1; bit 30: anywhere in the reserved
//!   16 MiB, else in its first 64 KiB) and 8 bytes to XOR there.
//!
//! Run from `fuzz/` (stable toolchain, no sanitizer needed for safe code):
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none check corpus/check seeds/check`, or
//! `scripts/fuzz.sh` for every target.

#![no_main]

use std::fmt::Write;
use std::sync::OnceLock;

use bcache_nvm_core::crash::{format_namespace, HostMedia, HostVecs};
use bcache_nvm_core::media::{Media, OutOfRange};
use bcache_nvm_core::nvmpg::alloc::Allocator;
use bcache_nvm_core::nvmpg::check::{walk, Image, Problem, RecordRef, Summary, Visitor};
use bcache_nvm_core::nvmpg::format::{
    Head, Rec, RecsHeader, Sb, SetHeader, FIRST_PAGE, NS_MAX, RECLIST_HEAD_OFFSET, SB_OFFSET,
    START, SYSRECS_OFFSET,
};
use libfuzzer_sys::fuzz_target;

const PAGE: usize = 4096;
/// Pages of the reserved area: the only part of a namespace edits reach.
const META_PAGES: usize = START as usize / PAGE;
/// Pages of the base namespaces past the reserved area.
const NS0_PAGES: usize = 64;
const NS1_PAGES: usize = 2048;
/// Recs blocks whose header and first slots have their own section.
const SECTION_BLOCKS: u64 = 6;
const SECTION_SLOTS: usize = 8;
const PATCH: usize = 12;
const MAX_PATCHES: usize = 128;
/// Scratch records: the base's, plus what the sections and patches can add, with room.
const SCRATCH: usize = 4096;

/// The valid set every input edits.
struct Base {
    /// The reserved area of each namespace, trailing zeros cut.
    meta: [Vec<u8>; 2],
    /// Size of each namespace in pages.
    pages: [u32; 2],
    /// Live records of the set.
    records: usize,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let set = [0x5e; 16];
        let sizes = [NS0_PAGES, NS1_PAGES].map(|p| START as usize + p * PAGE);
        let mut a: Allocator<HostMedia, HostVecs> = Allocator::new();
        for (k, &len) in sizes.iter().enumerate() {
            let m = format_namespace(len, set, 2, k as u32).expect("format");
            a.register(m).expect("register");
        }
        let owners = [[0xa1; 16], [0xb2; 16], [0xc3; 16]];
        let mut held = Vec::new();
        for order in [3, 0, 2, 1, 0, 4] {
            held.push((a.alloc_pages(order, &owners[0]).expect("alloc"), order));
        }
        for order in [2, 2, 0] {
            a.alloc_pages(order, &owners[1]).expect("alloc");
        }
        // Holes in the first owner's block.
        for &(off, order) in [held[1], held[4]].iter() {
            a.free_pages(off, order, &owners[0]).expect("free");
        }
        // Fills namespace 0, then a chain of two blocks on namespace 1, then frees all but
        // every 32nd: both blocks stay linked (only an emptied block is unlinked), and the
        // walk has few records to sort.
        let held: Vec<_> = (0..1100)
            .map(|_| a.alloc_pages(0, &owners[2]).expect("alloc"))
            .collect();
        for (i, &off) in held.iter().enumerate() {
            if i % 32 != 0 {
                a.free_pages(off, 0, &owners[2]).expect("free");
            }
        }
        let meta = [0u8, 1].map(|k| {
            let bytes = a.media(k).expect("registered").bytes();
            let meta = &bytes[..START as usize];
            let used = meta.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            meta[..used].to_vec()
        });
        let mut base = Base {
            meta,
            pages: sizes.map(|len| (len / PAGE) as u32),
            records: 0,
        };
        let records = {
            let nss = [0, 1].map(|k| Ns::new(&base, k, base.pages[k]));
            let images: Vec<&Ns<'_>> = nss.iter().collect();
            let mut seen = Collect::default();
            let scratch = &mut vec![RecordRef::default(); SCRATCH];
            let summary = walk(&images, scratch, &mut seen);
            assert_eq!(seen.problems, Vec::<String>::new(), "the base set is clean");
            let mut chains = seen.chains.clone();
            chains.dedup();
            assert!(chains.len() < seen.chains.len(), "a chain spans two blocks");
            summary.records
        };
        base.records = records;
        base
    })
}

/// One namespace: the base with the edits of this input, copied page by page on first edit.
#[derive(Clone)]
struct Ns<'a> {
    base: &'a [u8],
    size: u64,
    /// Per page of the reserved area: index of its copy in `copies`.
    index: Vec<Option<u16>>,
    copies: Vec<[u8; PAGE]>,
}

impl<'a> Ns<'a> {
    fn new(base: &'a Base, k: usize, pages: u32) -> Self {
        Ns {
            base: &base.meta[k],
            size: u64::from(pages) * PAGE as u64,
            index: vec![None; META_PAGES],
            copies: Vec::new(),
        }
    }

    fn page_mut(&mut self, page: usize) -> &mut [u8; PAGE] {
        let i = match self.index[page] {
            Some(i) => usize::from(i),
            None => {
                let mut copy = [0u8; PAGE];
                copy_base(self.base, (page * PAGE) as u64, &mut copy);
                self.copies.push(copy);
                let i = self.copies.len() - 1;
                self.index[page] = Some(i as u16);
                i
            }
        };
        &mut self.copies[i]
    }

    /// XORs `bytes` onto the namespace at `off` (what falls past the reserved area is dropped).
    fn xor(&mut self, off: u64, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let at = off + i as u64;
            if b == 0 || at >= START {
                continue;
            }
            let at = at as usize;
            self.page_mut(at / PAGE)[at % PAGE] ^= b;
        }
    }

    /// Recomputes the sb checksum over the edited bytes, keeping an edit of the csum field
    /// itself as a difference from the right value. Nothing if the sb page cannot be read or
    /// its `keys` is too large to checksum.
    fn fix_csum(&mut self, base_csum: u64) {
        let mut sb = [0u8; PAGE];
        if Image::read(self, SB_OFFSET, &mut sb).is_err() {
            return;
        }
        let Ok(csum) = Sb::compute_csum(&sb) else {
            return;
        };
        let stored = u64::from_le_bytes(sb[..8].try_into().expect("8 bytes"));
        let want = csum ^ stored ^ base_csum;
        self.xor(SB_OFFSET, &(stored ^ want).to_le_bytes());
    }
}

/// The allocator reads and stores through the same pages (stores stay in the reserved area).
impl Media for Ns<'_> {
    fn len(&self) -> u64 {
        self.size
    }

    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        Image::read(self, off, dst)
    }

    fn store(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        let end = off.checked_add(src.len() as u64).ok_or(OutOfRange)?;
        if end > self.size || end > START {
            return Err(OutOfRange);
        }
        for (i, &b) in src.iter().enumerate() {
            let at = off as usize + i;
            self.page_mut(at / PAGE)[at % PAGE] = b;
        }
        Ok(())
    }

    fn flush(&mut self, off: u64, len: u64) -> Result<(), OutOfRange> {
        match off.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(OutOfRange),
        }
    }

    fn fence(&mut self) {}
}

/// Registers a set the checker found clean and compares the allocator's view with the walk's.
fn register_clean(images: &[&Ns<'static>], seen: &Collect, summary: &Summary) {
    let mut a: Allocator<Ns<'static>, HostVecs> = Allocator::new();
    for &n in images {
        if let Err(e) = a.register(n.clone()) {
            panic!("the checker found the set clean, register refused it: {e}");
        }
    }
    let mut recs = Vec::new();
    a.lists()
        .for_each_indexed(|_, at, rec| recs.push((at, rec.0)));
    recs.sort_unstable();
    assert_eq!(recs, seen.recs, "the allocator's records are the walk's");
    let total: u64 = (0..NS_MAX)
        .map(|n| seen.pages_total[n].saturating_sub(FIRST_PAGE) - summary.allocated[n])
        .sum();
    assert_eq!(a.free_pages_total(), total, "free pages");
}

/// Copies the base bytes at `off` into `dst`; past the stored bytes it reads zeros.
fn copy_base(base: &[u8], off: u64, dst: &mut [u8]) {
    dst.fill(0);
    let Ok(start) = usize::try_from(off) else {
        return;
    };
    if let Some(src) = base.get(start..) {
        let n = src.len().min(dst.len());
        dst[..n].copy_from_slice(&src[..n]);
    }
}

impl Image for Ns<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        let end = off.checked_add(dst.len() as u64).ok_or(OutOfRange)?;
        if end > self.size {
            return Err(OutOfRange);
        }
        let mut done = 0;
        while done < dst.len() {
            let at = off + done as u64;
            let in_page = (at % PAGE as u64) as usize;
            let n = (PAGE - in_page).min(dst.len() - done);
            let out = &mut dst[done..done + n];
            let copy = usize::try_from(at / PAGE as u64)
                .ok()
                .and_then(|p| self.index.get(p).copied().flatten());
            match copy {
                Some(i) => out.copy_from_slice(&self.copies[usize::from(i)][in_page..in_page + n]),
                None => copy_base(self.base, at, out),
            }
            done += n;
        }
        Ok(())
    }
}

/// Everything the walk reports, with round trips of every structure it decoded.
#[derive(Default)]
struct Collect {
    problems: Vec<String>,
    images: Vec<Option<usize>>,
    records: usize,
    /// (slot offset, record) of every live record, sorted once the walk is done.
    recs: Vec<(u64, u64)>,
    /// (head, namespace) of every recs block, in walk order.
    chains: Vec<(usize, usize)>,
    /// Largest `pages_total` among the sbs of each namespace id.
    pages_total: [u64; NS_MAX],
}

macro_rules! round_trip {
    ($ty:ty, $v:expr, $size:expr) => {{
        let mut buf = [0u8; 256];
        let buf = &mut buf[..$size];
        $v.encode(buf)
            .expect("encode into a buffer of the structure's size");
        assert_eq!(&<$ty>::decode(buf).expect("decode what encode wrote"), $v);
    }};
}

impl Visitor for Collect {
    fn problem(&mut self, problem: &Problem) {
        let mut text = String::new();
        let _ = write!(text, "{}", problem.error);
        assert!(!text.is_empty());
        self.problems.push(text);
        self.images.push(problem.image);
    }

    fn sb(&mut self, _image: usize, sb: &Sb) {
        round_trip!(Sb, sb, Sb::SIZE);
        if let Some(p) = self.pages_total.get_mut(sb.this_ns as usize) {
            *p = (*p).max(sb.pages_total);
        }
    }

    fn set_header(&mut self, header: &SetHeader) {
        round_trip!(SetHeader, header, SetHeader::SIZE);
    }

    fn head(&mut self, index: usize, head: &Head) {
        assert!(index < SetHeader::MAX_HEADS);
        round_trip!(Head, head, Head::SIZE);
    }

    fn recs(&mut self, head: usize, ns: usize, at: u64, recs: &RecsHeader) {
        assert!(head < SetHeader::MAX_HEADS && ns < NS_MAX);
        assert!((SYSRECS_OFFSET..START).contains(&at));
        assert_eq!((at - SYSRECS_OFFSET) % RecsHeader::BLOCK_SIZE as u64, 0);
        round_trip!(RecsHeader, recs, RecsHeader::SIZE);
        self.chains.push((head, ns));
    }

    fn rec(&mut self, _head: usize, at: u64, rec: Rec) {
        assert!(!rec.is_empty());
        assert!((SYSRECS_OFFSET..START).contains(&at));
        round_trip!(Rec, &rec, Rec::SIZE);
        self.records += 1;
        self.recs.push((at, rec.0));
    }
}

/// The fixed sections of the input: (namespace, offset, length).
fn sections() -> Vec<(usize, u64, usize)> {
    let slots = RecsHeader::SIZE + SECTION_SLOTS * Rec::SIZE;
    let mut s = vec![
        (0, SB_OFFSET, Sb::SIZE),
        (0, RECLIST_HEAD_OFFSET, SetHeader::SIZE),
        (
            0,
            RECLIST_HEAD_OFFSET + SetHeader::OFF_HEADS as u64,
            4 * Head::SIZE,
        ),
    ];
    for b in 0..SECTION_BLOCKS {
        s.push((0, SYSRECS_OFFSET + b * RecsHeader::BLOCK_SIZE as u64, slots));
    }
    s.push((1, SB_OFFSET, Sb::SIZE));
    s
}

fuzz_target!(|input: &[u8]| {
    let base = base();
    let byte = |i: usize| input.get(i).copied().unwrap_or(0);
    let word = |i: usize| u32::from_le_bytes([byte(i), byte(i + 1), byte(i + 2), byte(i + 3)]);
    let control = byte(0);
    let mut ns = [0usize, 1].map(|k| Ns::new(base, k, base.pages[k] ^ word(1 + 4 * k)));

    let mut at = 9;
    for (k, off, len) in sections() {
        let edit = input.get(at.min(input.len())..(at + len).min(input.len()));
        ns[k].xor(off, edit.unwrap_or_default());
        at += len;
    }
    for patch in input
        .get(at..)
        .unwrap_or_default()
        .chunks_exact(PATCH)
        .take(MAX_PATCHES)
    {
        let target = u32::from_le_bytes(patch[..4].try_into().expect("4 bytes"));
        let k = (target >> 31) as usize;
        let off = if target & 1 << 30 != 0 {
            u64::from(target) % START
        } else {
            u64::from(target & 0xffff)
        };
        ns[k].xor(off, &patch[4..]);
    }
    for (k, n) in ns.iter_mut().enumerate() {
        if control & (4 << k) == 0 {
            let base_csum = u64::from_le_bytes(
                base.meta[k][SB_OFFSET as usize..][..8]
                    .try_into()
                    .expect("8 bytes"),
            );
            n.fix_csum(base_csum);
        }
    }

    let [ns0, ns1] = &ns;
    let images: Vec<&Ns<'_>> = match control & 3 {
        0 => vec![ns0, ns1],
        1 => vec![ns1, ns0],
        2 => vec![ns0],
        _ => vec![ns0, ns1, ns0],
    };
    let len = if control & 16 != 0 { 16 } else { SCRATCH };
    let mut scratch = vec![RecordRef::default(); len];
    let mut seen = Collect::default();
    let summary = walk(&images, &mut scratch, &mut seen);

    assert_eq!(summary.problems, seen.problems.len());
    assert_eq!(summary.records, seen.records);
    assert!(seen.images.iter().flatten().all(|&k| k < images.len()));
    for (n, &allocated) in summary.allocated.iter().enumerate() {
        assert!(allocated <= seen.pages_total[n].saturating_sub(FIRST_PAGE));
    }
    if control & 32 != 0 && summary.problems == 0 {
        seen.recs.sort_unstable();
        register_clean(&images, &seen, &summary);
    }
    if input.iter().all(|&b| b == 0) {
        assert_eq!(seen.problems, Vec::<String>::new(), "the base set is clean");
        assert_eq!(summary.records, base.records);
    }
});
