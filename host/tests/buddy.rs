//! Buddy allocator against a page-bitmap reference model: exhaustive on tiny regions,
//! randomized (fixed seeds) on larger ones, plus error paths and out-of-memory rollback.

use std::cell::Cell;
use std::rc::Rc;

use bcache_nvm_core::crash::XorShift;
use bcache_nvm_core::grow_vec::{GrowVec, NoMem};
use bcache_nvm_core::nvmpg::buddy::{Block, Buddy, BuddyError, MAX_ORDER};

/// Reference model: one bool per page of `[0, end)`, true = free.
struct Model {
    start: u64,
    end: u64,
    free: Vec<bool>,
}

impl Model {
    fn new(start: u64, end: u64, busy: &[Block]) -> Self {
        let mut free: Vec<bool> = (0..end).map(|p| p >= start).collect();
        for b in busy {
            for p in b.pgoff..b.pgoff + b.pages() {
                free[p as usize] = false;
            }
        }
        Model { start, end, free }
    }
    fn set(&mut self, b: Block, free: bool) {
        for p in b.pgoff..b.pgoff + b.pages() {
            assert_ne!(
                self.free[p as usize], free,
                "page {p} already in that state"
            );
            self.free[p as usize] = free;
        }
    }
    /// Whether some aligned block of `2^order` pages inside the region is entirely free.
    fn has_aligned_free(&self, order: u8) -> bool {
        let n = 1u64 << order;
        let first = self.start.div_ceil(n) * n;
        (first..self.end)
            .step_by(n as usize)
            .any(|p| p + n <= self.end && (p..p + n).all(|q| self.free[q as usize]))
    }
}

/// Checks the buddy's free blocks against the model: exact cover, in bounds, aligned, counted,
/// and maximal (no two free buddies of the same order).
fn check<S: GrowVec<u64>>(b: &Buddy<S>, m: &Model) {
    let mut cover = vec![false; m.end as usize];
    let mut sum = 0;
    let blocks: Vec<Block> = b.free_blocks().collect();
    for &blk in &blocks {
        assert!(blk.is_valid_in(m.start, m.end), "bad free block {blk:?}");
        for p in blk.pgoff..blk.pgoff + blk.pages() {
            assert!(!cover[p as usize], "page {p} free twice");
            cover[p as usize] = true;
        }
        sum += blk.pages();
        if blk.order + 1 < MAX_ORDER {
            let buddy = Block {
                pgoff: blk.pgoff ^ blk.pages(),
                order: blk.order,
            };
            assert!(
                !blocks.contains(&buddy),
                "unmerged buddies {blk:?} {buddy:?}"
            );
        }
    }
    assert_eq!(cover, m.free, "free blocks differ from the model");
    assert_eq!(sum, b.free_pages());
}

fn built(start: u64, end: u64, busy: &mut [Block]) -> Buddy<Vec<u64>> {
    let mut b = Buddy::new(Vec::new());
    b.rebuild(start, end, busy).expect("rebuild");
    b
}

/// One random alloc or free on both the buddy and the model.
fn step<S: GrowVec<u64>>(
    b: &mut Buddy<S>,
    m: &mut Model,
    held: &mut Vec<Block>,
    rng: &mut XorShift,
) {
    if held.is_empty() || rng.below(5) < 3 {
        let order = rng.below(u64::from(MAX_ORDER.min(8))) as u8;
        match b.alloc(order) {
            Ok(pgoff) => {
                let blk = Block { pgoff, order };
                assert!(blk.is_valid_in(m.start, m.end));
                m.set(blk, false);
                held.push(blk);
            }
            Err(e) => {
                assert_eq!(e, BuddyError::NoSpace);
                assert!(
                    !m.has_aligned_free(order),
                    "NoSpace with room for order {order}"
                );
            }
        }
    } else {
        let blk = held.swap_remove(rng.below(held.len() as u64) as usize);
        b.free(blk.pgoff, blk.order).expect("free");
        m.set(blk, true);
    }
}

#[test]
fn rebuild_carves_every_busy_pattern() {
    // Every busy page pattern of a 12-page window, at several region offsets.
    for start in [0u64, 1, 3, 8] {
        let end = start + 12;
        for mask in 0u32..1 << 12 {
            let mut busy: Vec<Block> = (0..12)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| Block {
                    pgoff: start + i,
                    order: 0,
                })
                .collect();
            let m = Model::new(start, end, &busy);
            let b = built(start, end, &mut busy);
            check(&b, &m);
            for order in 0..5 {
                assert_eq!(
                    b.can_alloc(order),
                    m.has_aligned_free(order),
                    "mask {mask:#x}"
                );
            }
        }
    }
}

