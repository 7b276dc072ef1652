//! Little-endian field access for on-media structures (nvm-pages, `cache_sb_disk`, `jset`).
//!
//! Every accessor is bounds-checked and returns `None` past the end of the buffer, so the
//! decoders in `nvmpg/`, `cache_sb/` and `journal/` never index out of range on untrusted
//! bytes. The `Le` trait gives the field types of the `layout!` tables (`layout.rs`) their
//! encoding through these accessors.

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

/// A value stored on media as [`Le::SIZE`] little-endian bytes: an unsigned integer, or an
/// array of such values stored one after the other (so `[u8; N]` is its bytes as they are).
pub(crate) trait Le: Copy {
    /// Bytes of the value on media.
    const SIZE: usize;

    /// The value stored at `off`, or `None` if `buf` ends before.
    fn read_le(buf: &[u8], off: usize) -> Option<Self>;

    /// Stores the value at `off`, or `None` if `buf` ends before; an array may then have been
    /// stored in part, so callers check the length of `buf` first.
    fn write_le(&self, buf: &mut [u8], off: usize) -> Option<()>;
}

/// [`Le`] for unsigned integers.
macro_rules! le_uint {
    ($($t:ty),*) => {$(
        impl Le for $t {
            const SIZE: usize = core::mem::size_of::<$t>();

            fn read_le(buf: &[u8], off: usize) -> Option<Self> {
                bytes_at(buf, off).map(<$t>::from_le_bytes)
            }

            fn write_le(&self, buf: &mut [u8], off: usize) -> Option<()> {
                put(buf, off, &self.to_le_bytes())
            }
        }
    )*};
}

le_uint!(u8, u16, u32, u64);

impl<T: Le + Default, const N: usize> Le for [T; N] {
    const SIZE: usize = T::SIZE * N;

    fn read_le(buf: &[u8], off: usize) -> Option<Self> {
        let mut out = [T::default(); N];
        let mut at = off;
        for v in out.iter_mut() {
            *v = T::read_le(buf, at)?;
            at = at.checked_add(T::SIZE)?;
        }
        Some(out)
    }

    fn write_le(&self, buf: &mut [u8], off: usize) -> Option<()> {
        let mut at = off;
        for v in self {
            v.write_le(buf, at)?;
            at = at.checked_add(T::SIZE)?;
        }
        Some(())
    }
}
