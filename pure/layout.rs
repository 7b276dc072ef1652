//! On-media layouts declared once: `layout!` turns one table per structure (entries in
//! on-media order, each with its byte offset) into the Rust struct, its `SIZE` and `OFF_*`
//! associated constants, and the little-endian decode and encode of its fixed part through
//! [`crate::pure::le`], and checks at compile time that the table has no hole and no overlap.
//!
//! Variable tails (`d[]` after the nvm-pages sb, the heads of the set header, the records of a
//! recs block, `d[]` after a jset) are not part of a table: the hand-written code around a
//! structure reads them from its `SIZE` on.

/// Declares an on-media structure from its layout table.
///
/// ```text
/// layout! {
///     /// Doc of the struct.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
///     pub struct Name: 24 bytes {
///         /// Doc of the field.
///         pub first: u64 => OFF_FIRST = 0,
///         pub second: [u8; 4] => OFF_SECOND = 8,
///         /// Alignment padding: encode writes zeros, decode skips it.
///         zeroed[4] => 12,
///         /// Bytes the struct does not model: encode leaves them as they are, decode skips
///         /// them. The constant is optional, as for `zeroed`.
///         kept[8] => OFF_REST = 16,
///     }
/// }
/// ```
///
/// A field's type is any [`Le`](crate::pure::le::Le) type: `u8`, `u16`, `u32`, `u64`, a
/// newtype implementing it (`NvmpgOffset`) or an array of those. The macro generates:
/// - the struct with the fields (attributes and docs as written);
/// - `SIZE` (the size given after the name) and one `OFF_*` constant per field and per named
///   gap;
/// - `fn decode_fixed(&[u8]) -> Option<Self>`: `None` if the buffer is shorter than `SIZE`;
/// - `fn encode_fixed(&self, &mut [u8]) -> Option<()>`: writes every field and zeroes the
///   `zeroed` gaps; `None`, with the buffer untouched, if it is shorter than `SIZE`.
///
/// The two functions are private: each structure's module wraps them in `decode`/`encode`
/// with its own error type. A constant assertion checks that every entry starts where the
/// previous one ends (the first at 0) and that the last one ends at `SIZE`, so a wrong offset,
/// size or a missing padding entry does not compile.
macro_rules! layout {
    // A field: `vis name: Type => OFF_NAME = offset,`.
    (
        @entries $head:tt fields [$($f:tt)*] consts [$($c:tt)*] spans [$($s:tt)*]
        zeroed [$($z:tt)*]
        $(#[$m:meta])* $fvis:vis $field:ident: $ty:ty => $cname:ident = $off:literal,
        $($rest:tt)*
    ) => {
        $crate::pure::layout::layout! {
            @entries $head
            fields [$($f)* { $(#[$m])* [$fvis] $field: $ty => $cname = $off }]
            consts [$($c)*]
            spans [$($s)* { $off, <$ty as $crate::pure::le::Le>::SIZE, field $field }]
            zeroed [$($z)*]
            $($rest)*
        }
    };
    // Zeroed padding, with or without a constant.
    (
        @entries $head:tt fields [$($f:tt)*] consts [$($c:tt)*] spans [$($s:tt)*]
        zeroed [$($z:tt)*]
        $(#[$m:meta])* zeroed[$n:literal] => $cname:ident = $off:literal,
        $($rest:tt)*
    ) => {
        $crate::pure::layout::layout! {
            @entries $head
            fields [$($f)*]
            consts [$($c)* { $(#[$m])* $cname = $off }]
            spans [$($s)* { $off, $n, zeroed bytes at $off }]
            zeroed [$($z)* { $off, $n }]
            $($rest)*
        }
    };
    (
        @entries $head:tt fields [$($f:tt)*] consts [$($c:tt)*] spans [$($s:tt)*]
        zeroed [$($z:tt)*]
        $(#[$m:meta])* zeroed[$n:literal] => $off:literal,
        $($rest:tt)*
    ) => {
        $crate::pure::layout::layout! {
            @entries $head
            fields [$($f)*]
            consts [$($c)*]
            spans [$($s)* { $off, $n, zeroed bytes at $off }]
            zeroed [$($z)* { $off, $n }]
            $($rest)*
        }
    };
    // Bytes not modelled, with or without a constant.
    (
        @entries $head:tt fields [$($f:tt)*] consts [$($c:tt)*] spans [$($s:tt)*]
        zeroed [$($z:tt)*]
        $(#[$m:meta])* kept[$n:literal] => $cname:ident = $off:literal,
        $($rest:tt)*
    ) => {
        $crate::pure::layout::layout! {
            @entries $head
            fields [$($f)*]
            consts [$($c)* { $(#[$m])* $cname = $off }]
            spans [$($s)* { $off, $n, kept bytes at $off }]
            zeroed [$($z)*]
            $($rest)*
        }
    };
    (
        @entries $head:tt fields [$($f:tt)*] consts [$($c:tt)*] spans [$($s:tt)*]
        zeroed [$($z:tt)*]
        $(#[$m:meta])* kept[$n:literal] => $off:literal,
        $($rest:tt)*
    ) => {
        $crate::pure::layout::layout! {
            @entries $head
            fields [$($f)*]
            consts [$($c)*]
            spans [$($s)* { $off, $n, kept bytes at $off }]
            zeroed [$($z)*]
            $($rest)*
        }
    };
    // Every entry read: emit.
    (
        @entries [$(#[$attr:meta])* $vis:vis struct $name:ident: $size:literal]
        fields [$({
            $(#[$fm:meta])* [$fvis:vis] $field:ident: $ty:ty => $fc:ident = $foff:literal
        })*]
        consts [$({ $(#[$cm:meta])* $cc:ident = $coff:literal })*]
        spans [$({ $soff:literal, $slen:expr, $($what:tt)* })*]
        zeroed [$({ $zoff:literal, $zlen:literal })*]
    ) => {
        $(#[$attr])*
        $vis struct $name {
            $($(#[$fm])* $fvis $field: $ty,)*
        }

        impl $name {
            /// Bytes of the fixed layout: its last entry ends here (a variable tail, if the
            /// structure has one, starts here).
            pub const SIZE: usize = $size;
            $(
                #[doc = concat!("Byte offset of [`", stringify!($field), "`](Self::",
                    stringify!($field), ").")]
                pub const $fc: usize = $foff;
            )*
            $($(#[$cm])* pub const $cc: usize = $coff;)*

            /// Reads every field of the fixed layout; `None` if `buf` is shorter than
            /// [`Self::SIZE`].
            fn decode_fixed(buf: &[u8]) -> Option<Self> {
                buf.get(..Self::SIZE)?;
                Some(Self {
                    $($field: <$ty as $crate::pure::le::Le>::read_le(buf, Self::$fc)?,)*
                })
            }

            /// Writes every field of the fixed layout and zeroes its padding; `None`, with
            /// `buf` untouched, if it is shorter than [`Self::SIZE`].
            fn encode_fixed(&self, buf: &mut [u8]) -> Option<()> {
                buf.get(..Self::SIZE)?;
                $($crate::pure::le::Le::write_le(&self.$field, buf, Self::$fc)?;)*
                $($crate::pure::le::put(buf, $zoff, &[0u8; $zlen])?;)*
                Some(())
            }
        }

        // The table has no hole and no overlap, and ends at SIZE.
        const _: () = {
            let mut end: usize = 0;
            $(
                assert!(
                    $soff == end,
                    concat!("layout of ", stringify!($name), ": ", stringify!($($what)*),
                        " does not start where the previous entry ends")
                );
                end = $soff + $slen;
            )*
            assert!(
                end == $size,
                concat!("layout of ", stringify!($name), ": the entries do not end at its size")
            );
        };
    };
    // Entry point.
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident: $size:literal bytes {
            $($body:tt)*
        }
    ) => {
        $crate::pure::layout::layout! {
            @entries [$(#[$attr])* $vis struct $name: $size]
            fields [] consts [] spans [] zeroed []
            $($body)*
        }
    };
}

pub(crate) use layout;