#[test]
fn exhaustive_alloc_free_on_tiny_regions() {
    for start in 0u64..4 {
        for len in 1u64..=20 {
            let end = start + len;
            // Every order sequence of three allocations, then free in every order.
            for seq in 0..64u32 {
                let orders = [seq & 3, (seq >> 2) & 3, (seq >> 4) & 3];
                for free_order in 0..6usize {
                    let mut b = built(start, end, &mut []);
                    let mut m = Model::new(start, end, &[]);
                    let mut held = Vec::new();
                    for &o in &orders {
                        let o = o as u8;
                        match b.alloc(o) {
                            Ok(p) => {
                                let blk = Block { pgoff: p, order: o };
                                m.set(blk, false);
                                held.push(blk);
                            }
                            Err(e) => {
                                assert_eq!(e, BuddyError::NoSpace);
                                assert!(!m.has_aligned_free(o));
                            }
                        }
                        check(&b, &m);
                    }
                    let perm = [
                        [0, 1, 2],
                        [0, 2, 1],
                        [1, 0, 2],
                        [1, 2, 0],
                        [2, 0, 1],
                        [2, 1, 0],
                    ];
                    for &i in &perm[free_order] {
                        if let Some(&blk) = held.get(i) {
                            b.free(blk.pgoff, blk.order).expect("free");
                            m.set(blk, true);
                            check(&b, &m);
                        }
                    }
                    let fresh = built(start, end, &mut []);
                    assert!(b.free_blocks().eq(fresh.free_blocks()), "not merged back");
                }
            }
        }
    }
}

#[test]
fn randomized_against_model() {
    for seed in 1..=8u64 {
        let mut rng = XorShift::new(seed);
        let start = 4096 + rng.below(64);
        let end = start + 1024 + rng.below(2048);
        let mut busy = Vec::new();
        let mut at = start;
        while at < end {
            let order = rng.below(5) as u8;
            let p = (at + rng.below(64)).next_multiple_of(1 << order);
            if p + (1 << order) > end {
                break;
            }
            busy.push(Block { pgoff: p, order });
            at = p + (1 << order);
        }
        let mut m = Model::new(start, end, &busy);
        let mut b = built(start, end, &mut busy);
        let initial = m.free.clone();
        check(&b, &m);
        let mut held = Vec::new();
        for i in 0..3000 {
            step(&mut b, &mut m, &mut held, &mut rng);
            if i % 97 == 0 {
                check(&b, &m);
            }
        }
        check(&b, &m);
        for blk in held.drain(..) {
            b.free(blk.pgoff, blk.order).expect("free");
            m.set(blk, true);
        }
        assert_eq!(m.free, initial);
        check(&b, &m);
        // Back to exactly what a rebuild with the same busy ranges gives.
        let fresh = built(start, end, &mut busy);
        assert!(b.free_blocks().eq(fresh.free_blocks()));
    }
}

#[test]
fn whole_region_merges_to_max_order_blocks() {
    let start = 1 << (MAX_ORDER - 1);
    let end = start + 3 * (1 << (MAX_ORDER - 1)) + 5;
    let mut b = built(start, end, &mut []);
    let tops = b.free_blocks().filter(|x| x.order == MAX_ORDER - 1).count();
    assert_eq!(tops, 3);
    assert_eq!(b.free_pages(), end - start);
    let p = b.alloc(0).expect("alloc");
    assert_eq!(
        p,
        end - 1,
        "the smallest fitting block is the single tail page"
    );
    let q = b.alloc(1).expect("alloc");
    assert_eq!(q, end - 5, "split the 4-page tail block, lower half");
    assert_eq!(b.free_pages(), end - start - 3);
    b.free(p, 0).expect("free");
    b.free(q, 1).expect("free");
    assert_eq!(b.free_pages(), end - start);
    assert_eq!(
        b.free_blocks().filter(|x| x.order == MAX_ORDER - 1).count(),
        3
    );
    assert_eq!(b.alloc(MAX_ORDER), Err(BuddyError::Invalid));
}

