//! Crash consistency of the allocator: record every store, flush and fence of realistic
//! operation sequences on namespace 0, enumerate the images a crash can leave, register each
//! with the real code and check it against the model of the operations that had returned.
//!
//! Checks per crash image: registers cleanly; the recorded ranges are exactly the model after
//! the returned operations, or after those plus the one in flight (so every returned alloc is
//! recorded and every returned free is not); records never overlap and never touch a free
//! buddy block, and free + recorded pages = all pages; the offline checker finds nothing once
//! register has repaired the `recs.used` hints; the record index register built matches the
//! media walk; the set still allocates and frees.
//!
//! `NVMPG_CRASH_FULL=1` widens the budget and the randomized sequences.

use std::collections::BTreeSet;
use std::io::Write;

use bcache_nvm_core::crash::{
    format_namespace, Budget, CrashImage, CrashState, HostMedia, HostVecs, XorShift,
};
use bcache_nvm_core::nvmpg::alloc::{Allocator, Error};
use bcache_nvm_core::nvmpg::check::{check, RecordRef};
use bcache_nvm_core::nvmpg::format::{NvmpgOffset, RecsHeader, FIRST_PAGE};

const SET: [u8; 16] = [0xc3; 16];
/// Namespace 0: 24 MiB (2048 allocatable pages); namespace 1: 20 MiB (1024).
const NS_BYTES: [usize; 2] = [24 << 20, 20 << 20];

/// (owner, offset, order) of every live range.
type Model = BTreeSet<(u8, u64, u8)>;

#[derive(Clone, Copy, Debug)]
enum Op {
    Alloc {
        owner: u8,
        order: u8,
    },
    /// Free the range returned by the `n`th alloc of the recorded sequence.
    Free(usize),
    /// Free the `n`th range allocated during setup.
    FreeSetup(usize),
    /// Free live range number `r % live ranges`, if any.
    FreeAny(usize),
    /// Release an owner: every range it holds and its head.
    Release(u8),
}

fn owner(i: u8) -> [u8; 16] {
    [i; 16]
}

/// A recorded run: the recording of namespace 0, namespace 1's image, and the model after
/// each prefix of the operations (`models[d]` = after `d` operations returned).
struct Run {
    stats: String,
    rec: bcache_nvm_core::crash::Recording,
    ns1: Vec<u8>,
    models: Vec<Model>,
}

fn run(setup: &[(u8, u8)], ops: &[Op]) -> Run {
    run_with(setup, ops, None)
}

