//! `bcache-nvm probe DEV`: what a device is to bcache-nvm, as `KEY=VALUE` lines for udev's
//! `IMPORT{program}`.
//!
//! - an nvm-pages namespace (magic, checksum and fields of its sb valid):
//!   `BCACHE_NVM_ROLE=meta`, the set's uuid, this namespace's id and uuid, the set's size;
//! - a bcache cache device marked `NVDIMM_META` (offset, magic and checksum valid):
//!   `BCACHE_NVM_ROLE=cache`, its cache set's uuid and, once the set has run, the namespace
//!   that holds its journal.
//!
//! Anything else (a backing device, an unmarked cache, a bad checksum, a short device) is
//! neither: nothing on stdout and [`Probe::Neither`], so a udev rule matches nothing.

use bcache_nvm_core::cache_sb::sb::{CacheSb, SB_OFFSET as CACHE_SB_OFFSET, SB_SIZE};
use bcache_nvm_core::nvmpg::format::{NvmpgOffset, Sb, NVMPG_MAGIC, PAGE_SIZE, SB_OFFSET};

use crate::device::{Device, Error};
use crate::uuid;

/// What a probed device is.
#[derive(Debug, PartialEq, Eq)]
pub enum Probe {
    /// Lines to print (each `KEY=VALUE`).
    Found(Vec<(&'static str, String)>),
    /// Neither a namespace nor a marked cache.
    Neither,
}

/// The sb page of an nvm-pages namespace (the sb and its `d[]` lie inside it).
fn nvmpg_sb(dev: &Device) -> Result<Option<Sb>, Error> {
    if dev.size < SB_OFFSET + u64::from(PAGE_SIZE) {
        return Ok(None);
    }
    let buf = dev.read_at(SB_OFFSET, PAGE_SIZE as usize)?;
    let Ok(sb) = Sb::decode(&buf) else {
        return Ok(None);
    };
    if sb.magic != NVMPG_MAGIC || Sb::compute_csum(&buf).ok() != Some(sb.csum) {
        return Ok(None);
    }
    let mut broken = false;
    sb.check_fields(dev.size, |_| broken = true);
    Ok((!broken).then_some(sb))
}

/// A cache superblock marked `NVDIMM_META`, with its raw bytes.
fn marked_cache(dev: &Device) -> Result<Option<(CacheSb, Vec<u8>)>, Error> {
    if dev.size < CACHE_SB_OFFSET + SB_SIZE as u64 {
        return Ok(None);
    }
    let buf = dev.read_at(CACHE_SB_OFFSET, SB_SIZE)?;
    match CacheSb::check_header(&buf) {
        Ok(sb) if sb.is_cache_device() && sb.nvdimm_meta() => Ok(Some((sb, buf))),
        _ => Ok(None),
    }
}

/// Probes the device (or image file) at `path`; read-only.
pub fn probe(path: &str) -> Result<Probe, Error> {
    let dev = Device::open(path, false)?;
    if let Some(sb) = nvmpg_sb(&dev)? {
        return Ok(Probe::Found(vec![
            ("BCACHE_NVM_ROLE", "meta".to_owned()),
            ("BCACHE_NVM_SET_UUID", uuid::fmt(&sb.set_uuid)),
            ("BCACHE_NVM_NS", sb.this_ns.to_string()),
            ("BCACHE_NVM_TOTAL_NS", sb.total_ns.to_string()),
            ("BCACHE_NVM_NS_UUID", uuid::fmt(&sb.uuid)),
        ]));
    }
    let Some((sb, buf)) = marked_cache(&dev)? else {
        return Ok(Probe::Neither);
    };
    let mut lines = vec![
        ("BCACHE_NVM_ROLE", "cache".to_owned()),
        ("BCACHE_NVM_CACHE_SET_UUID", uuid::fmt(&sb.set_uuid)),
        ("BCACHE_NVM_CACHE_UUID", uuid::fmt(&sb.uuid)),
    ];
    // Before its first start a marked cache has mainline's d[] (or none); afterwards d[0] is
    // the nvmpg offset of its journal, whose top bits name the namespace.
    let d0 = CacheSb::journal_bucket(&buf, 0);
    if let Some(d0) = d0.filter(|&d| sb.keys > 0 && d != u64::from(sb.first_bucket)) {
        lines.push(("BCACHE_NVM_JOURNAL_NS", NvmpgOffset(d0).ns().to_string()));
    }
    Ok(Probe::Found(lines))
}
