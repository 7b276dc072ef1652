//! Steady-state alloc+free: `live` allocations of 2^order pages (order 0..=4) held by a few
//! owners; one op frees a random live allocation and allocates a new one (random order and
//! owner) in its place. Both allocators replay the very same op sequence.

use std::time::Instant;

use bcache_nvm_core::crash::{HostVecs, XorShift};
use bcache_nvm_core::media::Media;
use bcache_nvm_core::nvmpg::alloc::Allocator;
use bcache_nvm_core::nvmpg::format::{write_formatted, NvmpgOffset, Sb, PAGE_SIZE};

use crate::mmap_media::MmapMedia;
use crate::pmdk::{PmemOid, Pool};

/// Orders drawn: `0..ORDERS`, i.e. 4 KiB to 64 KiB.
pub const ORDERS: u8 = 5;
/// Owners drawn (uuids of the nvm-pages heads, `type_num` for PMDK).
pub const OWNERS: u8 = 8;
/// Set uuid of the benchmark namespace (distinct from every owner's uuid).
const SET: [u8; 16] = [0xa5; 16];

/// One allocation request: `2^order` pages for `owner`.
#[derive(Debug, Clone, Copy)]
pub struct Req {
    pub order: u8,
    pub owner: u8,
}

/// One op: free the live allocation in `slot`, then allocate `req` into it.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    pub slot: u32,
    pub req: Req,
}

/// The deterministic workload: the initial live set and the ops of every round.
pub struct Workload {
    pub initial: Vec<Req>,
    pub rounds: Vec<Vec<Op>>,
}

impl Workload {
    pub fn new(seed: u64, live: usize, rounds: usize, ops: usize) -> Self {
        let mut rng = XorShift::new(seed);
        let req = |rng: &mut XorShift| Req {
            order: rng.below(ORDERS.into()) as u8,
            owner: rng.below(OWNERS.into()) as u8,
        };
        let initial = (0..live).map(|_| req(&mut rng)).collect();
        let rounds = (0..rounds)
            .map(|_| {
                (0..ops)
                    .map(|_| Op {
                        slot: rng.below(live as u64) as u32,
                        req: req(&mut rng),
                    })
                    .collect()
            })
            .collect();
        Workload { initial, rounds }
    }
}

/// An allocator under test.
pub trait Subject {
    type Handle: Copy;
    fn alloc(&mut self, req: Req) -> Self::Handle;
    fn free(&mut self, h: Self::Handle, req: Req);
}

/// A subject with its live set.
pub struct Live<S: Subject> {
    pub subject: S,
    live: Vec<(S::Handle, Req)>,
}

impl<S: Subject> Live<S> {
    /// Allocates the initial live set (not timed).
    pub fn fill(mut subject: S, initial: &[Req]) -> Self {
        let live = initial.iter().map(|&r| (subject.alloc(r), r)).collect();
        Live { subject, live }
    }

    /// Runs `ops`; returns ops per second.
    pub fn round(&mut self, ops: &[Op]) -> f64 {
        let t = Instant::now();
        for op in ops {
            let entry = &mut self.live[op.slot as usize];
            self.subject.free(entry.0, entry.1);
            *entry = (self.subject.alloc(op.req), op.req);
        }
        ops.len() as f64 / t.elapsed().as_secs_f64()
    }

    /// Any live handle (the set is never empty).
    pub fn any(&self) -> S::Handle {
        self.live[0].0
    }
}

fn owner_uuid(owner: u8) -> [u8; 16] {
    [owner + 1; 16]
}

/// The nvm-pages allocator over one namespace backed by [`MmapMedia`].
pub struct NvmPages(Allocator<MmapMedia, HostVecs>);

impl NvmPages {
    /// Formats `media` as the only namespace of a set and registers it.
    pub fn new(mut media: MmapMedia) -> Self {
        let pages = media.len() / u64::from(PAGE_SIZE);
        let sb = Sb::formatted([0x5a; 16], SET, 1, 0, pages);
        write_formatted(media.bytes_mut(), &sb).expect("format");
        let mut a = Allocator::new();
        a.register(media).expect("register");
        NvmPages(a)
    }
}

impl Subject for NvmPages {
    type Handle = NvmpgOffset;
    fn alloc(&mut self, r: Req) -> NvmpgOffset {
        self.0
            .alloc_pages(r.order, &owner_uuid(r.owner))
            .expect("nvm-pages alloc")
    }
    fn free(&mut self, h: NvmpgOffset, r: Req) {
        self.0
            .free_pages(h, r.order, &owner_uuid(r.owner))
            .expect("nvm-pages free")
    }
}

/// PMDK: `pmemobj_alloc` of the same number of bytes, `type_num` = owner.
impl Subject for Pool {
    type Handle = PmemOid;
    fn alloc(&mut self, r: Req) -> PmemOid {
        Pool::alloc(self, (PAGE_SIZE as usize) << r.order, r.owner.into()).expect("pmemobj_alloc")
    }
    fn free(&mut self, h: PmemOid, _: Req) {
        Pool::free(self, h)
    }
}
