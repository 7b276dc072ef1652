//! The backing device's group-committed flushes ([`FlushState`]) against a model of a disk with
//! a volatile write cache: a write is durable only once a flush *issued after it completed*
//! has completed successfully.
//!
//! Random runs interleave direct writes completing (counted, as bcache's bypass and
//! writethrough writes are), writeback writes completing and each taking a ticket, user
//! flushes (skipped when [`FlushState::needed`] says so, else a ticket), flushes issued and
//! completing (some failing), and waiters checking their ticket. Checked: a ticket reported
//! durable covers every write completed before it was taken; a user flush skipped as not
//! needed finds every direct write durable already; after the device stops failing, every
//! waiter is served (no ticket waits forever). Negative controls: the same runs with a ticket
//! that lets a waiter ride the flush already in flight, and with a user flush that never goes
//! to the device, must find a violation.

use std::collections::BTreeSet;

use bcache_nvm_core::crash::XorShift;
use bcache_nvm_core::flush::{FlushState, FlushStatus};

/// A deliberately broken caller, for the negative controls.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Bug {
    None,
    /// A waiter that arrives while a flush is in flight waits for that flush.
    RideInFlight,
    /// User flushes never reach the device.
    NeverNeeded,
}

struct Waiter {
    ticket: u64,
    /// Every write completed when the ticket was taken.
    covers: BTreeSet<u64>,
}

#[derive(Default)]
struct Disk {
    completed: BTreeSet<u64>,
    durable: BTreeSet<u64>,
    /// What the in-flight flush covers: the writes completed when it was issued.
    in_flight: Option<(u64, BTreeSet<u64>)>,
}

/// One random run; `Err` describes the first broken promise.
fn run(seed: u64, steps: usize, bug: Bug) -> Result<(), String> {
    let mut rng = XorShift::new(seed);
    let mut s = FlushState::new();
    let mut disk = Disk::default();
    let mut direct_done = 0u64;
    let mut direct_ids = BTreeSet::new();
    let mut next_id = 0u64;
    let mut waiters: Vec<Waiter> = Vec::new();

    let take_ticket = |s: &mut FlushState, disk: &Disk| {
        let t = s.ticket();
        if bug == Bug::RideInFlight && disk.in_flight.is_some() {
            t - 1
        } else {
            t
        }
    };
    let check = |w: &Waiter, disk: &Disk, what: &str| -> Result<(), String> {
        match w.covers.difference(&disk.durable).next() {
            Some(lost) => Err(format!(
                "seed {seed}: {what} ticket {} served but write {lost} is not durable",
                w.ticket
            )),
            None => Ok(()),
        }
    };

    for step in 0..steps + 1000 {
        // After `steps`, the device stops failing and nothing new arrives: a drain.
        let draining = step >= steps;
        let event = if draining {
            4 + rng.below(3)
        } else {
            rng.below(7)
        };
        match event {
            0 => {
                // A direct write to the backing device completes.
                disk.completed.insert(next_id);
                direct_ids.insert(next_id);
                next_id += 1;
                direct_done += 1;
            }
            1 => {
                // A writeback write completes and waits for a flush before its clean key.
                disk.completed.insert(next_id);
                next_id += 1;
                let ticket = take_ticket(&mut s, &disk);
                waiters.push(Waiter {
                    ticket,
                    covers: disk.completed.clone(),
                });
            }
            2 | 3 => {
                // A user's flush.
                let needed = bug != Bug::NeverNeeded && s.needed(direct_done);
                if needed {
                    let ticket = take_ticket(&mut s, &disk);
                    waiters.push(Waiter {
                        ticket,
                        covers: direct_ids.clone(),
                    });
                } else if let Some(lost) = direct_ids.difference(&disk.durable).next() {
                    return Err(format!(
                        "seed {seed}: user flush skipped but direct write {lost} is not durable"
                    ));
                }
            }
            4 => {
                // The flush work runs.
                if let Some(gen) = s.start(direct_done) {
                    disk.in_flight = Some((gen, disk.completed.clone()));
                }
            }
            5 => {
                // The in-flight flush completes.
                if let Some((gen, covered)) = disk.in_flight.take() {
                    let ok = draining || rng.below(10) != 0;
                    if ok {
                        disk.durable.extend(covered);
                    }
                    s.finish(gen, ok);
                }
            }
            _ => {
                // Waiters look at their tickets.
                let mut keep = Vec::new();
                for w in waiters.drain(..) {
                    match s.status(w.ticket) {
                        FlushStatus::Durable => check(&w, &disk, "durable")?,
                        FlushStatus::Failed => {}
                        FlushStatus::Pending => keep.push(w),
                    }
                }
                waiters = keep;
            }
        }
    }
    if let Some(w) = waiters.first() {
        return Err(format!(
            "seed {seed}: ticket {} still pending after the drain",
            w.ticket
        ));
    }
    Ok(())
}

#[test]
fn every_served_ticket_covers_the_writes_before_it() {
    for seed in 1..=3000 {
        if let Err(e) = run(seed, 400, Bug::None) {
            panic!("{e}");
        }
    }
}

#[test]
fn negative_control_riding_the_in_flight_flush_is_caught() {
    let found = (1..=3000).filter(|&seed| run(seed, 400, Bug::RideInFlight).is_err());
    assert!(
        found.count() > 0,
        "the model did not catch waiters served by a flush issued before their writes"
    );
}

#[test]
fn negative_control_skipping_needed_user_flushes_is_caught() {
    let found = (1..=3000).filter(|&seed| run(seed, 400, Bug::NeverNeeded).is_err());
    assert!(
        found.count() > 0,
        "the model did not catch a user flush skipped after a direct write"
    );
}
