//! The in-memory record index of the allocation lists: after random sequences of adds,
//! removes and reloads it holds exactly what a full walk of the chains on the media finds
//! (head, slot offset, record), `find_rec` names each record's slot, and an add or remove that
//! fails for lack of memory changes neither the media nor the index.

use std::cell::Cell;
use std::collections::BTreeMap;

use bcache_nvm_core::crash::{format_namespace, HostMedia, HostVecs, XorShift};
use bcache_nvm_core::grow_vec::{GrowVec, GrowVecFamily, NoMem};
use bcache_nvm_core::nvmpg::error::Error;
use bcache_nvm_core::nvmpg::format::{Rec, RecsHeader, FIRST_PAGE};
use bcache_nvm_core::nvmpg::reclist::AllocLists;

const SET: [u8; 16] = [0x1d; 16];
const NS0_BYTES: usize = 17 << 20;

fn owner(i: u8) -> [u8; 16] {
    [i; 16]
}

fn rec(i: u64, order: u8, ns: u8) -> Rec {
    Rec::new(FIRST_PAGE + (i << order), order, ns).expect("rec")
}

/// (head, slot offset, record) of every record on the media, by a full walk of the chains.
fn walked<F: GrowVecFamily>(l: &AllocLists<F>, m: &HostMedia) -> Vec<(usize, u64, u64)> {
    let mut v = Vec::new();
    for ns in 0..2 {
        l.for_each_rec(m, None, ns, |h, at, r| {
            v.push((h, at, r.0));
            Ok(())
        })
        .expect("walk");
    }
    v.sort();
    v
}

/// The same from the index, in index order (record, head, slot).
fn indexed<F: GrowVecFamily>(l: &AllocLists<F>) -> Vec<(usize, u64, u64)> {
    let mut v = Vec::new();
    l.for_each_indexed(|h, at, r| v.push((h, at, r.0)));
    v
}

/// Checks the index against the media walk; returns the (record, head) multiset.
fn agree<F: GrowVecFamily>(l: &AllocLists<F>, m: &HostMedia) -> BTreeMap<(u64, usize), usize> {
    let idx = indexed(l);
    let mut sorted_by_rec = idx.clone();
    sorted_by_rec.sort_by_key(|&(h, at, r)| (r, h, at));
    assert_eq!(idx, sorted_by_rec, "index order is (record, head, slot)");
    let mut by_head = idx.clone();
    by_head.sort();
    assert_eq!(by_head, walked(l, m), "index == media walk");
    assert_eq!(l.records(), idx.len());
    let mut held = BTreeMap::new();
    for &(h, at, r) in &idx {
        let uuid = l.head_uuid(h).expect("ALLOC head");
        let found = l.find_rec(&uuid, Rec(r)).expect("indexed record found");
        // With a record held twice by one head, either slot is a right answer.
        let key = (r, h, found);
        let hit = sorted_by_rec.binary_search_by_key(&key, |&(h, at, r)| (r, h, at));
        assert!(
            hit.is_ok(),
            "{found:#x} holds {r:#x} for head {h} (index has {at:#x})"
        );
        *held.entry((r, h)).or_insert(0) += 1;
    }
    held
}

fn reload<F: GrowVecFamily>(m: &mut HostMedia) -> AllocLists<F> {
    let mut l = AllocLists::new();
    l.load(m, 2).expect("reload");
    l
}