/// [`run`], with the recording's `drop_fence`th fence left out (a negative control).
fn run_with(setup: &[(u8, u8)], ops: &[Op], drop_fence: Option<usize>) -> Run {
    let mut a: Allocator<HostMedia, HostVecs> = Allocator::new();
    for (k, &len) in NS_BYTES.iter().enumerate() {
        a.register(format_namespace(len, SET, 2, k as u32).unwrap())
            .expect("register");
    }
    let mut model = Model::new();
    let mut setup_offs = Vec::new();
    for &(o, order) in setup {
        let off = a.alloc_pages(order, &owner(o)).expect("setup alloc");
        model.insert((o, off.0, order));
        setup_offs.push((o, off, order));
    }
    a.media_mut(0).expect("ns 0").start_recording();
    a.media_mut(1).expect("ns 1").start_recording();
    let mut models = vec![model.clone()];
    let mut allocs = Vec::new();
    let mut live = setup_offs.clone();
    let (mut spilled, mut nospace) = (0, 0);
    for op in ops {
        let freed = match *op {
            Op::Alloc { owner: o, order } => {
                match a.alloc_pages(order, &owner(o)) {
                    Ok(off) => {
                        spilled += usize::from(off.ns() == 1);
                        model.insert((o, off.0, order));
                        allocs.push((o, off, order));
                        live.push((o, off, order));
                    }
                    Err(e) => {
                        assert_eq!(e, Error::NoSpace);
                        nospace += 1;
                    }
                }
                None
            }
            Op::Free(n) => Some(allocs[n]),
            Op::FreeSetup(n) => Some(setup_offs[n]),
            Op::FreeAny(r) if !live.is_empty() => Some(live[r % live.len()]),
            Op::FreeAny(_) => None,
            Op::Release(o) => {
                match a.release_owner(&owner(o)) {
                    Ok(pages) => {
                        let held: u64 =
                            model.iter().filter(|m| m.0 == o).map(|m| 1u64 << m.2).sum();
                        assert_eq!(pages, held, "release frees what the owner held");
                        model.retain(|m| m.0 != o);
                        live.retain(|l| l.0 != o);
                    }
                    Err(e) => {
                        assert_eq!(e, Error::NotFound);
                        assert!(model.iter().all(|m| m.0 != o));
                    }
                }
                None
            }
        };
        if let Some((o, off, order)) = freed {
            a.free_pages(off, order, &owner(o)).expect("free");
            assert!(model.remove(&(o, off.0, order)));
            live.retain(|l| *l != (o, off, order));
        }
        a.media_mut(0).expect("ns 0").mark();
        models.push(model.clone());
    }
    let ns1 = a
        .media_mut(1)
        .expect("ns 1")
        .take_recording()
        .expect("recording");
    assert!(
        ns1.events().is_empty(),
        "nothing but namespace 0 is ever written"
    );
    let mut rec = a
        .media_mut(0)
        .expect("ns 0")
        .take_recording()
        .expect("recording");
    if let Some(n) = drop_fence {
        rec = rec.without_fence(n);
    }
    let stats = format!(
        "{} ops, {} to ns 1, {nospace} NoSpace, {} blocks and {} heads at the end",
        ops.len(),
        spilled,
        a.lists().blocks_used(),
        a.lists().heads_used()
    );
    Run {
        stats,
        rec,
        ns1: a.media(1).expect("ns 1").bytes().to_vec(),
        models,
    }
}

/// Checks one crash state; returns what is wrong.
fn check_state(s: CrashState<'_>, ns1: &[u8], models: &[Model]) -> Result<(), String> {
    let mut a: Allocator<CrashImage<'_>, HostVecs> = Allocator::new();
    a.register(CrashImage::new(ns1))
        .map_err(|e| format!("register ns 1: {e:?}"))?;
    a.register(s.image)
        .map_err(|e| format!("register ns 0: {e:?}"))?;
    let m0 = a.media(0).ok_or("no ns 0")?;
    let mut got = Model::new();
    for ns in 0..2u8 {
        let mut recorded: Vec<(u64, u64)> = Vec::new();
        a.lists()
            .for_each_rec(m0, None, ns, |h, _, rec| {
                let o = a.lists().head_uuid(h).map_or(0, |u| u[0]);
                let off = NvmpgOffset::new(ns, rec.pgoff() << 12).map_or(0, |p| p.0);
                got.insert((o, off, rec.order()));
                recorded.push((rec.pgoff(), rec.end()));
                Ok(())
            })
            .map_err(|e| format!("walk: {e:?}"))?;
        let buddy = a.buddy(ns).ok_or("no buddy")?;
        let mut ranges: Vec<(u64, u64)> = buddy
            .free_blocks()
            .map(|b| (b.pgoff, b.pgoff + b.pages()))
            .collect();
        let free: u64 = ranges.iter().map(|r| r.1 - r.0).sum();
        let used: u64 = recorded.iter().map(|r| r.1 - r.0).sum();
        ranges.extend(recorded);
        ranges.sort();
        if ranges.windows(2).any(|w| w[1].0 < w[0].1) {
            return Err(format!(
                "ns {ns}: a range is both free and owned, or owned twice"
            ));
        }
        let pages = (NS_BYTES[ns as usize] as u64 >> 12) - FIRST_PAGE;
        if free + used != pages {
            return Err(format!(
                "ns {ns}: {free} free + {used} recorded != {pages} pages"
            ));
        }
    }
    // The record index register built must be exactly what the media walk finds.
    let mut walked = Vec::new();
    for ns in 0..2u8 {
        a.lists()
            .for_each_rec(m0, None, ns, |h, at, rec| {
                walked.push((h, at, rec.0));
                Ok(())
            })
            .map_err(|e| format!("walk: {e:?}"))?;
    }
    let mut indexed = Vec::new();
    a.lists()
        .for_each_indexed(|h, at, rec| indexed.push((h, at, rec.0)));
    walked.sort();
    indexed.sort();
    if walked != indexed {
        return Err(format!("index {indexed:?} != media walk {walked:?}"));
    }
    let d = s.ops_done;
    let ok = got == models[d] || models.get(d + 1).is_some_and(|m| got == *m);
    if !ok {
        let lost: Vec<_> = models[d].difference(&got).collect();
        let extra: Vec<_> = got.difference(&models[d]).collect();
        return Err(format!(
            "after {d} ops: missing {lost:?}, unexpected {extra:?}"
        ));
    }
    let imgs = [a.media(0).ok_or("ns 0")?, a.media(1).ok_or("ns 1")?];
    let mut scratch = vec![RecordRef::default(); 4096];
    let mut problems = Vec::new();
    check(&imgs, &mut scratch, |p| problems.push(p.error));
    if !problems.is_empty() {
        return Err(format!("checker after register: {problems:?}"));
    }
    match a.alloc_pages(0, &owner(99)) {
        Ok(off) => a
            .free_pages(off, 0, &owner(99))
            .map_err(|e| format!("free after crash: {e:?}")),
        Err(Error::NoSpace) if a.free_pages_total() == 0 => Ok(()),
        Err(e) => Err(format!("alloc after crash: {e:?}")),
    }
}

