// SPDX-License-Identifier: GPL-2.0

//! The nvm-pages allocator over the guest's real DAX namespace (`/dev/pmem0`, formatted by
//! `bcache-nvm format` before the module loads).

use crate::pure::nvmpg::alloc::Error;
use crate::pure::nvmpg::buddy::Block;
use crate::pure::nvmpg::format::NvmpgOffset;
use crate::registry::KernelAllocator;
use crate::wrappers::dax::DaxNamespace;
use crate::wrappers::kunit::Test;
use kernel::{c_str, prelude::*};

const PAGE: u64 = 4096;
const OWNER_A: [u8; 16] = *b"kunit-owner-A...";
const OWNER_B: [u8; 16] = *b"kunit-owner-B...";
/// The owner whose ranges the two-boot test leaves on the namespace between boots.
const OWNER_BOOT: [u8; 16] = *b"kunit-two-boot!!";
/// The orders the two-boot test allocates, in this order.
const BOOT_ORDERS: [u8; 4] = [0, 3, 5, 9];

/// Opens `/dev/pmem0` and registers it in a fresh allocator.
fn register(t: &Test<'_>) -> Option<KernelAllocator> {
    let ns = match DaxNamespace::open(c_str!("/dev/pmem0")) {
        Ok(ns) => ns,
        Err(e) => {
            t.fail(format_args!("open /dev/pmem0: {:?}", e));
            return None;
        }
    };
    let mut a = KernelAllocator::new();
    match a.register(ns) {
        Ok(0) => Some(a),
        other => {
            t.fail(format_args!("register /dev/pmem0: {:?}", other));
            None
        }
    }
}

fn free_pages(a: &KernelAllocator) -> u64 {
    a.buddy(0).map_or(0, |b| b.free_pages())
}

fn block(off: NvmpgOffset, order: u8) -> Block {
    Block {
        pgoff: off.offset() / PAGE,
        order,
    }
}

/// Allocations are page-aligned, disjoint and busy; freeing them merges everything back.
fn alloc_free_merge(t: &Test<'_>) {
    let Some(mut a) = register(t) else { return };
    let before = free_pages(&a);
    let mut got = [(NvmpgOffset::NONE, 0u8); 6];
    for (slot, order) in got.iter_mut().zip([0u8, 1, 3, 0, 7, 2]) {
        match a.alloc_pages(order, &OWNER_A) {
            Ok(off) => *slot = (off, order),
            Err(e) => {
                t.fail(format_args!("alloc order {}: {:?}", order, e));
                return;
            }
        }
    }
    let used: u64 = got.iter().map(|&(_, o)| 1u64 << o).sum();
    t.check_eq(
        free_pages(&a),
        before - used,
        "free pages after the allocations",
    );
    let Some(buddy) = a.buddy(0) else { return };
    for (i, &(off, order)) in got.iter().enumerate() {
        let b = block(off, order);
        t.check(
            off.ns() == 0 && off.offset() % (PAGE << order) == 0,
            "aligned to its size",
        );
        t.check(
            b.pgoff >= buddy.start() && b.pgoff + b.pages() <= buddy.end(),
            "inside",
        );
        t.check(!buddy.overlaps_free(b), "an allocated range is not free");
        for &(o2, ord2) in got.iter().skip(i + 1) {
            let c = block(o2, ord2);
            t.check(
                b.pgoff + b.pages() <= c.pgoff || c.pgoff + c.pages() <= b.pgoff,
                "disjoint",
            );
        }
    }
    for &(off, order) in got.iter() {
        t.check_eq(a.free_pages(off, order, &OWNER_A), Ok(()), "free");
    }
    t.check_eq(free_pages(&a), before, "every page is free again");
    // Buddies merged: the largest block fits again where it did before.
    let big = a
        .buddy(0)
        .map_or(0, |b| b.free_blocks().map(|b| b.order).max().unwrap_or(0));
    match a.alloc_pages(big, &OWNER_A) {
        Ok(off) => t.check_eq(a.free_pages(off, big, &OWNER_A), Ok(()), "free the largest"),
        Err(e) => t.check_eq(
            Err(e),
            Ok(NvmpgOffset::NONE),
            "the largest block is whole again",
        ),
    };
}

/// An owner cannot free another's range, and sees only its own records.
fn owner_isolation(t: &Test<'_>) {
    let Some(mut a) = register(t) else { return };
    let Ok(off) = a.alloc_pages(2, &OWNER_A) else {
        t.fail(format_args!("alloc for A"));
        return;
    };
    let before = free_pages(&a);
    t.check_eq(
        a.free_pages(off, 2, &OWNER_B),
        Err(Error::Invalid),
        "B frees A's range",
    );
    t.check_eq(
        a.free_pages(off, 1, &OWNER_A),
        Err(Error::Invalid),
        "A frees the wrong order",
    );
    t.check_eq(free_pages(&a), before, "refused frees change nothing");
    let mut seen = 0;
    let n = a.get_head(&OWNER_A, |o, order| {
        if o == off && order == 2 {
            seen += 1;
        }
    });
    t.check(n.is_ok() && seen == 1, "A's head lists its range");
    t.check_eq(
        a.get_head(&OWNER_B, |_, _| {}),
        Err(Error::NotFound),
        "B has no head",
    );
    t.check_eq(a.free_pages(off, 2, &OWNER_A), Ok(()), "A frees its range");
}

