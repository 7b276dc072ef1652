//! `bcache-nvm show-journal CACHE_DEV NVDIMM_DEV...`: the jsets of a cache set's journal on
//! an NVDIMM, bucket by bucket, as the kernel's replay scan sees them.
//!
//! The cache superblock must carry `NVDIMM_META` with `d[]` on the NVDIMM (the checks of
//! `read_super_common`, [`nvdimm_journal`]); the namespace holding `d[0]` is picked among the
//! given devices by its nvm-pages `sb.this_ns`. The whole journal range (a few MiB) is read
//! into memory once and walked with the module's own pure code: [`read_bucket`] per bucket
//! (every jset it accepts, and why it stopped), then [`read_nvdimm_journal`] for what replay
//! would keep (mainline's bucket search) and whether it would find a hole. Whether the range
//! is recorded for the cache set in the nvm-pages lists (the kernel's `bch_nvm_sb_check`) is
//! reported too, without refusing: the point is to look at a journal, also a broken one.
//!
//! Text output, one item per line (offsets in bytes; `abs` is the offset in the namespace
//! device, i.e. where `dd seek=` lands):
//!
//! ```text
//! jset bucket B offset O abs A seq S last_seq L keys K bytes N
//! end bucket B offset O abs A: bad magic | end of bucket | bad csum | too big (N bytes) | bad version V
//! ```

use serde_json::{json, Value};

use bcache_nvm_core::cache_sb::nvdimm::{nvdimm_journal, JournalGeometry, RangeMatch};
use bcache_nvm_core::cache_sb::sb::{CacheSb, SB_OFFSET as CACHE_SB_OFFSET, SB_SIZE, SECTOR_SHIFT};
use bcache_nvm_core::journal::error::JournalError;
use bcache_nvm_core::journal::geometry::Geometry;
use bcache_nvm_core::journal::jset::{jset_magic, JsetHeader};
use bcache_nvm_core::journal::scan::{read_bucket, Found, ScanEnd};
use bcache_nvm_core::media::{Media, OutOfRange};
use bcache_nvm_core::nvmpg::check::{walk, Image, Problem, RecordRef, Visitor, MAX_RECORDS};
use bcache_nvm_core::nvmpg::format::{Head, NvmpgOffset, Rec, Sb, PAGE_SIZE, SB_OFFSET};
use bcache_nvm_core::replay_model::read::{read_nvdimm_journal, JournalPos};
use bcache_nvm_core::replay_model::replay::{Entry, Missing, Replay};

use crate::device::{open_all, Device, Error};
use crate::uuid;

/// The journal range of one namespace, read into memory; offsets are the namespace's.
struct RangeMedia {
    /// Byte offset of `bytes[0]` in the namespace.
    base: u64,
    bytes: Vec<u8>,
    /// Size of the namespace.
    ns_len: u64,
}

impl Media for RangeMedia {
    fn len(&self) -> u64 {
        self.ns_len
    }

    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        let start = off.checked_sub(self.base).ok_or(OutOfRange)?;
        let start = usize::try_from(start).map_err(|_| OutOfRange)?;
        let end = start.checked_add(dst.len()).ok_or(OutOfRange)?;
        dst.copy_from_slice(self.bytes.get(start..end).ok_or(OutOfRange)?);
        Ok(())
    }

    // Read only: this tool never writes a namespace here.
    fn store(&mut self, _off: u64, _src: &[u8]) -> Result<(), OutOfRange> {
        Err(OutOfRange)
    }

    fn flush(&mut self, _off: u64, _len: u64) -> Result<(), OutOfRange> {
        Err(OutOfRange)
    }

    fn fence(&mut self) {}
}

/// The alloc heads of the set and their live records, as the lists walk meets them.
#[derive(Default)]
struct Records {
    /// (head index, uuid, records).
    heads: Vec<(usize, [u8; 16], Vec<Rec>)>,
    problems: usize,
}

impl Visitor for Records {
    fn problem(&mut self, _problem: &Problem) {
        self.problems += 1;
    }
    fn head(&mut self, index: usize, head: &Head) {
        self.heads.push((index, head.uuid, Vec::new()));
    }
    fn rec(&mut self, head: usize, _at: u64, rec: Rec) {
        if let Some((_, _, recs)) = self.heads.iter_mut().rev().find(|(i, _, _)| *i == head) {
            recs.push(rec);
        }
    }
}