/// Prints to stderr past libtest's output capture, so the counts show without --nocapture.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn budget() -> Budget {
    if std::env::var_os("NVMPG_CRASH_FULL").is_some() {
        Budget {
            exhaustive: 1 << 14,
            random: 512,
            seed: 1,
        }
    } else {
        Budget {
            exhaustive: 2048,
            random: 128,
            seed: 1,
        }
    }
}

/// Explores every crash state of `r`; returns (states, violations) and prints the first few.
fn explore(name: &str, r: &Run) -> (usize, usize) {
    let mut violations = 0;
    let n = r.rec.crash_states(budget(), |s| {
        let (point, d) = (s.point, s.ops_done);
        if let Err(e) = check_state(s, &r.ns1, &r.models) {
            if violations < 5 {
                say(&format!("{name}: crash point {point} (ops done {d}): {e}"));
            }
            violations += 1;
        }
    });
    say(&format!(
        "{name} ({}): crash points {}, states {}, violations {violations}",
        r.stats, n.points, n.states
    ));
    (n.states, violations)
}

#[test]
fn crash_during_block_fill_new_heads_frees_and_spill() {
    // Owner 1 starts with 1011 records: two allocs fill its first block, the third links one.
    let setup = vec![(1u8, 0u8); 1011];
    let ops = [
        Op::Alloc { owner: 1, order: 0 },
        Op::Alloc { owner: 1, order: 0 }, // block full
        Op::Alloc { owner: 1, order: 1 }, // new block linked from the tail
        Op::Alloc { owner: 2, order: 3 }, // new head, block linked from the head
        Op::Alloc { owner: 3, order: 2 }, // new head
        Op::FreeSetup(0),                 // hole in owner 1's first block
        Op::Free(2),                      // empties owner 1's second block: unlinked
        Op::Alloc { owner: 1, order: 0 }, // into the hole
        Op::Alloc {
            owner: 2,
            order: 10,
        }, // no room on ns 0: chain of ns 1
        Op::Alloc { owner: 2, order: 9 },
        Op::Free(3),
        Op::Free(6),                      // empties the first block of a chain: kept
        Op::Alloc { owner: 4, order: 0 }, // new head
        Op::Free(4),
        Op::Alloc { owner: 3, order: 0 },
        Op::Alloc { owner: 1, order: 0 }, // block full again
        Op::Alloc { owner: 1, order: 0 }, // reuses the block unlinked above
    ];
    let r = run(&setup, &ops);
    let (states, violations) = explore("scripted", &r);
    say(&format!(
        "crash states explored: {states}, violations: {violations}"
    ));
    assert!(states > 100);
    assert_eq!(violations, 0);
}