/// A request larger than any free block is `NoSpace` (-ENOSPC) and changes nothing.
fn no_space(t: &Test<'_>) {
    let Some(mut a) = register(t) else { return };
    let before = free_pages(&a);
    t.check_eq(
        a.alloc_pages(19, &OWNER_A),
        Err(Error::NoSpace),
        "order 19 on a small namespace",
    );
    t.check_eq(free_pages(&a), before, "nothing taken");
    t.check_eq(
        kernel::error::Error::from(Error::NoSpace),
        kernel::error::code::ENOSPC,
        "errno",
    );
    // Take every order-10 block, then one more fails the same way.
    let mut taken = KVec::new();
    while let Ok(off) = a.alloc_pages(10, &OWNER_A) {
        if taken.push(off, GFP_KERNEL).is_err() {
            break;
        }
    }
    t.check(!taken.is_empty(), "some order-10 blocks");
    let left = free_pages(&a);
    t.check(left < 1024, "less than one order-10 block left");
    t.check_eq(a.alloc_pages(10, &OWNER_A), Err(Error::NoSpace), "full");
    t.check_eq(free_pages(&a), left, "the refused alloc took nothing");
    for &off in taken.iter() {
        t.check_eq(a.free_pages(off, 10, &OWNER_A), Ok(()), "free");
    }
    t.check_eq(free_pages(&a), before, "all back");
}

/// Two boots: the first run allocates [`BOOT_ORDERS`] for [`OWNER_BOOT`] and leaves them; the
/// guest powers off, checks them from user space, and the next run (finding them) checks that
/// register made exactly those ranges busy and the rest free, then frees them.
fn two_boot(t: &Test<'_>) {
    let Some(mut a) = register(t) else { return };
    let Some(b) = a.buddy(0) else { return };
    let all = b.end() - b.start();
    let mut found = KVec::new();
    let have = a.get_head(&OWNER_BOOT, |off, order| {
        let _ = found.push((off, order), GFP_KERNEL);
    });
    if have.is_err() {
        for order in BOOT_ORDERS {
            t.check(a.alloc_pages(order, &OWNER_BOOT).is_ok(), "boot 1: alloc");
        }
        kernel::pr_info!("kunit two-boot: allocated the known set\n");
        return;
    }
    kernel::pr_info!(
        "kunit two-boot: found {} ranges after reboot\n",
        found.len()
    );
    let mut orders = [0u8; 4];
    t.check_eq(
        found.len(),
        BOOT_ORDERS.len(),
        "boot 2: as many ranges as allocated",
    );
    for (o, &(_, order)) in orders.iter_mut().zip(found.iter()) {
        *o = order;
    }
    crate::pure::sort::heapsort(&mut orders);
    t.check_eq(orders, BOOT_ORDERS, "boot 2: the same orders");
    let held: u64 = BOOT_ORDERS.iter().map(|&o| 1u64 << o).sum();
    t.check_eq(
        free_pages(&a),
        all - held,
        "boot 2: everything else is free",
    );
    for &(off, order) in found.iter() {
        t.check(
            a.buddy(0)
                .is_some_and(|b| !b.overlaps_free(block(off, order))),
            "boot 2: busy",
        );
        t.check_eq(
            a.free_pages(off, order, &OWNER_BOOT),
            Ok(()),
            "boot 2: free",
        );
    }
    t.check_eq(free_pages(&a), all, "boot 2: all free after freeing");
}

crate::kunit_case!(bch_nvm_kunit_alloc_free_merge, alloc_free_merge);
crate::kunit_case!(bch_nvm_kunit_owner_isolation, owner_isolation);
crate::kunit_case!(bch_nvm_kunit_no_space, no_space);
crate::kunit_case!(bch_nvm_kunit_two_boot, two_boot);

/// A pinned owner (a running cache set's journal) keeps the set from being unregistered.
fn pin_blocks_unregister(t: &Test<'_>) {
    use crate::registry::{MetaSet, Registry};
    use kernel::{error::code::*, str::CString};
    const OWNER_PIN: [u8; 16] = *b"kunit-pinned....";
    let (Ok(path), Ok(again)) = (
        CString::try_from_fmt(format_args!("/dev/pmem0")),
        CString::try_from_fmt(format_args!("/dev/pmem0")),
    ) else {
        return;
    };
    if !t.check(
        MetaSet::register(path).is_ok(),
        "register /dev/pmem0 in the module's registry",
    ) {
        return;
    }
    let r = Registry::with(|set| {
        let off = set.alloc.alloc_pages(0, &OWNER_PIN);
        t.check(off.is_ok(), "alloc for the pinned owner");
        t.check_eq(set.pin(&OWNER_B), Err(ENOENT), "pin an owner without pages");
        t.check_eq(set.pin(&OWNER_PIN), Ok(()), "pin");
        t.check_eq(set.pin(&OWNER_PIN), Ok(()), "pin twice");
        t.check_eq(
            set.unregister(&again).err(),
            Some(EBUSY),
            "unregister while pinned",
        );
        set.unpin(&OWNER_PIN);
        t.check_eq(
            set.unregister(&again).err(),
            Some(EBUSY),
            "still pinned once",
        );
        set.unpin(&OWNER_PIN);
        if let Ok(off) = off {
            t.check_eq(set.alloc.free_pages(off, 0, &OWNER_PIN), Ok(()), "free");
        }
        set.unregister(&again)
    });
    // The allocator comes back out of the lock and releases /dev/pmem0 when dropped here.
    t.check(matches!(r, Ok(Ok(_))), "unregister once unpinned");
}

crate::kunit_case!(bch_nvm_kunit_pin_blocks_unregister, pin_blocks_unregister);
