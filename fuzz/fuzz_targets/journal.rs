//! Fuzz target: the NVDIMM journal's bucket scan (`journal::scan::read_bucket`) and replay's
//! choice and order of jsets (`replay_model`), over journal buckets the input writes.
//!
//! The input describes a ring of journal buckets and the jsets written into it, in write
//! order: each jset is built with `JsetHeader::encode`, sealed with `jset::seal` and stored
//! with `write::write_jset` at the bucket's write position, so every input yields jsets with
//! valid checksums that the scan walks; flags then damage some of them (a flipped byte, a bad
//! magic or version, no seal, a torn or truncated store, a gap, a wild `last_seq`).
//!
//! Checked, for every input:
//! - `write_jset` stores exactly the jsets its rules accept (a whole header, no more bytes
//!   claimed than given, at most `JSET_MAX_BYTES`, inside the bucket); a refused one is
//!   stored raw, as a torn or oversized write would leave it;
//! - the scan of each bucket never fails and equals an independent walk of the bucket's bytes
//!   by the documented rules (magic, size, checksum, version; stop at the first that fails);
//!   every jset it reports starts on a block inside the bucket, fits in it, checksums right,
//!   and follows the previous one without a gap;
//! - the replay list stays sorted by strictly increasing `seq`, holds nothing below the
//!   `last_seq` of the jset just offered, and keeps or skips by the documented rules;
//! - `read_nvdimm_journal` finds a position exactly when some bucket holds a valid jset, its
//!   list entries are jsets the scan reported, `cur_idx` is the first bucket holding the
//!   highest seq read, and when every jset was written whole, in order, with sane seqs, it
//!   resumes after the last jset written.
//!
//! Input layout: byte 0 block size (512 << (b & 3)), byte 1 blocks per bucket (1 + b % 16),
//! byte 2 buckets (1 + b % 8), byte 3 first seq; then 8 bytes per jset:
//! - d0: bit 0 start the next bucket of the ring (from its offset 0), bits 1..3 blocks
//!   skipped before the jset;
//! - d1: keys (d1, or d1 << 4 with flag 4: up to just past the largest jset);
//! - d2: seq step minus one (as i8: 0 is the next seq);
//! - d3: `last_seq` advance (clamped to `seq` unless flag 5);
//! - d4 flags: 0 flip a byte after sealing, 1 bad magic, 2 bad version (sealed), 3 not
//!   sealed, 4 big keys, 5 wild `last_seq` (`seq + d3`), 6 the next jset overwrites this one,
//!   7 torn store (only the first d5 * 8 bytes reach the media);
//! - d5, d6: position (byte flipped, bit of the magic, torn length); d7: key data and padding.
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none journal corpus/journal
//! seeds/journal`, or `scripts/fuzz.sh` for every target.

#![no_main]

use bcache_nvm_core::crash::HostMedia;
use bcache_nvm_core::crc64::Crc64;
use bcache_nvm_core::journal::geometry::Geometry;
use bcache_nvm_core::journal::jset::{
    jset_csum, jset_magic, seal, JsetHeader, JSET_MAX_BYTES, JSET_VERSION,
};
use bcache_nvm_core::journal::scan::{read_bucket, Found, ScanEnd};
use bcache_nvm_core::journal::write::write_jset;
use bcache_nvm_core::media::Media;
use bcache_nvm_core::nvmpg::format::NvmpgOffset;
use bcache_nvm_core::replay_model::read::read_nvdimm_journal;
use bcache_nvm_core::replay_model::replay::{Entry, Replay};
use libfuzzer_sys::fuzz_target;

const SET_MAGIC: u64 = 0x6e76_6d6a_6f75_726e;
/// Where bucket 0 starts in the namespace.
const FIRST_BUCKET: u64 = 8192;
const MAX_JSETS: usize = 64;

