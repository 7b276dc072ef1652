//! jset persist bandwidth (issue 6): GB/s of making jsets durable on a tmpfs-backed mapping.
//!
//! Three ways of writing the same sealed jset, sequentially through a journal area of
//! [`BUCKETS`] buckets of [`BUCKET`] bytes (jset after jset, bucket after bucket, wrapping):
//!
//! - [`Variant::Persist`]: `journal::write::write_jset` through [`MmapMedia`] with the
//!   non-temporal `store_flush` (`memcpy_flushcache`), then its `sfence` — for jsets above
//!   `JSET_MAX_BYTES`, which `write_jset` refuses, the same `store_flush` + `fence` calls;
//! - [`Variant::Baseline`]: [`nt_copy`] of the bytes straight into the mapping, no range
//!   checks, no fence per jset (one `sfence` ends the round): the memory-bandwidth limit;
//! - [`Variant::Clwb`]: plain copy (`Media::store`) + `clwb` per line (`Media::flush`) +
//!   `sfence` (`Media::fence`), the trait's default `store_flush`.

use std::error::Error;
use std::fs;
use std::path::Path;
use std::time::Instant;

use bcache_nvm_core::journal::geometry::Geometry;
use bcache_nvm_core::journal::jset::{jset_magic, seal, JsetHeader, JSET_MAX_BYTES, JSET_VERSION};
use bcache_nvm_core::journal::write::write_jset;
use bcache_nvm_core::media::Media;
use bcache_nvm_core::nvmpg::format::NvmpgOffset;

use crate::mmap_media::{nt_copy, Flush, MmapMedia};
use crate::report::{table, Plot, Summary};

/// jset sizes in bytes.
pub const SIZES: [usize; 5] = [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20];
/// Journal bucket size (a 2 MiB bcache bucket) and block size.
const BUCKET: u64 = 2 << 20;
const BLOCK: u64 = 4 << 10;
/// Buckets of the journal area: 64 MiB, well past the last-level cache.
const BUCKETS: u64 = 32;

/// One way of persisting a jset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Persist,
    Baseline,
    Clwb,
}

impl Variant {
    /// Alternation order within a round.
    pub const ALL: [Variant; 3] = [Variant::Persist, Variant::Baseline, Variant::Clwb];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Persist => "write_jset (NT + sfence)",
            Variant::Baseline => "NT memcpy (baseline)",
            Variant::Clwb => "memcpy + clwb + sfence",
        }
    }
}

/// A sealed jset of exactly `bytes` bytes (`bytes - 240` a multiple of 8) with
/// pseudo-random keys.
pub fn sealed_jset(bytes: usize) -> Vec<u8> {
    let keys = (bytes - JsetHeader::SIZE) / 8;
    let mut buf = vec![0u8; bytes];
    let header = JsetHeader {
        magic: jset_magic(0x5eed_5eed_5eed_5eed),
        seq: 1,
        version: JSET_VERSION,
        keys: keys as u32,
        last_seq: 1,
        ..JsetHeader::default()
    };
    header.encode(&mut buf).expect("header fits");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for w in buf[JsetHeader::SIZE..].chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w.copy_from_slice(&x.to_le_bytes());
    }
    seal(&mut buf).expect("sealable");
    buf
}

/// The journal area: one namespace mapping holding [`BUCKETS`] buckets from offset 0.
pub struct Journal {
    media: MmapMedia,
    geo: Geometry,
}

impl Journal {
    /// Maps a fresh file at `path` (non-temporal `store_flush`, `flush` by `flush`).
    pub fn create(path: &Path, flush: Flush) -> Result<Self, Box<dyn Error>> {
        let media = MmapMedia::create(path, BUCKET * BUCKETS, flush)?.with_nt_store_flush();
        let geo = Geometry::new(BUCKET, BLOCK).map_err(|e| format!("{e}"))?;
        Ok(Journal { media, geo })
    }

