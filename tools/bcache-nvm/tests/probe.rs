//! End-to-end tests of `bcache-nvm probe`, the udev helper: what it prints for a formatted
//! namespace and a cache marked NVDIMM_META, and that everything else prints nothing and
//! exits non-zero.

mod common;
use common::*;

use std::fs;

const MIB: u64 = 1 << 20;

/// The `KEY=VALUE` lines of a successful probe, in order.
fn probe_ok(path: &str) -> Vec<(String, String)> {
    let out = run(&["probe", path]);
    assert_eq!(out.status.code(), Some(0), "{path}: {}", stderr(&out));
    stdout(&out)
        .lines()
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not KEY=VALUE: {l}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn get<'a>(lines: &'a [(String, String)], key: &str) -> Option<&'a str> {
    lines
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Neither: exit status 1, nothing on stdout.
fn assert_neither(path: &str) {
    let out = run(&["probe", path]);
    assert_eq!(out.status.code(), Some(1), "{path}: {}", stdout(&out));
    assert_eq!(stdout(&out), "", "{path}");
}

/// The set uuid, namespace id and uuid `show --json` reads from the namespace.
fn shown(path: &str) -> (String, u64, String) {
    let out = run(&["show", "--json", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sb = &v["namespaces"][0];
    (
        sb["set_uuid"].as_str().unwrap().to_owned(),
        sb["this_ns"].as_u64().unwrap(),
        sb["uuid"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn namespaces_of_a_set_are_meta() {
    let dir = TempDir::new("probe-meta");
    let ns0 = dir.file("ns0", 17 * MIB);
    let ns1 = dir.file("ns1", 18 * MIB);
    let out = run(&["format", &ns0, &ns1]);
    assert!(out.status.success(), "{}", stderr(&out));

    let (set, _, uuid0) = shown(&ns0);
    let (set1, this1, uuid1) = shown(&ns1);
    assert_eq!((set1.as_str(), this1), (set.as_str(), 1));
    assert_ne!(uuid0, uuid1);

    let p0 = probe_ok(&ns0);
    let keys: Vec<&str> = p0.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "BCACHE_NVM_ROLE",
            "BCACHE_NVM_SET_UUID",
            "BCACHE_NVM_NS",
            "BCACHE_NVM_TOTAL_NS",
            "BCACHE_NVM_NS_UUID"
        ]
    );
    assert_eq!(get(&p0, "BCACHE_NVM_ROLE"), Some("meta"));
    assert_eq!(get(&p0, "BCACHE_NVM_SET_UUID"), Some(set.as_str()));
    assert_eq!(get(&p0, "BCACHE_NVM_NS"), Some("0"));
    assert_eq!(get(&p0, "BCACHE_NVM_TOTAL_NS"), Some("2"));
    assert_eq!(get(&p0, "BCACHE_NVM_NS_UUID"), Some(uuid0.as_str()));

    let p1 = probe_ok(&ns1);
    assert_eq!(get(&p1, "BCACHE_NVM_ROLE"), Some("meta"));
    assert_eq!(get(&p1, "BCACHE_NVM_SET_UUID"), Some(set.as_str()));
    assert_eq!(get(&p1, "BCACHE_NVM_NS"), Some("1"));
    assert_eq!(get(&p1, "BCACHE_NVM_NS_UUID"), Some(uuid1.as_str()));
}

#[test]
fn damaged_or_foreign_namespaces_are_neither() {
    let dir = TempDir::new("probe-bad");
    let blank = dir.file("blank", 17 * MIB);
    assert_neither(&blank);
    let tiny = dir.file("tiny", 4096);
    assert_neither(&tiny);

    // One byte of the sb's uuid changed: the checksum no longer matches.
    let ns = dir.file("ns", 17 * MIB);
    assert!(run(&["format", &ns]).status.success());
    probe_ok(&ns);
    let mut img = fs::read(&ns).unwrap();
    img[4096 + 48] ^= 1;
    fs::write(&ns, &img).unwrap();
    assert_neither(&ns);

    // A valid sb whose pages_total claims more than the device holds.
    img[4096 + 48] ^= 1;
    fs::write(&ns, &img).unwrap();
    probe_ok(&ns);
    let short = dir.write("short", &img[..(16 * MIB) as usize + 4096]);
    assert_neither(&short);
}

#[test]
fn marked_cache_is_cache() {
    let dir = TempDir::new("probe-cache");
    // A new cache (make-bcache -C): neither until it is marked.
    let cache = image(&dir, "cache", 16 * MIB, &cache_sb(0, 0));
    assert_neither(&cache);
    let out = run(&["make-cache", "--nvdimm-meta", &cache]);
    assert!(out.status.success(), "{}", stderr(&out));
    let p = probe_ok(&cache);
    assert_eq!(get(&p, "BCACHE_NVM_ROLE"), Some("cache"));
    // "cache-set-uuid-1" and "device-uuid-0001" as bytes, in the usual text form.
    assert_eq!(
        get(&p, "BCACHE_NVM_CACHE_SET_UUID"),
        Some("63616368-652d-7365-742d-757569642d31")
    );
    assert_eq!(
        get(&p, "BCACHE_NVM_CACHE_UUID"),
        Some("64657669-6365-2d75-7569-642d30303031")
    );
    // Never started: no journal on any namespace yet.
    assert_eq!(get(&p, "BCACHE_NVM_JOURNAL_NS"), None);

    // After its first start the kernel fills d[] with nvmpg offsets: namespace 2 here.
    let mut s = fs::read(&cache).unwrap()[SB..2 * SB].to_vec();
    s[206..208].copy_from_slice(&2u16.to_le_bytes());
    for i in 0..2u64 {
        let d = 2 << 61 | (16 * MIB + i * (128 << 10));
        s[208 + 8 * i as usize..216 + 8 * i as usize].copy_from_slice(&d.to_le_bytes());
    }
    s[104] = 1; // CACHE_SYNC
    reseal(&mut s);
    let ran = image(&dir, "ran", 16 * MIB, &s);
    let p = probe_ok(&ran);
    assert_eq!(get(&p, "BCACHE_NVM_ROLE"), Some("cache"));
    assert_eq!(get(&p, "BCACHE_NVM_JOURNAL_NS"), Some("2"));

    // A bad checksum makes it neither (the kernel would refuse it too).
    s[72] ^= 1;
    let bad = image(&dir, "bad", 16 * MIB, &s);
    assert_neither(&bad);
}

#[test]
fn backing_and_unmarked_caches_are_neither() {
    let dir = TempDir::new("probe-bdev");
    // A backing device (version 1) and a cache of version 3: plain bcache, not ours.
    let backing = image(&dir, "backing", 16 * MIB, &cache_sb(1, 0));
    assert_neither(&backing);
    let v3 = image(&dir, "v3", 16 * MIB, &cache_sb(3, 8));
    assert_neither(&v3);
    // A backing device of version 6 with the NVDIMM_META bit set in its feature word is
    // still a backing device.
    let mut s = cache_sb(6, 0);
    s[128] = 1 << 2;
    reseal(&mut s);
    let b6 = image(&dir, "b6", 16 * MIB, &s);
    assert_neither(&b6);
}

#[test]
fn missing_device_is_an_error() {
    let out = run(&["probe", "/nonexistent/bcache-nvm-probe"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("/nonexistent/bcache-nvm-probe"));
}
