//! Synthetic logs, laid out as the module doc describes, replayed onto small images.

use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// Builds a log the way QEMU appends one: a superblock sector, then entries.
struct Builder {
    ss: usize,
    buf: Vec<u8>,
    entries: u64,
}

impl Builder {
    fn new(ss: usize) -> Builder {
        Builder {
            ss,
            buf: vec![0; ss],
            entries: 0,
        }
    }

    fn entry(&mut self, sector: u64, nr: u64, flags: u64, data: &[u8]) -> &mut Builder {
        let mut h = vec![0u8; self.ss];
        h[0..8].copy_from_slice(&sector.to_le_bytes());
        h[8..16].copy_from_slice(&nr.to_le_bytes());
        h[16..24].copy_from_slice(&flags.to_le_bytes());
        self.buf.extend_from_slice(&h);
        self.buf.extend_from_slice(data);
        self.entries += 1;
        self
    }

    /// A write of `nr` sectors at `sector`, every byte `fill`.
    fn write(&mut self, sector: u64, nr: u64, fill: u8) -> &mut Builder {
        let data = vec![fill; nr as usize * self.ss];
        self.entry(sector, nr, 0, &data)
    }

    fn fua(&mut self, sector: u64, nr: u64, fill: u8) -> &mut Builder {
        let data = vec![fill; nr as usize * self.ss];
        self.entry(sector, nr, FLAG_FUA, &data)
    }

    fn flush(&mut self) -> &mut Builder {
        self.entry(0, 0, FLAG_FLUSH, &[])
    }

    fn discard(&mut self, sector: u64, nr: u64) -> &mut Builder {
        self.entry(sector, nr, FLAG_DISCARD, &[])
    }

    /// Writes the superblock counting `n` entries (QEMU does at a flush).
    fn superblock(&mut self, n: u64) -> &mut Builder {
        let ss = self.ss as u32;
        self.buf[0..8].copy_from_slice(&MAGIC.to_le_bytes());
        self.buf[8..16].copy_from_slice(&VERSION.to_le_bytes());
        self.buf[16..24].copy_from_slice(&n.to_le_bytes());
        self.buf[24..28].copy_from_slice(&ss.to_le_bytes());
        self
    }

    fn synced(&mut self) -> &mut Builder {
        let n = self.entries;
        self.superblock(n)
    }

    fn bytes(&self) -> Vec<u8> {
        self.buf.clone()
    }
}

/// The image a plan makes of a zeroed image of `sectors` sectors (in memory).
fn replayed(log: &[u8], sectors: usize) -> (Vec<u8>, Log, Plan) {
    let scanned = scan(log, 512).unwrap();
    let p = plan(&scanned.entries);
    let ss = scanned.sector_size as usize;
    let mut img = vec![0u8; sectors * ss];
    for &i in &p.apply {
        let e = &scanned.entries[i];
        let from = e.offset as usize + ss;
        let n = e.nr_sectors as usize * ss;
        let at = e.sector as usize * ss;
        img[at..at + n].copy_from_slice(&log[from..from + n]);
    }
    (img, scanned, p)
}

/// The fill byte of each sector of an image.
fn fills(img: &[u8], ss: usize) -> Vec<u8> {
    img.chunks(ss)
        .map(|s| {
            assert!(s.iter().all(|&b| b == s[0]), "sector not uniform");
            s[0]
        })
        .collect()
}

#[test]
fn writes_before_the_last_flush_kept_after_it_dropped() {
    let mut b = Builder::new(512);
    b.write(0, 2, 0xa1)
        .flush()
        .write(3, 1, 0xb2)
        .write(0, 1, 0xc3);
    b.flush().synced();
    b.write(5, 1, 0xd4).write(3, 1, 0xe5);
    let (img, log, p) = replayed(&b.bytes(), 8);
    assert_eq!(log.end, End::Clean);
    assert_eq!(log.entries.len(), 7);
    assert_eq!(p.last_flush, Some(4));
    assert_eq!((p.flushes, p.applied, p.dropped), (2, 3, 2));
    // The later write to sector 0 wins; sectors 5 and the second write to 3 are lost.
    assert_eq!(fills(&img, 512), [0xc3, 0xa1, 0, 0xb2, 0, 0, 0, 0]);
}

