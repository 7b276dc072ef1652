//! End-to-end tests of `make-cache --nvdimm-meta` and `show-cache` on cache superblock images
//! built here at the C offsets of `struct cache_sb_disk` (independently of the code under test),
//! and, when bcache-tools is installed, on images of the real make-bcache / bcache-super-show.

mod common;
use common::*;

use std::fs;
use std::path::Path;
use std::process::Command;

const MIB: u64 = 1 << 20;
const MAKE_BCACHE: &str = "/usr/sbin/make-bcache";
const SUPER_SHOW: &str = "/usr/sbin/bcache-super-show";

fn sb_of(path: &str) -> Vec<u8> {
    fs::read(path).unwrap()[SB..2 * SB].to_vec()
}

/// Marks `path` and checks everything about the result against the image before.
fn mark_and_verify(path: &str) {
    let before = fs::read(path).unwrap();
    let old = &before[SB..2 * SB];
    let out = run(&["make-cache", "--nvdimm-meta", path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after = fs::read(path).unwrap();
    let s = &after[SB..2 * SB];
    let keys = usize::from(u16_at(s, 206));
    let csum = crc64(&s[8..208 + keys * 8]);
    assert_eq!(u64_at(s, 0), csum, "csum verifies independently");
    assert_eq!(u64_at(s, 16), 5, "version CDEV_WITH_FEATURES");
    assert_eq!(u64_at(s, 128), u64_at(old, 128) | 4, "NVDIMM_META set");
    assert_eq!(s[208..2256], old[208..2256], "d[] unchanged");
    // Nothing else changed anywhere in the image: only csum, version, feature_incompat.
    let changed = |i: &usize| *i < 8 || (16..24).contains(i) || (128..136).contains(i);
    assert_eq!(after.len(), before.len());
    assert!(after[..SB] == before[..SB] && after[2 * SB..] == before[2 * SB..]);
    assert!((0..SB).filter(|i| !changed(i)).all(|i| s[i] == old[i]));
    assert_eq!(
        stdout(&out),
        format!(
            "{path}: version {} -> 5, feature_incompat {:#x} -> {:#x} (NVDIMM_META), csum \
             {csum:#018x}; the kernel places the journal on the NVDIMM when the cache set \
             first starts\n",
            u64_at(old, 16),
            u64_at(old, 128),
            u64_at(old, 128) | 4
        )
    );
}

#[test]
fn marks_a_new_cache_and_leaves_d_alone() {
    let dir = TempDir::new("cache");
    for (version, keys) in [(0, 0), (3, 0), (3, 8), (5, 8)] {
        let dev = image(
            &dir,
            &format!("c{version}-{keys}"),
            64 * MIB,
            &cache_sb(version, keys),
        );
        mark_and_verify(&dev);

        let text = stdout(&run(&["show-cache", &dev]));
        for line in [
            "  sb.version            5 [cache device with features]\n",
            "  sb.magic              ok\n",
            "  sb.feature_incompat   0x4 [NVDIMM_META]\n",
            "  sb.bucket_size        256 (256 sectors)\n",
            "  sb.nbuckets           4096\n",
            "  sb.first_bucket       1\n",
            "  sb.flags              0x0 (new: CACHE_SYNC clear)\n",
        ] {
            assert!(text.contains(line), "{line}in\n{text}");
        }
        assert!(
            text.contains(&format!("  sb.keys               {keys}\n")),
            "{text}"
        );
        assert!(text.contains("[ok]\n") && !text.contains("bad"), "{text}");
        if keys > 0 {
            // Still mainline bucket indexes: the kernel has not placed the journal yet.
            assert!(
                text.contains("  sb.d[7]               8 [bucket]\n"),
                "{text}"
            );
        }

        // Marking again: said so, exit 0, nothing written.
        let before = fs::read(&dev).unwrap();
        let out = run(&["make-cache", "--nvdimm-meta", &dev]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!("{dev}: NVDIMM_META already set, nothing written\n")
        );
        assert_eq!(fs::read(&dev).unwrap(), before);
    }
}

#[test]
fn refusals_write_nothing() {
    let dir = TempDir::new("cache");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "not a bcache superblock (bad offset 0)"),
        {
            let mut s = cache_sb(0, 0);
            s[30] ^= 1;
            ("magic", s, "not a bcache superblock (bad magic)")
        },
        {
            let mut s = cache_sb(1, 0);
            s[184] = 16; // data_offset
            reseal(&mut s);
            ("bdev1", s, "not a cache device (version 1)")
        },
        {
            let mut s = cache_sb(4, 0);
            s[184] = 16;
            reseal(&mut s);
            ("bdev4", s, "not a cache device (version 4)")
        },
        (
            "v2",
            {
                let mut s = cache_sb(2, 0);
                reseal(&mut s);
                s
            },
            "not a cache device (version 2)",
        ),
        {
            let mut s = cache_sb(3, 0);
            s[72] = b'x'; // label changed after the csum
            ("csum", s, "bad checksum")
        },
        {
            let mut s = cache_sb(3, 8);
            s[104] = 1; // CACHE_SYNC: the cache set has run
            s[112] = 3; // seq
            reseal(&mut s);
            ("synced", s, "cache set has already run (CACHE_SYNC set, seq 3): its journal is on the cache device; only a new cache (make-bcache -C) can be marked")
        },
        {
            let mut s = cache_sb(5, 0);
            s[128] = 0x10;
            reseal(&mut s);
            ("incompat", s, "unsupported Incompat features 0x10")
        },
        {
            let mut s = cache_sb(5, 0);
            s[136] = 1;
            reseal(&mut s);
            ("ro_compat", s, "unsupported RoCompat features 0x1")
        },
        {
            // A version without feature words must not have stray bits there.
            let mut s = cache_sb(3, 0);
            s[128] = 2;
            reseal(&mut s);
            ("stray", s, "unsupported Incompat features 0x2")
        },
        {
            let mut s = cache_sb(3, 0);
            s[206] = 1;
            s[207] = 1; // keys 257
            ("keys", s, "too many journal buckets (257)")
        },
    ];
    for (name, sb, reason) in &cases {
        let dev = image(&dir, name, 16 * MIB, sb);
        let before = fs::read(&dev).unwrap();
        let out = run(&["make-cache", "--nvdimm-meta", &dev]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("bcache-nvm: {dev}: {reason}")) && err.ends_with('\n'),
            "{name}: {err}"
        );
        assert!(stdout(&out).is_empty());
        assert_eq!(fs::read(&dev).unwrap(), before, "{name}: nothing written");
    }

    let tiny = image(&dir, "tiny", 6000, &[]);
    let out = run(&["make-cache", "--nvdimm-meta", &tiny]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!("bcache-nvm: {tiny}: too small for a bcache superblock (6000 bytes)\n")
    );
    let out = run(&["make-cache", "--nvdimm-meta", "/nonexistent/cache"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("bcache-nvm: /nonexistent/cache: "));

    // --nvdimm-meta is the whole point: without it, a usage error.
    let dev = image(&dir, "plain", 16 * MIB, &cache_sb(0, 0));
    let out = run(&["make-cache", &dev]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--nvdimm-meta"), "{}", stderr(&out));
    assert_eq!(sb_of(&dev), cache_sb(0, 0));
}

#[test]
fn show_cache_prints_nvmpg_offsets_and_flags_damage() {
    let dir = TempDir::new("cache");
    // As the seed's kernel leaves it: bit set, CACHE_SYNC, d[i] = ns 1, 16 MiB + i * 128 KiB.
    let mut s = cache_sb(5, 4);
    s[128] = 4;
    s[104] = 1;
    s[72..77].copy_from_slice(b"cache");
    for i in 0..4u64 {
        let d = 1 << 61 | (16 * MIB + i * (128 << 10));
        s[208 + i as usize * 8..216 + i as usize * 8].copy_from_slice(&d.to_le_bytes());
    }
    reseal(&mut s);
    let dev = image(&dir, "nvm", 16 * MIB, &s);
    let out = run(&["show-cache", &dev]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    println!("{text}");
    let expected = format!(
        "{dev}:
  sb.version            5 [cache device with features]
  sb.offset             8 [ok]
  sb.magic              ok
  sb.csum               {:#018x} [ok]
  sb.uuid               64657669-6365-2d75-7569-642d30303031
  sb.set_uuid           63616368-652d-7365-742d-757569642d31
  sb.label              \"cache\"
  sb.flags              0x1 (CACHE_SYNC)
  sb.seq                0
  sb.block_size         8
  sb.bucket_size        256 (256 sectors)
  sb.nbuckets           4096
  sb.first_bucket       1
  sb.nr_in_set          1
  sb.nr_this_dev        0
  sb.feature_compat     0x0
  sb.feature_incompat   0x4 [NVDIMM_META]
  sb.feature_ro_compat  0x0
  sb.keys               4
  sb.d[0]               1:0x1000000 [nvmpg ns:offset]
  sb.d[1]               1:0x1020000 [nvmpg ns:offset]
  sb.d[2]               1:0x1040000 [nvmpg ns:offset]
  sb.d[3]               1:0x1060000 [nvmpg ns:offset]
",
        u64_at(&s, 0)
    );
    assert_eq!(text, expected);
    // make-cache reports the bit (checked before CACHE_SYNC) and writes nothing.
    let out = run(&["make-cache", "--nvdimm-meta", &dev]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("already set"));

    // Damage: printed, exit 1.
    s[72] = b'X';
    let bad = image(&dir, "bad", 16 * MIB, &s);
    let out = run(&["show-cache", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!("[bad, expected {:#018x}]", crc64(&s[8..240]));
    assert!(stdout(&out).contains(&want), "{}", stdout(&out));
    s[24] ^= 0xff;
    let bad = image(&dir, "bad2", 16 * MIB, &s);
    let out = run(&["show-cache", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("  sb.magic              bad\n"));
    // Unknown incompat bits by name.
    let mut u = cache_sb(5, 0);
    u[128] = 0x13;
    reseal(&mut u);
    let dev = image(&dir, "unk", 16 * MIB, &u);
    let text = stdout(&run(&["show-cache", &dev]));
    assert!(
        text.contains(
            "  sb.feature_incompat   0x13 [OBSO_LARGE_BUCKET LOG_LARGE_BUCKET_SIZE unknown 0x10]\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  sb.bucket_size        256 (overflows)\n"),
        "{text}"
    );
}

/// bcache-super-show's output on `path`, printed to the test log; `None` without bcache-tools.
fn super_show(path: &str) -> Option<String> {
    if !Path::new(SUPER_SHOW).exists() {
        println!("note: {SUPER_SHOW} not installed, bcache-super-show check skipped");
        return None;
    }
    let out = Command::new(SUPER_SHOW).arg(path).output().unwrap();
    let text = stdout(&out);
    println!(
        "{SUPER_SHOW} {path} (exit {:?}):\n{text}{}",
        out.status.code(),
        stderr(&out)
    );
    Some(text)
}

/// bcache-super-show (bcache-tools 1.0.8) checks the csum before it looks at the version, and
/// prints `sb.csum HEX [match]`; it does not know version 5 (prints `[unknown]` and stops).
fn assert_super_show_matches(path: &str) {
    let Some(text) = super_show(path) else { return };
    let csum = u64_at(&sb_of(path), 0);
    let line = format!("sb.csum\t\t\t{csum:X} [match]");
    assert!(text.contains(&line), "expected {line:?}");
    assert!(text.contains("sb.magic\t\tok"));
    assert!(text.contains("sb.version\t\t5"));
}

#[test]
fn bcache_super_show_reads_a_marked_image() {
    let dir = TempDir::new("cache");
    let dev = image(&dir, "c", 64 * MIB, &cache_sb(3, 8));
    mark_and_verify(&dev);
    assert_super_show_matches(&dev);
}

#[test]
fn real_make_bcache_image() {
    if !Path::new(MAKE_BCACHE).exists() {
        println!("note: {MAKE_BCACHE} not installed, real make-bcache test skipped");
        return;
    }
    let dir = TempDir::new("cache");
    let dev = image(&dir, "real", 512 * MIB, &[]);
    let out = Command::new(MAKE_BCACHE)
        .args(["-b", "128k", "-C", &dev])
        .output()
        .unwrap();
    println!(
        "{MAKE_BCACHE} -b 128k -C {dev}:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    if !out.status.success() || u64_at(&sb_of(&dev), 8) != 8 {
        println!("note: make-bcache refused a regular file, real make-bcache test skipped");
        return;
    }
    let before = super_show(&dev);
    assert!(before.is_none_or(|t| t.contains("[match]")));
    let text = stdout(&run(&["show-cache", &dev]));
    println!("bcache-nvm show-cache before:\n{text}");
    assert!(text.contains("(new: CACHE_SYNC clear)") && text.contains("sb.keys               0\n"));
    mark_and_verify(&dev);
    let text = stdout(&run(&["show-cache", &dev]));
    println!("bcache-nvm show-cache after:\n{text}");
    assert!(
        text.contains("  sb.bucket_size        256 (256 sectors)\n"),
        "{text}"
    );
    assert!(text.contains("  sb.nbuckets           4096\n"), "{text}");
    assert!(
        text.contains("  sb.feature_incompat   0x4 [NVDIMM_META]\n"),
        "{text}"
    );
    assert_super_show_matches(&dev);
}
