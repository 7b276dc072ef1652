//! Allocation lists on a formatted namespace 0: heads, chains, slots, load checks, repairs,
//! and "a full area changes nothing".

use bcache_nvm_core::crash::{format_namespace, HostMedia, HostVecs};
use bcache_nvm_core::media::Media;
use bcache_nvm_core::nvmpg::check::{check, RecordRef};
use bcache_nvm_core::nvmpg::error::Error;
use bcache_nvm_core::nvmpg::format::{
    FormatError, Head, NvmpgOffset, Rec, RecsHeader, SetHeader, FIRST_PAGE, RECLIST_HEAD_OFFSET,
    SYSRECS_BLOCKS,
};
use bcache_nvm_core::nvmpg::reclist::AllocLists;

const SET: [u8; 16] = [0x5e; 16];
const NS0_BYTES: usize = 17 << 20;

fn owner(i: u8) -> [u8; 16] {
    [i; 16]
}

fn rec(i: u64, ns: u8) -> Rec {
    Rec::new(FIRST_PAGE + i, 0, ns).expect("rec")
}

fn fresh() -> (HostMedia, AllocLists<HostVecs>) {
    let mut m = format_namespace(NS0_BYTES, SET, 2, 0).unwrap();
    let mut l = AllocLists::new();
    l.load(&mut m, 2).expect("load");
    (m, l)
}

fn reload(m: &mut HostMedia) -> AllocLists<HostVecs> {
    let mut l = AllocLists::new();
    l.load(m, 2).expect("reload");
    l
}

/// Every (head uuid, record) of the lists, sorted.
fn records(l: &AllocLists<HostVecs>, m: &HostMedia) -> Vec<([u8; 16], u64)> {
    let mut v = Vec::new();
    for ns in 0..2 {
        l.for_each_rec(m, None, ns, |h, _, r| {
            v.push((l.head_uuid(h).expect("alloc head"), r.0));
            Ok(())
        })
        .expect("walk");
    }
    v.sort();
    v
}

/// The offline checker's problems, ignoring records past `pages_total` (tiny test images).
fn problems(m: &HostMedia) -> Vec<FormatError> {
    let mut scratch = vec![RecordRef::default(); 4096];
    let mut out = Vec::new();
    let ns1 = format_namespace(NS0_BYTES, SET, 2, 1).unwrap();
    check(&[m, &ns1], &mut scratch, |p| out.push(p.error));
    out.retain(|e| !matches!(e, FormatError::RecordPastEnd { .. }));
    out
}

fn block_at(i: usize) -> u64 {
    RecsHeader::block_offset(i).expect("block")
}

#[test]
fn fresh_set_has_only_the_allocator_head() {
    let (m, l) = fresh();
    assert_eq!(l.heads_used(), 1);
    assert_eq!(l.head_capacity(), SetHeader::MAX_HEADS);
    assert_eq!(l.blocks_used(), 1, "heads[0] owns block 0");
    assert!(records(&l, &m).is_empty());
    assert_eq!(problems(&m), []);
}

#[test]
fn add_creates_head_and_chain_and_survives_reload() {
    let (mut m, mut l) = fresh();
    l.add(&mut m, &owner(1), rec(0, 0)).expect("add");
    l.add(&mut m, &owner(1), rec(1, 1)).expect("add ns 1");
    l.add(&mut m, &owner(2), rec(2, 0)).expect("add");
    assert_eq!(l.heads_used(), 3);
    assert_eq!(l.blocks_used(), 4, "sys + owner 1 (ns 0, ns 1) + owner 2");
    let want = vec![
        (owner(1), rec(0, 0).0),
        (owner(1), rec(1, 1).0),
        (owner(2), rec(2, 0).0),
    ];
    assert_eq!(records(&l, &m), want);
    let l2 = reload(&mut m);
    assert_eq!(records(&l2, &m), want);
    assert_eq!(l2.heads_used(), 3);
    assert_eq!(l2.blocks_used(), 4);
    assert_eq!(problems(&m), []);
}