#[test]
fn invalid_frees_change_nothing() {
    let (start, end) = (16u64, 80u64);
    let mut b = built(start, end, &mut []);
    let p = b.alloc(3).expect("alloc");
    let before: Vec<Block> = b.free_blocks().collect();
    let free = b.free_pages();
    for (pgoff, order) in [
        (p, 4),         // larger than allocated: overlaps free pages
        (p + 1, 1),     // misaligned
        (p + 8, 0),     // free page: double free
        (0, 0),         // below the region
        (end, 0),       // past the end
        (end - 1, 1),   // straddles the end
        (p, MAX_ORDER), // bad order
    ] {
        assert_eq!(
            b.free(pgoff, order),
            Err(BuddyError::Invalid),
            "{pgoff} {order}"
        );
        assert!(b.free_blocks().eq(before.iter().copied()));
        assert_eq!(b.free_pages(), free);
    }
    b.free(p, 3).expect("free");
    assert_eq!(b.free(p, 3), Err(BuddyError::Invalid), "double free");
    assert_eq!(
        b.free(p + 2, 1),
        Err(BuddyError::Invalid),
        "free of part of a free block"
    );
}

#[test]
fn rebuild_rejects_bad_busy_ranges() {
    let blk = |pgoff, order| Block { pgoff, order };
    let cases: [&[Block]; 6] = [
        &[blk(16, 2), blk(18, 0)], // overlap
        &[blk(16, 3), blk(16, 0)], // same start
        &[blk(8, 0)],              // below start
        &[blk(128, 0)],            // past end
        &[blk(17, 1)],             // misaligned
        &[blk(16, MAX_ORDER)],     // bad order
    ];
    for busy in cases {
        let mut b = built(16, 128, &mut []);
        let mut busy = busy.to_vec();
        assert_eq!(
            b.rebuild(16, 128, &mut busy),
            Err(BuddyError::Invalid),
            "{busy:?}"
        );
        assert_eq!(b.free_pages(), 0);
        assert_eq!(b.free_blocks().count(), 0);
        assert_eq!(b.alloc(0), Err(BuddyError::NoSpace));
    }
    let mut b = built(0, 0, &mut []);
    assert_eq!(b.rebuild(10, 5, &mut []), Err(BuddyError::Invalid));
    assert_eq!(b.rebuild(0, 1 << 53, &mut []), Err(BuddyError::Invalid));
}

#[test]
fn rebuild_cost_follows_records_not_size() {
    // A 1 TiB region (2^28 pages) with two busy ranges: one block per 2^19 pages plus a few
    // per gap edge, built instantly.
    let end = 1u64 << 28;
    let mut busy = [
        Block {
            pgoff: 1 << 25,
            order: 0,
        },
        Block {
            pgoff: 1 << 27,
            order: 19,
        },
    ];
    let b = built(4096, end, &mut busy);
    let edges = 3 * 2 * u64::from(MAX_ORDER);
    assert!((b.free_blocks().count() as u64) <= (end >> (MAX_ORDER - 1)) + edges);
    assert_eq!(b.free_pages(), end - 4096 - 1 - (1 << 19));
}

/// A `Vec` that refuses to grow past a capacity the test changes at will.
struct Capped {
    v: Vec<u64>,
    cap: Rc<Cell<usize>>,
}

impl GrowVec<u64> for Capped {
    fn len(&self) -> usize {
        self.v.len()
    }
    fn as_slice(&self) -> &[u64] {
        &self.v
    }
    fn as_mut_slice(&mut self) -> &mut [u64] {
        &mut self.v
    }
    fn try_push(&mut self, v: u64) -> Result<(), NoMem> {
        self.try_reserve(1)?;
        self.v.push(v);
        Ok(())
    }
    fn try_reserve(&mut self, additional: usize) -> Result<(), NoMem> {
        if self.v.len() + additional > self.cap.get() {
            Err(NoMem)
        } else {
            Ok(())
        }
    }
    fn truncate(&mut self, len: usize) {
        self.v.truncate(len)
    }
}

