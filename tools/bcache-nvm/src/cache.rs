//! bcache cache-device superblocks: `make-cache --nvdimm-meta` marks a brand-new cache (as
//! Debian's `make-bcache -C` leaves it) for a journal on an NVDIMM, `show-cache` prints it.
//!
//! Marking only raises `version` to CDEV_WITH_FEATURES (5), sets `BCH_FEATURE_INCOMPAT_NVDIMM_META`
//! and recomputes `csum`; `d[]` stays as it is, because the kernel allocates the journal range
//! and fills `d[]` itself when the new cache set first runs.
//!
//! "Brand new" is the kernel's own test: `CACHE_SYNC` (bit 0 of `flags`) clear. run_cache_set
//! treats such a cache as a new set ("invalidating existing data": it picks `keys`, fills `d[]`
//! and only then sets `CACHE_SYNC`), so a cache with it set has run and has its journal (and
//! data) on the cache device; marking it would make the kernel read bucket indexes as NVDIMM
//! locations, so it is refused, with no override.

use bcache_nvm_core::cache_sb::features::{
    INCOMPAT_LOG_LARGE_BUCKET_SIZE, INCOMPAT_NVDIMM_META, INCOMPAT_OBSO_LARGE_BUCKET,
};
use bcache_nvm_core::cache_sb::nvdimm::mark_nvdimm_meta;
use bcache_nvm_core::cache_sb::sb::{
    CacheSb, BCACHE_MAGIC, SB_OFFSET, SB_SECTOR, SB_SIZE, SB_VERSION_CDEV_WITH_FEATURES,
};
use bcache_nvm_core::nvmpg::format::NvmpgOffset;

use crate::device::{Device, Error};
use crate::uuid;

/// `CACHE_SYNC`: bit 0 of `flags`, set once the cache set has run.
pub const CACHE_SYNC: u64 = 1;

/// Reads the 4 KiB superblock sector.
fn read_sb(dev: &Device) -> Result<Vec<u8>, Error> {
    if dev.size < SB_OFFSET + SB_SIZE as u64 {
        let reason = format!("too small for a bcache superblock ({} bytes)", dev.size);
        return Err(Error::new(&dev.path, reason));
    }
    dev.read_at(SB_OFFSET, SB_SIZE)
}

/// `make-cache --nvdimm-meta DEV`. Every check runs before the only write: the superblock
/// sector, written at its offset and fdatasync'ed, then read back and compared. A cache already
/// marked is left alone and reported (success).
pub fn mark(path: &str) -> Result<(), Error> {
    let dev = Device::open(path, true)?;
    let mut buf = read_sb(&dev)?;
    let old = mark_nvdimm_meta(&mut buf).map_err(|e| Error::new(path, e))?;
    if old.nvdimm_meta() {
        println!("{path}: NVDIMM_META already set, nothing written");
        return Ok(());
    }
    if old.flags & CACHE_SYNC != 0 {
        let reason = format!(
            "cache set has already run (CACHE_SYNC set, seq {}): its journal is on the cache \
             device; only a new cache (make-bcache -C) can be marked",
            old.seq
        );
        return Err(Error::new(path, reason));
    }
    dev.write_durably(SB_OFFSET, &buf)?;
    if dev.read_at(SB_OFFSET, SB_SIZE)? != buf {
        return Err(Error::new(path, "superblock reads back differently"));
    }
    let csum = CacheSb::decode(&buf).map_or(0, |sb| sb.csum);
    println!(
        "{path}: version {} -> {SB_VERSION_CDEV_WITH_FEATURES}, feature_incompat {:#x} -> {:#x} \
         (NVDIMM_META), csum {csum:#018x}; the kernel places the journal on the NVDIMM when \
         the cache set first starts",
        old.version,
        old.feature_incompat,
        old.feature_incompat | INCOMPAT_NVDIMM_META
    );
    Ok(())
}