#[test]
fn a_full_block_links_a_new_one_and_an_emptied_one_is_unlinked() {
    let (mut m, mut l) = fresh();
    let n = RecsHeader::MAX_RECS as u64;
    for i in 0..=n {
        l.add(&mut m, &owner(1), rec(i, 0)).expect("add");
    }
    assert_eq!(l.blocks_used(), 3);
    let l2 = reload(&mut m);
    assert_eq!(records(&l2, &m).len(), n as usize + 1);
    assert_eq!(problems(&m), []);
    // Removing the only record of the second block unlinks it.
    l.remove(&mut m, &owner(1), rec(n, 0)).expect("remove");
    assert_eq!(l.blocks_used(), 2);
    let l2 = reload(&mut m);
    assert_eq!(l2.blocks_used(), 2);
    assert_eq!(problems(&m), []);
    // The first block of a chain stays even when empty.
    for i in 0..n {
        l.remove(&mut m, &owner(1), rec(i, 0)).expect("remove");
    }
    assert_eq!(l.blocks_used(), 2);
    assert!(records(&reload(&mut m), &m).is_empty());
    // The freed slot is reused first.
    l.add(&mut m, &owner(1), rec(7, 0)).expect("add");
    let at = block_at(1) + RecsHeader::OFF_RECS as u64;
    let mut b = [0u8; 8];
    m.read(at, &mut b).expect("read");
    assert_eq!(
        u64::from_le_bytes(b),
        rec(7, 0).0,
        "record in slot 0 of block 1"
    );
}

#[test]
fn remove_of_a_record_not_held_changes_nothing() {
    let (mut m, mut l) = fresh();
    l.add(&mut m, &owner(1), rec(0, 0)).expect("add");
    l.add(&mut m, &owner(2), rec(1, 0)).expect("add");
    let before = m.bytes().to_vec();
    for (o, r) in [
        (owner(1), rec(1, 0)),                                // another owner's
        (owner(3), rec(0, 0)),                                // no such owner
        (owner(1), Rec::new(FIRST_PAGE, 1, 0).expect("rec")), // other order
        (owner(1), rec(0, 1)),                                // other namespace
        (owner(1), Rec::EMPTY),
    ] {
        assert_eq!(l.remove(&mut m, &o, r), Err(Error::Invalid), "{r:?}");
        assert!(m.bytes() == before.as_slice());
    }
}

#[test]
fn a_full_area_gives_nospace_and_stores_nothing() {
    let (mut m, mut l) = fresh();
    l.limit_blocks(3);
    l.add(&mut m, &owner(1), rec(0, 0)).expect("add");
    l.add(&mut m, &owner(2), rec(1, 0)).expect("add");
    let before = m.bytes().to_vec();
    assert_eq!(l.check_room(&owner(3), 0), Err(Error::NoSpace));
    assert_eq!(
        l.add(&mut m, &owner(3), rec(2, 0)),
        Err(Error::NoSpace),
        "new owner"
    );
    assert_eq!(
        l.add(&mut m, &owner(1), rec(2, 1)),
        Err(Error::NoSpace),
        "new chain"
    );
    assert!(m.bytes() == before.as_slice());
    assert_eq!(l.heads_used(), 3);
    // Room in an existing block is still usable.
    l.add(&mut m, &owner(1), rec(2, 0)).expect("add");
}

#[test]
fn a_full_header_gives_nospace_and_stores_nothing() {
    let (mut m, mut l) = fresh();
    for i in 1..SetHeader::MAX_HEADS {
        l.add(&mut m, &owner(i as u8), rec(i as u64, 0))
            .expect("add");
    }
    assert_eq!(l.heads_used(), SetHeader::MAX_HEADS);
    let before = m.bytes().to_vec();
    assert_eq!(l.add(&mut m, &owner(200), rec(0, 0)), Err(Error::NoSpace));
    assert!(m.bytes() == before.as_slice());
    assert_eq!(reload(&mut m).heads_used(), SetHeader::MAX_HEADS);
    assert_eq!(problems(&m), []);
}

#[test]
fn uses_every_block_of_the_area() {
    let (mut m, mut l) = fresh();
    l.add(&mut m, &owner(1), rec(0, 0)).expect("add");
    // Blocks 1 ..= last - 1 full and chained for owner 1, written directly.
    let per = RecsHeader::MAX_RECS;
    let last = SYSRECS_BLOCKS - 1;
    let head = SetHeader::head_nvmpg_offset(1).expect("head");
    let mut block = vec![0u8; RecsHeader::BLOCK_SIZE];
    let mut n = 0u64;
    for b in 1..last {
        let mut hdr = RecsHeader::empty(head, owner(1));
        hdr.used = per as u32;
        if b + 1 < last {
            hdr.next_offset = NvmpgOffset::new(0, block_at(b + 1)).expect("ptr");
        }
        hdr.encode(&mut block).expect("encode");
        for s in 0..per {
            let at = RecsHeader::rec_off(s).expect("slot");
            block[at..at + 8].copy_from_slice(&rec(n, 0).0.to_le_bytes());
            n += 1;
        }
        let at = block_at(b) as usize;
        m.bytes_mut()[at..at + block.len()].copy_from_slice(&block);
    }
    let mut l = reload(&mut m);
    assert_eq!(l.blocks_used(), last);
    // The last block of the area is linked and filled through the lists.
    for _ in 0..per {
        l.add(&mut m, &owner(1), rec(n, 0)).expect("add");
        n += 1;
    }
    assert_eq!(l.blocks_used(), SYSRECS_BLOCKS);
    let before = m.bytes().to_vec();
    assert_eq!(l.add(&mut m, &owner(1), rec(n, 0)), Err(Error::NoSpace));
    assert_eq!(l.add(&mut m, &owner(2), rec(n, 0)), Err(Error::NoSpace));
    assert!(m.bytes() == before.as_slice());
    let l2 = reload(&mut m);
    assert_eq!(l2.blocks_used(), SYSRECS_BLOCKS);
    assert_eq!(records(&l2, &m).len(), (SYSRECS_BLOCKS - 1) * per);
    // A hole anywhere is found again.
    l.remove(&mut m, &owner(1), rec(5000, 0)).expect("remove");
    l.add(&mut m, &owner(1), rec(n, 0))
        .expect("add into the hole");
}

