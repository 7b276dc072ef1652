//! The allocator over formatted namespaces: register, alloc/free/get_head, spill to the next
//! namespace, persistence across re-registration, error paths that change nothing, and a
//! randomized run against a model checked by the offline checker.

use std::collections::BTreeSet;

use bcache_nvm_core::crash::{format_namespace, HostMedia, HostVecs, XorShift};
use bcache_nvm_core::media::Media;
use bcache_nvm_core::nvmpg::alloc::{Allocator, Error};
use bcache_nvm_core::nvmpg::buddy::Block;
use bcache_nvm_core::nvmpg::check::{check, RecordRef};
use bcache_nvm_core::nvmpg::format::{
    FormatError, NvmpgOffset, Rec, RecsHeader, Sb, FIRST_PAGE, SB_OFFSET,
};

type Alloc = Allocator<HostMedia, HostVecs>;

const SET: [u8; 16] = [0xa5; 16];
/// 20 MiB namespaces: 1024 allocatable pages each.
const NS_BYTES: usize = 20 << 20;
const PAGES: u64 = (NS_BYTES as u64 >> 12) - FIRST_PAGE;

fn owner(i: u8) -> [u8; 16] {
    [i; 16]
}

fn set(n: u32) -> Vec<HostMedia> {
    (0..n)
        .map(|k| format_namespace(NS_BYTES, SET, n, k).unwrap())
        .collect()
}

fn registered(media: Vec<HostMedia>) -> Alloc {
    let mut a = Alloc::new();
    for m in media {
        a.register(m).expect("register");
    }
    a
}

/// Re-registers copies of the namespaces of `a` in a new allocator (a reboot).
fn reboot(a: &Alloc) -> Alloc {
    registered((0..8).filter_map(|k| a.media(k).cloned()).collect())
}

fn held(a: &Alloc, o: u8) -> BTreeSet<(u64, u8)> {
    let mut s = BTreeSet::new();
    match a.get_head(&owner(o), |off, order| assert!(s.insert((off.0, order)))) {
        Ok(n) => assert_eq!(n, s.len()),
        Err(e) => assert_eq!(e, Error::NotFound),
    }
    s
}

fn free_blocks(a: &Alloc, k: u8) -> Vec<Block> {
    a.buddy(k)
        .map(|b| b.free_blocks().collect())
        .unwrap_or_default()
}

fn problems(a: &Alloc) -> Vec<FormatError> {
    let imgs: Vec<&HostMedia> = (0..8).filter_map(|k| a.media(k)).collect();
    let mut scratch = vec![RecordRef::default(); 1 << 14];
    let mut out = Vec::new();
    check(&imgs, &mut scratch, |p| out.push(p.error));
    out
}

#[test]
fn register_builds_buddies_from_sb() {
    let a = registered(set(1));
    assert_eq!(a.free_pages_total(), PAGES);
    assert_eq!(a.lists().heads_used(), 1);
    let b = a.buddy(0).expect("ns 0");
    assert_eq!((b.start(), b.end()), (FIRST_PAGE, FIRST_PAGE + PAGES));
    assert_eq!(a.namespace_uuid(0).map(|u| u[15]), Some(0));
}

#[test]
fn alloc_free_round_trip_and_get_head() {
    let mut a = registered(set(1));
    let x = a.alloc_pages(3, &owner(1)).expect("alloc");
    let y = a.alloc_pages(0, &owner(1)).expect("alloc");
    let z = a.alloc_pages(5, &owner(2)).expect("alloc");
    assert_eq!(x.ns(), 0);
    assert_eq!(x.offset() % (8 << 12), 0, "aligned to its size");
    assert!(x.offset() >= FIRST_PAGE << 12);
    assert_eq!(held(&a, 1), BTreeSet::from([(x.0, 3), (y.0, 0)]));
    assert_eq!(held(&a, 2), BTreeSet::from([(z.0, 5)]));
    assert_eq!(a.free_pages_total(), PAGES - 8 - 1 - 32);
    assert_eq!(a.get_head(&owner(3), |_, _| ()), Err(Error::NotFound));
    a.free_pages(x, 3, &owner(1)).expect("free");
    assert_eq!(held(&a, 1), BTreeSet::from([(y.0, 0)]));
    a.free_pages(y, 0, &owner(1)).expect("free");
    a.free_pages(z, 5, &owner(2)).expect("free");
    assert_eq!(a.free_pages_total(), PAGES);
    assert_eq!(
        free_blocks(&a, 0),
        free_blocks(&registered(set(1)), 0),
        "fully merged"
    );
    assert_eq!(problems(&a), []);
}

