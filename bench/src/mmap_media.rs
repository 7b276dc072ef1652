//! [`Media`] over a shared, file-backed mapping whose flush really writes cache lines back.
//!
//! The file lives on a tmpfs, so the "media" is DRAM: the instructions are the ones a DAX
//! mapping of an NVDIMM would run, but their cost is the cost on DRAM, not on persistent
//! memory. `store_flush` (`memcpy_flushcache`) is by default a copy followed by cache-line
//! write-backs; [`MmapMedia::with_nt_store_flush`] switches it to non-temporal stores, as the
//! kernel's x86_64 `__memcpy_flushcache` does ([`nt_copy`]).

use std::arch::asm;
use std::arch::x86_64::{
    __cpuid_count, __get_cpuid_max, __m128i, _mm_clflush, _mm_loadu_si128, _mm_sfence,
    _mm_stream_si128, _mm_stream_si64,
};
use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use bcache_nvm_core::media::{Media, OutOfRange};
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
    /// `store_flush` = [`nt_copy`] (+ write-back of its cached head/tail) instead of the
    /// trait default (copy + write-back of every line).
    nt: bool,
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
        Ok(MmapMedia {
            map,
            flush,
            nt: false,
        })
    }

    /// Makes `store_flush` use non-temporal stores ([`nt_copy`]), like `memcpy_flushcache`.
    pub fn with_nt_store_flush(mut self) -> Self {
        self.nt = true;
        self
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

    fn store_flush(&mut self, off: u64, src: &[u8]) -> Result<(), OutOfRange> {
        if !self.nt {
            self.store(off, src)?;
            return self.flush(off, src.len() as u64);
        }
        let r = self.range(off, src.len())?;
        let (head, tail) = nt_copy(&mut self.map[r], src);
        // The bytes stored through the cache still need their lines written back.
        if head > 0 {
            self.flush(off, head as u64)?;
        }
        if tail > 0 {
            self.flush(off + (src.len() - tail) as u64, tail as u64)?;
        }
        Ok(())
    }
}

/// Copies `src` into `dst` (same length) with non-temporal stores where alignment allows:
/// `movntdq` (`_mm_stream_si128`) for the 16-byte aligned body, one `movnti`
/// (`_mm_stream_si64`) for a remaining 8-byte word, plain stores for the unaligned head (up
/// to 15 bytes) and tail (up to 7). Returns the byte counts of that head and tail, which sit
/// in the cache and need a write-back to be durable. The non-temporal stores are weakly
/// ordered: they need an `sfence` before anything may depend on them.
pub fn nt_copy(dst: &mut [u8], src: &[u8]) -> (usize, usize) {
    assert_eq!(dst.len(), src.len(), "nt_copy: lengths differ");
    let len = dst.len();
    let head = (dst.as_ptr().align_offset(16)).min(len);
    dst[..head].copy_from_slice(&src[..head]);
    let body = (len - head) & !15;
    let mut rest = len - head - body;
    let (d, s) = (dst[head..].as_mut_ptr(), src[head..].as_ptr());
    // SAFETY: `d` is 16-byte aligned (after `head`), every access stays inside the
    // `len - head` bytes of both slices, SSE2 is part of x86_64; unaligned loads from `s`.
    unsafe {
        for i in (0..body).step_by(16) {
            let v = _mm_loadu_si128(s.add(i).cast::<__m128i>());
            _mm_stream_si128(d.add(i).cast::<__m128i>(), v);
        }
        if rest >= 8 {
            let w = s.add(body).cast::<i64>().read_unaligned();
            _mm_stream_si64(d.add(body).cast::<i64>(), w);
            rest -= 8;
        }
    }
    dst[len - rest..].copy_from_slice(&src[len - rest..]);
    (head, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `nt_copy` copies every byte for all head/tail alignments, and reports the plain parts.
    #[test]
    fn nt_copy_all_alignments() {
        let src: Vec<u8> = (0..200u8).collect();
        let mut buf = vec![0u8; 256];
        for start in 0..16 {
            for len in 0..100 {
                buf.fill(0xff);
                let (head, tail) = nt_copy(&mut buf[start..start + len], &src[..len]);
                assert_eq!(&buf[start..start + len], &src[..len]);
                assert!(buf[..start]
                    .iter()
                    .chain(&buf[start + len..])
                    .all(|&b| b == 0xff));
                let addr = buf[start..].as_ptr() as usize;
                assert_eq!(head, ((16 - addr % 16) % 16).min(len));
                assert!(tail < 8 && head + tail <= len);
            }
        }
    }
}
