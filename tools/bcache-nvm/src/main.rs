//! `bcache-nvm`: format, show and check nvm-pages namespaces (bcache journal on NVDIMM), and
//! mark a new bcache cache device for a journal on them.
//!
//! Exit status: 0 on success (for `check`: a clean set; for `show-cache`: a valid superblock;
//! `show-journal` succeeds whenever it could scan the journal, whatever it found),
//! 1 when `check` finds problems or `show-cache` a bad offset, magic or csum, or when `probe`
//! finds neither a namespace nor a marked cache, 2 on any error (usage, I/O, refusal); errors
//! print `bcache-nvm: DEVICE: REASON` to stderr.

mod cache;
mod check;
mod device;
mod format;
mod journal;
mod probe;
mod show;
mod uuid;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use device::{open_all, Device, Error};

#[derive(Parser)]
#[command(
    version,
    about = "Format, show and check nvm-pages namespaces (bcache journal on NVDIMM); mark cache devices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Format the namespaces of one new set (`bcache make -M`); the first is namespace 0.
    Format {
        /// Overwrite an existing nvm-pages superblock.
        #[arg(long)]
        force: bool,
        /// Namespace devices (block devices or files), at most 8.
        #[arg(required = true)]
        devices: Vec<String>,
    },
    /// Print superblocks, set header, heads, records and page totals.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The namespaces of one set, in any order.
        #[arg(required = true)]
        devices: Vec<String>,
    },
    /// Check every on-media invariant; one line per problem.
    Check {
        /// The namespaces of one set, in any order.
        #[arg(required = true)]
        devices: Vec<String>,
    },
    /// Mark a new cache device (make-bcache -C, never started) for a journal on the NVDIMM:
    /// version 5, NVDIMM_META set, csum recomputed, d[] left to the kernel.
    MakeCache {
        /// Set BCH_FEATURE_INCOMPAT_NVDIMM_META (the only change make-cache makes).
        #[arg(long, required = true)]
        nvdimm_meta: bool,
        /// The cache device (block device or file).
        device: String,
    },
    /// Print a bcache cache superblock (version, magic, csum, geometry, features, d[]).
    ShowCache {
        /// The cache device (block device or file).
        device: String,
    },
    /// List the jsets of a cache set's journal on the NVDIMM, bucket by bucket, as replay
    /// scans them (with absolute offsets in the namespace), and what replay would keep.
    ShowJournal {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The cache device (NVDIMM_META, d[] on the NVDIMM).
        cache: String,
        /// The namespaces of the nvm-pages set, in any order.
        #[arg(required = true)]
        nvdimms: Vec<String>,
    },
    /// Tell udev what a device is: `KEY=VALUE` lines (`BCACHE_NVM_ROLE=meta` for an nvm-pages
    /// namespace, `BCACHE_NVM_ROLE=cache` for a cache marked NVDIMM_META); exit 1 and print
    /// nothing for anything else.
    Probe {
        /// The device (block device or file).
        device: String,
    },
}

/// Opens read-only and loads the metadata area of every device.
fn load(paths: &[String]) -> Result<Vec<Device>, Error> {
    let mut devices = open_all(paths, false)?;
    for dev in &mut devices {
        dev.load()?;
    }
    Ok(devices)
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::MakeCache { device, .. } => cache::mark(&device).map(|()| ExitCode::SUCCESS),
        Command::ShowCache { device } => {
            cache::show(&device).map(|valid| ExitCode::from(if valid { 0 } else { 1 }))
        }
        Command::ShowJournal {
            json,
            cache,
            nvdimms,
        } => {
            let out = journal::show(&cache, &nvdimms, json)?;
            std::io::stdout()
                .write_all(out.as_bytes())
                .map_err(|e| Error::new("stdout", e))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Probe { device } => match probe::probe(&device)? {
            probe::Probe::Found(lines) => {
                let out: String = lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
                std::io::stdout()
                    .write_all(out.as_bytes())
                    .map_err(|e| Error::new("stdout", e))?;
                Ok(ExitCode::SUCCESS)
            }
            probe::Probe::Neither => Ok(ExitCode::from(1)),
        },
        Command::Format { force, devices } => {
            format::run(&devices, force).map(|()| ExitCode::SUCCESS)
        }
        Command::Show {
            json,
            devices: paths,
        } => {
            let devices = load(&paths)?;
            let set = show::collect(&devices);
            let out = if json {
                format!("{:#}\n", set.to_json(&devices, &paths))
            } else {
                set.to_text(&devices, &paths)
            };
            std::io::stdout()
                .write_all(out.as_bytes())
                .map_err(|e| Error::new("stdout", e))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { devices: paths } => {
            let devices = load(&paths)?;
            let summary = check::run(&devices);
            if summary.problems > 0 {
                return Ok(ExitCode::from(1));
            }
            println!(
                "{}: clean, {} namespace(s), {} record(s)",
                paths.join(" "),
                devices.len(),
                summary.records
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    run(Cli::parse()).unwrap_or_else(|e| {
        eprintln!("bcache-nvm: {e}");
        ExitCode::from(2)
    })
}