#[test]
fn bad_frees_change_nothing() {
    let mut a = registered(set(1));
    let x = a.alloc_pages(2, &owner(1)).expect("alloc");
    let _ = a.alloc_pages(2, &owner(2)).expect("alloc");
    let before = a.media(0).expect("ns0").bytes().to_vec();
    let blocks = free_blocks(&a, 0);
    let off = |d: u64| NvmpgOffset(x.0 + d);
    for (o, order, who) in [
        (x, 2, owner(2)),                                             // not the owner
        (x, 1, owner(1)),                                             // wrong order
        (x, 3, owner(1)),                                             // wrong order
        (off(4096), 0, owner(1)),                                     // part of the range
        (off(1), 2, owner(1)),                                        // not page aligned
        (NvmpgOffset::new(1, x.offset()).expect("ptr"), 2, owner(1)), // unregistered ns
        (x, 20, owner(1)),                                            // bad order
        (NvmpgOffset(0), 0, owner(1)),
        (x, 2, owner(9)), // no such owner
        (x, 2, SET),      // the allocator's own head
    ] {
        assert_eq!(
            a.free_pages(o, order, &who),
            Err(Error::Invalid),
            "{o:?} {order}"
        );
        assert!(a.media(0).expect("ns0").bytes() == before.as_slice());
        assert_eq!(free_blocks(&a, 0), blocks);
    }
    a.free_pages(x, 2, &owner(1)).expect("free");
    assert_eq!(
        a.free_pages(x, 2, &owner(1)),
        Err(Error::Invalid),
        "double free"
    );
}

#[test]
fn bad_allocs() {
    let mut a = registered(set(1));
    assert_eq!(a.alloc_pages(20, &owner(1)), Err(Error::Invalid));
    assert_eq!(
        a.alloc_pages(0, &SET),
        Err(Error::Invalid),
        "heads[0] is the allocator's"
    );
    assert_eq!(
        a.alloc_pages(11, &owner(1)),
        Err(Error::NoSpace),
        "2048 pages > 1024"
    );
    a.alloc_pages(10, &owner(1)).expect("the whole namespace");
    assert_eq!(a.alloc_pages(0, &owner(1)), Err(Error::NoSpace));
    assert_eq!(a.free_pages_total(), 0);
}

#[test]
fn allocations_spill_to_the_next_namespace_and_persist() {
    let mut a = registered(set(2));
    let x = a.alloc_pages(10, &owner(1)).expect("ns 0 whole");
    let y = a.alloc_pages(9, &owner(1)).expect("ns 1");
    let z = a.alloc_pages(9, &owner(2)).expect("ns 1");
    assert_eq!((x.ns(), y.ns(), z.ns()), (0, 1, 1));
    assert_eq!(a.alloc_pages(0, &owner(3)), Err(Error::NoSpace));
    assert_eq!(a.lists().heads_used(), 3, "no head for a failed alloc");
    let b = reboot(&a);
    assert_eq!(held(&b, 1), held(&a, 1));
    assert_eq!(held(&b, 2), BTreeSet::from([(z.0, 9)]));
    assert_eq!(b.free_pages_total(), 0);
    assert_eq!(problems(&a), []);
}

#[test]
fn namespaces_register_in_any_order() {
    let mut a = registered(set(3));
    let r: Vec<_> = (0..12)
        .map(|i| a.alloc_pages(8, &owner(i % 3)).expect("alloc"))
        .collect();
    assert!(r.iter().any(|o| o.ns() == 2));
    let media: Vec<HostMedia> = (0..3).rev().filter_map(|k| a.media(k).cloned()).collect();
    let mut b = Alloc::new();
    let mut it = media.into_iter();
    b.register(it.next().expect("ns 2")).expect("register");
    assert_eq!(
        b.alloc_pages(0, &owner(1)),
        Err(Error::NotFound),
        "no lists yet"
    );
    assert_eq!(b.free_pages_total(), 0);
    b.register(it.next().expect("ns 1")).expect("register");
    b.register(it.next().expect("ns 0")).expect("register");
    for k in 0..3 {
        assert_eq!(free_blocks(&b, k), free_blocks(&a, k), "ns {k}");
        assert_eq!(held(&b, k), held(&a, k));
    }
    let dup = b.media(1).cloned().expect("ns 1");
    assert_eq!(b.register(dup), Err(Error::Exists));
}

