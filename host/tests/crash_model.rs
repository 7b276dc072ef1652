//! The crash-state enumerator itself: which images a recording can leave.

use std::collections::BTreeSet;

use bcache_nvm_core::crash::{Budget, CrashState, HostMedia};
use bcache_nvm_core::media::Media;

fn word(s: &CrashState<'_>, off: u64) -> u64 {
    let mut b = [0u8; 8];
    s.image.read(off, &mut b).expect("read");
    u64::from_le_bytes(b)
}

/// Per crash point: the set of (word 0, word 1) pairs seen.
fn outcomes(m: &mut HostMedia, budget: Budget) -> Vec<BTreeSet<(u64, u64)>> {
    let rec = m.take_recording().expect("recording");
    let mut out: Vec<BTreeSet<(u64, u64)>> = Vec::new();
    rec.crash_states(budget, |s| {
        if out.len() <= s.point {
            out.resize(s.point + 1, BTreeSet::new());
        }
        out[s.point].insert((word(&s, 0), word(&s, 8)));
    });
    out
}

fn recording() -> HostMedia {
    let mut m = HostMedia::new(64);
    m.start_recording();
    m
}

#[test]
fn unfenced_stores_may_or_may_not_persist_independently() {
    let mut m = recording();
    m.store(0, &1u64.to_le_bytes()).unwrap();
    m.store(8, &2u64.to_le_bytes()).unwrap();
    m.flush(0, 16).unwrap();
    let o = outcomes(&mut m, Budget::default());
    assert_eq!(o.len(), 1, "one crash point: the end");
    assert_eq!(o[0], BTreeSet::from([(0, 0), (1, 0), (0, 2), (1, 2)]));
}

#[test]
fn a_fence_makes_flushed_stores_durable_but_not_unflushed_ones() {
    let mut m = recording();
    m.store(0, &1u64.to_le_bytes()).unwrap();
    m.store(8, &2u64.to_le_bytes()).unwrap();
    m.flush(0, 8).unwrap();
    m.fence();
    let o = outcomes(&mut m, Budget::default());
    assert_eq!(
        o[0],
        BTreeSet::from([(0, 0), (1, 0), (0, 2), (1, 2)]),
        "before the fence"
    );
    assert_eq!(
        o[1],
        BTreeSet::from([(1, 0), (1, 2)]),
        "after: word 0 durable, word 1 not"
    );
}

#[test]
fn a_word_can_hold_any_value_it_was_given() {
    let mut m = recording();
    for v in 1..=3u64 {
        m.store(0, &v.to_le_bytes()).unwrap();
    }
    let o = outcomes(&mut m, Budget::default());
    assert_eq!(o[0], BTreeSet::from([(0, 0), (1, 0), (2, 0), (3, 0)]));
}

#[test]
fn a_store_after_the_flush_is_not_covered_by_it() {
    let mut m = recording();
    m.store(0, &1u64.to_le_bytes()).unwrap();
    m.flush(0, 8).unwrap();
    m.store(0, &2u64.to_le_bytes()).unwrap();
    m.fence();
    let o = outcomes(&mut m, Budget::default());
    assert_eq!(
        o[1],
        BTreeSet::from([(1, 0), (2, 0)]),
        "1 is durable, 2 may be"
    );
}

#[test]
fn partial_word_stores_merge_into_the_word() {
    let mut m = recording();
    m.store(0, &[0xaa; 4]).unwrap();
    m.store(4, &[0xbb; 4]).unwrap();
    let o = outcomes(&mut m, Budget::default());
    let lo = 0xaaaa_aaaa;
    let both = 0xbbbb_bbbb_aaaa_aaaa;
    assert_eq!(o[0], BTreeSet::from([(0, 0), (lo, 0), (both, 0)]));
}

#[test]
fn stores_of_the_durable_value_add_no_state() {
    let mut m = recording();
    m.store(0, &[0; 16]).unwrap();
    let rec = m.take_recording().unwrap();
    let n = rec.crash_states(Budget::default(), |_| ());
    assert_eq!((n.points, n.states), (1, 1));
}

#[test]
fn large_sets_are_bounded() {
    let mut m = HostMedia::new(8 * 100);
    m.start_recording();
    for w in 0..100u64 {
        m.store(w * 8, &(w + 1).to_le_bytes()).unwrap();
    }
    let rec = m.take_recording().unwrap();
    let budget = Budget {
        exhaustive: 64,
        random: 10,
        seed: 3,
    };
    let n = rec.crash_states(budget, |s| assert_eq!(s.ops_done, 0));
    assert_eq!(
        n.states,
        2 + 2 * 100 + 10,
        "none, all, singles, all-but-ones, random"
    );
}

#[test]
fn marks_count_returned_operations() {
    let mut m = recording();
    m.store(0, &[1; 8]).unwrap();
    m.fence();
    m.mark();
    m.store(8, &[1; 8]).unwrap();
    m.fence();
    m.mark();
    let rec = m.take_recording().unwrap();
    let mut seen = Vec::new();
    rec.crash_states(Budget::default(), |s| seen.push((s.point, s.ops_done)));
    seen.dedup();
    assert_eq!(seen, [(0, 0), (1, 1), (2, 2)]);
}
