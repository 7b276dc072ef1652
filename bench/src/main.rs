//! Host benchmarks of issues 4 and 6:
//! `cargo run --release -p bench -- [--quick] [alloc_free] [register] [jset_persist]`
//! (no name: all three).
//!
//! 1. alloc+free ops/s of the nvm-pages allocator on a tmpfs-backed mapping with real
//!    cache-line write-backs, against PMDK `pmemobj_alloc`/`pmemobj_free` on a pool in the
//!    same tmpfs, in alternating rounds;
//! 2. `Allocator::register` time against namespace size and record count;
//! 3. jset persist bandwidth: `write_jset` with non-temporal stores against a plain
//!    non-temporal copy and against copy + `clwb` ([`jset_persist`]).
//!
//! Writes `results/*.md` and `results/*.png` next to this crate's manifest. See README.md.

mod alloc_free;
mod jset_persist;
mod mmap_media;
mod pmdk;
mod register;
mod report;

use std::error::Error;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use alloc_free::{Live, NvmPages, Workload, ORDERS, OWNERS};
use mmap_media::{Flush, MmapMedia};
use report::{grouped, median, table, Plot, Summary};

/// Sizes of one run.
struct Config {
    name: &'static str,
    /// Live allocation counts in steady state, one alloc+free comparison each.
    live: &'static [usize],
    /// Ops (one free + one alloc) per round.
    ops: usize,
    /// Rounds per allocator (alternating A/B/A/B...).
    rounds: usize,
    /// Registrations per (size, records) point.
    reg_runs: usize,
    /// Bytes written per jset persist round (rounds: `rounds`).
    jset_bytes: u64,
}

const FULL: Config = Config {
    name: "full",
    live: &[1_000, 10_000, 50_000],
    ops: 200_000,
    rounds: 7,
    reg_runs: 9,
    jset_bytes: 256 << 20,
};
const QUICK: Config = Config {
    name: "quick",
    live: &[1_000, 4_000],
    ops: 10_000,
    rounds: 5,
    reg_runs: 3,
    jset_bytes: 64 << 20,
};

/// Bytes of the benchmark namespace and of the PMDK pool (sparse / fallocated in tmpfs).
const ARENA: u64 = 4 << 30;
const GIB: u64 = 1 << 30;
/// Register: namespace sizes (GiB) and record counts.
const NS_GIB: [u64; 6] = [1, 4, 16, 64, 256, 1024];
const RECORDS: [usize; 3] = [0, 1 << 10, 64 << 10];

fn main() -> Result<(), Box<dyn Error>> {
    // libpmem must see PMEM_IS_PMEM_FORCE=1 from the start: re-exec with it if missing.
    if std::env::var_os("PMEM_IS_PMEM_FORCE").is_none_or(|v| v != "1") {
        let err = Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .env("PMEM_IS_PMEM_FORCE", "1")
            .exec();
        return Err(err.into());
    }
    const NAMES: [&str; 3] = ["alloc_free", "register", "jset_persist"];
    let mut cfg = &FULL;
    let mut only = Vec::new();
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--quick" => cfg = &QUICK,
            n if NAMES.contains(&n) => only.push(n.to_string()),
            _ => {
                let usage = "bench [--quick] [alloc_free] [register] [jset_persist]";
                return Err(format!("usage: {usage} (unknown argument {a})").into());
            }
        }
    }
    let run = |name: &str| only.is_empty() || only.iter().any(|n| n == name);
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    fs::create_dir_all(&out)?;
    let plots = report::load_font();
    let machine = machine();
    println!("{machine}");

    let tmp = PathBuf::from(std::env::var("BENCH_TMPFS").unwrap_or("/dev/shm".into()))
        .join(format!("bcache-nvm-bench-{}", std::process::id()));
    fs::create_dir_all(&tmp)?;
    let tmp_runs = || -> Result<(), Box<dyn Error>> {
        if run("alloc_free") {
            alloc_free(cfg, &tmp, &machine, &out, plots)?;
        }
        if run("jset_persist") {
            let (r, b) = (cfg.rounds, cfg.jset_bytes);
            jset_persist::run(r, b, &tmp, &machine, cfg.name, &out, plots)?;
        }
        Ok(())
    };
    let res = tmp_runs();
    let _ = fs::remove_dir_all(&tmp);
    res?;
    if run("register") {
        register(cfg, &machine, &out, plots)?;
    }
    println!("results in {}", out.display());
    Ok(())
}

/// CPU model and core count, for the reports.
fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("Machine: {cpu}, {cores} cores available (shared host; results are noisy).")
}

