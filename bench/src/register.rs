//! Register time against namespace size and record count.
//!
//! Register reads only the metadata area `[0, START)` (sb, set header, recs blocks), so a
//! namespace is modelled by [`MetaMedia`]: 16 MiB in memory, zeros beyond, any length. The
//! records are made by really allocating through the allocator on that media.

use std::time::Instant;

use bcache_nvm_core::crash::HostVecs;
use bcache_nvm_core::media::{Media, OutOfRange};
use bcache_nvm_core::nvmpg::alloc::Allocator;
use bcache_nvm_core::nvmpg::format::{write_formatted, Sb, FIRST_PAGE, PAGE_SIZE, START};

/// Owners the records are spread over (round robin).
const OWNERS: u8 = 4;
const SET: [u8; 16] = [0xc3; 16];

/// A synthetic namespace of any length: the metadata area in memory, zeros elsewhere;
/// stores past the metadata area are refused (register and alloc never make them).
#[derive(Clone)]
pub struct MetaMedia {
    meta: Vec<u8>,
    len: u64,
}

impl MetaMedia {
    /// A formatted namespace of `len` bytes, the only one of its set.
    pub fn formatted(len: u64) -> Self {
        let mut meta = vec![0; START as usize];
        let sb = Sb::formatted([0x3c; 16], SET, 1, 0, len / u64::from(PAGE_SIZE));
        write_formatted(&mut meta, &sb).expect("format");
        MetaMedia { meta, len }
    }
}

impl Media for MetaMedia {
    fn len(&self) -> u64 {
        self.len
    }
    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        let end = off.checked_add(dst.len() as u64).ok_or(OutOfRange)?;
        if end > self.len {
            return Err(OutOfRange);
        }
        let start = off.min(START) as usize;
        let split = (end.min(START) as usize) - start;
        let (meta, zeros) = dst.split_at_mut(split);
        meta.copy_from_slice(&self.meta[start..start + split]);
        zeros.fill(0);
        Ok(())
    }
    fn store(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        let start = usize::try_from(off).map_err(|_| OutOfRange)?;
        let dst = start
            .checked_add(src.len())
            .and_then(|end| self.meta.get_mut(start..end))
            .ok_or(OutOfRange)?;
        dst.copy_from_slice(src);
        Ok(())
    }
    fn flush(&mut self, _: u64, _: u64) -> Result<(), OutOfRange> {
        Ok(())
    }
    fn fence(&mut self) {}
}

type Alloc = Allocator<MetaMedia, HostVecs>;

/// A namespace of `len` bytes holding `records` order-0 allocations of [`OWNERS`] owners,
/// and the recs blocks in use.
pub fn image(len: u64, records: usize) -> (MetaMedia, usize) {
    let mut a = Alloc::new();
    a.register(MetaMedia::formatted(len)).expect("register");
    for i in 0..records {
        let owner = [(i % OWNERS as usize) as u8 + 1; 16];
        a.alloc_pages(0, &owner).expect("alloc");
    }
    let used = a.lists().blocks_used();
    (a.media(0).cloned().expect("namespace 0"), used)
}

/// Median seconds of `runs` registrations of `img` (each on a fresh copy; copy and drop of
/// the allocator are not timed). Checks the rebuilt buddy holds every record.
pub fn time(img: &MetaMedia, records: usize, runs: usize) -> f64 {
    let pages = img.len / u64::from(PAGE_SIZE) - FIRST_PAGE;
    let mut secs: Vec<f64> = (0..runs)
        .map(|_| {
            let m = img.clone();
            let t = Instant::now();
            let mut a = Alloc::new();
            a.register(m).expect("register");
            let dt = t.elapsed().as_secs_f64();
            assert_eq!(a.free_pages_total(), pages - records as u64);
            dt
        })
        .collect();
    crate::report::median(&mut secs)
}