#[test]
fn load_recounts_used_and_rewrites_it() {
    let (mut m, mut l) = fresh();
    for i in 0..5 {
        l.add(&mut m, &owner(1), rec(i, 0)).expect("add");
    }
    // A crash between the slot and the `used` store: used says 3.
    let used_at = block_at(1) + RecsHeader::OFF_USED as u64;
    m.store(used_at, &3u32.to_le_bytes()).expect("store");
    assert!(!problems(&m).is_empty(), "the checker sees the stale hint");
    let l2 = reload(&mut m);
    assert_eq!(records(&l2, &m).len(), 5);
    assert_eq!(problems(&m), [], "load rewrote used");
}

#[test]
fn an_unlinked_written_block_is_reused_and_cleared() {
    let (mut m, _) = fresh();
    // A crashed "new block": block 1 fully written for owner 9 with records, never linked.
    let head = SetHeader::head_nvmpg_offset(1).expect("head");
    let mut hdr = RecsHeader::empty(head, owner(9));
    hdr.used = 3;
    let mut b = [0u8; RecsHeader::SIZE];
    hdr.encode(&mut b).expect("encode");
    m.store(block_at(1), &b).expect("store");
    for s in 0..3 {
        let at = block_at(1) + RecsHeader::rec_off(100 + s).expect("slot") as u64;
        m.store(at, &rec(50 + s as u64, 0).0.to_le_bytes())
            .expect("store");
    }
    let mut l2 = reload(&mut m);
    assert_eq!(l2.blocks_used(), 1, "block 1 is free: unreachable");
    l2.add(&mut m, &owner(1), rec(0, 0)).expect("add");
    let l3 = reload(&mut m);
    assert_eq!(
        records(&l3, &m),
        vec![(owner(1), rec(0, 0).0)],
        "stale slots were cleared"
    );
    assert_eq!(problems(&m), []);
}

#[test]
fn a_free_head_below_used_is_reused() {
    let (mut m, mut l) = fresh();
    l.add(&mut m, &owner(1), rec(0, 0)).expect("add");
    // A crashed new head: FREE head 2 below used, half written.
    let at = RECLIST_HEAD_OFFSET + SetHeader::head_off(2).expect("head") as u64;
    let half = Head {
        uuid: owner(7),
        ..Head::default()
    };
    let mut b = [0u8; Head::SIZE];
    half.encode(&mut b).expect("encode");
    m.store(at, &b).expect("store");
    m.store(
        RECLIST_HEAD_OFFSET + SetHeader::OFF_USED as u64,
        &3u32.to_le_bytes(),
    )
    .expect("used");
    let mut l2 = reload(&mut m);
    assert_eq!(l2.heads_used(), 3);
    assert_eq!(l2.find_head(&owner(7)), None, "FREE heads are no owner");
    l2.add(&mut m, &owner(2), rec(1, 0)).expect("add");
    assert_eq!(l2.find_head(&owner(2)), Some(2));
    assert_eq!(l2.heads_used(), 3, "reused, not appended");
    assert_eq!(reload(&mut m).find_head(&owner(2)), Some(2));
    assert_eq!(problems(&m), []);
}

/// Loads `m` after `corrupt` and returns the error.
fn load_err(corrupt: impl FnOnce(&mut HostMedia)) -> Error {
    let (mut m, mut l) = fresh();
    for i in 0..4 {
        l.add(&mut m, &owner(1), rec(i, 0)).expect("add");
    }
    l.add(&mut m, &owner(2), rec(9, 1)).expect("add");
    corrupt(&mut m);
    let mut l2: AllocLists<HostVecs> = AllocLists::new();
    let e = l2.load(&mut m, 2).expect_err("corrupt image loads");
    assert!(!l2.is_loaded());
    e
}