/// Random adds (several owners, both namespaces, some records twice) and removes, with
/// reloads; the index is checked against the media after each of the first 1000 operations,
/// every 10th one after that, and after every unlink and reload.
fn random_run(seed: u64, ops: usize, grow_until: usize) {
    let mut rng = XorShift::new(seed);
    let mut m = format_namespace(NS0_BYTES, SET, 2, 0).unwrap();
    let mut l: AllocLists<HostVecs> = reload(&mut m);
    // (owner, record) pairs held, with repeats.
    let mut live: Vec<(u8, Rec)> = Vec::new();
    let mut next = 0u64;
    let (mut unlinked, mut reloads) = (0, 0);
    for step in 0..ops {
        let grow = step < grow_until;
        let p_add = if grow { 7 } else { 3 };
        match rng.below(10) {
            _ if live.is_empty() => {}
            r if r < p_add => {}
            _ => {
                let (o, r) = live.swap_remove(rng.below(live.len() as u64) as usize);
                let blocks = l.blocks_used();
                l.remove(&mut m, &owner(o), r).expect("remove");
                let unlink = l.blocks_used() < blocks;
                unlinked += usize::from(unlink);
                if !(unlink || step < 1000 || step % 10 == 0) {
                    continue;
                }
                let held = agree(&l, &m);
                // Removing a record the owner no longer holds stores nothing.
                let h = l.find_head(&owner(o)).expect("head");
                if !held.contains_key(&(r.0, h)) {
                    let before = m.bytes().to_vec();
                    assert_eq!(l.remove(&mut m, &owner(o), r), Err(Error::Invalid));
                    assert!(m.bytes() == before.as_slice());
                }
                continue;
            }
        }
        // Owner 1 gets most records of namespace 0: its chain grows past one block.
        let o = if rng.below(3) == 0 {
            rng.below(5) as u8 + 1
        } else {
            1
        };
        let r = if !live.is_empty() && rng.below(50) == 0 {
            // A record some owner already holds, for this owner or another one.
            live[rng.below(live.len() as u64) as usize].1
        } else {
            next += 1;
            rec(next, rng.below(3) as u8, (rng.below(4) == 0) as u8)
        };
        l.add(&mut m, &owner(o), r).expect("add");
        live.push((o, r));
        if step < 1000 || step % 10 == 0 {
            agree(&l, &m);
        }
        if rng.below(400) == 0 {
            let before = indexed(&l);
            l = reload(&mut m);
            reloads += 1;
            assert_eq!(indexed(&l), before, "reload rebuilds the same index");
            agree(&l, &m);
        }
    }
    let mut want: Vec<(u8, u64)> = live.iter().map(|&(o, r)| (o, r.0)).collect();
    want.sort();
    let mut got: Vec<(u8, u64)> = indexed(&l)
        .iter()
        .map(|&(h, _, r)| (l.head_uuid(h).expect("head")[0], r))
        .collect();
    got.sort();
    assert_eq!(got, want, "the index holds what the model holds");
    let l2: AllocLists<HostVecs> = reload(&mut m);
    assert_eq!(indexed(&l2), indexed(&l));
    eprintln!("seed {seed}: {ops} ops, {reloads} reloads, {unlinked} unlinks");
    assert!(
        reloads > 0 && unlinked > 0,
        "{reloads} reloads, {unlinked} unlinks"
    );
}

#[test]
fn index_agrees_with_media_walk_after_random_ops_and_reloads() {
    // Grows owner 1's chain past a block, then shrinks it: blocks are linked and unlinked.
    for seed in 1..=2 {
        random_run(seed, 10000, 5000);
    }
}

#[test]
fn a_record_held_twice_is_removed_twice() {
    let mut m = format_namespace(NS0_BYTES, SET, 2, 0).unwrap();
    let mut l: AllocLists<HostVecs> = reload(&mut m);
    let r = rec(3, 1, 0);
    l.add(&mut m, &owner(1), r).expect("add");
    l.add(&mut m, &owner(1), r).expect("again");
    l.add(&mut m, &owner(2), r).expect("another owner");
    assert_eq!(agree(&l, &m).get(&(r.0, 1)), Some(&2));
    let mut l: AllocLists<HostVecs> = reload(&mut m);
    for _ in 0..2 {
        l.remove(&mut m, &owner(1), r).expect("remove");
        agree(&l, &m);
    }
    assert_eq!(l.remove(&mut m, &owner(1), r), Err(Error::Invalid));
    assert_eq!(l.find_rec(&owner(1), r), None);
    assert!(l.find_rec(&owner(2), r).is_some());
    l.remove(&mut m, &owner(2), r).expect("remove");
    assert_eq!(l.records(), 0);
    assert!(walked(&l, &m).is_empty());
}

thread_local! {
    /// Allocations still allowed; `None`: no limit.
    static GROWTHS: Cell<Option<usize>> = const { Cell::new(None) };
}

/// A `Vec` whose growth fails once the thread's [`GROWTHS`] budget is spent.
struct Lim<T>(Vec<T>);

impl<T: Copy> GrowVec<T> for Lim<T> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn as_slice(&self) -> &[T] {
        &self.0
    }
    fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.0
    }
    fn try_push(&mut self, v: T) -> Result<(), NoMem> {
        self.try_reserve(1)?;
        self.0.push(v);
        Ok(())
    }
    fn try_reserve(&mut self, additional: usize) -> Result<(), NoMem> {
        if self.0.capacity() - self.0.len() >= additional {
            return Ok(());
        }
        match GROWTHS.get() {
            Some(0) => return Err(NoMem),
            Some(n) => GROWTHS.set(Some(n - 1)),
            None => {}
        }
        self.0.try_reserve(additional).map_err(|_| NoMem)
    }
    fn truncate(&mut self, len: usize) {
        self.0.truncate(len)
    }
}