/// Per-round ops/s of both allocators at one live count, and whether libpmem took the pool
/// for pmem. Fresh namespace and pool, removed afterwards.
fn alloc_free_point(
    cfg: &Config,
    live: usize,
    tmp: &Path,
    flush: Flush,
) -> Result<Point, Box<dyn Error>> {
    // One more round than timed: the first warms both up (tmpfs page faults, caches).
    let w = Workload::new(live as u64, live, cfg.rounds + 1, cfg.ops);
    let (ns, pool) = (tmp.join("nvmpg-ns0"), tmp.join("pmemobj.pool"));
    let media = MmapMedia::create(&ns, ARENA, flush)?;
    let mut ours = Live::fill(NvmPages::new(media), &w.initial);
    let mut pmdk = Live::fill(pmdk::Pool::create(&pool, ARENA as usize)?, &w.initial);
    let is_pmem = pmdk.subject.is_pmem(pmdk.any(), 4096);
    let (warm_up, timed) = w.rounds.split_first().ok_or("no rounds")?;
    ours.round(warm_up);
    pmdk.round(warm_up);
    let mut p = Point {
        live,
        ours: Vec::new(),
        pmdk: Vec::new(),
        is_pmem,
    };
    for (r, ops) in timed.iter().enumerate() {
        p.ours.push(ours.round(ops));
        p.pmdk.push(pmdk.round(ops));
        println!(
            "live {live}, round {}: nvm-pages {} ops/s, PMDK {} ops/s",
            r + 1,
            grouped(p.ours[r]),
            grouped(p.pmdk[r])
        );
    }
    drop((ours, pmdk));
    fs::remove_file(ns)?;
    fs::remove_file(pool)?;
    Ok(p)
}

/// Results at one live count.
struct Point {
    live: usize,
    ours: Vec<f64>,
    pmdk: Vec<f64>,
    is_pmem: bool,
}

fn alloc_free(
    cfg: &Config,
    tmp: &Path,
    machine: &str,
    out: &Path,
    plots: bool,
) -> Result<(), Box<dyn Error>> {
    let flush = Flush::detect();
    let points = cfg
        .live
        .iter()
        .map(|&live| alloc_free_point(cfg, live, tmp, flush))
        .collect::<Result<Vec<_>, _>>()?;
    let is_pmem = points.iter().all(|p| p.is_pmem);

    let summary: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            let (a, b) = (Summary::of(&p.ours), Summary::of(&p.pmdk));
            let mut row = vec![p.live.to_string()];
            row.extend([a.min, a.median, a.max, b.min, b.median, b.max].map(grouped));
            row.push(format!("**{:.2}**", a.median / b.median));
            row
        })
        .collect();
    let mut per_round = String::new();
    for p in &points {
        let rows: Vec<Vec<String>> = (0..cfg.rounds)
            .map(|r| vec![(r + 1).to_string(), grouped(p.ours[r]), grouped(p.pmdk[r])])
            .collect();
        per_round += &format!("\n{} live allocations:\n\n", p.live);
        per_round += &table(&["round", "nvm-pages", "PMDK"], &rows);
    }
    let md = format!(
        "# alloc+free: nvm-pages allocator vs PMDK pmemobj\n\n\
         Run: `{name}`. {machine}\n\n\
         One op = free one live allocation + allocate a new one in its place (same random \
         sequence for both). Steady state with N live allocations of 2^order x 4 KiB, \
         order uniform in 0..{orders}, {owners} owners (nvm-pages: head uuids; PMDK: type_num). \
         Per N: a fresh namespace and pool, one untimed warm-up round each, then {rounds} \
         timed rounds of {ops} ops per allocator, alternating nvm-pages / PMDK. Both on \
         tmpfs (`/dev/shm`, DRAM, not persistent memory), {arena} GiB each.\n\n\
         - nvm-pages: `Allocator<MmapMedia>` over a shared mmap of a sparse tmpfs file; \
         `flush` = `{flush}` per 64-byte line, `fence` = `sfence`, `store_flush` = copy + \
         `{flush}`.\n\
         - PMDK {pmdk}: `pmemobj_alloc(pop, &oid, 4096 << order, owner, NULL, NULL)` / \
         `pmemobj_free(&oid)`; `PMEM_IS_PMEM_FORCE=1` set, so libpmem flushes with cache-line \
         write-backs instead of msync (`pmem_is_pmem` on the pool returned {is_pmem}).\n\n\
         ops/s, and the ratio of medians (nvm-pages / PMDK):\n\n{summary}\n\
         Per round (ops/s):\n{per_round}",
        name = cfg.name,
        orders = ORDERS - 1,
        owners = OWNERS,
        rounds = cfg.rounds,
        ops = cfg.ops,
        arena = ARENA / GIB,
        flush = flush.name(),
        pmdk = pmdk_version(),
        is_pmem = i32::from(is_pmem),
        summary = table(
            &[
                "live N",
                "nvm-pages min",
                "median",
                "max",
                "PMDK min",
                "median",
                "max",
                "ratio",
            ],
            &summary
        ),
    );
    println!("\n{md}");
    fs::write(out.join("alloc_free.md"), &md)?;
    if plots {
        let pts = |f: fn(&Point) -> &Vec<f64>| {
            let median = |p: &Point| Summary::of(f(p)).median / 1e3;
            points.iter().map(|p| (p.live as f64, median(p))).collect()
        };
        Plot {
            title: "alloc+free ops/s, median of rounds (higher is better)",
            x_desc: "live allocations",
            y_desc: "k ops/s",
            x_labels: 10,
            y_zero: true,
            x_fmt: &|x| format!("{x:.0}"),
            y_fmt: &|y| format!("{y:.0}"),
            series: vec![
                (format!("nvm-pages ({})", flush.name()), pts(|p| &p.ours)),
                ("PMDK pmemobj".into(), pts(|p| &p.pmdk)),
            ],
        }
        .draw(&out.join("alloc_free.png"))?;
    }
    Ok(())
}

