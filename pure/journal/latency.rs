//! Journal write latency: from the moment a jset is submitted to the moment it is durable
//! (the journal bio completed, or the NVDIMM copy fenced after the cache disk's flush), as a
//! log2 histogram that any context may update without locks.
//!
//! bcache has at most one journal write in flight per cache set, but several cache sets may
//! write at once, so the submit time is kept per journal write (keyed by its address) in a
//! small table of slots.

use core::fmt;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Histogram buckets: bucket `i` counts latencies in `[2^i, 2^(i+1))` ns (0 in bucket 0).
pub const BUCKETS: usize = 40;
/// Journal writes that can be timed at once.
const SLOTS: usize = 16;

/// One journal write being timed: `key` 0 when free.
struct Slot {
    key: AtomicUsize,
    start: AtomicU64,
}

/// Submit-to-durable latency of journal writes.
pub struct Latency {
    slots: [Slot; SLOTS],
    buckets: [AtomicU64; BUCKETS],
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty histogram.
    pub const fn new() -> Self {
        Self {
            slots: [const {
                Slot {
                    key: AtomicUsize::new(0),
                    start: AtomicU64::new(0),
                }
            }; SLOTS],
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
        }
    }

    /// The journal write `key` (non-zero) was submitted at `now` ns. Not timed if every slot
    /// is taken.
    pub fn start(&self, key: usize, now: u64) {
        for s in self.slots.iter() {
            if s.key
                .compare_exchange(0, key, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                s.start.store(now, Ordering::Release);
                return;
            }
        }
    }

    /// The journal write `key` became durable at `now` ns: counts it, frees its slot.
    pub fn done(&self, key: usize, now: u64) {
        for s in self.slots.iter() {
            if s.key.load(Ordering::Acquire) == key {
                let ns = now.saturating_sub(s.start.load(Ordering::Acquire));
                s.key.store(0, Ordering::Release);
                let i = (ns.checked_ilog2().unwrap_or(0) as usize).min(BUCKETS - 1);
                if let Some(b) = self.buckets.get(i) {
                    b.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        }
    }

    /// The counts, bucket by bucket.
    pub fn counts(&self) -> [u64; BUCKETS] {
        let mut c = [0; BUCKETS];
        for (c, b) in c.iter_mut().zip(self.buckets.iter()) {
            *c = b.load(Ordering::Relaxed);
        }
        c
    }

    /// The upper bound (ns) of the bucket holding the `pct`-th percentile, 0 if empty.
    pub fn percentile(&self, pct: u64) -> u64 {
        let c = self.counts();
        let total: u64 = c.iter().sum();
        let want = (total * pct).div_ceil(100).max(1);
        let mut seen = 0;
        for (i, n) in c.iter().enumerate() {
            seen += n;
            if total > 0 && seen >= want {
                return 1u64 << (i + 1);
            }
        }
        0
    }

    /// A report: `jsets <total> p50_ns_le <ns> p99_ns_le <ns>`, then one
    /// `ns_lt <upper bound in ns> <count>` line per non-empty bucket.
    pub fn report(&self, f: &mut impl fmt::Write) -> fmt::Result {
        let c = self.counts();
        let total: u64 = c.iter().sum();
        writeln!(
            f,
            "jsets {} p50_ns_le {} p99_ns_le {}",
            total,
            self.percentile(50),
            self.percentile(99)
        )?;
        for (i, n) in c.iter().enumerate().filter(|(_, n)| **n > 0) {
            writeln!(f, "ns_lt {} {}", 1u64 << (i + 1), n)?;
        }
        Ok(())
    }
}