/// Whether the nvm-pages lists hold the journal range for the cache set.
struct RecordVerdict {
    /// `None`: recorded exactly; else the kernel's refusal reason.
    problem: Option<String>,
    /// Index of the cache set's head, if any.
    head: Option<usize>,
    /// Problems the lists walk found (`bcache-nvm check` lists them).
    list_problems: usize,
}

fn record_verdict(
    devices: &[Device],
    owner: &[u8; 16],
    geom: &JournalGeometry,
    base: NvmpgOffset,
) -> RecordVerdict {
    let images: Vec<&Device> = devices.iter().collect();
    let mut scratch = vec![RecordRef::default(); MAX_RECORDS];
    let mut records = Records::default();
    walk(&images, &mut scratch, &mut records);
    let mut m = RangeMatch::new(geom, base);
    let head = records.heads.iter().find(|(_, u, _)| u == owner);
    let problem = match head {
        None => Some("no head for the cache set in the nvm-pages lists".to_owned()),
        Some((_, _, recs)) => {
            for r in recs {
                let start = r
                    .pgoff()
                    .checked_mul(u64::from(PAGE_SIZE))
                    .and_then(|o| NvmpgOffset::new(r.ns_id(), o));
                if let Some(start) = start {
                    m.offer(start, r.order());
                }
            }
            m.finish().err().map(|e| e.to_string())
        }
    };
    RecordVerdict {
        problem,
        head: head.map(|(i, _, _)| *i),
        list_problems: records.problems,
    }
}

/// One bucket's scan.
struct Bucket {
    index: u16,
    /// Byte offset of the bucket in the namespace.
    start: u64,
    jsets: Vec<Found>,
    end: ScanEnd,
}

/// Everything show-journal prints.
struct Report {
    cache: String,
    nvdimm: String,
    sb: CacheSb,
    magic: u64,
    geo: Geometry,
    jgeom: JournalGeometry,
    base: NvmpgOffset,
    record: RecordVerdict,
    buckets: Vec<Bucket>,
    replay: Vec<Entry>,
    pos: Option<JournalPos>,
    missing: Option<Missing>,
}

/// Where a scan ended (offset in the bucket) and why, as text.
fn end_of(end: &ScanEnd, bucket_bytes: u64) -> (u64, &'static str, String) {
    match *end {
        ScanEnd::BucketEnd => (bucket_bytes, "end_of_bucket", "end of bucket".to_owned()),
        ScanEnd::BadMagic { offset } => (offset, "bad_magic", "bad magic".to_owned()),
        ScanEnd::TooBig { offset, bytes } => {
            (offset, "too_big", format!("too big ({bytes} bytes)"))
        }
        ScanEnd::BadCsum { offset } => (offset, "bad_csum", "bad csum".to_owned()),
        ScanEnd::BadVersion { offset, version } => {
            (offset, "bad_version", format!("bad version {version}"))
        }
    }
}

const fn keys_of(f: &Found) -> u64 {
    (f.bytes - JsetHeader::SIZE as u64) / 8
}

fn jerr(path: &str, e: JournalError) -> Error {
    Error::new(path, format!("journal scan: {e}"))
}

/// Reads and checks the cache superblock; returns it with its raw sector.
fn cache_sb(path: &str) -> Result<(CacheSb, Vec<u8>), Error> {
    let dev = Device::open(path, false)?;
    if dev.size < CACHE_SB_OFFSET + SB_SIZE as u64 {
        let reason = format!("too small for a bcache superblock ({} bytes)", dev.size);
        return Err(Error::new(path, reason));
    }
    let buf = dev.read_at(CACHE_SB_OFFSET, SB_SIZE)?;
    let sb = CacheSb::check_header(&buf).map_err(|e| Error::new(path, e))?;
    if sb.is_cache_device() && sb.nvdimm_meta() {
        let ssd = (0..sb.keys).all(|i| {
            CacheSb::journal_bucket(&buf, i) == Some(u64::from(sb.first_bucket) + u64::from(i))
        });
        if sb.keys == 0 || ssd {
            return Err(Error::new(
                path,
                "NVDIMM_META set but the cache set has not run yet: d[] does not name an \
                 NVDIMM journal (the kernel places it when the set first starts)",
            ));
        }
    }
    Ok((sb, buf))
}

