//! Rebuilds a disk image as a power cut could have left it, from a copy of the disk taken
//! before the guest booted (the base) and the write log QEMU's `blklogwrites` driver kept
//! of that boot.
//!
//! The log is in the dm-log-writes format (Linux `drivers/md/dm-log-writes.c`; QEMU's
//! `block/blklogwrites.c` writes the same layout), every field little-endian, in units of
//! the log's sector size S (QEMU's `log-sector-size`, default 512):
//!
//! - sector 0, the superblock: magic `0x6a736677736872` (u64), version 1 (u64), the number
//!   of entries (u64), S (u32), zeros to the end of the sector. QEMU rewrites it only after
//!   logging a flush and after every `log-super-update-interval` entries (default 4096), so
//!   it may lag the entries, and it is all zeros before the first of those.
//! - from sector 1, the entries back to back: one header sector (sector, number of sectors,
//!   flags, data_len: four u64; a mark's text, data_len bytes, may follow in the same
//!   sector; zeros after), then the written data, number-of-sectors sectors, except for a
//!   discard, which has none. A flush is an entry with the flush flag and no sectors.
//!
//! QEMU logs a request after the disk image completed it and completes it to the guest
//! only once the entry is in the log, so the log's order is the order the requests
//! completed; a flush is logged after the image's flush, so every write the guest saw
//! complete before it sent the flush lies before the flush's entry. A write the guest had
//! in flight meanwhile may lie on either side: kept before it, it is one lawful outcome.
//! QEMU's driver never sets the FUA flag (it does not take FUA requests: QEMU's block
//! layer turns one into a write and a flush, and virtio-blk has no FUA at all), but the
//! format has one and this replay honours it.
//!
//! The replay keeps what the disk promised: the base, then every write logged before the
//! last flush, in log order; after it only FUA writes (each durable by itself). Every other
//! write after the last flush is dropped, which is what losing the disk's whole volatile
//! cache at the cut does. Discards change nothing (their data is undefined; the old data is
//! one lawful outcome) and marks carry no data.
//!
//! The scan stops at the first entry that does not parse (a SIGKILL while QEMU appends can
//! leave a header without all its data, or nothing where an entry was reserved): what
//! follows it is not read.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// The superblock's magic.
pub const MAGIC: u64 = 0x006a_7366_7773_6872;
/// The only format version.
pub const VERSION: u64 = 1;
/// A flush: every write logged before it is durable.
pub const FLAG_FLUSH: u64 = 1 << 0;
/// A FUA write: durable when it completed.
pub const FLAG_FUA: u64 = 1 << 1;
/// A discard: no data in the log.
pub const FLAG_DISCARD: u64 = 1 << 2;
/// A mark (dm-log-writes' `dmsetup message ... mark`): no write.
pub const FLAG_MARK: u64 = 1 << 3;
/// Metadata hint (newer dm-log-writes); no effect on the replay.
pub const FLAG_METADATA: u64 = 1 << 4;
const FLAGS_KNOWN: u64 = FLAG_FLUSH | FLAG_FUA | FLAG_DISCARD | FLAG_MARK | FLAG_METADATA;
/// Bytes of the superblock's fields.
pub const SUPER_LEN: usize = 28;
/// Bytes of an entry header's fields.
pub const ENTRY_LEN: usize = 32;

fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

/// A sector size the format allows: a power of two that holds a header, below 16 MiB.
pub fn sector_size_valid(size: u64) -> bool {
    size.is_power_of_two() && size >= ENTRY_LEN as u64 && size < (1 << 24)
}

/// The log's superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Super {
    /// Entries logged when QEMU last wrote the superblock.
    pub nr_entries: u64,
    /// The log's sector size in bytes.
    pub sector_size: u32,
}

impl Super {
    /// Decodes sector 0; `None` unless magic, version and sector size are valid.
    pub fn decode(b: &[u8]) -> Option<Super> {
        if b.len() < SUPER_LEN || le64(b, 0) != MAGIC || le64(b, 8) != VERSION {
            return None;
        }
        let sector_size = le32(b, 24);
        sector_size_valid(u64::from(sector_size)).then_some(Super {
            nr_entries: le64(b, 16),
            sector_size,
        })
    }
}

/// One parsed log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log, from 0.
    pub index: u64,
    /// First sector written (log sector units).
    pub sector: u64,
    /// Sectors written (or discarded).
    pub nr_sectors: u64,
    /// `FLAG_*` bits.
    pub flags: u64,
    /// Byte offset of the entry's header in the log.
    pub offset: u64,
}

impl Entry {
    /// Sectors of data that follow the header in the log.
    pub fn data_sectors(&self) -> u64 {
        if self.flags & FLAG_DISCARD != 0 {
            0
        } else {
            self.nr_sectors
        }
    }

    /// Whether the entry writes data to the disk.
    pub fn is_write(&self) -> bool {
        self.flags & (FLAG_DISCARD | FLAG_MARK) == 0 && self.nr_sectors > 0
    }

