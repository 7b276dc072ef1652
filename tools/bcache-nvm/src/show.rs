//! `bcache-nvm show`: every sb field, the set header, each head with its chains and records,
//! and the page totals, as text or JSON.

use serde_json::{json, Value};

use bcache_nvm_core::nvmpg::check::{walk, Problem, RecordRef, Summary, Visitor, MAX_RECORDS};
use bcache_nvm_core::nvmpg::format::{
    Head, Rec, RecsHeader, Sb, SetHeader, FIRST_PAGE, HEAD_STATE_ALLOC, PAGE_SIZE,
};

use crate::device::Device;
use crate::uuid;

/// A recs block and its live records (slot offset, record).
struct Block {
    ns: usize,
    at: u64,
    recs: RecsHeader,
    records: Vec<(u64, Rec)>,
}

/// What the walk met, in on-media order.
#[derive(Default)]
pub struct ShownSet {
    sbs: Vec<(usize, Sb)>,
    header: Option<SetHeader>,
    heads: Vec<(usize, Head, Vec<Block>)>,
    pub problems: Vec<Problem>,
    pub summary: Summary,
}

impl Visitor for ShownSet {
    fn problem(&mut self, problem: &Problem) {
        self.problems.push(*problem);
    }
    fn sb(&mut self, image: usize, sb: &Sb) {
        self.sbs.push((image, *sb));
    }
    fn set_header(&mut self, header: &SetHeader) {
        self.header = Some(*header);
    }
    fn head(&mut self, index: usize, head: &Head) {
        self.heads.push((index, *head, Vec::new()));
    }
    fn recs(&mut self, _head: usize, ns: usize, at: u64, recs: &RecsHeader) {
        if let Some((_, _, blocks)) = self.heads.last_mut() {
            blocks.push(Block {
                ns,
                at,
                recs: *recs,
                records: Vec::new(),
            });
        }
    }
    fn rec(&mut self, _head: usize, at: u64, rec: Rec) {
        if let Some(block) = self.heads.last_mut().and_then(|(_, _, b)| b.last_mut()) {
            block.records.push((at, rec));
        }
    }
}