struct LimitedVecs;

impl GrowVecFamily for LimitedVecs {
    type GrowVec<T: Copy> = Lim<T>;
    fn new_seq<T: Copy>() -> Lim<T> {
        Lim(Vec::new())
    }
}

/// Runs `op` with 0, 1, 2, ... allocations allowed until it succeeds; every failure must be
/// `NoMem` and leave the media and the index as they were. Returns how many failed.
fn until_ok(
    l: &mut AllocLists<LimitedVecs>,
    m: &mut HostMedia,
    mut op: impl FnMut(&mut AllocLists<LimitedVecs>, &mut HostMedia) -> Result<(), Error>,
) -> usize {
    for budget in 0.. {
        let (bytes, index) = (m.bytes().to_vec(), indexed(l));
        GROWTHS.set(Some(budget));
        let r = op(l, m);
        GROWTHS.set(None);
        match r {
            Ok(()) => return budget,
            Err(e) => {
                assert_eq!(e, Error::NoMem);
                assert!(m.bytes() == bytes.as_slice(), "NoMem stored something");
                assert_eq!(indexed(l), index, "NoMem changed the index");
            }
        }
    }
    unreachable!()
}

#[test]
fn nomem_changes_nothing() {
    let mut rng = XorShift::new(7);
    let mut m = format_namespace(NS0_BYTES, SET, 2, 0).unwrap();
    let mut l: AllocLists<LimitedVecs> = reload(&mut m);
    let mut live: Vec<(u8, Rec)> = Vec::new();
    let mut failed = 0;
    for i in 0..3000u64 {
        if live.is_empty() || rng.below(10) < 6 {
            let (o, r) = (rng.below(9) as u8 + 1, rec(i + 1, 0, rng.below(2) as u8));
            failed += until_ok(&mut l, &mut m, |l, m| l.add(m, &owner(o), r));
            live.push((o, r));
        } else {
            let (o, r) = live.swap_remove(rng.below(live.len() as u64) as usize);
            assert_eq!(
                until_ok(&mut l, &mut m, |l, m| l.remove(m, &owner(o), r)),
                0
            );
        }
        if i % 100 == 0 {
            agree(&l, &m);
        }
    }
    agree(&l, &m);
    let l2: AllocLists<LimitedVecs> = reload(&mut m);
    assert_eq!(indexed(&l2), indexed(&l));
    // A load short of memory fails and leaves the lists unloaded; the first budget that
    // suffices has room for the index but not for the sort's scratch copy, so the load
    // sorts in place instead (the live records are not in chain order).
    let want = indexed(&l);
    for budget in 0.. {
        GROWTHS.set(Some(budget));
        let mut l3: AllocLists<LimitedVecs> = AllocLists::new();
        let r = l3.load(&mut m, 2);
        GROWTHS.set(None);
        match r {
            Ok(()) => {
                assert_eq!(indexed(&l3), want);
                agree(&l3, &m);
                break;
            }
            Err(e) => {
                assert_eq!(e, Error::NoMem);
                assert!(!l3.is_loaded());
            }
        }
    }
    // The index grew (fresh run and merges into the main run) at these points; heads and
    // blocks are reserved by the load.
    assert!(failed >= 8, "only {failed} allocation failures injected");
}

#[test]
fn a_full_first_block_and_a_new_one_are_indexed() {
    let mut m = format_namespace(NS0_BYTES, SET, 2, 0).unwrap();
    let mut l: AllocLists<HostVecs> = reload(&mut m);
    let n = RecsHeader::MAX_RECS as u64;
    // Descending records: the loaded chain is out of order and the load sorts it.
    for i in (0..=n).rev() {
        l.add(&mut m, &owner(1), rec(i + 1, 0, 0)).expect("add");
    }
    agree(&l, &m);
    let mut l: AllocLists<HostVecs> = reload(&mut m);
    agree(&l, &m);
    let last = rec(1, 0, 0);
    let at = l.find_rec(&owner(1), last).expect("held");
    assert_eq!(
        at,
        RecsHeader::block_offset(2).expect("block") + RecsHeader::OFF_RECS as u64,
        "the record past a full block sits in slot 0 of the next block"
    );
    l.remove(&mut m, &owner(1), last).expect("remove");
    assert_eq!(l.blocks_used(), 2, "the emptied second block is unlinked");
    agree(&l, &m);
    agree(&reload::<HostVecs>(&mut m), &m);
}