    fn has(&self, flag: u64) -> bool {
        self.flags & flag != 0
    }
}

/// Where the scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The last entry ends exactly at the end of the log.
    Clean,
    /// The entry at `index` (byte `offset`) does not parse, for `reason`.
    Torn {
        index: u64,
        offset: u64,
        reason: &'static str,
    },
}

/// Random access to the log's bytes (a file, or a buffer in the tests).
pub trait Source {
    /// Length in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Fills `buf` from byte `off` (which the caller keeps within the length).
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()>;
}

impl Source for File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        self.read_exact_at(buf, off)
    }
}

impl Source for [u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(<[u8]>::len(self) as u64)
    }
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        let at = usize::try_from(off).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let src = self
            .get(at..at + buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// What the scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// The superblock, when sector 0 holds a valid one.
    pub superblock: Option<Super>,
    /// The sector size the entries were read with.
    pub sector_size: u32,
    /// Every entry up to the first that does not parse.
    pub entries: Vec<Entry>,
    /// Why the scan stopped.
    pub end: End,
}

/// Reads the entries of a log. The sector size is the superblock's when it has a valid
/// one, else `default_sector_size` (a log QEMU never wrote a superblock into: no flush yet).
pub fn scan<S: Source + ?Sized>(log: &S, default_sector_size: u32) -> io::Result<Log> {
    let len = log.size()?;
    let mut first = vec![0u8; SUPER_LEN];
    let superblock = if len >= SUPER_LEN as u64 {
        log.read_at(&mut first, 0)?;
        Super::decode(&first)
    } else {
        None
    };
    let ss = superblock.map_or(default_sector_size, |s| s.sector_size);
    if !sector_size_valid(u64::from(ss)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid log sector size {ss}"),
        ));
    }
    let ssz = u64::from(ss);
    let mut header = vec![0u8; ss as usize];
    let mut entries = Vec::new();
    let mut offset = ssz;
    let end = loop {
        let index = entries.len() as u64;
        let torn = |reason| End::Torn {
            index,
            offset,
            reason,
        };
        // An empty log: nothing was ever written. Anything else ends right after an entry.
        if offset == len || len == 0 {
            break End::Clean;
        }
        if len < offset || len - offset < ssz {
            break torn("header cut short");
        }
        log.read_at(&mut header, offset)?;
        if header.iter().all(|&b| b == 0) {
            break torn("header is zeros");
        }
        let flags = le64(&header, 16);
        let data_len = le64(&header, 24);
        if flags & !FLAGS_KNOWN != 0 {
            break torn("unknown flags");
        }
        if data_len > ssz - ENTRY_LEN as u64 {
            break torn("data_len beyond the header sector");
        }
        if header[ENTRY_LEN + data_len as usize..]
            .iter()
            .any(|&b| b != 0)
        {
            break torn("header padding not zero");
        }
        let entry = Entry {
            index,
            sector: le64(&header, 0),
            nr_sectors: le64(&header, 8),
            flags,
            offset,
        };
        if entry.sector.checked_add(entry.nr_sectors).is_none() {
            break torn("sector range overflows");
        }
        let next = entry
            .data_sectors()
            .checked_add(1)
            .and_then(|n| n.checked_mul(ssz))
            .and_then(|n| n.checked_add(offset));
        match next {
            Some(next) if next <= len => {
                offset = next;
                entries.push(entry);
            }
            _ => break torn("data cut short"),
        }
    };
    Ok(Log {
        superblock,
        sector_size: ss,
        entries,
        end,
    })
}

/// Which entries the replay writes, and the counts it reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Indices (into the scanned entries) of the writes to apply, in log order.
    pub apply: Vec<usize>,
    /// Index of the last flush entry, if any.
    pub last_flush: Option<usize>,
    /// Flush entries.
    pub flushes: u64,
    /// Writes applied (FUA writes after the last flush included).
    pub applied: u64,
    /// FUA writes after the last flush, applied.
    pub fua_after_flush: u64,
    /// Writes after the last flush, dropped.
    pub dropped: u64,
    /// Discards (never applied).
    pub discards: u64,
}

/// Chooses the writes a lost volatile cache leaves: all before the last flush, only FUA
/// writes after it. A flush entry's own data (dm-log-writes logs a PREFLUSH write as one
/// entry) comes after its flush, so it too is kept only when FUA.
pub fn plan(entries: &[Entry]) -> Plan {
    let last_flush = entries.iter().rposition(|e| e.has(FLAG_FLUSH));
    let mut p = Plan {
        last_flush,
        ..Plan::default()
    };
    for (i, e) in entries.iter().enumerate() {
        if e.has(FLAG_FLUSH) {
            p.flushes += 1;
        }
        if e.has(FLAG_DISCARD) {
            p.discards += 1;
        }
        if !e.is_write() {
            continue;
        }
        let before_flush = last_flush.is_some_and(|f| i < f);
        if before_flush || e.has(FLAG_FUA) {
            p.apply.push(i);
            p.applied += 1;
            if !before_flush {
                p.fua_after_flush += 1;
            }
        } else {
            p.dropped += 1;
        }
    }
    p
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The scan.
    pub log: Log,
    /// The plan applied.
    pub plan: Plan,
}