/// What the input wrote, for the checks.
struct Written {
    /// Every jset was stored whole, sealed, undamaged, in a bucket it fits in, after the
    /// previous one, with `seq` rising by one and `last_seq <= seq`.
    clean: bool,
    /// Seq of the last jset written, if any.
    last_seq_written: Option<u64>,
}

/// Writes the ring the input describes into `m`; `d[i]` is bucket `i`'s offset.
fn write_ring(m: &mut HostMedia, geo: &Geometry, d: &[u64], input: &[u8], first: u64) -> Written {
    let block = geo.block_bytes();
    let bucket_bytes = geo.bucket_bytes();
    let magic = jset_magic(SET_MAGIC);
    let mut w = Written {
        clean: true,
        last_seq_written: None,
    };
    let (mut b, mut cursor) = (0usize, 0u64);
    let (mut seq, mut last_seq) = (first, first);
    for (i, j) in input.chunks_exact(8).take(MAX_JSETS).enumerate() {
        let flags = j[4];
        let flag = |bit: u8| flags & (1 << bit) != 0;
        if j[0] & 1 != 0 {
            b = (b + 1) % d.len();
            cursor = 0;
        }
        let gap = u64::from(j[0] >> 1 & 7) * block;
        cursor += gap;
        let keys = if flag(4) {
            u32::from(j[1]) << 4
        } else {
            u32::from(j[1])
        };
        if i > 0 {
            seq = seq.wrapping_add(1).wrapping_add(j[2] as i8 as u64);
        }
        last_seq = if flag(5) {
            seq.wrapping_add(u64::from(j[3]))
        } else {
            last_seq.saturating_add(u64::from(j[3])).min(seq)
        };
        let span = geo.jset_span(keys);
        if cursor + span > bucket_bytes {
            // Full: on to the next bucket of the ring, which may hold older jsets.
            b = (b + 1) % d.len();
            cursor = 0;
        }
        // Past the end of the bucket nothing is stored: a jset that does not fit is built
        // only up to there, and left unsealed (the scan stops at its size, before its csum).
        let room = bucket_bytes - cursor;
        let mut buf = vec![j[7]; span.min(room) as usize];
        for (k, word) in buf[JsetHeader::SIZE..]
            .chunks_exact_mut(8)
            .take(keys as usize)
            .enumerate()
        {
            let v = seq.rotate_left(9) ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            word.copy_from_slice(&(v ^ u64::from(j[7])).to_le_bytes());
        }
        let header = JsetHeader {
            magic: if flag(1) {
                magic ^ 1 << (j[5] % 64)
            } else {
                magic
            },
            seq,
            version: if flag(2) {
                JSET_VERSION ^ u32::from(j[5] | 1)
            } else {
                JSET_VERSION
            },
            keys,
            last_seq,
            btree_level: u16::from(j[7]),
            ..JsetHeader::default()
        };
        header.encode(&mut buf).expect("span holds the header");
        if !flag(3) && JsetHeader::set_bytes(keys) <= buf.len() as u64 {
            seal(&mut buf).expect("buf holds the keys");
        }
        if flag(0) {
            let at = usize::from(u16::from_le_bytes([j[5], j[6]])) % buf.len();
            buf[at] ^= j[7] | 1;
        }
        let start = d[b] + cursor;
        // Torn: only a prefix reaches the media; too big for the rest of the bucket: only
        // what fits is stored. write_jset must refuse exactly what breaks its rules, and
        // then the bytes are stored raw.
        let n = if flag(7) {
            usize::from(j[5]) * 8
        } else {
            buf.len()
        };
        let part = &buf[..n.min(buf.len())];
        let len = part.len() as u64;
        let accepted = JsetHeader::decode(part).is_ok_and(|h| h.bytes() <= len)
            && len <= JSET_MAX_BYTES
            && cursor + len <= bucket_bytes;
        match write_jset(m, geo, NvmpgOffset(d[b]), cursor, part) {
            Ok(()) => assert!(accepted, "write_jset stored a jset it must refuse"),
            Err(e) => {
                assert!(!accepted, "write_jset refused a valid jset: {e}");
                m.store(start, part).expect("inside the media");
            }
        }
        if flags != 0 || gap != 0 || j[2] != 0 || len != span {
            w.clean = false;
        }
        w.last_seq_written = Some(seq);
        if !flag(6) {
            cursor += span;
        }
    }
    w
}

