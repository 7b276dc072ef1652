//! `bcache-nvm format`: the seed's `bcache make -M`. Every check runs before the first write.

use std::fs::File;
use std::io::Read;

use bcache_nvm_core::nvmpg::format::{
    write_formatted, Sb, MIN_NS_BYTES, NS_MAX, NVMPG_MAGIC, PAGE_SIZE, SB_OFFSET, START,
};

use crate::device::{open_all, Device, Error};
use crate::uuid;

/// Random bytes from the kernel.
fn random_uuid() -> Result<[u8; 16], Error> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::new("/dev/urandom", e))?;
    Ok(uuid::v4(bytes))
}

/// Refuses what format must not touch; reads nothing but the old sb magic.
fn validate(dev: &Device, force: bool) -> Result<(), Error> {
    if dev.size < MIN_NS_BYTES {
        let reason = format!(
            "too small: {} bytes, need at least {MIN_NS_BYTES} (16 MiB reserved + one page)",
            dev.size
        );
        return Err(Error::new(&dev.path, reason));
    }
    let magic_at = SB_OFFSET + Sb::OFF_MAGIC as u64;
    if !force && dev.read_at(magic_at, 16)? == NVMPG_MAGIC {
        return Err(Error::new(
            &dev.path,
            "already has an nvm-pages sb (use --force to overwrite)",
        ));
    }
    Ok(())
}

/// Formats `paths` as the namespaces of one new set, in order (the first is namespace 0).
pub fn run(paths: &[String], force: bool) -> Result<(), Error> {
    if paths.len() > NS_MAX {
        return Err(Error::new(
            &paths[NS_MAX],
            format!("more than {NS_MAX} namespaces"),
        ));
    }
    let devices = open_all(paths, true)?;
    for dev in &devices {
        validate(dev, force)?;
    }
    let set_uuid = random_uuid()?;
    let mut uuids = Vec::with_capacity(devices.len());
    for _ in &devices {
        uuids.push(random_uuid()?);
    }
    let total_ns = devices.len() as u32;
    let mut meta = vec![0u8; START as usize];
    // Namespace 0 last: once its set header is durable, every namespace is.
    for (this_ns, dev) in devices.iter().enumerate().rev() {
        meta.fill(0);
        let pages_total = dev.size / u64::from(PAGE_SIZE);
        let sb = Sb::formatted(
            uuids[this_ns],
            set_uuid,
            total_ns,
            this_ns as u32,
            pages_total,
        );
        write_formatted(&mut meta, &sb).map_err(|e| Error::new(&dev.path, e))?;
        dev.write_durably(0, &meta)?;
        println!(
            "{}: namespace {this_ns} of {total_ns}, uuid {}, set uuid {}, {pages_total} pages",
            dev.path,
            uuid::fmt(&uuids[this_ns]),
            uuid::fmt(&set_uuid)
        );
    }
    Ok(())
}
