//! End-to-end tests of `show-journal`: a namespace image whose journal range is allocated by
//! the module's own allocator (so the lists are real), a cache superblock and jsets built
//! here at the C offsets of `struct cache_sb_disk` / `struct jset` with a bitwise crc64
//! (independently of the scan under test).

mod common;
use common::*;

use std::fs;

use bcache_nvm_core::crash::{format_namespace, HostMedia, HostVecs};
use bcache_nvm_core::nvmpg::alloc::Allocator;

const MIB: usize = 1 << 20;
const SET_UUID: [u8; 16] = *b"cache-set-uuid-1";
const NS_SET_UUID: [u8; 16] = [0x5a; 16];
/// Bucket of 16 sectors (8 KiB), 4 journal buckets: 8 pages, order 3.
const BUCKET_SECTORS: u16 = 16;
const BUCKET: usize = BUCKET_SECTORS as usize * 512;
const KEYS: u16 = 4;
/// Block of 1 sector.
const BLOCK: usize = 512;
const MAGIC: [u8; 16] = [
    0xc6, 0x85, 0x73, 0xf6, 0x4e, 0x1a, 0x45, 0xca, 0x82, 0x65, 0xf5, 0x7f, 0x48, 0xba, 0x6d, 0x81,
];

fn set_magic() -> u64 {
    u64::from_le_bytes(SET_UUID[..8].try_into().unwrap())
}

/// A sealed jset of `keys` u64, block-rounded.
fn jset(seq: u64, last_seq: u64, keys: u32) -> Vec<u8> {
    bcache_nvm_core::reference::build_jset(set_magic(), seq, last_seq, keys, BLOCK)
}

/// A 4 KiB cache sb (version 5, NVDIMM_META, CACHE_SYNC) whose d[i] are `d`.
fn cache_sb(d: &[u64], feature_incompat: u64) -> Vec<u8> {
    let mut s = vec![0u8; 4096];
    s[8] = 8; // offset
    s[16] = 5; // version
    s[24..40].copy_from_slice(&MAGIC);
    s[40..56].copy_from_slice(b"device-uuid-0001");
    s[56..72].copy_from_slice(&SET_UUID);
    s[104] = 1; // flags: CACHE_SYNC
    s[128..136].copy_from_slice(&feature_incompat.to_le_bytes());
    s[184..192].copy_from_slice(&1024u64.to_le_bytes()); // nbuckets
    s[192] = (BLOCK / 512) as u8; // block_size
    s[194..196].copy_from_slice(&BUCKET_SECTORS.to_le_bytes());
    s[196] = 1; // nr_in_set
    s[204] = 1; // first_bucket
    s[206..208].copy_from_slice(&(d.len() as u16).to_le_bytes());
    for (i, v) in d.iter().enumerate() {
        s[208 + i * 8..216 + i * 8].copy_from_slice(&v.to_le_bytes());
    }
    let end = 208 + d.len() * 8;
    let c = crc64(&s[8..end]);
    s[0..8].copy_from_slice(&c.to_le_bytes());
    s
}

/// A set of `total` namespaces of 20 MiB with the journal range allocated for [`SET_UUID`]:
/// the images and d[0] (nvmpg offset).
fn namespaces(total: u32) -> (Vec<Vec<u8>>, u64) {
    let mut a: Allocator<HostMedia, HostVecs> = Allocator::new();
    for k in 0..total {
        a.register(format_namespace(20 * MIB, NS_SET_UUID, total, k).unwrap())
            .expect("register");
    }
    let d0 = a.alloc_pages(3, &SET_UUID).expect("alloc");
    let images = (0..total as u8)
        .map(|k| a.media(k).unwrap().bytes().to_vec())
        .collect();
    (images, d0.0)
}

/// The journal: `buckets[i]` are the jsets of bucket i, written from its start.
struct Journal {
    dir: TempDir,
    images: Vec<Vec<u8>>,
    d0: u64,
}

impl Journal {
    fn new(total: u32, buckets: &[Vec<Vec<u8>>]) -> Self {
        let (mut images, d0) = namespaces(total);
        let ns = (d0 >> 61) as usize;
        let base = (d0 & ((1 << 61) - 1)) as usize;
        for (i, jsets) in buckets.iter().enumerate() {
            let mut at = base + i * BUCKET;
            for j in jsets {
                images[ns][at..at + j.len()].copy_from_slice(j);
                at += j.len();
            }
        }
        Self {
            dir: TempDir::new("jnl"),
            images,
            d0,
        }
    }

    fn base(&self) -> u64 {
        self.d0 & ((1 << 61) - 1)
    }

    fn ns(&self) -> usize {
        (self.d0 >> 61) as usize
    }

    fn d(&self) -> Vec<u64> {
        (0..u64::from(KEYS))
            .map(|i| self.d0 + i * BUCKET as u64)
            .collect()
    }