fn collect(cache: &str, nvdimms: &[String]) -> Result<Report, Error> {
    let (sb, buf) = cache_sb(cache)?;
    let (jgeom, base) = match nvdimm_journal(&buf) {
        Ok(Some(j)) => j,
        Ok(None) => {
            return Err(Error::new(
                cache,
                "not a cache with NVDIMM_META: its journal is on the cache device",
            ))
        }
        Err(e) => return Err(Error::new(cache, format!("NVDIMM journal: {e}"))),
    };
    let block_bytes = u64::from(sb.block_size) << SECTOR_SHIFT;
    let geo = Geometry::new(jgeom.bucket_bytes(), block_bytes).map_err(|e| jerr(cache, e))?;

    let mut devices = open_all(nvdimms, false)?;
    for dev in &mut devices {
        dev.load()?;
    }
    let mut chosen = None;
    for (i, dev) in devices.iter().enumerate() {
        let mut raw = [0u8; Sb::SIZE];
        if Image::read(dev, SB_OFFSET, &mut raw).is_err() {
            continue;
        }
        let Ok(nsb) = Sb::decode(&raw) else { continue };
        if nsb.this_ns != u32::from(base.ns()) {
            continue;
        }
        if let Some(other) = chosen {
            let first: &Device = &devices[other];
            return Err(Error::new(
                &dev.path,
                format!("same sb.this_ns {} as {}", nsb.this_ns, first.path),
            ));
        }
        chosen = Some(i);
    }
    let Some(ns_index) = chosen else {
        return Err(Error::new(
            &nvdimms.join(" "),
            format!(
                "no namespace with sb.this_ns {} (the journal's, d[0] {:#x})",
                base.ns(),
                base.0
            ),
        ));
    };
    let record = record_verdict(&devices, &sb.set_uuid, &jgeom, base);
    let dev = &devices[ns_index];
    let len = jgeom.bucket_bytes() * u64::from(jgeom.keys());
    if base
        .offset()
        .checked_add(len)
        .is_none_or(|end| end > dev.size)
    {
        return Err(Error::new(
            &dev.path,
            format!(
                "journal range [{:#x}, +{len:#x}) runs past the namespace ({} bytes)",
                base.offset(),
                dev.size
            ),
        ));
    }
    let media = RangeMedia {
        base: base.offset(),
        bytes: dev.read_at(base.offset(), len as usize)?,
        ns_len: dev.size,
    };
    let magic = jset_magic(sb.set_magic());
    let d: Vec<u64> = (0..jgeom.keys())
        .map(|i| CacheSb::journal_bucket(&buf, i).unwrap_or(0))
        .collect();

    let mut buckets = Vec::with_capacity(d.len());
    for (index, &di) in (0..).zip(&d) {
        let start = NvmpgOffset(di).offset();
        let mut jsets = Vec::new();
        let end = read_bucket(&media, start, &geo, magic, |f| {
            jsets.push(f);
            Ok(())
        })
        .map_err(|e| jerr(&dev.path, e))?;
        buckets.push(Bucket {
            index,
            start,
            jsets,
            end,
        });
    }

    let mut replay = Replay::new(Vec::new());
    let mut bucket_seq = vec![0u64; d.len()];
    let pos = read_nvdimm_journal(&media, &d, &geo, magic, &mut replay, &mut bucket_seq)
        .map_err(|e| jerr(&dev.path, e))?;
    let missing = replay.missing();
    Ok(Report {
        cache: cache.to_owned(),
        nvdimm: dev.path.clone(),
        sb,
        magic,
        geo,
        jgeom,
        base,
        record,
        buckets,
        replay: replay.into_inner(),
        pos,
        missing,
    })
}

impl Report {
    fn replay_verdict(&self) -> String {
        match (self.pos, self.missing) {
            (None, _) => "empty journal: nothing to replay".to_owned(),
            (Some(_), None) => "complete".to_owned(),
            (Some(_), Some(m)) if m.at_start => format!(
                "jsets {}-{} missing at the start: replay tolerates it (\"may be discarded\")",
                m.first, m.last
            ),
            (Some(_), Some(m)) => format!(
                "jsets {}-{} missing: replay refuses (\"journal entries missing\")",
                m.first, m.last
            ),
        }
    }

    fn record_text(&self) -> String {
        let r = &self.record;
        let lists = if r.list_problems > 0 {
            format!(
                "; the lists have {} problem(s), see bcache-nvm check",
                r.list_problems
            )
        } else {
            String::new()
        };
        match &r.problem {
            None => format!(
                "recorded: head {} holds 2^{} pages at {}:{:#x}{lists}",
                r.head.unwrap_or(0),
                self.jgeom.order(),
                self.base.ns(),
                self.base.offset()
            ),
            Some(p) => format!("NOT recorded: {p}{lists}"),
        }
    }

    fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        let bb = self.geo.bucket_bytes();
        line(format!(
            "{}: cache set {}, jset magic {:#018x}, {} buckets of {bb} bytes, block {} bytes",
            self.cache,
            uuid::fmt(&self.sb.set_uuid),
            self.magic,
            self.jgeom.keys(),
            self.geo.block_bytes()
        ));
        let start = self.base.offset();
        let end = start + bb * u64::from(self.jgeom.keys());
        line(format!(
            "journal: {} (ns {}) bytes [{start}, {end}) = [{start:#x}, {end:#x})",
            self.nvdimm,
            self.base.ns()
        ));
        line(format!("record: {}", self.record_text()));
        for b in &self.buckets {
            line(format!(
                "bucket {} at {} ({:#x}): {} jset(s)",
                b.index,
                b.start,
                b.start,
                b.jsets.len()
            ));
            for f in &b.jsets {
                line(format!(
                    "  jset bucket {} offset {} abs {} seq {} last_seq {} keys {} bytes {}",
                    b.index,
                    f.offset,
                    b.start + f.offset,
                    f.seq,
                    f.last_seq,
                    keys_of(f),
                    f.bytes
                ));
            }
            let (off, _, why) = end_of(&b.end, bb);
            line(format!(
                "  end bucket {} offset {off} abs {}: {why}",
                b.index,
                b.start + off
            ));
        }
        match (self.pos, self.replay.first(), self.replay.last()) {
            (Some(pos), Some(first), Some(last)) => line(format!(
                "replay: {} jset(s) kept, seq {}..{} (last_seq {}), newest in bucket {} \
                 (cur_idx {}, last_idx {})",
                self.replay.len(),
                first.seq,
                last.seq,
                last.last_seq,
                last.bucket,
                pos.cur_idx,
                pos.last_idx
            )),
            _ => line("replay: no jsets".to_owned()),
        }
        line(format!("replay: {}", self.replay_verdict()));
        out
    }

    fn to_json(&self) -> Value {
        let bb = self.geo.bucket_bytes();
        let buckets: Vec<Value> = self
            .buckets
            .iter()
            .map(|b| {
                let (off, reason, text) = end_of(&b.end, bb);
                json!({
                    "index": b.index,
                    "offset": b.start,
                    "jsets": b.jsets.iter().map(|f| json!({
                        "offset": f.offset,
                        "abs": b.start + f.offset,
                        "seq": f.seq,
                        "last_seq": f.last_seq,
                        "keys": keys_of(f),
                        "bytes": f.bytes,
                    })).collect::<Vec<_>>(),
                    "end": { "reason": reason, "text": text, "offset": off, "abs": b.start + off },
                })
            })
            .collect();
        let r = &self.record;
        json!({
            "cache": self.cache,
            "set_uuid": uuid::fmt(&self.sb.set_uuid),
            "jset_magic": format!("{:#018x}", self.magic),
            "nvdimm": self.nvdimm,
            "ns": self.base.ns(),
            "offset": self.base.offset(),
            "bytes": bb * u64::from(self.jgeom.keys()),
            "bucket_bytes": bb,
            "block_bytes": self.geo.block_bytes(),
            "keys": self.jgeom.keys(),
            "order": self.jgeom.order(),
            "record": {
                "recorded": r.problem.is_none(),
                "problem": r.problem,
                "head": r.head,
                "list_problems": r.list_problems,
            },
            "buckets": buckets,
            "replay": {
                "entries": self.replay.iter().map(|e| json!({
                    "seq": e.seq, "last_seq": e.last_seq, "bucket": e.bucket,
                    "offset": e.offset, "bytes": e.bytes,
                })).collect::<Vec<_>>(),
                "cur_idx": self.pos.map(|p| p.cur_idx),
                "last_idx": self.pos.map(|p| p.last_idx),
                "seq": self.pos.map(|p| p.seq),
                "missing": self.missing.map(|m| json!({
                    "first": m.first, "last": m.last, "at_start": m.at_start,
                })),
                "verdict": self.replay_verdict(),
            },
        })
    }
}

/// `show-journal [--json] CACHE_DEV NVDIMM_DEV...`.
pub fn show(cache: &str, nvdimms: &[String], json: bool) -> Result<String, Error> {
    let report = collect(cache, nvdimms)?;
    Ok(if json {
        format!("{:#}\n", report.to_json())
    } else {
        report.to_text()
    })
}