#[test]
fn out_of_memory_rolls_back() {
    let mut rng = XorShift::new(7);
    let (start, end) = (0u64, 256u64);
    let cap = Rc::new(Cell::new(usize::MAX));
    let mut b = Buddy::new(Capped {
        v: Vec::new(),
        cap: cap.clone(),
    });
    b.rebuild(start, end, &mut []).expect("rebuild");
    let mut m = Model::new(start, end, &[]);
    let mut held: Vec<Block> = Vec::new();
    let mut nomem = 0;
    for _ in 0..2000 {
        let snapshot: Vec<Block> = b.free_blocks().collect();
        let free = b.free_pages();
        // Room for at most one more free block: splits and some merges fail.
        cap.set(snapshot.len() + rng.below(2) as usize);
        let failed = if held.is_empty() || rng.below(2) == 0 {
            let order = rng.below(6) as u8;
            match b.alloc(order) {
                Ok(p) => {
                    let blk = Block { pgoff: p, order };
                    m.set(blk, false);
                    held.push(blk);
                    false
                }
                Err(e) => {
                    assert!(
                        e == BuddyError::NoMem
                            || (e == BuddyError::NoSpace && !m.has_aligned_free(order))
                    );
                    nomem += usize::from(e == BuddyError::NoMem);
                    true
                }
            }
        } else {
            let i = rng.below(held.len() as u64) as usize;
            let blk = held[i];
            match b.free(blk.pgoff, blk.order) {
                Ok(()) => {
                    held.swap_remove(i);
                    m.set(blk, true);
                    false
                }
                Err(e) => {
                    assert_eq!(e, BuddyError::NoMem);
                    nomem += 1;
                    true
                }
            }
        };
        if failed {
            assert!(
                b.free_blocks().eq(snapshot.iter().copied()),
                "failed op changed state"
            );
            assert_eq!(b.free_pages(), free);
        }
        cap.set(usize::MAX);
        check(&b, &m);
    }
    assert!(nomem > 50, "the out-of-memory paths ran ({nomem})");
    // reserve_free() makes the next free infallible.
    while let Some(blk) = held.pop() {
        let len = b.free_blocks().count();
        cap.set(len);
        if b.reserve_free().is_err() {
            cap.set(len + 1);
            b.reserve_free().expect("reserve");
        }
        b.free(blk.pgoff, blk.order).expect("free after reserve");
        m.set(blk, true);
        cap.set(usize::MAX);
    }
    check(&b, &m);
}

#[test]
fn withheld_pages_are_never_allocated() {
    for seed in 1..=8u64 {
        let mut rng = XorShift::new(seed);
        let (start, end) = (rng.below(64), 2048 + rng.below(1024));
        let mut busy = vec![Block {
            pgoff: 1024,
            order: 3,
        }];
        let mut m = Model::new(start, end, &busy);
        let mut b = built(start, end, &mut busy);
        // A few bad ranges, some across busy pages and the region's ends.
        for _ in 0..4 {
            let lo = rng.below(end + 16);
            let hi = lo + 1 + rng.below(40);
            let expect = (lo..hi.min(end)).filter(|&p| m.free[p as usize]).count();
            for p in lo..hi.min(end) {
                m.free[p as usize] = false;
            }
            assert_eq!(b.withhold(lo, hi).expect("withhold"), expect as u64);
            check(&b, &m);
        }
        // Model::set panics if an allocation covers a withheld (not free) page.
        let mut held = Vec::new();
        for i in 0..2000 {
            step(&mut b, &mut m, &mut held, &mut rng);
            if i % 89 == 0 {
                check(&b, &m);
            }
        }
        for blk in held.drain(..) {
            b.free(blk.pgoff, blk.order).expect("free");
            m.set(blk, true);
        }
        check(&b, &m);
    }
}

#[test]
fn withhold_out_of_memory_changes_nothing() {
    let cap = Rc::new(Cell::new(usize::MAX));
    let mut b = Buddy::new(Capped {
        v: Vec::new(),
        cap: cap.clone(),
    });
    b.rebuild(0, 1024, &mut []).expect("rebuild");
    let before: Vec<Block> = b.free_blocks().collect();
    // Page 515 splits the one 1024-page block into ten: no room for them.
    cap.set(before.len() + 1);
    assert_eq!(b.withhold(515, 516), Err(NoMem));
    assert!(b.free_blocks().eq(before.iter().copied()));
    assert_eq!(b.free_pages(), 1024);
    cap.set(usize::MAX);
    assert_eq!(b.withhold(515, 516), Ok(1));
    assert_eq!(b.free_pages(), 1023);
    assert_eq!(b.withhold(515, 516), Ok(0), "withheld twice");
}