fn le64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// The scan of one bucket's bytes, written from the rules in scan.rs's documentation.
fn reference_scan(bucket: &[u8], block: u64, magic: u64) -> (Vec<Found>, ScanEnd) {
    let mut found = Vec::new();
    let mut offset = 0u64;
    let len = bucket.len() as u64;
    while offset < len {
        let h = &bucket[offset as usize..];
        if le64(h, JsetHeader::OFF_MAGIC) != magic {
            return (found, ScanEnd::BadMagic { offset });
        }
        let keys = le32(h, JsetHeader::OFF_KEYS);
        let bytes = JsetHeader::SIZE as u64 + u64::from(keys) * 8;
        if bytes > len - offset || bytes > JSET_MAX_BYTES {
            return (found, ScanEnd::TooBig { offset, bytes });
        }
        let mut crc = Crc64::new();
        crc.update(&h[JsetHeader::CSUM_START..bytes as usize]);
        if crc.finish() != le64(h, JsetHeader::OFF_CSUM) {
            return (found, ScanEnd::BadCsum { offset });
        }
        let version = le32(h, JsetHeader::OFF_VERSION);
        if version != JSET_VERSION {
            return (found, ScanEnd::BadVersion { offset, version });
        }
        found.push(Found {
            seq: le64(h, JsetHeader::OFF_SEQ),
            last_seq: le64(h, JsetHeader::OFF_LAST_SEQ),
            offset,
            bytes,
        });
        offset += bytes.div_ceil(block) * block;
    }
    (found, ScanEnd::BucketEnd)
}

