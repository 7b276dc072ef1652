//! [`Media`] over a shared, file-backed mapping whose flush really writes cache lines back.
//!
//! The file lives on a tmpfs, so the "media" is DRAM: the instructions are the ones a DAX
//! mapping of an NVDIMM would run (`memcpy_flushcache` is approximated by a copy followed by
//! cache-line write-backs), but their cost is the cost on DRAM, not on persistent memory.

use std::arch::asm;
use std::arch::x86_64::{__cpuid_count, __get_cpuid_max, _mm_clflush, _mm_sfence};
use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use bcache_nvm_core::nvmpg::media::{Media, OutOfRange};
use memmap2::MmapMut;

#[cfg(not(target_arch = "x86_64"))]
compile_error!("the benchmark issues x86_64 cache-line write-backs");

const LINE: usize = 64;

/// The cache-line write-back instruction used by [`MmapMedia::flush`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// `clwb`: write back, the line may stay cached (what PMDK prefers too).
    Clwb,
    /// `clflushopt`: write back and evict, weakly ordered.
    Clflushopt,
    /// `clflush`: write back and evict, ordered with other stores.
    Clflush,
}

impl Flush {
    /// The best the CPU has: `clwb`, else `clflushopt`, else `clflush`. Read from CPUID leaf
    /// 7 (EBX bit 24 `clwb`, bit 23 `clflushopt`): `is_x86_feature_detected!` does not know
    /// these two on stable Rust.
    pub fn detect() -> Self {
        // CPUID exists on every x86_64 CPU; leaf 7 is read only if reported.
        let ebx = if __get_cpuid_max(0).0 >= 7 {
            __cpuid_count(7, 0).ebx
        } else {
            0
        };
        if ebx & (1 << 24) != 0 {
            Flush::Clwb
        } else if ebx & (1 << 23) != 0 {
            Flush::Clflushopt
        } else {
            Flush::Clflush
        }
    }

    /// The instruction's mnemonic.
    pub fn name(self) -> &'static str {
        match self {
            Flush::Clwb => "clwb",
            Flush::Clflushopt => "clflushopt",
            Flush::Clflush => "clflush",
        }
    }

    /// Writes back the cache line holding `p`.
    ///
    /// # Safety
    /// `p` must point into mapped memory, and the CPU must support the instruction
    /// ([`Flush::detect`] only returns supported ones).
    unsafe fn line(self, p: *const u8) {
        // No `nomem`: the asm is a compiler barrier, so earlier stores are emitted before it.
        match self {
            Flush::Clwb => asm!("clwb [{}]", in(reg) p, options(nostack, preserves_flags)),
            Flush::Clflushopt => {
                asm!("clflushopt [{}]", in(reg) p, options(nostack, preserves_flags))
            }
            Flush::Clflush => _mm_clflush(p),
        }
    }
}

/// A namespace backed by a shared mapping of a file.
pub struct MmapMedia {
    map: MmapMut,
    flush: Flush,
}

impl MmapMedia {
    /// Creates (or truncates) `path` as a sparse file of `len` bytes and maps it shared.
    pub fn create(path: &Path, len: u64, flush: Flush) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(len)?;
        // SAFETY: the file is private to this process for the benchmark's lifetime.
        let map = unsafe { MmapMut::map_mut(&file)? };
        Ok(MmapMedia { map, flush })
    }

    /// The mapped bytes (to format the namespace before registering it).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }

    fn range(&self, off: u64, len: usize) -> Result<std::ops::Range<usize>, OutOfRange> {
        let start = usize::try_from(off).map_err(|_| OutOfRange)?;
        let end = start.checked_add(len).ok_or(OutOfRange)?;
        if end > self.map.len() {
            return Err(OutOfRange);
        }
        Ok(start..end)
    }
}

impl Media for MmapMedia {
    fn len(&self) -> u64 {
        self.map.len() as u64
    }

    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        let r = self.range(off, dst.len())?;
        dst.copy_from_slice(&self.map[r]);
        Ok(())
    }

    fn store(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        let r = self.range(off, src.len())?;
        self.map[r].copy_from_slice(src);
        Ok(())
    }

    fn flush(&mut self, off: u64, len: u64) -> Result<(), OutOfRange> {
        let r = self.range(off, usize::try_from(len).map_err(|_| OutOfRange)?)?;
        let base = self.map.as_ptr();
        for line in (r.start & !(LINE - 1)..r.end).step_by(LINE) {
            // SAFETY: `line` is inside the mapping (r is), the instruction was detected.
            unsafe { self.flush.line(base.add(line)) };
        }
        Ok(())
    }

    fn fence(&mut self) {
        // SAFETY: sfence is SSE, which every x86_64 CPU has.
        unsafe { _mm_sfence() };
    }

    // store_flush: the trait's default, a copy followed by `flush`.
}