    /// Writes `total` bytes as copies of `jset` with `v`, from the start of the area; GB/s.
    pub fn round(&mut self, v: Variant, jset: &[u8], total: u64) -> Result<f64, Box<dyn Error>> {
        let len = jset.len() as u64;
        let per_bucket = BUCKET / len;
        let small = len <= JSET_MAX_BYTES;
        let t = Instant::now();
        for i in 0..total / len {
            let bucket = (i / per_bucket) % BUCKETS * BUCKET;
            let offset = i % per_bucket * len;
            let at = bucket + offset;
            let m = &mut self.media;
            match v {
                Variant::Persist if small => {
                    let b = NvmpgOffset::new(0, bucket).ok_or("bucket offset")?;
                    write_jset(m, &self.geo, b, offset, jset).map_err(|e| format!("{e}"))?;
                }
                Variant::Persist => {
                    m.store_flush(at, jset).map_err(|e| format!("{e:?}"))?;
                    m.fence();
                }
                Variant::Baseline => {
                    let _ = nt_copy(&mut m.bytes_mut()[at as usize..(at + len) as usize], jset);
                }
                Variant::Clwb => {
                    m.store(at, jset).map_err(|e| format!("{e:?}"))?;
                    m.flush(at, len).map_err(|e| format!("{e:?}"))?;
                    m.fence();
                }
            }
        }
        self.media.fence(); // the baseline's stores are complete too when the clock stops
        Ok((total / len * len) as f64 / t.elapsed().as_secs_f64() / 1e9)
    }
}

/// GB/s per round, `[size][variant][round]`.
type Rates = Vec<[Vec<f64>; 3]>;

/// Runs the comparison (one untimed warm-up round per variant and size, then `rounds` timed
/// rounds alternating the variants) and writes `jset_persist.md` / `.png` into `out`.
pub fn run(
    rounds: usize,
    total: u64,
    tmp: &Path,
    machine: &str,
    run_name: &str,
    out: &Path,
    plots: bool,
) -> Result<(), Box<dyn Error>> {
    let flush = Flush::detect();
    let path = tmp.join("journal");
    let mut j = Journal::create(&path, flush)?;
    let mut rates: Rates = Vec::new();
    for &size in &SIZES {
        let jset = sealed_jset(size);
        let mut r: [Vec<f64>; 3] = Default::default();
        for v in Variant::ALL {
            j.round(v, &jset, total)?; // warm-up: faults the area in, settles clocks
        }
        for _ in 0..rounds {
            for (k, v) in Variant::ALL.into_iter().enumerate() {
                r[k].push(j.round(v, &jset, total)?);
            }
        }
        let med = r.clone().map(|x| Summary::of(&x).median);
        println!(
            "jset {} KiB: {:.2} / {:.2} / {:.2} GB/s (persist / NT baseline / clwb)",
            size >> 10,
            med[0],
            med[1],
            med[2]
        );
        rates.push(r);
    }
    drop(j);
    fs::remove_file(&path)?;
    report(&rates, rounds, total, flush, machine, run_name, out, plots)
}

