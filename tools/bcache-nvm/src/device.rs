//! Namespace devices: opening a block device or a plain file, its size, reading its metadata
//! area and writing it back durably.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;

use bcache_nvm_core::media::OutOfRange;
use bcache_nvm_core::nvmpg::check::Image;
use bcache_nvm_core::nvmpg::format::START;

/// `BLKGETSIZE64` = `_IOR(0x12, 114, size_t)`: size of a block device in bytes.
const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;

/// An error naming the device (or the whole command when `path` is empty) and the reason.
#[derive(Debug)]
pub struct Error {
    /// Device path.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

impl Error {
    pub fn new(path: &str, reason: impl fmt::Display) -> Self {
        Self {
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// An open namespace.
pub struct Device {
    pub path: String,
    file: File,
    /// Size in bytes.
    pub size: u64,
    /// Identity of the underlying device, to refuse the same one twice.
    pub id: (u64, u64),
    /// The first `min(size, START)` bytes, once [`Device::load`] ran.
    meta: Vec<u8>,
}

impl Device {
    /// Opens `path`, a block device or a regular file. `write` opens it read-write and, for a
    /// block device, exclusively (`O_EXCL`: fails while the kernel or a mount holds it).
    pub fn open(path: &str, write: bool) -> Result<Self, Error> {
        let err = |e: io::Error| Error::new(path, e);
        let kind = std::fs::metadata(path).map_err(err)?.file_type();
        let block = kind.is_block_device();
        if !block && !kind.is_file() {
            return Err(Error::new(path, "not a block device or regular file"));
        }
        let mut options = OpenOptions::new();
        options.read(true).write(write);
        if write && block {
            options.custom_flags(libc::O_EXCL);
        }
        let file = options.open(path).map_err(err)?;
        let meta = file.metadata().map_err(err)?;
        let (size, id) = if block {
            let mut size: u64 = 0;
            // SAFETY: BLKGETSIZE64 stores one u64 through the pointer, which is valid.
            let rc =
                unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64 as _, &mut size as *mut u64) };
            if rc != 0 {
                return Err(Error::new(
                    path,
                    format!("BLKGETSIZE64: {}", io::Error::last_os_error()),
                ));
            }
            (size, (meta.rdev(), 0))
        } else {
            (meta.len(), (meta.dev(), meta.ino()))
        };
        Ok(Self {
            path: path.to_owned(),
            file,
            size,
            id,
            meta: Vec::new(),
        })
    }

    /// Reads `len` bytes at `off`.
    pub fn read_at(&self, off: u64, len: usize) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0; len];
        self.file
            .read_exact_at(&mut buf, off)
            .map_err(|e| Error::new(&self.path, format!("read at offset {off}: {e}")))?;
        Ok(buf)
    }

    /// Reads the metadata area (all of it lies in the first [`START`] bytes).
    pub fn load(&mut self) -> Result<(), Error> {
        self.meta = self.read_at(0, self.size.min(START) as usize)?;
        Ok(())
    }

    /// Writes `bytes` at `off` (pwrite) and waits until they are durable (fdatasync; the
    /// writes never grow a file, so no metadata needs syncing).
    pub fn write_durably(&self, off: u64, bytes: &[u8]) -> Result<(), Error> {
        let err = |e: io::Error| Error::new(&self.path, format!("write: {e}"));
        self.file.write_all_at(bytes, off).map_err(err)?;
        self.file.sync_data().map_err(err)
    }
}

impl Image for Device {
    fn size(&self) -> u64 {
        self.size
    }

    fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), OutOfRange> {
        let start = usize::try_from(off).map_err(|_| OutOfRange)?;
        let end = start.checked_add(dst.len()).ok_or(OutOfRange)?;
        match self.meta.get(start..end) {
            Some(src) => dst.copy_from_slice(src),
            None => self.file.read_exact_at(dst, off).map_err(|_| OutOfRange)?,
        }
        Ok(())
    }
}

/// Opens every path, refusing the same device twice.
pub fn open_all(paths: &[String], write: bool) -> Result<Vec<Device>, Error> {
    let mut devices: Vec<Device> = Vec::with_capacity(paths.len());
    for path in paths {
        let dev = Device::open(path, write)?;
        if let Some(other) = devices.iter().find(|d| d.id == dev.id) {
            return Err(Error::new(path, format!("same device as {}", other.path)));
        }
        devices.push(dev);
    }
    Ok(devices)
}