#[test]
fn no_flush_keeps_nothing_but_fua() {
    let mut b = Builder::new(512);
    b.write(0, 1, 1).fua(1, 1, 2).write(2, 1, 3);
    let (img, log, p) = replayed(&b.bytes(), 4);
    assert_eq!(log.superblock, None);
    assert_eq!(p.last_flush, None);
    assert_eq!((p.applied, p.fua_after_flush, p.dropped), (1, 1, 2));
    assert_eq!(fills(&img, 512), [0, 2, 0, 0]);
}

#[test]
fn fua_after_the_last_flush_is_durable_by_itself() {
    let mut b = Builder::new(512);
    b.write(0, 1, 1).flush().synced();
    b.write(1, 1, 2).fua(2, 2, 3).write(2, 1, 4).fua(6, 1, 5);
    let (img, _, p) = replayed(&b.bytes(), 8);
    assert_eq!(p.last_flush, Some(1));
    assert_eq!((p.applied, p.fua_after_flush, p.dropped), (3, 2, 2));
    // The plain write over the FUA write's first sector is lost, the FUA data stays.
    assert_eq!(fills(&img, 512), [1, 0, 3, 3, 0, 0, 5, 0]);
}

#[test]
fn flush_entry_data_counts_after_its_flush() {
    // dm-log-writes logs a PREFLUSH write as one entry: the flush covers what came before,
    // its own data is durable only with FUA.
    let mut b = Builder::new(512);
    b.write(0, 1, 1);
    b.entry(1, 1, FLAG_FLUSH, &[2; 512]);
    let (img, _, p) = replayed(&b.bytes(), 3);
    assert_eq!((p.applied, p.dropped), (1, 1));
    assert_eq!(fills(&img, 512), [1, 0, 0]);

    let mut b = Builder::new(512);
    b.write(0, 1, 1);
    b.entry(1, 1, FLAG_FLUSH | FLAG_FUA, &[2; 512]);
    let (img, _, p) = replayed(&b.bytes(), 3);
    assert_eq!((p.applied, p.dropped), (2, 0));
    assert_eq!(fills(&img, 512), [1, 2, 0]);
}

#[test]
fn torn_tail_stops_the_scan() {
    let mut b = Builder::new(512);
    b.write(0, 1, 1).flush().synced().write(1, 4, 2);
    let full = b.bytes();
    // Cut inside the last entry's data, inside its header; then right after the flush.
    for (cut, reason) in [
        (full.len() - 100, "data cut short"),
        (full.len() - 4 * 512 - 200, "header cut short"),
    ] {
        let (img, log, p) = replayed(&full[..cut], 6);
        assert_eq!(log.entries.len(), 2);
        assert_eq!(
            log.end,
            End::Torn {
                index: 2,
                offset: 4 * 512,
                reason
            }
        );
        assert_eq!(p.last_flush, Some(1));
        assert_eq!(fills(&img, 512), [1, 0, 0, 0, 0, 0]);
    }
    let (_, log, _) = replayed(&full[..4 * 512], 6);
    assert_eq!(log.end, End::Clean);
}

#[test]
fn torn_flush_is_not_a_flush() {
    // The flush's header never made it: its writes before stay unpromised.
    let mut b = Builder::new(512);
    b.write(0, 1, 1).flush().synced().write(1, 1, 2);
    let mut log = b.bytes();
    log.extend_from_slice(&[0u8; 300]);
    let (img, scanned, p) = replayed(&log, 3);
    assert!(matches!(scanned.end, End::Torn { index: 3, .. }));
    assert_eq!(p.last_flush, Some(1));
    assert_eq!(fills(&img, 512), [1, 0, 0]);
}

#[test]
fn a_hole_or_garbage_stops_the_scan_and_later_entries_are_not_read() {
    // An entry reserved but never written (zeros) before a complete flush: the scan stops
    // at the hole; the superblock says more entries were logged.
    let mut b = Builder::new(512);
    b.write(0, 1, 1).flush();
    let hole_at = b.buf.len();
    b.write(1, 1, 2).write(2, 1, 3).flush().synced();
    let mut log = b.bytes();
    log[hole_at..hole_at + 1024].fill(0);
    let (img, scanned, p) = replayed(&log, 3);
    assert_eq!(scanned.entries.len(), 2);
    assert!(matches!(
        scanned.end,
        End::Torn {
            index: 2,
            reason: "header is zeros",
            ..
        }
    ));
    assert_eq!(fills(&img, 512), [1, 0, 0]);
    let s = Summary {
        log: scanned,
        plan: p,
    };
    assert_eq!(s.superblock_ahead(), Some(5));

    // Unknown flag bits and a dirty header padding do not parse either.
    for (at, reason) in [
        (hole_at + 16, "unknown flags"),
        (hole_at + 40, "header padding not zero"),
    ] {
        let mut log = b.bytes();
        log[at] |= 0x80;
        let (_, scanned, _) = replayed(&log, 3);
        assert!(matches!(scanned.end, End::Torn { index: 2, reason: r, .. } if r == reason));
    }
}