fn put(m: &mut HostMedia, at: u64, bytes: &[u8]) {
    m.bytes_mut()[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
}

fn head_field(h: usize, off: usize) -> u64 {
    RECLIST_HEAD_OFFSET + (SetHeader::head_off(h).expect("head") + off) as u64
}

/// What a corruption is, how to make it, and which error it must give.
type Case = (
    &'static str,
    Box<dyn FnOnce(&mut HostMedia)>,
    fn(&Error) -> bool,
);

#[test]
fn load_rejects_corruption() {
    let b1 = block_at(1);
    let slot0 = b1 + RecsHeader::OFF_RECS as u64;
    let ptr = |i| {
        NvmpgOffset::new(0, block_at(i))
            .expect("ptr")
            .0
            .to_le_bytes()
    };
    let cases: Vec<Case> = vec![
        ("magic", Box::new(move |m| put(m, b1 + 16, &[0; 4])), |e| {
            matches!(e, Error::Corrupt(FormatError::BadMagic { .. }))
        }),
        ("uuid", Box::new(move |m| put(m, b1 + 32, &[7; 16])), |e| {
            matches!(e, Error::Corrupt(FormatError::UuidMismatch { .. }))
        }),
        (
            "head_offset",
            Box::new(move |m| put(m, b1, &1u64.to_le_bytes())),
            |e| matches!(e, Error::Corrupt(FormatError::HeadOffsetMismatch { .. })),
        ),
        ("cycle", Box::new(move |m| put(m, b1 + 8, &ptr(1))), |e| {
            matches!(e, Error::Corrupt(FormatError::ChainCycle { .. }))
        }),
        (
            "shared",
            Box::new(move |m| put(m, head_field(2, Head::OFF_RECS_OFFSET + 8), &ptr(1))),
            |e| matches!(e, Error::Corrupt(FormatError::RecsShared { .. })),
        ),
        (
            "outside area",
            Box::new(move |m| put(m, b1 + 8, &(16u64 << 20).to_le_bytes())),
            |e| matches!(e, Error::Corrupt(FormatError::OffsetOutOfRange { .. })),
        ),
        (
            "misaligned link",
            Box::new(move |m| put(m, b1 + 8, &(b1 + 8).to_le_bytes())),
            |e| matches!(e, Error::Corrupt(FormatError::OffsetMisaligned { .. })),
        ),
        (
            "order",
            Box::new(move |m| put(m, slot0, &(FIRST_PAGE | 20 << 52).to_le_bytes())),
            |e| matches!(e, Error::Corrupt(FormatError::RecordBadOrder { .. })),
        ),
        (
            "ns",
            Box::new(move |m| put(m, slot0, &rec(0, 1).0.to_le_bytes())),
            |e| matches!(e, Error::Corrupt(FormatError::RecordBadNs { .. })),
        ),
        (
            "reserved",
            Box::new(move |m| put(m, slot0, &(rec(0, 0).0 | 1 << 62).to_le_bytes())),
            |e| matches!(e, Error::Corrupt(FormatError::RecordReservedBits { .. })),
        ),
        (
            "misaligned rec",
            Box::new(move |m| put(m, slot0, &((FIRST_PAGE + 1) | 1 << 52).to_le_bytes())),
            |e| matches!(e, Error::Corrupt(FormatError::RecordMisaligned { .. })),
        ),
        (
            "recs size",
            Box::new(move |m| put(m, b1 + 48, &5u32.to_le_bytes())),
            |e| matches!(e, Error::Corrupt(FormatError::BadValue { .. })),
        ),
        (
            "recs used",
            Box::new(move |m| put(m, b1 + 52, &5000u32.to_le_bytes())),
            |e| matches!(e, Error::Corrupt(FormatError::TooLarge { .. })),
        ),
        (
            "header used",
            Box::new(|m| put(m, RECLIST_HEAD_OFFSET + 4, &68u32.to_le_bytes())),
            |e| matches!(e, Error::Corrupt(FormatError::TooLarge { .. })),
        ),
        (
            "head state",
            Box::new(|m| put(m, head_field(1, Head::OFF_STATE), &7u32.to_le_bytes())),
            |e| matches!(e, Error::Corrupt(FormatError::BadHeadState { .. })),
        ),
        (
            "chain of a missing ns",
            Box::new(move |m| put(m, head_field(1, Head::OFF_RECS_OFFSET + 16), &ptr(5))),
            |e| matches!(e, Error::Corrupt(FormatError::BadValue { .. })),
        ),
    ];
    for (what, corrupt, ok) in cases {
        let e = load_err(corrupt);
        assert!(ok(&e), "{what}: {e:?}");
    }
}