/// Installed PMDK version, from dpkg if available.
fn pmdk_version() -> String {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "libpmemobj1"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|| "(version unknown)".into())
}

fn register(cfg: &Config, machine: &str, out: &Path, plots: bool) -> Result<(), Box<dyn Error>> {
    // ms[size][records]
    let mut ms = vec![vec![0.0; RECORDS.len()]; NS_GIB.len()];
    let mut blocks = 0;
    for (i, gib) in NS_GIB.iter().enumerate() {
        for (j, &records) in RECORDS.iter().enumerate() {
            let (img, used) = register::image(gib * GIB, records);
            blocks = blocks.max(used);
            ms[i][j] = register::time(&img, records, cfg.reg_runs) * 1e3;
            println!("register {gib} GiB, {records} records: {:.3} ms", ms[i][j]);
        }
    }
    let size = |gib: u64| {
        if gib >= 1024 {
            format!("{} TiB", gib / 1024)
        } else {
            format!("{gib} GiB")
        }
    };
    let rows: Vec<Vec<String>> = NS_GIB
        .iter()
        .zip(&ms)
        .map(|(&g, r)| {
            std::iter::once(size(g))
                .chain(r.iter().map(|t| format!("{t:.3}")))
                .collect()
        })
        .collect();
    let header: Vec<String> = std::iter::once("namespace".to_string())
        .chain(RECORDS.iter().map(|r| format!("{} records (ms)", r)))
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut col: Vec<f64> = ms.iter().map(|r| r[RECORDS.len() - 1] / r[1]).collect();
    let md = format!(
        "# Register time vs namespace size and record count\n\n\
         Run: `{name}`. {machine}\n\n\
         Median of {runs} runs of `Allocator::new()` + `Allocator::register(media)` for one \
         namespace (namespace 0, so the lists are loaded and the buddy rebuilt). The media is \
         synthetic (`MetaMedia`): the 16 MiB metadata area in memory and zeros beyond, any \
         length, since register reads only metadata; no flush cost. The records are order-0 \
         allocations made through `Allocator::alloc_pages`, round robin over 4 owners \
         (64k records use {blocks} of the 2046 recs blocks).\n\n{t}\n\
         Median over sizes of (64k records / 1k records): {ratio:.1}x.\n",
        name = cfg.name,
        runs = cfg.reg_runs,
        blocks = blocks,
        t = table(&header, &rows),
        ratio = median(&mut col),
    );
    println!("\n{md}");
    fs::write(out.join("register.md"), &md)?;
    if plots {
        let series = RECORDS
            .iter()
            .enumerate()
            .map(|(j, r)| {
                let pts = NS_GIB
                    .iter()
                    .zip(&ms)
                    .map(|(&g, t)| ((g as f64).log2(), t[j].log10()));
                (format!("{r} records"), pts.collect())
            })
            .collect();
        Plot {
            title: "Allocator::register time (log-log)",
            x_desc: "namespace size",
            x_labels: 11,
            y_zero: false,
            y_desc: "ms (median)",
            x_fmt: &|x| size(x.exp2().round() as u64),
            y_fmt: &|y| format!("{:.3}", 10f64.powf(*y)),
            series,
        }
        .draw(&out.join("register.png"))?;
    }
    Ok(())
}