    /// Writes the images; returns (cache, namespaces in order).
    fn files(&self, sb: &[u8]) -> (String, Vec<String>) {
        let mut cache = vec![0u8; 64 * 1024];
        cache[4096..8192].copy_from_slice(sb);
        let cache = self.dir.write("cache.img", &cache);
        let ns = self
            .images
            .iter()
            .enumerate()
            .map(|(k, img)| self.dir.write(&format!("ns{k}.img"), img))
            .collect();
        (cache, ns)
    }

    fn corrupt(&mut self, bucket: usize, offset: usize, at: usize) {
        let base = self.base() as usize;
        let ns = self.ns();
        self.images[ns][base + bucket * BUCKET + offset + at] ^= 0xff;
    }
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn show(j: &Journal) -> String {
    let (cache, ns) = j.files(&cache_sb(&j.d(), 4));
    let mut args = vec!["show-journal", cache.as_str()];
    args.extend(ns.iter().map(String::as_str));
    ok(&args)
}

/// Jsets `seqs` with `last_seq` and 3 keys each (432 bytes: one block).
fn jsets(seqs: std::ops::RangeInclusive<u64>, last_seq: u64) -> Vec<Vec<u8>> {
    seqs.map(|s| jset(s, last_seq, 24)).collect()
}

#[test]
fn lists_every_jset_with_its_absolute_offset() {
    let j = Journal::new(1, &[jsets(1..=3, 1), vec![jset(4, 2, 0), jset(5, 2, 100)]]);
    let out = show(&j);
    let base = j.base();
    let abs = |bucket: u64, off: u64| base + bucket * BUCKET as u64 + off;
    let expect = [
        format!(
            "  jset bucket 0 offset 0 abs {} seq 1 last_seq 1 keys 24 bytes 432",
            abs(0, 0)
        ),
        format!(
            "  jset bucket 0 offset 512 abs {} seq 2 last_seq 1 keys 24 bytes 432",
            abs(0, 512)
        ),
        format!(
            "  jset bucket 0 offset 1024 abs {} seq 3 last_seq 1 keys 24 bytes 432",
            abs(0, 1024)
        ),
        format!("  end bucket 0 offset 1536 abs {}: bad magic", abs(0, 1536)),
        format!(
            "  jset bucket 1 offset 0 abs {} seq 4 last_seq 2 keys 0 bytes 240",
            abs(1, 0)
        ),
        // 240 + 800 = 1040 bytes: three blocks.
        format!(
            "  jset bucket 1 offset 512 abs {} seq 5 last_seq 2 keys 100 bytes 1040",
            abs(1, 512)
        ),
        format!("  end bucket 1 offset 2048 abs {}: bad magic", abs(1, 2048)),
        format!("  end bucket 2 offset 0 abs {}: bad magic", abs(2, 0)),
        format!("  end bucket 3 offset 0 abs {}: bad magic", abs(3, 0)),
        "replay: 4 jset(s) kept, seq 2..5 (last_seq 2), newest in bucket 1 (cur_idx 1, last_idx 2)"
            .to_owned(),
        "replay: complete".to_owned(),
    ];
    for line in &expect {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
    assert!(out.contains(&format!(
        "journal: {} (ns 0) bytes [{base}, {})",
        j.dir.0.join("ns0.img").display(),
        base + 4 * BUCKET as u64
    )));
    assert!(
        out.contains("record: recorded: head 1 holds 2^3 pages"),
        "{out}"
    );
    // The absolute offset is where the jset really is in the namespace file.
    let img = fs::read(j.dir.0.join("ns0.img")).unwrap();
    let at = abs(1, 512) as usize;
    assert_eq!(img[at + 16..at + 24], 5u64.to_le_bytes());
}

#[test]
fn bad_csum_in_the_middle_ends_the_bucket() {
    let mut j = Journal::new(1, &[jsets(1..=3, 1), jsets(4..=8, 3)]);
    j.corrupt(1, 1024, 64); // seq 6
    let out = show(&j);
    let abs = j.base() + BUCKET as u64 + 1024;
    assert!(
        out.contains(&format!("  end bucket 1 offset 1024 abs {abs}: bad csum\n")),
        "{out}"
    );
    assert!(
        out.contains("bucket 1 at") && out.contains(": 2 jset(s)\n"),
        "{out}"
    );
    assert!(!out.contains("seq 6 ") && !out.contains("seq 8 "), "{out}");
    // What replay sees: jsets 3..5, newest 5; the truncation itself is not a hole.
    assert!(
        out.contains("replay: 3 jset(s) kept, seq 3..5 (last_seq 3)"),
        "{out}"
    );
    assert!(out.contains("replay: complete\n"), "{out}");
}

#[test]
fn hole_full_bucket_too_big_and_bad_version() {
    let full: Vec<Vec<u8>> = (1..=16).map(|s| jset(s, 1, 0)).collect();
    let mut big = jset(18, 1, 0);
    big[28..32].copy_from_slice(&5000u32.to_le_bytes()); // 40240 bytes > JSET_MAX and bucket
    let mut v2 = jset(19, 1, 0);
    v2[24..28].copy_from_slice(&2u32.to_le_bytes());
    let c = crc64(&v2[8..240]);
    v2[0..8].copy_from_slice(&c.to_le_bytes());
    // Bucket 2 jumps from 16 to 20 with last_seq 1: jsets 17..19 missing.
    let j = Journal::new(1, &[full, vec![big], vec![jset(20, 1, 0)], vec![v2]]);
    let out = show(&j);
    let b = |i: u64| j.base() + i * BUCKET as u64;
    assert!(
        out.contains(&format!(
            "  end bucket 0 offset 8192 abs {}: end of bucket\n",
            b(1)
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  end bucket 1 offset 0 abs {}: too big (40240 bytes)\n",
            b(1)
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  end bucket 3 offset 0 abs {}: bad version 2\n",
            b(3)
        )),
        "{out}"
    );
    assert!(
        out.contains("replay: jsets 17-19 missing: replay refuses"),
        "{out}"
    );

    let (cache, ns) = j.files(&cache_sb(&j.d(), 4));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["show-journal", "--json", &cache, &ns[0]])).unwrap();
    assert_eq!(v["keys"], 4);
    assert_eq!(v["bucket_bytes"], BUCKET as u64);
    assert_eq!(v["offset"], j.base());
    assert_eq!(v["record"]["recorded"], true);
    assert_eq!(v["buckets"][0]["jsets"].as_array().unwrap().len(), 16);
    assert_eq!(v["buckets"][0]["jsets"][15]["abs"], j.base() + 15 * 512);
    assert_eq!(v["buckets"][0]["end"]["reason"], "end_of_bucket");
    assert_eq!(v["buckets"][1]["end"]["reason"], "too_big");
    assert_eq!(v["buckets"][3]["end"]["reason"], "bad_version");
    assert_eq!(v["replay"]["missing"]["first"], 17);
    assert_eq!(v["replay"]["missing"]["at_start"], false);
    assert_eq!(v["replay"]["cur_idx"], 2);
}