/// Offers `e` to `replay` and checks the keep/skip rules and the list's order.
fn offer(replay: &mut Replay<Vec<Entry>>, e: Entry) {
    let before: Vec<Entry> = replay.entries().to_vec();
    let kept = replay.add(e).expect("a Vec grows");
    let after = replay.entries();
    assert!(after.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(after.iter().all(|i| i.seq >= e.last_seq || i == &e));
    let survivors: Vec<&Entry> = before.iter().filter(|i| i.seq >= e.last_seq).collect();
    if kept {
        assert!(after.contains(&e));
        assert_eq!(after.len(), survivors.len() + 1);
    } else {
        assert_eq!(after.len(), survivors.len());
        assert!(survivors
            .iter()
            .any(|i| i.seq == e.seq || e.seq < i.last_seq));
    }
}

fuzz_target!(|input: &[u8]| {
    let byte = |i: usize| input.get(i).copied().unwrap_or(0);
    let block = 512u64 << (byte(0) & 3);
    let geo = Geometry::new(block * (1 + u64::from(byte(1) % 16)), block).expect("geometry");
    let n = 1 + usize::from(byte(2) % 8);
    let first = 1 + u64::from(byte(3));
    let d: Vec<u64> = (0..n as u64)
        .map(|i| FIRST_BUCKET + i * geo.bucket_bytes())
        .collect();
    let mut m = HostMedia::new((FIRST_BUCKET + n as u64 * geo.bucket_bytes()) as usize);
    let written = write_ring(&mut m, &geo, &d, input.get(4..).unwrap_or_default(), first);
    let magic = jset_magic(SET_MAGIC);

    // The scan of every bucket against the reference walk.
    let mut scans = Vec::new();
    for &start in &d {
        let mut found = Vec::new();
        let end = read_bucket(&m, start, &geo, magic, |f| {
            found.push(f);
            Ok(())
        })
        .expect("the scan stays inside the media");
        let bytes = &m.bytes()[start as usize..(start + geo.bucket_bytes()) as usize];
        assert_eq!((found.clone(), end), reference_scan(bytes, block, magic));
        let mut next = 0;
        for f in &found {
            assert_eq!(f.offset, next, "no gap before a reported jset");
            assert_eq!(f.offset % block, 0);
            assert!(f.bytes <= JSET_MAX_BYTES && f.offset + f.bytes <= geo.bucket_bytes());
            let j = &bytes[f.offset as usize..];
            assert_eq!(jset_csum(j), Ok(le64(j, JsetHeader::OFF_CSUM)));
            let h = JsetHeader::decode(j).expect("a header");
            assert_eq!((h.magic, h.seq, h.last_seq), (magic, f.seq, f.last_seq));
            assert_eq!(h.bytes(), f.bytes);
            next = f.offset + geo.jset_span(h.keys);
        }
        match end {
            ScanEnd::BucketEnd => assert!(next >= geo.bucket_bytes()),
            ScanEnd::BadMagic { offset }
            | ScanEnd::TooBig { offset, .. }
            | ScanEnd::BadCsum { offset }
            | ScanEnd::BadVersion { offset, .. } => assert_eq!(offset, next),
        }
        scans.push(found);
    }

    // The replay list fed with every valid jset in bucket order.
    let mut replay = Replay::new(Vec::new());
    for (b, found) in scans.iter().enumerate() {
        for f in found {
            let e = Entry {
                seq: f.seq,
                last_seq: f.last_seq,
                bucket: b as u16,
                offset: f.offset,
                bytes: f.bytes,
            };
            offer(&mut replay, e);
        }
    }
    if let Some(hole) = replay.missing() {
        let newest = replay.newest().expect("a hole needs a list");
        let seqs: Vec<u64> = replay.entries().iter().map(|e| e.seq).collect();
        assert!(!seqs.contains(&hole.first));
        assert_eq!(hole.at_start, hole.first == newest.last_seq);
    } else if let Some(newest) = replay.newest() {
        let entries = replay.entries();
        if newest.last_seq <= newest.seq {
            let span = newest.seq - newest.last_seq + 1;
            assert_eq!(entries.len() as u64, span);
            assert_eq!(entries[0].seq, newest.last_seq);
        }
    }

    // Mainline's bucket search over the ring.
    let mut replay = Replay::new(Vec::new());
    let mut bucket_seq = vec![0u64; n];
    let pos = read_nvdimm_journal(&m, &d, &geo, magic, &mut replay, &mut bucket_seq)
        .expect("reading the ring");
    let any = scans.iter().any(|f| !f.is_empty());
    assert_eq!(pos.is_some(), any);
    let entries = replay.entries();
    assert!(entries.windows(2).all(|w| w[0].seq < w[1].seq));
    for e in entries {
        let f = Found {
            seq: e.seq,
            last_seq: e.last_seq,
            offset: e.offset,
            bytes: e.bytes,
        };
        assert!(scans[usize::from(e.bucket)].contains(&f));
    }
    for (b, &s) in bucket_seq.iter().enumerate() {
        assert!(s == 0 || scans[b].iter().any(|f| f.seq == s));
    }
    if let Some(pos) = pos {
        let top = bucket_seq.iter().copied().max().unwrap_or(0);
        let cur = usize::from(pos.cur_idx);
        assert_eq!(bucket_seq.iter().position(|&s| s == top), Some(cur));
        // Mainline moves the indices only for a seq above 0 (a jset of seq 0 leaves both 0).
        let next = if top > 0 { (cur + 1) % n } else { 0 };
        assert_eq!(usize::from(pos.last_idx), next);
        assert_eq!(Some(pos.seq), replay.newest().map(|e| e.seq));
        let sane = scans.iter().flatten().all(|f| f.last_seq <= f.seq);
        if sane {
            assert_eq!(pos.seq, top);
        }
        if written.clean {
            assert_eq!(Some(pos.seq), written.last_seq_written);
        }
    }
});