#[test]
fn register_rejects_bad_namespaces() {
    let corrupt = |f: &dyn Fn(&mut HostMedia)| {
        let mut m = set(1).remove(0);
        f(&mut m);
        Alloc::new().register(m).expect_err("registered")
    };
    let at = |off: usize| (SB_OFFSET as usize) + off;
    assert!(matches!(
        corrupt(&|m| m.bytes_mut()[at(Sb::OFF_MAGIC)] ^= 1),
        Error::Corrupt(FormatError::BadMagic { .. })
    ));
    assert!(matches!(
        corrupt(&|m| m.bytes_mut()[at(Sb::OFF_SEQ)] ^= 1),
        Error::Corrupt(FormatError::BadCsum { .. })
    ));
    // An image shorter than its sb claims.
    let m = set(1).remove(0);
    let short = HostMedia::from_vec(m.bytes()[..NS_BYTES - 4096].to_vec());
    assert!(matches!(
        Alloc::new().register(short),
        Err(Error::Corrupt(FormatError::TooLarge { .. }))
    ));
    // A namespace of another set.
    let mut a = registered(set(2).into_iter().take(1).collect());
    let other = format_namespace(NS_BYTES, [1; 16], 2, 1).unwrap();
    assert!(matches!(
        a.register(other),
        Err(Error::Corrupt(FormatError::UuidMismatch { .. }))
    ));
}

/// Writes `rec` as an extra record of owner 1's first block, slot `slot`.
fn inject(a: &Alloc, slot: usize, rec: Rec) -> HostMedia {
    let mut m = a.media(0).cloned().expect("ns 0");
    let at = RecsHeader::block_offset(1).expect("block")
        + RecsHeader::rec_off(slot).expect("slot") as u64;
    m.store(at, &rec.0.to_le_bytes()).expect("store");
    m
}

#[test]
fn register_names_bad_records() {
    let mut a = registered(set(1));
    let x = a.alloc_pages(2, &owner(1)).expect("alloc");
    let pg = x.offset() >> 12;
    let cases = [
        (Rec::new(pg + 2, 1, 0), "overlap"),
        (Rec::new(FIRST_PAGE - 4, 2, 0), "reserved"),
        (Rec::new(FIRST_PAGE + PAGES, 0, 0), "past end"),
    ];
    for (rec, what) in cases {
        let m = inject(&a, 500, rec.expect("rec"));
        let e = Alloc::new().register(m).expect_err(what);
        let ok = match what {
            "overlap" => matches!(e, Error::Corrupt(FormatError::RecordOverlap { .. })),
            "reserved" => matches!(e, Error::Corrupt(FormatError::RecordInReserved { .. })),
            _ => matches!(e, Error::Corrupt(FormatError::RecordPastEnd { .. })),
        };
        assert!(ok, "{what}: {e:?}");
    }
}

#[test]
fn a_full_record_area_rolls_the_buddy_back() {
    let mut a = Alloc::new();
    a.limit_blocks(2);
    for m in set(1) {
        a.register(m).expect("register");
    }
    let x = a.alloc_pages(0, &owner(1)).expect("takes the last block");
    let blocks = free_blocks(&a, 0);
    let free = a.free_pages_total();
    let before = a.media(0).expect("ns0").bytes().to_vec();
    assert_eq!(a.alloc_pages(4, &owner(2)), Err(Error::NoSpace));
    assert_eq!(free_blocks(&a, 0), blocks);
    assert_eq!(a.free_pages_total(), free);
    assert!(a.media(0).expect("ns0").bytes() == before.as_slice());
    a.free_pages(x, 0, &owner(1)).expect("free");
}