/// The names of the bits of an incompat word, unknown bits in hex.
fn incompat_names(word: u64) -> String {
    let known = [
        (INCOMPAT_OBSO_LARGE_BUCKET, "OBSO_LARGE_BUCKET"),
        (INCOMPAT_LOG_LARGE_BUCKET_SIZE, "LOG_LARGE_BUCKET_SIZE"),
        (INCOMPAT_NVDIMM_META, "NVDIMM_META"),
    ];
    let mut names: Vec<String> = known
        .iter()
        .filter(|(bit, _)| word & bit != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let rest = known.iter().fold(word, |w, (bit, _)| w & !bit);
    if rest != 0 {
        names.push(format!("unknown {rest:#x}"));
    }
    if names.is_empty() {
        return "none".to_owned();
    }
    names.join(" ")
}

/// `show-cache DEV`: the cache superblock's fields, one `sb.NAME VALUE` line each. Returns
/// whether offset, magic and csum are valid (the exit status is 1 when not).
pub fn show(path: &str) -> Result<bool, Error> {
    let dev = Device::open(path, false)?;
    let buf = read_sb(&dev)?;
    let sb = CacheSb::decode(&buf).map_err(|e| Error::new(path, e))?;
    let mut out = format!("{path}:\n");
    let mut line = |name: &str, value: String| out.push_str(&format!("  sb.{name:<18} {value}\n"));
    let kind = match sb.version {
        0 | 3 => "cache device",
        5 => "cache device with features",
        1 | 4 | 6 => "backing device",
        _ => "unknown",
    };
    line("version", format!("{} [{kind}]", sb.version));
    let offset_ok = sb.offset == SB_SECTOR;
    line("offset", format!("{} [{}]", sb.offset, ok(offset_ok)));
    let magic_ok = sb.magic == BCACHE_MAGIC;
    line("magic", ok(magic_ok).to_owned());
    let csum_ok = match CacheSb::compute_csum(&buf) {
        Ok(c) if c == sb.csum => {
            line("csum", format!("{:#018x} [ok]", sb.csum));
            true
        }
        Ok(c) => {
            line(
                "csum",
                format!("{:#018x} [bad, expected {c:#018x}]", sb.csum),
            );
            false
        }
        Err(e) => {
            line("csum", format!("{:#018x} [bad: {e}]", sb.csum));
            false
        }
    };
    line("uuid", uuid::fmt(&sb.uuid));
    line("set_uuid", uuid::fmt(&sb.set_uuid));
    let label = sb.label.split(|&b| b == 0).next().unwrap_or_default();
    line("label", format!("\"{}\"", String::from_utf8_lossy(label)));
    let sync = if sb.flags & CACHE_SYNC != 0 {
        " (CACHE_SYNC)"
    } else {
        " (new: CACHE_SYNC clear)"
    };
    line("flags", format!("{:#x}{sync}", sb.flags));
    line("seq", sb.seq.to_string());
    line("block_size", sb.block_size.to_string());
    let sectors = sb
        .bucket_sectors()
        .map_or("overflows".to_owned(), |s| format!("{s} sectors"));
    line("bucket_size", format!("{} ({sectors})", sb.bucket_size));
    line("nbuckets", sb.nbuckets.to_string());
    line("first_bucket", sb.first_bucket.to_string());
    line("nr_in_set", sb.nr_in_set.to_string());
    line("nr_this_dev", sb.nr_this_dev.to_string());
    let ignored = if sb.version < SB_VERSION_CDEV_WITH_FEATURES {
        " (ignored before version 5)"
    } else {
        ""
    };
    line(
        "feature_compat",
        format!("{:#x}{ignored}", sb.feature_compat),
    );
    let names = incompat_names(sb.feature_incompat);
    line(
        "feature_incompat",
        format!("{:#x} [{names}]{ignored}", sb.feature_incompat),
    );
    line(
        "feature_ro_compat",
        format!("{:#x}{ignored}", sb.feature_ro_compat),
    );
    line("keys", sb.keys.to_string());
    // With NVDIMM_META a d[i] that is not mainline's first_bucket + i is an nvmpg offset.
    for i in 0..sb.keys {
        let Some(d) = CacheSb::journal_bucket(&buf, i) else {
            line(&format!("d[{i}]"), "past d[]".to_owned());
            continue;
        };
        let value = if sb.nvdimm_meta() && d != u64::from(sb.first_bucket) + u64::from(i) {
            let o = NvmpgOffset(d);
            format!("{}:{:#x} [nvmpg ns:offset]", o.ns(), o.offset())
        } else {
            format!("{d} [bucket]")
        };
        line(&format!("d[{i}]"), value);
    }
    print!("{out}");
    Ok(offset_ok && magic_ok && csum_ok)
}

const fn ok(valid: bool) -> &'static str {
    if valid {
        "ok"
    } else {
        "bad"
    }
}
