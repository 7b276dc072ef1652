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

/// Alignment and granule of direct reads (the logical block size of pmem and of every block
/// device this tool meets is at most this).
const DIRECT_ALIGN: usize = 4096;

/// An open namespace.
pub struct Device {
    pub path: String,
    file: File,
    /// A block device opened a second time with `O_DIRECT`, for reads. While the namespace is
    /// registered the kernel writes its metadata through a DAX mapping, which the page cache
    /// of the block device does not see: buffered reads could show stale heads and records.
    /// Direct reads go to the pmem driver, which copies from the same memory.
    direct: Option<File>,
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
        let direct = if block {
            let mut o = OpenOptions::new();
            o.read(true).custom_flags(libc::O_DIRECT);
            Some(o.open(path).map_err(err)?)
        } else {
            None
        };
        Ok(Self {
            path: path.to_owned(),
            file,
            direct,
            size,
            id,
            meta: Vec::new(),
        })
    }

    /// Reads `len` bytes at `off` (directly from a block device, see [`Device::direct`]).
    pub fn read_at(&self, off: u64, len: usize) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0; len];
        self.read_into(off, &mut buf)
            .map_err(|e| Error::new(&self.path, format!("read at offset {off}: {e}")))?;
        Ok(buf)
    }

    /// Fills `dst` from `off`: buffered for a file, through an aligned bounce buffer and
    /// `O_DIRECT` for a block device.
    fn read_into(&self, off: u64, dst: &mut [u8]) -> io::Result<()> {
        let Some(direct) = &self.direct else {
            return self.file.read_exact_at(dst, off);
        };
        let align = DIRECT_ALIGN as u64;
        let start = off - off % align;
        let end = (off + dst.len() as u64).div_ceil(align) * align;
        let span = usize::try_from(end - start).map_err(|_| io::ErrorKind::InvalidInput)?;
        let mut raw = vec![0u8; span + DIRECT_ALIGN];
        let skip = raw.as_ptr().align_offset(DIRECT_ALIGN);
        let bounce = raw
            .get_mut(skip..skip + span)
            .ok_or(io::ErrorKind::InvalidInput)?;
        direct.read_exact_at(bounce, start)?;
        let from = (off - start) as usize;
        dst.copy_from_slice(&bounce[from..from + dst.len()]);
        Ok(())
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
            None => self.read_into(off, dst).map_err(|_| OutOfRange)?,
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