#[test]
fn empty_journal() {
    let j = Journal::new(1, &[]);
    let out = show(&j);
    assert_eq!(out.matches(": 0 jset(s)\n").count(), 4, "{out}");
    assert!(
        out.contains("replay: no jsets\nreplay: empty journal"),
        "{out}"
    );
}

#[test]
fn picks_the_namespace_by_this_ns() {
    let j = Journal::new(2, &[jsets(1..=2, 1)]);
    let (cache, ns) = j.files(&cache_sb(&j.d(), 4));
    // Given in reverse order; the journal is on namespace j.ns().
    let out = ok(&["show-journal", &cache, &ns[1], &ns[0]]);
    assert!(
        out.contains(&format!("journal: {} (ns {})", ns[j.ns()], j.ns())),
        "{out}"
    );
    assert!(out.contains(" seq 2 last_seq 1 "), "{out}");
    // Without the namespace holding the journal: refused, naming the namespace id.
    let other = &ns[1 - j.ns()];
    let out = run(&["show-journal", &cache, other]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("no namespace with sb.this_ns {}", j.ns())),
        "{err}"
    );
}

#[test]
fn reports_a_missing_record() {
    let j = Journal::new(1, &[jsets(1..=2, 1)]);
    let (cache, ns) = j.files(&cache_sb(&j.d(), 4));
    let v: serde_json::Value = serde_json::from_str(&ok(&["show", "--json", &ns[0]])).unwrap();
    let slot = v["heads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["uuid"] == "63616368-652d-7365-742d-757569642d31")
        .expect("head of the cache set")["recs"][0]["records"][0]["slot_offset"]
        .as_u64()
        .unwrap() as usize;
    let mut img = fs::read(&ns[0]).unwrap();
    img[slot..slot + 8].fill(0);
    fs::write(&ns[0], img).unwrap();
    let out = ok(&["show-journal", &cache, &ns[0]]);
    assert!(out.contains("record: NOT recorded: "), "{out}");
    // The jsets are still listed.
    assert!(out.contains(" seq 2 last_seq 1 "), "{out}");
}

#[test]
fn refuses_caches_without_an_nvdimm_journal() {
    let j = Journal::new(1, &[]);
    let refused = |sb: Vec<u8>, why: &str| {
        let (cache, ns) = j.files(&sb);
        let out = run(&["show-journal", &cache, &ns[0]]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{err}");
    };
    refused(cache_sb(&[1, 2, 3, 4], 0), "not a cache with NVDIMM_META");
    refused(cache_sb(&[1, 2, 3, 4], 4), "has not run yet");
    let mut d = j.d();
    d[2] += 4096;
    refused(cache_sb(&d, 4), "not consecutive");
    let mut bad = cache_sb(&j.d(), 4);
    bad[210] ^= 1; // inside d[0]: csum mismatch
    refused(bad, "checksum");
}