#[test]
fn crash_during_random_sequences() {
    let full = std::env::var_os("NVMPG_CRASH_FULL").is_some();
    let (seeds, len) = if full {
        (1..=16u64, 600)
    } else {
        (1..=48u64, 150)
    };
    // Owner 1 starts 4 records short of a full block; orders up to 9 fill namespace 0
    // (NoSpace included) and spill to namespace 1.
    let setup = vec![(1u8, 0u8); RecsHeader::MAX_RECS - 4];
    let mut total = (0, 0);
    for seed in seeds {
        let mut rng = XorShift::new(seed);
        let ops: Vec<Op> = (0..len)
            .map(|_| match rng.below(8) {
                0..=2 => Op::FreeAny(rng.next_u64() as usize),
                3 | 4 => Op::Alloc { owner: 1, order: 0 },
                5 if rng.below(8) == 0 => Op::Release(rng.below(6) as u8 + 2),
                5 => Op::Alloc {
                    owner: rng.below(6) as u8 + 1,
                    order: rng.below(10) as u8,
                },
                _ => Op::Alloc {
                    owner: rng.below(6) as u8 + 1,
                    order: rng.below(3) as u8,
                },
            })
            .collect();
        let r = run(&setup, &ops);
        let (s, v) = explore(&format!("random seed {seed}"), &r);
        total = (total.0 + s, total.1 + v);
    }
    say(&format!(
        "crash states explored: {}, violations: {}",
        total.0, total.1
    ));
    assert_eq!(total.1, 0);
}

/// Owners released while others allocate: releases of an owner with one range, with ranges in
/// both namespaces, with a chain of several blocks (1011 setup records), and of an owner
/// that no longer exists; the FREE heads are reused by the next new owners, and the freed
/// ranges are allocated again at once (so a release that is not durable before the next
/// step would show as a range owned twice).
fn release_ops() -> (Vec<(u8, u8)>, Vec<Op>) {
    let mut setup = vec![(1u8, 0u8); 1011];
    setup.extend([(2, 3), (3, 2), (3, 10), (4, 9)]);
    let ops = vec![
        Op::Release(2),                   // one range
        Op::Alloc { owner: 5, order: 3 }, // takes head 2's place and its range
        Op::Release(3),                   // ranges on ns 0 and ns 1
        Op::Alloc { owner: 6, order: 2 },
        Op::Alloc {
            owner: 6,
            order: 10,
        },
        Op::Release(1), // two blocks of records
        Op::Alloc { owner: 7, order: 0 },
        Op::Alloc { owner: 7, order: 0 },
        Op::Release(3), // gone already: NotFound, nothing stored
        Op::Release(7),
        Op::Alloc { owner: 8, order: 5 },
        Op::Free(1),
        Op::Release(6),
        Op::Alloc { owner: 9, order: 1 },
    ];
    (setup, ops)
}

#[test]
fn crash_during_release_and_head_reuse() {
    let (setup, ops) = release_ops();
    let r = run(&setup, &ops);
    let (states, violations) = explore("release", &r);
    say(&format!(
        "crash states explored: {states}, violations: {violations}"
    ));
    assert!(states > 50);
    assert_eq!(violations, 0);
}

/// Negative control: without the fence that commits a release, the range it gave back can
/// be recorded for the next owner while the crash keeps the old owner's head ALLOC.
#[test]
fn release_without_its_fence_is_caught() {
    let (setup, ops) = release_ops();
    let r = run(&setup, &ops);
    let fence = r.rec.commit_fence_of(0).expect("the first release stored");
    let broken = run_with(&setup, &ops, Some(fence));
    let (states, violations) = explore("release without its fence", &broken);
    say(&format!(
        "negative control: {violations} violations in {states} states"
    ));
    assert!(violations > 0, "dropping the release fence must be caught");
}