impl Summary {
    /// The one-line report.
    pub fn line(&self) -> String {
        let last = self
            .plan
            .last_flush
            .map_or_else(|| "none".to_string(), |i| format!("entry {i}"));
        let end = match &self.log.end {
            End::Clean => "clean".to_string(),
            End::Torn {
                index,
                offset,
                reason,
            } => format!("torn at entry {index} (byte {offset}: {reason})"),
        };
        format!(
            "{} entries, {} flushes, {} applied, {} dropped ({} FUA after the last flush, \
             {} discards ignored); last flush: {last}; end: {end}",
            self.log.entries.len(),
            self.plan.flushes,
            self.plan.applied,
            self.plan.dropped,
            self.plan.fua_after_flush,
            self.plan.discards,
        )
    }

    /// A superblock counting more entries than the scan found: an entry reserved before
    /// QEMU last wrote the superblock never reached the log (a write in flight at the cut;
    /// harmless unless a flush lies beyond it, which the scan cannot see).
    pub fn superblock_ahead(&self) -> Option<u64> {
        self.log
            .superblock
            .map(|s| s.nr_entries)
            .filter(|&n| n > self.log.entries.len() as u64)
    }
}

/// Copies `src` into `dst` (truncated first), writing only the non-zero parts of its data
/// extents, so a sparse base stays sparse.
pub fn sparse_copy(src: &File, dst: &File) -> io::Result<()> {
    let len = src.metadata()?.len();
    dst.set_len(0)?;
    dst.set_len(len)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < len {
        let (data, hole) = match data_extent(src, pos, len)? {
            Some(extent) => extent,
            None => break,
        };
        let mut at = data;
        while at < hole {
            let n = (hole - at).min(buf.len() as u64) as usize;
            src.read_exact_at(&mut buf[..n], at)?;
            if buf[..n].iter().any(|&b| b != 0) {
                dst.write_all_at(&buf[..n], at)?;
            }
            at += n as u64;
        }
        pos = hole;
    }
    Ok(())
}

/// The next data extent at or after `pos` (SEEK_DATA/SEEK_HOLE); the whole rest of the
/// file where the file system does not tell.
fn data_extent(f: &File, pos: u64, len: u64) -> io::Result<Option<(u64, u64)>> {
    let seek = |off: u64, whence| {
        let off = libc::off_t::try_from(off).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: lseek on a descriptor this File owns; no memory is passed.
        let r = unsafe { libc::lseek(f.as_raw_fd(), off, whence) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as u64)
        }
    };
    let data = match seek(pos, libc::SEEK_DATA) {
        Ok(d) => d,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(Some((pos, len))),
        Err(e) => return Err(e),
    };
    let hole = seek(data, libc::SEEK_HOLE)?.min(len);
    Ok((data < hole).then_some((data, hole)))
}

/// Writes `out` = `base` + the planned writes of `log`. `default_sector_size` is used when
/// the log has no superblock. Fails on a write beyond the end of the base (a wrong base).
pub fn replay(
    base: &Path,
    log: &Path,
    out: &Path,
    default_sector_size: u32,
) -> io::Result<Summary> {
    let log_file = File::open(log)?;
    let scanned = scan(&log_file, default_sector_size)?;
    let p = plan(&scanned.entries);
    let base_file = File::open(base)?;
    let out_file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(out)?;
    if same_file(&base_file, &out_file)? || same_file(&log_file, &out_file)? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the output is the base or the log",
        ));
    }
    sparse_copy(&base_file, &out_file)?;
    apply(&log_file, &scanned, &p, &out_file)?;
    Ok(Summary {
        log: scanned,
        plan: p,
    })
}

fn same_file(a: &File, b: &File) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (a.metadata()?, b.metadata()?);
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

/// Applies the planned writes of a scanned log to `out`, in log order.
pub fn apply<S: Source + ?Sized>(log: &S, scanned: &Log, p: &Plan, out: &File) -> io::Result<()> {
    let ss = u64::from(scanned.sector_size);
    let size = out.metadata()?.len();
    let mut buf = vec![0u8; 1 << 20];
    for &i in &p.apply {
        let e = &scanned.entries[i];
        let (start, bytes) = (e.sector * ss, e.nr_sectors * ss);
        if start.checked_add(bytes).is_none_or(|end| end > size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "entry {} writes sectors {}+{} beyond the image's {} bytes",
                    e.index, e.sector, e.nr_sectors, size
                ),
            ));
        }
        let mut done = 0u64;
        while done < bytes {
            let n = (bytes - done).min(buf.len() as u64) as usize;
            log.read_at(&mut buf[..n], e.offset + ss + done)?;
            out.write_all_at(&buf[..n], start + done)?;
            done += n as u64;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
