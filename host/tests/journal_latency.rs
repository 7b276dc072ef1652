//! The journal latency histogram.

use bcache_nvm_core::journal::latency::Latency;

#[test]
fn counts_each_write_once_in_its_log2_bucket() {
    let l = Latency::new();
    l.start(0x1000, 100);
    l.start(0x2000, 100);
    l.done(0x2000, 100 + 3000); // 3000 ns: bucket 11 ([2048, 4096))
    l.done(0x1000, 100 + 1_000_000); // bucket 19
    l.done(0x1000, 5_000_000); // already done: not counted again
    let c = l.counts();
    assert_eq!(c.iter().sum::<u64>(), 2);
    assert_eq!(c[11], 1);
    assert_eq!(c[19], 1);
    assert_eq!(l.percentile(50), 4096);
    assert_eq!(l.percentile(99), 1 << 20);
    let mut s = String::new();
    l.report(&mut s).unwrap();
    assert!(
        s.starts_with("jsets 2 p50_ns_le 4096 p99_ns_le 1048576\n"),
        "{s}"
    );
}

#[test]
fn a_full_table_drops_timings_instead_of_mixing_them() {
    let l = Latency::new();
    for k in 1..=20usize {
        l.start(k, 0);
    }
    for k in 1..=20usize {
        l.done(k, 10);
    }
    assert_eq!(l.counts().iter().sum::<u64>(), 16);
    assert_eq!(Latency::new().percentile(50), 0);
}
