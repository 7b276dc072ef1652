//! `bcache-nvm check`: validates a set, one line per problem.

use bcache_nvm_core::nvmpg::check::{check, RecordRef, Summary, MAX_RECORDS};

use crate::device::Device;

/// Checks the loaded devices of a set; prints each problem to stderr as
/// `bcache-nvm: DEVICE: PROBLEM` (set-wide problems name the first device).
pub fn run(devices: &[Device]) -> Summary {
    let images: Vec<&Device> = devices.iter().collect();
    let mut scratch = vec![RecordRef::default(); MAX_RECORDS];
    check(&images, &mut scratch, |p| {
        let device = &devices[p.image.unwrap_or(0)].path;
        eprintln!("bcache-nvm: {device}: {}", p.error);
    })
}
