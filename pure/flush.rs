// SPDX-License-Identifier: GPL-2.0

//! Group-committed flushes of one backing device: who must wait for which flush, whether a
//! user's flush needs the device at all, and when the next flush is issued.
//!
//! A flush (an empty `REQ_PREFLUSH` bio) makes durable every write the device *completed
//! before the flush was issued*; writes completing later are not covered, even while that
//! flush is still in flight. So a waiter takes a **ticket**, the number of the first flush
//! issued after it asked, and is served by the first *successful* flush numbered at least
//! that. One flush is in flight at a time; every waiter that arrives while one is in flight
//! shares the next one: a batch of writeback writes or of concurrent `fsync`s costs one flush.
//!
//! **Direct writes.** The caller counts the writes it sent straight to the device (bcache's
//! bypass, writethrough and writearound writes) as they complete, and passes the count in.
//! Each flush remembers the count when it was issued; a user's flush needs the device only if
//! the count moved since the issue of the last successful flush ([`FlushState::needed`]):
//! otherwise every direct write that completed before it is durable already. (Writes the
//! writeback thread makes wait for their own ticket and never rely on a user's flush.)
//!
//! The state is plain data; the module keeps it behind a spin lock and issues the flush from a
//! work item (`module/flush.rs`); `host/tests/flush_model.rs` checks the promises against a
//! model of a device with a volatile write cache.

/// What became of the flush a ticket waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushStatus {
    /// No flush numbered at least the ticket has completed yet.
    Pending,
    /// A flush issued after the ticket was taken completed successfully.
    Durable,
    /// The flush the ticket waited for failed, and no later one succeeded yet.
    Failed,
}

/// One device's flush bookkeeping.
///
/// # Invariants
///
/// `ok <= issued`, `failed <= issued`, and `in_flight` implies the flush numbered `issued`
/// has not completed; flushes complete in the order they were issued (one at a time).
#[derive(Clone, Debug)]
pub struct FlushState {
    /// Flushes issued so far; the latest (maybe in flight) has this number.
    issued: u64,
    /// The highest ticket handed out: flushes are issued until `issued` reaches it.
    wanted: u64,
    /// The highest-numbered flush that completed successfully (0: none).
    ok: u64,
    /// The highest-numbered flush that completed with an error (0: none).
    failed: u64,
    /// Whether flush `issued` is in flight.
    in_flight: bool,
    /// The direct-write count when the in-flight flush was issued.
    sampled: u64,
    /// The direct-write count when the latest successful flush was issued: every direct write
    /// counted up to it is durable.
    durable_writes: u64,
}

impl Default for FlushState {
    fn default() -> Self {
        Self::new()
    }
}

impl FlushState {
    /// A device that may hold writes nobody flushed yet: until the first flush issued through
    /// this state succeeds, [`FlushState::needed`] says yes.
    pub const fn new() -> Self {
        FlushState {
            issued: 0,
            wanted: 0,
            ok: 0,
            failed: 0,
            in_flight: false,
            sampled: 0,
            durable_writes: u64::MAX,
        }
    }

    /// Whether a user's flush must reach the device: some direct write completed since the
    /// latest successful flush was issued. `direct_writes` is the caller's completion count,
    /// read after the writes the user's flush covers completed.
    pub fn needed(&self, direct_writes: u64) -> bool {
        direct_writes != self.durable_writes
    }

    /// A ticket for "every write that completed before this call": the number of the next
    /// flush to be issued. The caller then makes sure [`FlushState::start`] is called (the
    /// module queues its flush work) and waits until [`FlushState::status`] is not pending.
    pub fn ticket(&mut self) -> u64 {
        let ticket = self.issued + 1;
        if ticket > self.wanted {
            self.wanted = ticket;
        }
        ticket
    }

    /// Issues the next flush if one is wanted and none is in flight: returns its number, to be
    /// passed to [`FlushState::finish`] when it completes. `direct_writes` is the caller's
    /// completion count now, before the flush is submitted.
    pub fn start(&mut self, direct_writes: u64) -> Option<u64> {
        if self.in_flight || self.wanted <= self.issued {
            return None;
        }
        self.issued += 1;
        self.in_flight = true;
        self.sampled = direct_writes;
        Some(self.issued)
    }

    /// Records the completion of flush `gen` (the number [`FlushState::start`] returned).
    /// A number that is not the in-flight flush is ignored.
    pub fn finish(&mut self, gen: u64, ok: bool) {
        if !self.in_flight || gen != self.issued {
            return;
        }
        self.in_flight = false;
        if ok {
            self.ok = gen;
            self.durable_writes = self.sampled;
        } else {
            self.failed = gen;
        }
    }

    /// What became of the flush `ticket` waits for. A success of any flush numbered at least
    /// the ticket serves it (each was issued after the ticket's writes completed), so a
    /// failure only counts while no later flush succeeded.
    pub fn status(&self, ticket: u64) -> FlushStatus {
        if self.ok >= ticket {
            FlushStatus::Durable
        } else if self.failed >= ticket {
            FlushStatus::Failed
        } else {
            FlushStatus::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_taken_while_a_flush_is_in_flight_waits_for_the_next() {
        let mut s = FlushState::new();
        let t1 = s.ticket();
        let g1 = s.start(0).unwrap();
        let t2 = s.ticket();
        assert_eq!((t1, g1, t2), (1, 1, 2));
        assert_eq!(s.start(0), None, "one flush in flight at a time");
        s.finish(g1, true);
        assert_eq!(s.status(t1), FlushStatus::Durable);
        assert_eq!(s.status(t2), FlushStatus::Pending);
        let g2 = s.start(0).unwrap();
        s.finish(g2, true);
        assert_eq!(s.status(t2), FlushStatus::Durable);
        assert_eq!(s.start(0), None, "nothing more is wanted");
    }

    #[test]
    fn a_failed_flush_fails_its_waiters_until_a_later_one_succeeds() {
        let mut s = FlushState::new();
        let t = s.ticket();
        let g = s.start(0).unwrap();
        s.finish(g, false);
        assert_eq!(s.status(t), FlushStatus::Failed);
        let t2 = s.ticket();
        let g2 = s.start(0).unwrap();
        s.finish(g2, true);
        assert_eq!(s.status(t), FlushStatus::Durable);
        assert_eq!(s.status(t2), FlushStatus::Durable);
    }

    #[test]
    fn a_user_flush_needs_the_device_only_after_a_direct_write() {
        let mut s = FlushState::new();
        assert!(s.needed(0), "the first user flush goes to the device");
        s.ticket();
        let g = s.start(0).unwrap();
        s.finish(g, true);
        assert!(!s.needed(0));
        assert!(s.needed(3));
        s.ticket();
        let g = s.start(3).unwrap();
        assert!(s.needed(3), "not durable before the flush completes");
        s.finish(g, true);
        assert!(!s.needed(3));
        assert!(s.needed(4));
    }
}