/// The lists' record index holds exactly what a walk of the chains on namespace 0 finds.
fn index_agrees(a: &Alloc) {
    let m0 = a.media(0).expect("ns 0");
    let mut walked = Vec::new();
    for ns in 0..8 {
        a.lists()
            .for_each_rec(m0, None, ns, |h, at, rec| {
                walked.push((h, at, rec.0));
                Ok(())
            })
            .expect("walk");
    }
    let mut indexed = Vec::new();
    a.lists()
        .for_each_indexed(|h, at, rec| indexed.push((h, at, rec.0)));
    walked.sort();
    indexed.sort();
    assert_eq!(indexed, walked);
    assert_eq!(a.lists().records(), walked.len());
}

#[test]
fn randomized_against_model_with_reboots() {
    let mut rng = XorShift::new(42);
    let mut a = registered(set(2));
    let mut model: Vec<(u8, NvmpgOffset, u8)> = Vec::new();
    for step in 0..3000 {
        if model.is_empty() || rng.below(10) < 6 {
            let o = rng.below(5) as u8 + 1;
            let order = rng.below(5) as u8;
            match a.alloc_pages(order, &owner(o)) {
                Ok(off) => model.push((o, off, order)),
                Err(e) => assert_eq!(e, Error::NoSpace),
            }
        } else {
            let (o, off, order) = model.swap_remove(rng.below(model.len() as u64) as usize);
            a.free_pages(off, order, &owner(o)).expect("free");
        }
        if step % 500 == 499 {
            index_agrees(&a);
            let b = reboot(&a);
            for k in 0..2 {
                assert_eq!(free_blocks(&b, k), free_blocks(&a, k));
            }
            a = b;
            index_agrees(&a);
            assert_eq!(problems(&a), []);
        }
        let used: u64 = model.iter().map(|m| 1u64 << m.2).sum();
        assert_eq!(a.free_pages_total() + used, 2 * PAGES);
    }
    for o in 1..=5 {
        let want: BTreeSet<(u64, u8)> = model
            .iter()
            .filter(|m| m.0 == o)
            .map(|m| (m.1 .0, m.2))
            .collect();
        assert_eq!(held(&a, o), want);
    }
}

/// Allocates `order` blocks for owner 1 until the allocator is full; returns their
/// namespaces and page ranges.
fn fill(a: &mut Alloc, order: u8) -> Vec<(u8, u64, u64)> {
    let mut got = Vec::new();
    while let Ok(off) = a.alloc_pages(order, &owner(1)) {
        let first = off.offset() >> 12;
        got.push((off.ns(), first, first + (1 << order)));
    }
    got
}

/// Pages (of namespace 1) the tests below put on the bad list: one, and three in a row.
const BAD_PAGE: u64 = FIRST_PAGE + 300;
const BAD_RUN: (u64, u64) = (FIRST_PAGE + 700, FIRST_PAGE + 703);

/// Whether an allocation of namespace 1 holds one of those pages.
fn holds_bad(&(ns, lo, hi): &(u8, u64, u64)) -> bool {
    ns == 1 && ((lo <= BAD_PAGE && BAD_PAGE < hi) || (lo < BAD_RUN.1 && BAD_RUN.0 < hi))
}

#[test]
fn known_bad_pages_are_never_allocated() {
    let mut media = set(2);
    // 8 bytes inside one page; three whole pages.
    media[1].mark_bad(BAD_PAGE << 12 | 100, 8);
    media[1].mark_bad(BAD_RUN.0 << 12, (BAD_RUN.1 - BAD_RUN.0) << 12);
    let mut a = registered(media);
    assert_eq!(
        a.free_pages_total(),
        2 * PAGES - 4,
        "bad pages are not free"
    );
    let got = fill(&mut a, 2);
    assert!(!got.iter().any(holds_bad), "an allocation holds a bad page");
    // Every other 4-page block of both namespaces was handed out: 2 blocks hold bad pages.
    assert_eq!(got.len() as u64, 2 * PAGES / 4 - 2);
    assert_eq!(problems(&a), []);
}

/// The control of the test above: without the bad list, allocations do cover those pages
/// (the test's pages are ones the allocator hands out).
#[test]
fn control_without_the_bad_list_the_pages_are_allocated() {
    let mut a = registered(set(2));
    let got = fill(&mut a, 2);
    assert_eq!(got.len() as u64, 2 * PAGES / 4);
    assert_eq!(got.iter().filter(|g| holds_bad(g)).count(), 2);
}
