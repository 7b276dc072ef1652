//! Little-endian field access for on-media structures (nvm-pages, `cache_sb_disk`, `jset`).
//!
//! Every accessor is bounds-checked and returns `None` past the end of the buffer, so the
//! decoders in `nvmpg/`, `super_/` and `journal/` never index out of range on untrusted bytes.

/// Copies `N` bytes at `off`, or `None` if `buf` ends before.
pub(crate) fn bytes_at<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    buf.get(off..off.checked_add(N)?)?.try_into().ok()
}

/// The little-endian `u16` at `off`.
pub(crate) fn u16_at(buf: &[u8], off: usize) -> Option<u16> {
    bytes_at(buf, off).map(u16::from_le_bytes)
}

/// The little-endian `u32` at `off`.
pub(crate) fn u32_at(buf: &[u8], off: usize) -> Option<u32> {
    bytes_at(buf, off).map(u32::from_le_bytes)
}

/// The little-endian `u64` at `off`.
pub(crate) fn u64_at(buf: &[u8], off: usize) -> Option<u64> {
    bytes_at(buf, off).map(u64::from_le_bytes)
}

/// Stores `src` at `off`, or `None` (buffer untouched) if `buf` ends before.
pub(crate) fn put(buf: &mut [u8], off: usize, src: &[u8]) -> Option<()> {
    buf.get_mut(off..off.checked_add(src.len())?)?
        .copy_from_slice(src);
    Some(())
}
