//! Helpers shared by the tool's integration tests: a temporary directory, running the
//! binary, bcache's crc64 computed bitwise and cache superblock images (both independent of
//! the code under test).
#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

#[allow(unused_imports)]
pub use bcache_nvm_core::reference::bitwise_crc64 as crc64;

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty directory named after `what`, the process and a counter.
    pub fn new(what: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("bcache-nvm-{what}-{}-{n}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// A zero-filled (sparse) file of `bytes` bytes.
    pub fn file(&self, name: &str, bytes: u64) -> String {
        let path = self.0.join(name);
        fs::File::create(&path).unwrap().set_len(bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// A file holding `bytes`.
    pub fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.0.join(name);
        fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `bcache-nvm` with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bcache-nvm"))
        .args(args)
        .output()
        .unwrap()
}

/// Its standard output.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Its standard error.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// Cache superblock images at the C offsets of `struct cache_sb_disk`, built here
// independently of the code under test (make-cache, show-cache and probe tests).

/// The superblock sector: `SB_SECTOR` 8.
pub const SB: usize = 4096;
/// bcache's superblock magic.
pub const MAGIC: [u8; 16] = [
    0xc6, 0x85, 0x73, 0xf6, 0x4e, 0x1a, 0x45, 0xca, 0x82, 0x65, 0xf5, 0x7f, 0x48, 0xba, 0x6d, 0x81,
];

/// A little-endian u16 at `at`.
pub fn u16_at(s: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(s[at..at + 2].try_into().unwrap())
}

/// A little-endian u64 at `at`.
pub fn u64_at(s: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(s[at..at + 8].try_into().unwrap())
}

/// csum_set(): crc over `[8, 208 + keys * 8)`, stored at 0.
pub fn reseal(s: &mut [u8]) {
    let end = 208 + usize::from(u16_at(s, 206)) * 8;
    let c = crc64(&s[8..end]);
    s[0..8].copy_from_slice(&c.to_le_bytes());
}

/// A 4 KiB cache superblock as Debian's make-bcache -C writes it (version 0, keys 0, flags 0:
/// a cache set that never ran), 256-sector buckets; `keys` > 0 fills d[] as the kernel does.
pub fn cache_sb(version: u8, keys: u16) -> Vec<u8> {
    let mut s = vec![0u8; 4096];
    s[8] = 8; // offset
    s[16] = version;
    s[24..40].copy_from_slice(&MAGIC);
    s[40..56].copy_from_slice(b"device-uuid-0001");
    s[56..72].copy_from_slice(b"cache-set-uuid-1");
    s[184..192].copy_from_slice(&4096u64.to_le_bytes()); // nbuckets
    s[192] = 8; // block_size
    s[194..196].copy_from_slice(&256u16.to_le_bytes()); // bucket_size
    s[196] = 1; // nr_in_set
    s[204] = 1; // first_bucket
    s[206..208].copy_from_slice(&keys.to_le_bytes());
    for i in 0..usize::from(keys) {
        s[208 + i * 8..216 + i * 8].copy_from_slice(&(1 + i as u64).to_le_bytes());
    }
    reseal(&mut s);
    s
}

/// A sparse file of `bytes` bytes in `dir` holding `sb` at byte 4096 (nothing if empty).
pub fn image(dir: &TempDir, name: &str, bytes: u64, sb: &[u8]) -> String {
    let path = dir.file(name, bytes);
    if !sb.is_empty() {
        let mut img = fs::read(&path).unwrap();
        img[SB..SB + sb.len()].copy_from_slice(sb);
        fs::write(&path, img).unwrap();
    }
    path
}