/// Walks the loaded devices of a set.
pub fn collect(devices: &[Device]) -> ShownSet {
    let images: Vec<&Device> = devices.iter().collect();
    let mut scratch = vec![RecordRef::default(); MAX_RECORDS];
    let mut set = ShownSet::default();
    set.summary = walk(&images, &mut scratch, &mut set);
    set
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

fn sb_json(path: &str, sb: &Sb) -> Value {
    json!({
        "device": path,
        "csum": hex(sb.csum),
        "sb_offset": sb.sb_offset,
        "ns_start": sb.ns_start,
        "version": sb.version,
        "magic": sb.magic.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "uuid": uuid::fmt(&sb.uuid),
        "page_size": sb.page_size,
        "total_ns": sb.total_ns,
        "this_ns": sb.this_ns,
        "set_uuid": uuid::fmt(&sb.set_uuid),
        "flags": hex(sb.flags),
        "seq": sb.seq,
        "feature_compat": hex(sb.feature_compat),
        "feature_incompat": hex(sb.feature_incompat),
        "feature_ro_compat": hex(sb.feature_ro_compat),
        "pages_offset": sb.pages_offset,
        "pages_total": sb.pages_total,
        "set_header_offset": hex(sb.set_header_offset.0),
        "keys": sb.keys,
    })
}

fn rec_json(at: u64, rec: &Rec) -> Value {
    let page = u64::from(PAGE_SIZE);
    json!({
        "slot_offset": at,
        "pgoff": rec.pgoff(),
        "order": rec.order(),
        "ns": rec.ns_id(),
        "bytes": [rec.pgoff().saturating_mul(page), rec.end().saturating_mul(page)],
    })
}

fn head_json(index: usize, head: &Head, blocks: &[Block]) -> Value {
    let state = if head.state == HEAD_STATE_ALLOC {
        "alloc".to_owned()
    } else {
        head.state.to_string()
    };
    json!({
        "index": index,
        "uuid": uuid::fmt(&head.uuid),
        "label": String::from_utf8_lossy(head.label_bytes()),
        "state": state,
        "flags": head.flags,
        "recs_offset": head.recs_offset.iter().map(|r| hex(r.0)).collect::<Vec<_>>(),
        "recs": blocks.iter().map(|b| json!({
            "ns": b.ns,
            "offset": b.at,
            "head_offset": hex(b.recs.head_offset.0),
            "next_offset": hex(b.recs.next_offset.0),
            "uuid": uuid::fmt(&b.recs.uuid),
            "size": b.recs.size,
            "used": b.recs.used,
            "records": b.records.iter().map(|(at, r)| rec_json(*at, r)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

impl ShownSet {
    /// Per namespace id with a valid sb: (ns, pages_total, allocated, free).
    fn totals(&self) -> Vec<(u32, u64, u64, u64)> {
        let mut totals: Vec<_> = self
            .sbs
            .iter()
            .filter(|(_, sb)| (sb.this_ns as usize) < self.summary.allocated.len())
            .map(|(_, sb)| {
                let allocated = self.summary.allocated[sb.this_ns as usize];
                let free = sb
                    .pages_total
                    .saturating_sub(FIRST_PAGE)
                    .saturating_sub(allocated);
                (sb.this_ns, sb.pages_total, allocated, free)
            })
            .collect();
        totals.sort_unstable();
        totals
    }

    pub fn to_json(&self, devices: &[Device], paths: &[String]) -> Value {
        let problem = |p: &Problem| {
            let device = p
                .image
                .map_or(paths[0].as_str(), |i| devices[i].path.as_str());
            json!({ "device": device, "problem": p.error.to_string() })
        };
        json!({
            "namespaces": self.sbs.iter().map(|(i, sb)| sb_json(&devices[*i].path, sb)).collect::<Vec<_>>(),
            "set_header": self.header.map(|h| json!({ "size": h.size, "used": h.used })),
            "heads": self.heads.iter().map(|(i, h, b)| head_json(*i, h, b)).collect::<Vec<_>>(),
            "totals": self.totals().iter().map(|&(ns, total, allocated, free)| json!({
                "ns": ns, "pages_total": total, "pages_reserved": FIRST_PAGE.min(total),
                "pages_allocated": allocated, "pages_free": free,
            })).collect::<Vec<_>>(),
            "problems": self.problems.iter().map(problem).collect::<Vec<_>>(),
        })
    }

    pub fn to_text(&self, devices: &[Device], paths: &[String]) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        for (i, sb) in &self.sbs {
            line(format!("{}:", devices[*i].path));
            let Value::Object(fields) = sb_json(&devices[*i].path, sb) else {
                continue;
            };
            for (name, value) in fields.iter().filter(|(n, _)| *n != "device") {
                line(format!(
                    "  sb.{name:<20} {}",
                    value.as_str().map_or(value.to_string(), str::to_owned)
                ));
            }
        }
        if let Some(h) = &self.header {
            line(format!("set_header: size {} used {}", h.size, h.used));
        }
        for (index, head, blocks) in &self.heads {
            let state = if head.state == HEAD_STATE_ALLOC {
                "alloc".to_owned()
            } else {
                format!("state {}", head.state)
            };
            line(format!(
                "head {index}: uuid {} label \"{}\" {state}",
                uuid::fmt(&head.uuid),
                escape_label(head.label_bytes())
            ));
            for b in blocks {
                line(format!(
                    "  ns {} recs at {}: used {} size {} next {:#x}",
                    b.ns, b.at, b.recs.used, b.recs.size, b.recs.next_offset.0
                ));
                for (at, r) in &b.records {
                    let page = u64::from(PAGE_SIZE);
                    line(format!(
                        "    rec at {at}: ns {} pgoff {} order {} bytes [{:#x}, {:#x})",
                        r.ns_id(),
                        r.pgoff(),
                        r.order(),
                        r.pgoff().saturating_mul(page),
                        r.end().saturating_mul(page)
                    ));
                }
            }
        }
        for (ns, total, allocated, free) in self.totals() {
            line(format!(
                "ns {ns} pages: total {total} reserved {} allocated {allocated} free {free}",
                FIRST_PAGE.min(total)
            ));
        }
        for p in &self.problems {
            let device = p
                .image
                .map_or(paths[0].as_str(), |i| devices[i].path.as_str());
            line(format!("problem: {device}: {}", p.error));
        }
        out
    }
}

/// A head's label for a terminal: printable ASCII as is; `"`, `\` and every other byte
/// (control bytes, non-ASCII) as `\xNN`, so a label cannot move the cursor or fake a line.
pub fn escape_label(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}