#[allow(clippy::too_many_arguments)]
fn report(
    rates: &Rates,
    rounds: usize,
    total: u64,
    flush: Flush,
    machine: &str,
    run_name: &str,
    out: &Path,
    plots: bool,
) -> Result<(), Box<dyn Error>> {
    let kib = |s: usize| match s >> 10 {
        k if k >= 1024 => format!("{} MiB", k >> 10),
        k => format!("{k} KiB"),
    };
    let f2 = |x: f64| format!("{x:.2}");
    let rows: Vec<Vec<String>> = SIZES
        .iter()
        .zip(rates)
        .map(|(&size, r)| {
            let s = r.clone().map(|x| Summary::of(&x));
            let path = if size as u64 <= JSET_MAX_BYTES {
                "write_jset"
            } else {
                "store_flush+fence"
            };
            let mut row = vec![kib(size), path.into()];
            for x in &s {
                row.extend([x.min, x.median, x.max].map(f2));
            }
            row.push(format!("**{:.2}**", s[0].median / s[1].median));
            row.push(f2(s[2].median / s[1].median));
            // µs per jset at the median persist rate, and its excess over the baseline.
            let us = |gbs: f64| size as f64 / gbs / 1e3;
            row.push(format!("{:.2}", us(s[0].median)));
            row.push(format!("{:.3}", us(s[0].median) - us(s[1].median)));
            row
        })
        .collect();
    let header = [
        "jset",
        "persist path",
        "persist min",
        "median",
        "max",
        "NT baseline min",
        "median",
        "max",
        "clwb min",
        "median",
        "max",
        "persist / baseline",
        "clwb / baseline",
        "persist µs/jset",
        "excess µs/jset",
    ];
    let mut per_round = String::new();
    for (&size, r) in SIZES.iter().zip(rates) {
        let rows: Vec<Vec<String>> = (0..rounds)
            .map(|i| {
                let mut row = vec![(i + 1).to_string()];
                row.extend(r.iter().map(|v| f2(v[i])));
                row
            })
            .collect();
        per_round += &format!("\n{}:\n\n", kib(size));
        per_round += &table(&["round", "persist", "NT baseline", "clwb"], &rows);
    }
    let fl = flush.name();
    let md = format!(
        "# jset persist bandwidth: write_jset vs non-temporal memcpy vs memcpy + {fl}\n\n\
         Run: `{run_name}`. {machine}\n\n\
         GB/s (10^9 bytes/s) of writing a sealed jset again and again, sequentially through a \
         journal area of {buckets} buckets of {bucket} MiB ({area} MiB, past the last-level \
         cache) on a shared mmap of a tmpfs file (`/dev/shm`: DRAM, not persistent memory). \
         Per size: one untimed warm-up round per variant, then {rounds} timed rounds of \
         {mib} MiB each, alternating persist / baseline / clwb. The source jset is one \
         buffer, hot in the cache. Real jsets are at most {max} KiB (`JSET_BITS`); the larger \
         sizes only show the trend, and `write_jset` refuses them, so they run its two calls \
         (`store_flush` + `fence`) directly.\n\n\
         - **persist**: `write_jset` through `MmapMedia` with a non-temporal `store_flush`, \
         like the kernel's `memcpy_flushcache`: `movntdq` (`_mm_stream_si128`) per 16 bytes, \
         plain stores + `{fl}` only for an unaligned head/tail (none here), then `sfence` \
         per jset.\n\
         - **NT baseline**: the same non-temporal copy straight into the mapping, without \
         the media's range checks and without a fence per jset (one `sfence` at the end of \
         the round): the memory-bandwidth limit.\n\
         - **clwb**: `Media::store` (plain copy) + `Media::flush` (`{fl}` per 64-byte line) + \
         `Media::fence` (`sfence`): the trait's default `store_flush`. The plain copy first \
         reads every destination line into the cache (read for ownership).\n\n\
         min/median/max GB/s over the rounds; ratios of medians; the last two columns are \
         the time to persist one jset at the median persist rate and how much longer that is \
         than the same bytes at the median baseline rate (the fixed cost of the per-jset \
         fence and bookkeeping).\n\n{t}\n\
         Per round (GB/s):\n{per_round}",
        buckets = BUCKETS,
        bucket = BUCKET >> 20,
        area = (BUCKET * BUCKETS) >> 20,
        mib = total >> 20,
        max = JSET_MAX_BYTES >> 10,
        t = table(&header, &rows),
    );
    println!("\n{md}");
    fs::write(out.join("jset_persist.md"), &md)?;
    if plots {
        let series = Variant::ALL
            .iter()
            .enumerate()
            .map(|(k, v)| {
                let pts = SIZES
                    .iter()
                    .zip(rates)
                    .map(|(&s, r)| ((s as f64).log2(), Summary::of(&r[k]).median));
                (v.name().replace("clwb", fl), pts.collect())
            })
            .collect();
        Plot {
            title: "jset persist bandwidth, median of rounds (higher is better)",
            x_desc: "jset size",
            y_desc: "GB/s",
            x_labels: SIZES.len(),
            y_zero: true,
            x_fmt: &|x| kib(x.exp2().round() as usize),
            y_fmt: &|y| format!("{y:.1}"),
            series,
        }
        .draw(&out.join("jset_persist.png"))?;
    }
    Ok(())
}
