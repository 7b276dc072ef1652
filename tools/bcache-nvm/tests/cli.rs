//! End-to-end tests of the `bcache-nvm` binary on temporary files.

mod common;
use common::*;

use std::fs;

const MIB: u64 = 1 << 20;

fn json(args: &[&str]) -> serde_json::Value {
    let out = run(args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn patch(path: &str, at: usize, bytes: &[u8]) {
    let mut img = fs::read(path).unwrap();
    img[at..at + bytes.len()].copy_from_slice(bytes);
    fs::write(path, img).unwrap();
}

fn is_zero(path: &str) -> bool {
    fs::read(path).unwrap().iter().all(|&b| b == 0)
}

#[test]
fn format_show_check() {
    let dir = TempDir::new("cli");
    let ns = dir.file("ns0", 17 * MIB);
    let out = run(&["format", &ns]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("namespace 0 of 1"));

    let out = run(&["check", &ns]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("{ns}: clean, 1 namespace(s), 0 record(s)\n")
    );

    let text = stdout(&run(&["show", &ns]));
    assert!(text.contains("  sb.pages_total          4352\n"), "{text}");
    assert!(text.contains("label \"nvmpg_sys_alloc\" alloc"), "{text}");
    assert!(
        text.contains("ns 0 pages: total 4352 reserved 4096 allocated 0 free 256"),
        "{text}"
    );

    let v = json(&["show", "--json", &ns]);
    let sb = &v["namespaces"][0];
    assert_eq!(
        (sb["sb_offset"].as_u64(), sb["pages_offset"].as_u64()),
        (Some(4096), Some(16 * MIB))
    );
    assert_eq!(
        (
            sb["total_ns"].as_u64(),
            sb["this_ns"].as_u64(),
            sb["version"].as_u64()
        ),
        (Some(1), Some(0), Some(0))
    );
    assert_eq!(sb["set_header_offset"], "0x2000");
    assert_eq!(v["set_header"]["size"], 67);
    assert_eq!(v["set_header"]["used"], 1);
    let head = &v["heads"][0];
    assert_eq!(head["uuid"], sb["set_uuid"]);
    assert_eq!(head["recs"][0]["offset"], 16384);
    assert_eq!(head["recs"][0]["size"], 1013);
    assert_eq!(v["totals"][0]["pages_free"], 256);
    assert_eq!(v["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn existing_sb_needs_force() {
    let dir = TempDir::new("cli");
    let ns = dir.file("ns0", 17 * MIB);
    assert!(run(&["format", &ns]).status.success());
    let before = fs::read(&ns).unwrap();
    let out = run(&["format", &ns]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!("bcache-nvm: {ns}: already has an nvm-pages sb (use --force to overwrite)\n")
    );
    assert_eq!(fs::read(&ns).unwrap(), before, "refusal wrote nothing");

    let uuid = |v: serde_json::Value| v["namespaces"][0]["uuid"].clone();
    let old = uuid(json(&["show", "--json", &ns]));
    assert!(run(&["format", "--force", &ns]).status.success());
    assert_ne!(uuid(json(&["show", "--json", &ns])), old);
    assert!(run(&["check", &ns]).status.success());
}

#[test]
fn refusals_write_nothing() {
    let dir = TempDir::new("cli");
    let small = dir.file("small", 16 * MIB);
    let out = run(&["format", &small]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with(&format!("bcache-nvm: {small}: too small")),
        "{}",
        stderr(&out)
    );
    assert!(is_zero(&small));

    // One bad namespace stops the whole set before anything is written.
    let good = dir.file("good", 17 * MIB);
    assert_eq!(run(&["format", &good, &small]).status.code(), Some(2));
    assert!(is_zero(&good));

    let nine: Vec<String> = (0..9)
        .map(|i| dir.file(&format!("n{i}"), 17 * MIB))
        .collect();
    let mut args = vec!["format"];
    args.extend(nine.iter().map(String::as_str));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("more than 8 namespaces"),
        "{}",
        stderr(&out)
    );
    assert!(nine.iter().all(|n| is_zero(n)));

    let out = run(&["format", &good, &good]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("same device as"), "{}", stderr(&out));
    assert!(is_zero(&good));

    let out = run(&["format", "/nonexistent/ns"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("bcache-nvm: /nonexistent/ns: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn multi_namespace_set() {
    let dir = TempDir::new("cli");
    let ns: Vec<String> = [17, 18, 20]
        .iter()
        .enumerate()
        .map(|(i, m)| dir.file(&format!("ns{i}"), m * MIB))
        .collect();
    let out = run(&["format", &ns[0], &ns[1], &ns[2]]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = run(&["check", &ns[2], &ns[0], &ns[1]]);
    assert!(out.status.success(), "{}", stderr(&out));

    let v = json(&["show", "--json", &ns[1], &ns[2], &ns[0]]);
    let sbs = v["namespaces"].as_array().unwrap();
    assert_eq!(sbs.len(), 3);
    assert!(sbs
        .iter()
        .all(|sb| sb["set_uuid"] == sbs[0]["set_uuid"] && sb["total_ns"] == 3));
    let this: Vec<_> = sbs
        .iter()
        .map(|sb| {
            (
                sb["this_ns"].as_u64().unwrap(),
                sb["pages_total"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(this, [(1, 18 * 256), (2, 20 * 256), (0, 17 * 256)]);
    assert_ne!(sbs[0]["uuid"], sbs[1]["uuid"]);

    let out = run(&["check", &ns[0]]);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "bcache-nvm: {}: missing namespace 1: expected an image with sb.this_ns 1\n\
         bcache-nvm: {}: missing namespace 2: expected an image with sb.this_ns 2\n",
        ns[0], ns[0]
    );
    assert_eq!(stderr(&out), expected);
}

#[test]
fn corruption_fails_check_with_the_right_line() {
    let dir = TempDir::new("cli");
    let ns = dir.file("ns0", 17 * MIB);
    assert!(run(&["format", &ns]).status.success());
    let img = fs::read(&ns).unwrap();

    patch(&ns, 4128, &[0]);
    let out = run(&["check", &ns]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("bcache-nvm: {ns}: bad sb magic at offset 4128\n")
    );

    fs::write(&ns, &img).unwrap();
    patch(&ns, 16384 + 52, &3u32.to_le_bytes());
    patch(&ns, 16384 + 88, &(4097u64 | 1 << 52).to_le_bytes());
    let out = run(&["check", &ns]);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "bcache-nvm: {ns}: misaligned rec at offset 16472: found pgoff 4097 order 1, expected pgoff a multiple of 2\n\
         bcache-nvm: {ns}: recs.used mismatch at offset 16436: found 3, expected 1\n"
    );
    assert_eq!(stderr(&out), expected);

    // show still works on a damaged set and lists the problems.
    let v = json(&["show", "--json", &ns]);
    assert_eq!(v["heads"][0]["recs"][0]["records"][0]["pgoff"], 4097);
    assert_eq!(
        v["problems"][1]["problem"],
        "recs.used mismatch at offset 16436: found 3, expected 1"
    );
}
