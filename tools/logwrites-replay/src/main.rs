//! `logwrites-replay [--sector-size N] BASE LOG OUT`: writes OUT = BASE + the writes of
//! LOG (QEMU blklogwrites) a lost volatile cache leaves (see the library), prints one line.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: logwrites-replay [--sector-size N] BASE LOG OUT";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut sector_size = 512u32;
    let mut paths: Vec<PathBuf> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--sector-size" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => sector_size = v,
                None => {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => paths.push(a.into()),
        }
    }
    let [base, log, out] = match <[PathBuf; 3]>::try_from(paths) {
        Ok(p) => p,
        Err(_) => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match logwrites_replay::replay(&base, &log, &out, sector_size) {
        Ok(s) => {
            println!("logwrites-replay: {}: {}", log.display(), s.line());
            if let Some(n) = s.superblock_ahead() {
                eprintln!(
                    "logwrites-replay: {}: warning: the superblock counts {n} entries, the log \
                     holds {} before the first that does not parse",
                    log.display(),
                    s.log.entries.len()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("logwrites-replay: {}: {e}", log.display());
            ExitCode::FAILURE
        }
    }
}