#[test]
fn empty_and_short_logs() {
    // No write at all in the boot: QEMU left the log empty.
    let (img, log, p) = replayed(&[], 2);
    assert_eq!(
        (log.entries.len(), &log.end, p.applied),
        (0, &End::Clean, 0)
    );
    assert_eq!(fills(&img, 512), [0, 0]);
    // Less than the superblock's sector: the first entry cannot be there.
    let (_, log, _) = replayed(&[0u8; 100], 2);
    assert!(matches!(
        log.end,
        End::Torn {
            index: 0,
            reason: "header cut short",
            ..
        }
    ));
}

#[test]
fn discards_carry_no_data_and_change_nothing() {
    let mut b = Builder::new(512);
    b.write(0, 2, 7).discard(0, 2).write(1, 1, 8).flush();
    let (img, log, p) = replayed(&b.bytes(), 2);
    assert_eq!(log.end, End::Clean);
    assert_eq!(log.entries.len(), 4);
    assert_eq!((p.discards, p.applied), (1, 2));
    assert_eq!(fills(&img, 512), [7, 8]);
}

#[test]
fn sector_size_from_the_superblock() {
    let mut b = Builder::new(4096);
    b.write(1, 1, 9).flush().synced();
    let scanned = scan(&b.bytes()[..], 512).unwrap();
    assert_eq!(scanned.sector_size, 4096);
    assert_eq!(scanned.entries.len(), 2);
    assert_eq!(scanned.entries[0].offset, 4096);
    // Without the superblock the default is used: the same bytes then do not parse.
    let mut bytes = b.bytes();
    bytes[..4096].fill(0);
    let scanned = scan(&bytes[..], 512).unwrap();
    assert!(matches!(scanned.end, End::Torn { index: 0, .. }));
}

fn temp(name: &str) -> std::path::PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "logwrites-replay-{}-{n}-{name}",
        std::process::id()
    ))
}

#[test]
fn replay_of_files_keeps_the_base_and_its_holes() {
    let (base, log, out) = (temp("base"), temp("log"), temp("out"));
    // A 4 MiB base with data in its first and last sectors only.
    let f = File::create(&base).unwrap();
    f.set_len(4 << 20).unwrap();
    f.write_all_at(&[0x11; 512], 0).unwrap();
    f.write_all_at(&[0x22; 512], (4 << 20) - 512).unwrap();
    let mut b = Builder::new(512);
    b.write(1, 1, 0x33).flush().synced().write(0, 1, 0x44);
    std::fs::write(&log, b.bytes()).unwrap();
    // A stale, longer output file is replaced, not merged.
    std::fs::write(&out, vec![0x55; 5 << 20]).unwrap();

    let s = replay(&base, &log, &out, 512).unwrap();
    assert_eq!((s.plan.applied, s.plan.dropped), (1, 1));
    assert!(s
        .line()
        .starts_with("3 entries, 1 flushes, 1 applied, 1 dropped"));
    let img = std::fs::read(&out).unwrap();
    assert_eq!(img.len(), 4 << 20);
    assert!(img[..512].iter().all(|&b| b == 0x11));
    assert!(img[512..1024].iter().all(|&b| b == 0x33));
    assert!(img[1024..(4 << 20) - 512].iter().all(|&b| b == 0));
    assert!(img[(4 << 20) - 512..].iter().all(|&b| b == 0x22));
    use std::os::unix::fs::MetadataExt;
    assert!(
        std::fs::metadata(&out).unwrap().blocks() * 512 < 1 << 20,
        "output not sparse"
    );

    // Refuses to write over its inputs, and a write beyond the base's end.
    assert!(replay(&base, &log, &base, 512).is_err());
    let mut b = Builder::new(512);
    b.write(8192, 1, 1).flush();
    std::fs::write(&log, b.bytes()).unwrap();
    let e = replay(&base, &log, &out, 512).unwrap_err();
    assert!(e.to_string().contains("beyond the image"), "{e}");
    for p in [base, log, out] {
        std::fs::remove_file(p).unwrap();
    }
}
