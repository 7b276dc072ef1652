//! On-media format of nvm-pages (`nvmpg_format.h` of the seed series): constants, structure
//! layouts with their little-endian encoding, and the rules the format puts on their values.
//!
//! Every structure is declared once, as a `layout!` table (`layout.rs`) of its fields and
//! their byte offsets: the table gives the struct, `SIZE`, the `OFF_*` constant of every field
//! (so persistent updates can store one field in place) and the decode and encode of its
//! fixed part. `decode(&[u8])` and `encode(&mut [u8])` check the buffer length and never
//! panic; `encode` leaves a short buffer untouched. Decoding does not judge values: a decoded
//! structure may hold any bytes.
//!
//! The rules are the `check*` functions next to each structure ([`Sb::check`],
//! [`SetHeader::check`], [`Head::check_state`], [`RecsHeader::follow`], [`RecsHeader::check`],
//! [`Rec::check`], [`check_overlaps`], ...). Each rule is written once, and reports each
//! problem through a callback as a [`FormatError`]: the offline checker
//! ([`crate::pure::nvmpg::check`]) collects them all, the loaders of the allocator (`alloc.rs`,
//! `reclist.rs`) take the first one as their error.
//!
//! All integers are little-endian. Offsets in errors are byte offsets inside a namespace when
//! the error comes from a rule, and inside the given buffer when it comes from `decode` or
//! `encode`.

use core::fmt;

use crate::pure::crc64::Crc64;
use crate::pure::layout::layout;
use crate::pure::le::{put, u32_at, u64_at, Le};
use crate::pure::sort::heapsort_by_key;

/// Page size of the allocator (the only one the seed supports).
pub const PAGE_SIZE: u32 = 4096;
/// `BCH_NVMPG_SB_OFFSET`: byte offset of [`Sb`] in every namespace.
pub const SB_OFFSET: u64 = 4096;
/// `BCH_NVMPG_RECLIST_HEAD_OFFSET`: byte offset of [`SetHeader`] in namespace 0.
pub const RECLIST_HEAD_OFFSET: u64 = 8 << 10;
/// `BCH_NVMPG_SYSRECS_OFFSET`: byte offset of the recs blocks area in namespace 0.
pub const SYSRECS_OFFSET: u64 = 16 << 10;
/// `BCH_NVMPG_START`: byte offset of the first page handed to the buddy allocator.
pub const START: u64 = 16 << 20;
/// `BCH_NVMPG_NS_MAX`: namespaces in a set.
pub const NS_MAX: usize = 8;
/// `BCH_NVMPG_LBL_SIZE`: bytes of [`Head::label`].
pub const LBL_SIZE: usize = 32;
/// `BCH_NVMPG_SB_VERSION`: version written by format.
pub const SB_VERSION: u64 = 0;
/// `BCH_NVMPG_SB_VERSION_MAX`: newest version understood.
pub const SB_VERSION_MAX: u64 = 0;
/// `BCH_MAX_ORDER`: allocations are 2^order pages with order below this.
pub const MAX_ORDER: u8 = 20;
/// `bch_nvmpg_magic`: identifies [`Sb`].
pub const NVMPG_MAGIC: [u8; 16] = [
    0x17, 0xbd, 0x53, 0x7f, 0x1b, 0x23, 0xd6, 0x83, 0x46, 0xa4, 0xf8, 0x28, 0x17, 0xda, 0xec, 0xa9,
];
/// `bch_nvmpg_recs_magic`: identifies a [`RecsHeader`] block.
pub const RECS_MAGIC: [u8; 16] = [
    0x39, 0x25, 0x3f, 0xf7, 0x27, 0x17, 0xd0, 0xb9, 0x10, 0xe6, 0xd2, 0xda, 0x38, 0x68, 0x26, 0xae,
];
/// `BCH_NVMPG_HD_STAT_FREE`: [`Head::state`] of an unused head.
pub const HEAD_STATE_FREE: u32 = 0;
/// `BCH_NVMPG_HD_STAT_ALLOC`: [`Head::state`] of a head owned by a requester.
pub const HEAD_STATE_ALLOC: u32 = 1;
/// Label of `heads[0]`, the allocator's own head.
pub const SYS_HEAD_LABEL: &[u8] = b"nvmpg_sys_alloc";
/// Recs blocks that fit in the on-media area `[SYSRECS_OFFSET, START)` (2046).
pub const SYSRECS_BLOCKS: usize =
    ((START - SYSRECS_OFFSET) / RecsHeader::BLOCK_SIZE as u64) as usize;
/// `BCH_MAX_PGALLOC_RECS`: recs blocks the seed kernel actually uses (`min(64, SYSRECS_BLOCKS)`).
pub const SEED_RECS_BLOCKS: usize = 64;
/// Index of the first allocatable page.
pub const FIRST_PAGE: u64 = START / PAGE_SIZE as u64;
/// Smallest namespace `format` accepts: the reserved area plus one page.
pub const MIN_NS_BYTES: u64 = START + PAGE_SIZE as u64;

/// A named on-media field or structure, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `struct bch_nvmpg_sb` as a whole.
    Sb,
    /// `bch_nvmpg_sb.csum`.
    SbCsum,
    /// `bch_nvmpg_sb.sb_offset`.
    SbSbOffset,
    /// `bch_nvmpg_sb.version`.
    SbVersion,
    /// `bch_nvmpg_sb.magic`.
    SbMagic,
    /// `bch_nvmpg_sb.page_size`.
    SbPageSize,
    /// `bch_nvmpg_sb.total_ns`.
    SbTotalNs,
    /// `bch_nvmpg_sb.this_ns`.
    SbThisNs,
    /// `bch_nvmpg_sb.set_uuid`.
    SbSetUuid,
    /// `bch_nvmpg_sb.feature_incompat`.
    SbFeatureIncompat,
    /// `bch_nvmpg_sb.pages_offset`.
    SbPagesOffset,
    /// `bch_nvmpg_sb.pages_total`.
    SbPagesTotal,
    /// `bch_nvmpg_sb.set_header_offset`.
    SbSetHeaderOffset,
    /// `bch_nvmpg_sb.keys`.
    SbKeys,
    /// `struct bch_nvmpg_set_header` (its fixed part).
    SetHeader,
    /// `bch_nvmpg_set_header.size`.
    HdrSize,
    /// `bch_nvmpg_set_header.used`.
    HdrUsed,
    /// `struct bch_nvmpg_head`.
    Head,
    /// `bch_nvmpg_head.uuid`.
    HeadUuid,
    /// `bch_nvmpg_head.state`.
    HeadState,
    /// `bch_nvmpg_head.recs_offset[]`.
    HeadRecsOffset,
    /// `struct bch_nvmpg_recs` (its fixed part).
    Recs,
    /// `bch_nvmpg_recs.head_offset`.
    RecsHeadOffset,
    /// `bch_nvmpg_recs.next_offset`.
    RecsNextOffset,
    /// `bch_nvmpg_recs.magic`.
    RecsMagic,
    /// `bch_nvmpg_recs.uuid`.
    RecsUuid,
    /// `bch_nvmpg_recs.size`.
    RecsSize,
    /// `bch_nvmpg_recs.used`.
    RecsUsed,
    /// `struct bch_nvmpg_rec`.
    Rec,
    /// `bch_nvmpg_rec.pgoff`.
    RecPgoff,
    /// `bch_nvmpg_rec.order`.
    RecOrder,
    /// `bch_nvmpg_rec.ns_id`.
    RecNsId,
}

impl Field {
    /// The C name of the field, as printed in messages (`sb.version`, `recs.used`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Field::Sb => "sb",
            Field::SbCsum => "sb.csum",
            Field::SbSbOffset => "sb.sb_offset",
            Field::SbVersion => "sb.version",
            Field::SbMagic => "sb.magic",
            Field::SbPageSize => "sb.page_size",
            Field::SbTotalNs => "sb.total_ns",
            Field::SbThisNs => "sb.this_ns",
            Field::SbSetUuid => "sb.set_uuid",
            Field::SbFeatureIncompat => "sb.feature_incompat",
            Field::SbPagesOffset => "sb.pages_offset",
            Field::SbPagesTotal => "sb.pages_total",
            Field::SbSetHeaderOffset => "sb.set_header_offset",
            Field::SbKeys => "sb.keys",
            Field::SetHeader => "set_header",
            Field::HdrSize => "set_header.size",
            Field::HdrUsed => "set_header.used",
            Field::Head => "head",
            Field::HeadUuid => "head.uuid",
            Field::HeadState => "head.state",
            Field::HeadRecsOffset => "head.recs_offset",
            Field::Recs => "recs",
            Field::RecsHeadOffset => "recs.head_offset",
            Field::RecsNextOffset => "recs.next_offset",
            Field::RecsMagic => "recs.magic",
            Field::RecsUuid => "recs.uuid",
            Field::RecsSize => "recs.size",
            Field::RecsUsed => "recs.used",
            Field::Rec => "rec",
            Field::RecPgoff => "rec.pgoff",
            Field::RecOrder => "rec.order",
            Field::RecNsId => "rec.ns_id",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with some bytes of an nvm-pages image: one variant per kind of problem, each
/// naming the field, its byte offset, what was found and what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// The buffer or image ends inside `field`.
    Truncated {
        /// Structure being read or written.
        field: Field,
        /// Where it starts.
        offset: u64,
        /// Bytes it needs.
        need: u64,
        /// Bytes available from `offset`.
        have: u64,
    },
    /// A 16-byte magic is not the expected one.
    BadMagic {
        /// [`Field::SbMagic`] or [`Field::RecsMagic`].
        field: Field,
        /// Where the magic is.
        offset: u64,
    },
    /// `sb.csum` does not match the bytes it covers.
    BadCsum {
        /// Where the csum is.
        offset: u64,
        /// Stored value.
        found: u64,
        /// Computed value.
        expected: u64,
    },
    /// `sb.version` is newer than [`SB_VERSION_MAX`].
    BadVersion {
        /// Where the version is.
        offset: u64,
        /// Stored value.
        found: u64,
    },
    /// `sb.page_size` is not [`PAGE_SIZE`].
    BadPageSize {
        /// Where the page size is.
        offset: u64,
        /// Stored value.
        found: u32,
    },
    /// `sb.total_ns` is 0 or above [`NS_MAX`].
    BadTotalNs {
        /// Where total_ns is.
        offset: u64,
        /// Stored value.
        found: u32,
    },
    /// `sb.this_ns` is not below `sb.total_ns`.
    BadThisNs {
        /// Where this_ns is.
        offset: u64,
        /// Stored value.
        found: u32,
        /// `sb.total_ns`.
        total_ns: u32,
    },
    /// A field holds another value than the only one allowed.
    BadValue {
        /// The field.
        field: Field,
        /// Where it is.
        offset: u64,
        /// Stored value.
        found: u64,
        /// The allowed value.
        expected: u64,
    },
    /// A field holds a value above its maximum.
    TooLarge {
        /// The field.
        field: Field,
        /// Where it is.
        offset: u64,
        /// Stored value.
        found: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// A field holds a value below its minimum.
    TooSmall {
        /// The field.
        field: Field,
        /// Where it is.
        offset: u64,
        /// Stored value.
        found: u64,
        /// Smallest allowed value.
        min: u64,
    },
    /// An nvmpg offset points outside the area its structure lives in.
    OffsetOutOfRange {
        /// The pointer field.
        field: Field,
        /// Where the pointer is.
        offset: u64,
        /// Its value.
        found: u64,
    },
    /// An nvmpg offset is not aligned to the structure it points to.
    OffsetMisaligned {
        /// The pointer field.
        field: Field,
        /// Where the pointer is.
        offset: u64,
        /// Its value.
        found: u64,
        /// Required alignment of the in-namespace offset.
        align: u64,
    },
    /// A recs chain links back to one of its own blocks.
    ChainCycle {
        /// Where the link is.
        offset: u64,
        /// The link's value.
        found: u64,
    },
    /// A recs block is linked from two chains.
    RecsShared {
        /// Where the second link is.
        offset: u64,
        /// The link's value.
        found: u64,
    },
    /// A uuid differs from the one it must repeat (`recs.uuid` vs its head, `sb.set_uuid` vs
    /// the set's first namespace).
    UuidMismatch {
        /// The uuid field.
        field: Field,
        /// Where it is.
        offset: u64,
    },
    /// `recs.head_offset` is not the nvmpg offset of the head owning the chain.
    HeadOffsetMismatch {
        /// Where head_offset is.
        offset: u64,
        /// Stored value.
        found: u64,
        /// Offset of the owning head.
        expected: u64,
    },
    /// A `used` counter differs from the number of live entries.
    UsedMismatch {
        /// [`Field::RecsUsed`] or [`Field::HdrUsed`].
        field: Field,
        /// Where the counter is.
        offset: u64,
        /// Stored value.
        found: u64,
        /// Counted value (for the set header: the smallest valid value).
        expected: u64,
    },
    /// `head.state` is neither FREE nor ALLOC.
    BadHeadState {
        /// Where the state is.
        offset: u64,
        /// Stored value.
        found: u32,
    },
    /// A record's reserved bits 61..63 are set.
    RecordReservedBits {
        /// Where the record is.
        offset: u64,
        /// The raw record.
        found: u64,
    },
    /// A record's order is not below [`MAX_ORDER`].
    RecordBadOrder {
        /// Where the record is.
        offset: u64,
        /// Its order.
        found: u8,
    },
    /// A record's `pgoff` is not a multiple of its size.
    RecordMisaligned {
        /// Where the record is.
        offset: u64,
        /// Its pgoff.
        pgoff: u64,
        /// Its order.
        order: u8,
    },
    /// A record's `ns_id` is not the namespace of the chain holding it.
    RecordBadNs {
        /// Where the record is.
        offset: u64,
        /// Its ns_id.
        found: u8,
        /// The chain's namespace.
        expected: u8,
    },
    /// A record starts inside the reserved first [`START`] bytes of its namespace.
    RecordInReserved {
        /// Where the record is.
        offset: u64,
        /// Its pgoff.
        pgoff: u64,
        /// First allocatable page.
        first: u64,
    },
    /// A record ends past `sb.pages_total` of its namespace.
    RecordPastEnd {
        /// Where the record is.
        offset: u64,
        /// Page after its last page.
        end: u64,
        /// `sb.pages_total`.
        pages_total: u64,
    },
    /// Two records cover a common page.
    RecordOverlap {
        /// Where the later record is.
        offset: u64,
        /// Where the record it overlaps is.
        other: u64,
    },
    /// No image of the set has `this_ns == ns`.
    MissingNamespace {
        /// The missing namespace id.
        ns: u32,
    },
    /// Two images claim the same `this_ns`.
    DuplicateNamespace {
        /// Where this_ns is in the second image.
        offset: u64,
        /// The namespace id.
        ns: u32,
    },
    /// The caller's scratch space for the overlap check is full: later records are not
    /// checked for overlaps.
    ScratchExhausted {
        /// Records the scratch holds.
        capacity: u64,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { field, offset, need, have } => write!(
                f,
                "truncated {field} at offset {offset}: found {have} bytes, expected {need}"
            ),
            Self::BadMagic { field, offset } => {
                let what = if field == Field::RecsMagic { "recs" } else { "sb" };
                write!(f, "bad {what} magic at offset {offset}")
            }
            Self::BadCsum { offset, found, expected } => write!(
                f,
                "bad sb.csum at offset {offset}: found {found:#018x}, expected {expected:#018x}"
            ),
            Self::BadVersion { offset, found } => write!(
                f,
                "unsupported sb.version at offset {offset}: found {found}, expected <= {SB_VERSION_MAX}"
            ),
            Self::BadPageSize { offset, found } => write!(
                f,
                "bad sb.page_size at offset {offset}: found {found}, expected {PAGE_SIZE}"
            ),
            Self::BadTotalNs { offset, found } => write!(
                f,
                "bad sb.total_ns at offset {offset}: found {found}, expected 1..={NS_MAX}"
            ),
            Self::BadThisNs { offset, found, total_ns } => write!(
                f,
                "bad sb.this_ns at offset {offset}: found {found}, expected < total_ns {total_ns}"
            ),
            Self::BadValue { field, offset, found, expected } => write!(
                f,
                "bad {field} at offset {offset}: found {found:#x}, expected {expected:#x}"
            ),
            Self::TooLarge { field, offset, found, max } => write!(
                f,
                "{field} too large at offset {offset}: found {found}, expected <= {max}"
            ),
            Self::TooSmall { field, offset, found, min } => write!(
                f,
                "{field} too small at offset {offset}: found {found}, expected >= {min}"
            ),
            Self::OffsetOutOfRange { field, offset, found } => write!(
                f,
                "{field} out of range at offset {offset}: found {found:#x}, expected namespace 0 \
                 offset in [{SYSRECS_OFFSET:#x}, {START:#x})"
            ),
            Self::OffsetMisaligned { field, offset, found, align } => write!(
                f,
                "misaligned {field} at offset {offset}: found {found:#x}, expected a multiple of \
                 {align:#x} from {SYSRECS_OFFSET:#x}"
            ),
            Self::ChainCycle { offset, found } => write!(
                f,
                "recs chain cycle at offset {offset}: found {found:#x}, expected a block not yet \
                 in the chain"
            ),
            Self::RecsShared { offset, found } => write!(
                f,
                "recs block shared by two chains at offset {offset}: found {found:#x}, expected \
                 a block of no other chain"
            ),
            Self::UuidMismatch { field, offset } => {
                let of = if field == Field::RecsUuid { "its head" } else { "namespace 0" };
                write!(f, "{field} mismatch at offset {offset}: expected the uuid of {of}")
            }
            Self::HeadOffsetMismatch { offset, found, expected } => write!(
                f,
                "bad recs.head_offset at offset {offset}: found {found:#x}, expected {expected:#x}"
            ),
            Self::UsedMismatch { field, offset, found, expected } => {
                let rel = if field == Field::HdrUsed { ">= " } else { "" };
                write!(
                    f,
                    "{field} mismatch at offset {offset}: found {found}, expected {rel}{expected}"
                )
            }
            Self::BadHeadState { offset, found } => write!(
                f,
                "bad head.state at offset {offset}: found {found}, expected {HEAD_STATE_FREE} or \
                 {HEAD_STATE_ALLOC}"
            ),
            Self::RecordReservedBits { offset, found } => write!(
                f,
                "rec reserved bits set at offset {offset}: found {found:#018x}, expected bits \
                 61..63 clear"
            ),
            Self::RecordBadOrder { offset, found } => write!(
                f,
                "bad rec.order at offset {offset}: found {found}, expected < {MAX_ORDER}"
            ),
            Self::RecordMisaligned { offset, pgoff, order } => write!(
                f,
                "misaligned rec at offset {offset}: found pgoff {pgoff} order {order}, expected \
                 pgoff a multiple of {}",
                1u64 << (order & 63)
            ),
            Self::RecordBadNs { offset, found, expected } => write!(
                f,
                "bad rec.ns_id at offset {offset}: found {found}, expected {expected}"
            ),
            Self::RecordInReserved { offset, pgoff, first } => write!(
                f,
                "rec in reserved area at offset {offset}: found pgoff {pgoff}, expected >= {first}"
            ),
            Self::RecordPastEnd { offset, end, pages_total } => write!(
                f,
                "rec past end at offset {offset}: found end page {end}, expected <= pages_total \
                 {pages_total}"
            ),
            Self::RecordOverlap { offset, other } => write!(
                f,
                "overlapping rec at offset {offset}: found pages shared with rec at offset \
                 {other}, expected disjoint ranges"
            ),
            Self::MissingNamespace { ns } => {
                write!(f, "missing namespace {ns}: expected an image with sb.this_ns {ns}")
            }
            Self::DuplicateNamespace { offset, ns } => write!(
                f,
                "duplicate sb.this_ns at offset {offset}: found {ns}, expected each namespace once"
            ),
            Self::ScratchExhausted { capacity } => write!(
                f,
                "more than {capacity} records: later records not checked for overlaps"
            ),
        }
    }
}

/// Error of a `decode`/`encode` given fewer than `need` bytes.
fn truncated(field: Field, need: usize, have: usize) -> FormatError {
    FormatError::Truncated {
        field,
        offset: 0,
        need: need as u64,
        have: have as u64,
    }
}

/// Runs rules for a loader, which stops at the first problem: `rules` gets the callback to
/// report to, and the first problem it reports is the error (the later ones are dropped; the
/// rules are pure, so running them to the end changes nothing). Otherwise returns what
/// `rules` returned.
pub(crate) fn first_problem<T>(
    rules: impl FnOnce(&mut dyn FnMut(FormatError)) -> T,
) -> Result<T, FormatError> {
    let mut first = None;
    let out = rules(&mut |e| {
        first.get_or_insert(e);
    });
    first.map_or(Ok(out), Err)
}

/// Nvmpg offset: a 64-bit pointer with the namespace id in bits 63..61 and the byte offset
/// inside that namespace in bits 60..0. Zero means "none".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NvmpgOffset(pub u64);

impl NvmpgOffset {
    /// Bit position of the namespace id.
    pub const NS_SHIFT: u32 = 61;
    /// Mask of the in-namespace byte offset.
    pub const OFFSET_MASK: u64 = (1 << Self::NS_SHIFT) - 1;
    /// The "none" pointer.
    pub const NONE: Self = Self(0);

    /// The pointer to byte `offset` of namespace `ns`, or `None` if either does not fit.
    pub const fn new(ns: u8, offset: u64) -> Option<Self> {
        if ns as usize >= NS_MAX || offset > Self::OFFSET_MASK {
            return None;
        }
        Some(Self(((ns as u64) << Self::NS_SHIFT) | offset))
    }

    /// The namespace id (0..7).
    pub const fn ns(self) -> u8 {
        (self.0 >> Self::NS_SHIFT) as u8
    }

    /// The byte offset inside the namespace.
    pub const fn offset(self) -> u64 {
        self.0 & Self::OFFSET_MASK
    }

    /// Whether this is the "none" pointer.
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }
}

/// Stored as its u64.
impl Le for NvmpgOffset {
    const SIZE: usize = u64::SIZE;

    fn read_le(buf: &[u8], off: usize) -> Option<Self> {
        u64::read_le(buf, off).map(Self)
    }

    fn write_le(&self, buf: &mut [u8], off: usize) -> Option<()> {
        self.0.write_le(buf, off)
    }
}

/// `struct bch_nvmpg_rec`: one allocated range of 2^order pages, packed in one u64
/// (`pgoff` bits 0..51, `order` bits 52..57, `ns_id` bits 58..60, reserved bits 61..63).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rec(pub u64);

impl Rec {
    /// Bytes of a record.
    pub const SIZE: usize = 8;
    /// Bits of `pgoff`.
    pub const PGOFF_BITS: u32 = 52;
    /// Bit position of `order`.
    pub const ORDER_SHIFT: u32 = 52;
    /// Bits of `order`.
    pub const ORDER_BITS: u32 = 6;
    /// Bit position of `ns_id`.
    pub const NS_SHIFT: u32 = 58;
    /// Bits of `ns_id`.
    pub const NS_BITS: u32 = 3;
    /// Bit position of the reserved bits.
    pub const RESERVED_SHIFT: u32 = 61;
    /// The empty slot.
    pub const EMPTY: Self = Self(0);

    /// The record of pages `[pgoff, pgoff + 2^order)` of namespace `ns_id`, or `None` if a
    /// field does not fit, `order >= MAX_ORDER` or `pgoff` is 0 (the empty-slot marker).
    pub const fn new(pgoff: u64, order: u8, ns_id: u8) -> Option<Self> {
        if pgoff == 0 || pgoff >> Self::PGOFF_BITS != 0 || order >= MAX_ORDER {
            return None;
        }
        if ns_id as usize >= NS_MAX {
            return None;
        }
        Some(Self(
            pgoff | ((order as u64) << Self::ORDER_SHIFT) | ((ns_id as u64) << Self::NS_SHIFT),
        ))
    }

    /// First page of the range, in pages from the start of the namespace; 0 for an empty slot.
    pub const fn pgoff(self) -> u64 {
        self.0 & ((1 << Self::PGOFF_BITS) - 1)
    }

    /// The range is 2^order pages.
    pub const fn order(self) -> u8 {
        ((self.0 >> Self::ORDER_SHIFT) & ((1 << Self::ORDER_BITS) - 1)) as u8
    }

    /// Namespace of the range.
    pub const fn ns_id(self) -> u8 {
        ((self.0 >> Self::NS_SHIFT) & ((1 << Self::NS_BITS) - 1)) as u8
    }

    /// The reserved bits 61..63 (0 in a valid record).
    pub const fn reserved(self) -> u8 {
        (self.0 >> Self::RESERVED_SHIFT) as u8
    }

    /// Whether the slot is empty (`pgoff == 0`).
    pub const fn is_empty(self) -> bool {
        self.pgoff() == 0
    }

    /// Pages in the range (2^order; the 6-bit order never overflows).
    pub const fn pages(self) -> u64 {
        1 << self.order()
    }

    /// Page after the last page of the range (never overflows: pgoff < 2^52, order < 64 gives
    /// at most 2^52 + 2^63).
    pub const fn end(self) -> u64 {
        self.pgoff() + self.pages()
    }

    /// Reads a record.
    pub fn decode(buf: &[u8]) -> Result<Self, FormatError> {
        u64_at(buf, 0)
            .map(Self)
            .ok_or(truncated(Field::Rec, Self::SIZE, buf.len()))
    }

    /// Writes the record.
    pub fn encode(&self, buf: &mut [u8]) -> Result<(), FormatError> {
        put(buf, 0, &self.0.to_le_bytes()).ok_or(truncated(Field::Rec, Self::SIZE, buf.len()))
    }

    /// The record rules, for a live record stored at byte `at` of namespace 0 in a chain of
    /// namespace `ns`, whose size is `pages_total` pages when known. Calls `report` once per
    /// broken rule, in this order: reserved bits clear, order below [`MAX_ORDER`], `ns_id` the
    /// chain's, `pgoff` a multiple of the range's size, the range past the reserved first
    /// [`START`] bytes, the range within `pages_total` (only when given). A bad order or
    /// `ns_id` ends the check: the range means nothing then.
    ///
    /// Returns whether the range is sound (every rule but the reserved bits holds), so that it
    /// can be checked for overlaps ([`check_overlaps`]) and made busy in a buddy.
    pub fn check(
        self,
        at: u64,
        ns: u8,
        pages_total: Option<u64>,
        mut report: impl FnMut(FormatError),
    ) -> bool {
        if self.reserved() != 0 {
            report(FormatError::RecordReservedBits {
                offset: at,
                found: self.0,
            });
        }
        if self.order() >= MAX_ORDER {
            report(FormatError::RecordBadOrder {
                offset: at,
                found: self.order(),
            });
            return false;
        }
        if self.ns_id() != ns {
            report(FormatError::RecordBadNs {
                offset: at,
                found: self.ns_id(),
                expected: ns,
            });
            return false;
        }
        let mut sound = true;
        if self.pgoff() & (self.pages() - 1) != 0 {
            report(FormatError::RecordMisaligned {
                offset: at,
                pgoff: self.pgoff(),
                order: self.order(),
            });
            sound = false;
        }
        if self.pgoff() < FIRST_PAGE {
            report(FormatError::RecordInReserved {
                offset: at,
                pgoff: self.pgoff(),
                first: FIRST_PAGE,
            });
            sound = false;
        }
        if let Some(pages_total) = pages_total.filter(|&total| self.end() > total) {
            report(FormatError::RecordPastEnd {
                offset: at,
                end: self.end(),
                pages_total,
            });
            sound = false;
        }
        sound
    }
}

/// A live record and where it is stored (byte offset of its slot in namespace 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordRef {
    /// The record.
    pub rec: Rec,
    /// Byte offset of its slot.
    pub at: u64,
}

/// The overlap rule: no two records cover a common page. `recs` are sound records (see
/// [`Rec::check`]) of any namespaces; they are sorted by (namespace, first page, slot offset)
/// and each record that starts before the end of an earlier record of its namespace is
/// reported as [`FormatError::RecordOverlap`], naming the earlier record that reaches
/// furthest. `pages(ns, n)` is called once per record with the pages it adds to its
/// namespace's total (pages covered twice count once).
pub fn check_overlaps(
    recs: &mut [RecordRef],
    mut report: impl FnMut(FormatError),
    mut pages: impl FnMut(u8, u64),
) {
    heapsort_by_key(recs, |r| (r.rec.ns_id(), r.rec.pgoff(), r.at));
    // (namespace, end of the furthest-reaching range so far, where that range is stored)
    let mut reach: Option<(u8, u64, u64)> = None;
    for r in recs.iter() {
        let (ns, start, end) = (r.rec.ns_id(), r.rec.pgoff(), r.rec.end());
        let added = match reach {
            Some((n, reach_end, other)) if n == ns && start < reach_end => {
                report(FormatError::RecordOverlap {
                    offset: r.at,
                    other,
                });
                end.saturating_sub(reach_end)
            }
            _ => end - start,
        };
        pages(ns, added);
        match reach {
            Some((n, reach_end, _)) if n == ns && reach_end >= end => {}
            _ => reach = Some((ns, end, r.at)),
        }
    }
}

layout! {
    /// `struct bch_nvmpg_sb` (fixed part; `d[]` is read separately): at [`SB_OFFSET`] of every
    /// namespace.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct Sb: 232 bytes {
        /// bch_crc64 over bytes `[8, 232 + keys * 8)`.
        pub csum: u64 => OFF_CSUM = 0,
        /// Byte offset of this sb ([`SB_OFFSET`]).
        pub sb_offset: u64 => OFF_SB_OFFSET = 8,
        /// Start of the namespace's usable range (0: unused by the seed).
        pub ns_start: u64 => OFF_NS_START = 16,
        /// Format version.
        pub version: u64 => OFF_VERSION = 24,
        /// [`NVMPG_MAGIC`].
        pub magic: [u8; 16] => OFF_MAGIC = 32,
        /// This namespace's uuid.
        pub uuid: [u8; 16] => OFF_UUID = 48,
        /// [`PAGE_SIZE`].
        pub page_size: u32 => OFF_PAGE_SIZE = 64,
        /// Namespaces in the set.
        pub total_ns: u32 => OFF_TOTAL_NS = 68,
        /// This namespace's id; 0 holds the set header.
        pub this_ns: u32 => OFF_THIS_NS = 72,
        /// Alignment padding.
        zeroed[4] => 76,
        /// Which set the namespace belongs to (union with the u64 `set_magic`).
        pub set_uuid: [u8; 16] => OFF_SET_UUID = 80,
        /// Flags (none defined).
        pub flags: u64 => OFF_FLAGS = 96,
        /// Sequence number (unused by the seed).
        pub seq: u64 => OFF_SEQ = 104,
        /// Compatible features.
        pub feature_compat: u64 => OFF_FEATURE_COMPAT = 112,
        /// Incompatible features (none defined).
        pub feature_incompat: u64 => OFF_FEATURE_INCOMPAT = 120,
        /// Read-only compatible features.
        pub feature_ro_compat: u64 => OFF_FEATURE_RO_COMPAT = 128,
        /// Byte offset of the first allocatable page ([`START`]).
        pub pages_offset: u64 => OFF_PAGES_OFFSET = 136,
        /// Pages of the namespace covered by the allocator, counted from its start.
        pub pages_total: u64 => OFF_PAGES_TOTAL = 144,
        /// Reserved.
        pub pad: [u64; 8] => OFF_PAD = 152,
        /// Nvmpg offset of the set header (on namespace 0).
        pub set_header_offset: NvmpgOffset => OFF_SET_HEADER_OFFSET = 216,
        /// Count of u64 in `d[]`.
        pub keys: u32 => OFF_KEYS = 224,
        /// Alignment padding.
        zeroed[4] => 228,
    }
}

impl Sb {
    /// Largest `keys` such that `d[]` stays inside the sb's 4 KiB page.
    pub const MAX_KEYS: u32 = ((RECLIST_HEAD_OFFSET - SB_OFFSET) as usize - Self::SIZE) as u32 / 8;
    /// Offset of `d[]`, right after the fixed part.
    pub const OFF_D: usize = Self::SIZE;
    /// First byte covered by `csum`.
    pub const CSUM_START: usize = 8;

    /// The sb `bcache-nvm format` writes on namespace `this_ns` of a `total_ns` set:
    /// checksum still 0 (see [`Sb::encode_sealed`]).
    pub fn formatted(
        uuid: [u8; 16],
        set_uuid: [u8; 16],
        total_ns: u32,
        this_ns: u32,
        pages_total: u64,
    ) -> Self {
        Self {
            sb_offset: SB_OFFSET,
            version: SB_VERSION,
            magic: NVMPG_MAGIC,
            uuid,
            page_size: PAGE_SIZE,
            total_ns,
            this_ns,
            set_uuid,
            pages_offset: START,
            pages_total,
            set_header_offset: NvmpgOffset(RECLIST_HEAD_OFFSET),
            ..Self::default()
        }
    }

    /// Reads the fixed part of an sb.
    pub fn decode(buf: &[u8]) -> Result<Self, FormatError> {
        Self::decode_fixed(buf).ok_or(truncated(Field::Sb, Self::SIZE, buf.len()))
    }

    /// Writes the fixed part (alignment padding zeroed, `csum` as stored in `self`).
    pub fn encode(&self, buf: &mut [u8]) -> Result<(), FormatError> {
        self.encode_fixed(buf)
            .ok_or(truncated(Field::Sb, Self::SIZE, buf.len()))
    }

    /// Writes the fixed part, then computes `csum` over what `buf` holds (its `d[]` must
    /// already be in place) and stores it. Returns the csum.
    pub fn encode_sealed(&self, buf: &mut [u8]) -> Result<u64, FormatError> {
        self.encode(buf)?;
        let csum = Self::compute_csum(buf)?;
        put(buf, Self::OFF_CSUM, &csum.to_le_bytes()).ok_or(truncated(
            Field::Sb,
            Self::SIZE,
            buf.len(),
        ))?;
        Ok(csum)
    }

    /// End of the bytes covered by `csum` for a given `keys` (`232 + keys * 8`), if it fits in
    /// the sb's page.
    pub const fn csum_end(keys: u32) -> Option<usize> {
        if keys > Self::MAX_KEYS {
            return None;
        }
        Some(Self::OFF_D + keys as usize * 8)
    }

    /// `csum_set()` of the sb whose bytes (from its first byte, `d[]` included) are `buf`.
    pub fn compute_csum(buf: &[u8]) -> Result<u64, FormatError> {
        let keys =
            u32_at(buf, Self::OFF_KEYS).ok_or(truncated(Field::Sb, Self::SIZE, buf.len()))?;
        let end = Self::csum_end(keys).ok_or(FormatError::TooLarge {
            field: Field::SbKeys,
            offset: Self::OFF_KEYS as u64,
            found: keys.into(),
            max: Self::MAX_KEYS.into(),
        })?;
        let covered = buf
            .get(Self::CSUM_START..end)
            .ok_or(truncated(Field::Sb, end, buf.len()))?;
        let mut crc = Crc64::new();
        crc.update(covered);
        Ok(crc.finish())
    }

    /// `csum_set()` of an sb whose fixed part is `fixed` and whose `d[]` tail (bytes from
    /// [`Sb::SIZE`] on, relative to the sb) `read_tail(pos, buf)` fills piece by piece.
    /// `None` if `keys` is too large (see [`Sb::csum_end`]) or a read fails.
    pub fn csum_with(
        fixed: &[u8],
        keys: u32,
        mut read_tail: impl FnMut(usize, &mut [u8]) -> bool,
    ) -> Option<u64> {
        let end = Self::csum_end(keys)?;
        let mut crc = Crc64::new();
        crc.update(fixed.get(Self::CSUM_START..Self::SIZE)?);
        let mut chunk = [0u8; 64];
        let mut pos = Self::SIZE;
        while pos < end {
            let piece = chunk.get_mut(..(end - pos).min(64))?;
            if !read_tail(pos, piece) {
                return None;
            }
            crc.update(piece);
            pos += piece.len();
        }
        Some(crc.finish())
    }

    /// The sb rules, for the sb at [`SB_OFFSET`] of a namespace of `ns_bytes` bytes whose fixed
    /// part, as read, is `fixed` (the checksum covers its padding too). Calls `report` once per
    /// broken rule, in a fixed order: the magic, `keys`, the checksum, then
    /// [`Sb::check_fields`]. Offsets are absolute in the namespace.
    ///
    /// Without the magic the namespace holds no nvm-pages sb: nothing else is checked and the
    /// result is `false`. With a `keys` too large the checksum is not computed. The checksum
    /// reads `d[]` through `read(offset, buf)` (byte offset in the namespace); a failed read
    /// is reported as [`FormatError::Truncated`] and the checksum is not compared.
    pub fn check(
        &self,
        fixed: &[u8],
        ns_bytes: u64,
        mut read: impl FnMut(u64, &mut [u8]) -> bool,
        mut report: impl FnMut(FormatError),
    ) -> bool {
        let at = |off: usize| SB_OFFSET + off as u64;
        if self.magic != NVMPG_MAGIC {
            report(FormatError::BadMagic {
                field: Field::SbMagic,
                offset: at(Self::OFF_MAGIC),
            });
            return false;
        }
        if Self::csum_end(self.keys).is_none() {
            report(FormatError::TooLarge {
                field: Field::SbKeys,
                offset: at(Self::OFF_KEYS),
                found: self.keys.into(),
                max: Self::MAX_KEYS.into(),
            });
        } else {
            let mut failed = None;
            let csum = Self::csum_with(fixed, self.keys, |pos, piece| {
                let ok = read(at(pos), piece);
                if !ok {
                    failed = Some((at(pos), piece.len() as u64));
                }
                ok
            });
            match (csum, failed) {
                (Some(expected), _) if expected != self.csum => report(FormatError::BadCsum {
                    offset: at(Self::OFF_CSUM),
                    found: self.csum,
                    expected,
                }),
                (None, Some((offset, need))) => report(FormatError::Truncated {
                    field: Field::Sb,
                    offset,
                    need,
                    have: ns_bytes.saturating_sub(offset),
                }),
                _ => {}
            }
        }
        self.check_fields(ns_bytes, &mut report);
        true
    }

    /// Checks every rule on the sb's fields except the magic and the checksum (which
    /// [`Sb::check`] checks with the raw bytes first), for a namespace of `ns_bytes` bytes, and
    /// calls `report` once per broken rule, in a fixed order. Offsets are absolute in the
    /// namespace.
    pub fn check_fields(&self, ns_bytes: u64, mut report: impl FnMut(FormatError)) {
        let at = |off: usize| SB_OFFSET + off as u64;
        if self.version > SB_VERSION_MAX {
            report(FormatError::BadVersion {
                offset: at(Self::OFF_VERSION),
                found: self.version,
            });
        }
        if self.page_size != PAGE_SIZE {
            report(FormatError::BadPageSize {
                offset: at(Self::OFF_PAGE_SIZE),
                found: self.page_size,
            });
        }
        if self.total_ns == 0 || self.total_ns as usize > NS_MAX {
            report(FormatError::BadTotalNs {
                offset: at(Self::OFF_TOTAL_NS),
                found: self.total_ns,
            });
        } else if self.this_ns >= self.total_ns {
            report(FormatError::BadThisNs {
                offset: at(Self::OFF_THIS_NS),
                found: self.this_ns,
                total_ns: self.total_ns,
            });
        }
        let fixed = [
            (
                Field::SbSbOffset,
                Self::OFF_SB_OFFSET,
                self.sb_offset,
                SB_OFFSET,
            ),
            (
                Field::SbPagesOffset,
                Self::OFF_PAGES_OFFSET,
                self.pages_offset,
                START,
            ),
            (
                Field::SbSetHeaderOffset,
                Self::OFF_SET_HEADER_OFFSET,
                self.set_header_offset.0,
                RECLIST_HEAD_OFFSET,
            ),
            (
                Field::SbFeatureIncompat,
                Self::OFF_FEATURE_INCOMPAT,
                self.feature_incompat,
                0,
            ),
        ];
        for (field, off, found, expected) in fixed {
            if found != expected {
                report(FormatError::BadValue {
                    field,
                    offset: at(off),
                    found,
                    expected,
                });
            }
        }
        let (field, offset, found) = (
            Field::SbPagesTotal,
            at(Self::OFF_PAGES_TOTAL),
            self.pages_total,
        );
        let max = ns_bytes / u64::from(PAGE_SIZE);
        if found <= FIRST_PAGE {
            report(FormatError::TooSmall {
                field,
                offset,
                found,
                min: FIRST_PAGE + 1,
            });
        } else if found > max {
            report(FormatError::TooLarge {
                field,
                offset,
                found,
                max,
            });
        }
    }

    /// The set rule: every namespace of a set repeats the `set_uuid` and `total_ns` of the
    /// others (`set_uuid` and `total_ns` here are those of a namespace already met). Calls
    /// `report` once per field that differs.
    pub fn check_set(
        &self,
        set_uuid: &[u8; 16],
        total_ns: u32,
        mut report: impl FnMut(FormatError),
    ) {
        let at = |off: usize| SB_OFFSET + off as u64;
        if self.set_uuid != *set_uuid {
            report(FormatError::UuidMismatch {
                field: Field::SbSetUuid,
                offset: at(Self::OFF_SET_UUID),
            });
        }
        if self.total_ns != total_ns {
            report(FormatError::BadValue {
                field: Field::SbTotalNs,
                offset: at(Self::OFF_TOTAL_NS),
                found: self.total_ns.into(),
                expected: total_ns.into(),
            });
        }
    }
}

layout! {
    /// `struct bch_nvmpg_set_header` (fixed part; the heads are read one by one): 8 KiB at
    /// [`RECLIST_HEAD_OFFSET`] of namespace 0.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct SetHeader: 40 bytes {
        /// Capacity of `heads[]` ([`SetHeader::MAX_HEADS`]).
        pub size: u32 => OFF_SIZE = 0,
        /// Heads handed out so far (append-only).
        pub used: u32 => OFF_USED = 4,
        /// Reserved.
        pub pad: [u64; 4] => OFF_PAD = 8,
    }
}

impl SetHeader {
    /// Bytes of the whole on-media structure.
    pub const BLOCK_SIZE: usize = 8192;
    /// Offset of `heads[]`, right after the fixed part.
    pub const OFF_HEADS: usize = Self::SIZE;
    /// `BCH_NVMPG_MAX_HEADS`: heads that fit in the block (67).
    pub const MAX_HEADS: usize = (Self::BLOCK_SIZE - Self::OFF_HEADS) / Head::SIZE;

    /// Offset of `heads[index]` inside the set header, if the index is below [`Self::MAX_HEADS`].
    pub const fn head_off(index: usize) -> Option<usize> {
        if index >= Self::MAX_HEADS {
            return None;
        }
        Some(Self::OFF_HEADS + index * Head::SIZE)
    }

    /// Nvmpg offset of `heads[index]` (what `recs.head_offset` of its chains holds).
    pub const fn head_nvmpg_offset(index: usize) -> Option<NvmpgOffset> {
        match Self::head_off(index) {
            Some(off) => NvmpgOffset::new(0, RECLIST_HEAD_OFFSET + off as u64),
            None => None,
        }
    }

    /// Reads the fixed part.
    pub fn decode(buf: &[u8]) -> Result<Self, FormatError> {
        Self::decode_fixed(buf).ok_or(truncated(Field::SetHeader, Self::SIZE, buf.len()))
    }

    /// Writes the fixed part.
    pub fn encode(&self, buf: &mut [u8]) -> Result<(), FormatError> {
        self.encode_fixed(buf)
            .ok_or(truncated(Field::SetHeader, Self::SIZE, buf.len()))
    }

    /// The set header rules (at [`RECLIST_HEAD_OFFSET`] of namespace 0): `size` is
    /// [`SetHeader::MAX_HEADS`] and `used` at most that. Calls `report` once per broken rule.
    pub fn check(&self, mut report: impl FnMut(FormatError)) {
        let at = |off: usize| RECLIST_HEAD_OFFSET + off as u64;
        let max = Self::MAX_HEADS as u64;
        if u64::from(self.size) != max {
            report(FormatError::BadValue {
                field: Field::HdrSize,
                offset: at(Self::OFF_SIZE),
                found: self.size.into(),
                expected: max,
            });
        }
        if u64::from(self.used) > max {
            report(FormatError::TooLarge {
                field: Field::HdrUsed,
                offset: at(Self::OFF_USED),
                found: self.used.into(),
                max,
            });
        }
    }

    /// The rule between `used` and the heads: no head at or past `used` is ALLOC, i.e. `used`
    /// is at least `alloc_end`, the index after the last ALLOC head. The loader reads only the
    /// heads below `used`, so only the offline checker, which reads them all, applies it.
    pub fn check_used(&self, alloc_end: usize, mut report: impl FnMut(FormatError)) {
        if u64::from(self.used) < alloc_end as u64 {
            report(FormatError::UsedMismatch {
                field: Field::HdrUsed,
                offset: RECLIST_HEAD_OFFSET + Self::OFF_USED as u64,
                found: self.used.into(),
                expected: alloc_end as u64,
            });
        }
    }
}

layout! {
    /// `struct bch_nvmpg_head`: one requester's entry in the set header.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct Head: 120 bytes {
        /// The requester's uuid (bcache: the cache set uuid).
        pub uuid: [u8; 16] => OFF_UUID = 0,
        /// Optional human-readable name, NUL-padded.
        pub label: [u8; LBL_SIZE] => OFF_LABEL = 16,
        /// [`HEAD_STATE_FREE`] or [`HEAD_STATE_ALLOC`].
        pub state: u32 => OFF_STATE = 48,
        /// Flags (none defined).
        pub flags: u32 => OFF_FLAGS = 52,
        /// Per namespace: nvmpg offset of the first recs block of the requester's records
        /// there (entry `ns` is at `OFF_RECS_OFFSET + 8 * ns`).
        pub recs_offset: [NvmpgOffset; NS_MAX] => OFF_RECS_OFFSET = 56,
    }
}

impl Head {
    /// `heads[0]` as format writes it: the allocator's own head, owned by the set uuid, with
    /// its chain on namespace 0 starting at the first recs block.
    pub fn sys_alloc(set_uuid: [u8; 16]) -> Self {
        let mut head = Self {
            uuid: set_uuid,
            state: HEAD_STATE_ALLOC,
            ..Self::default()
        };
        for (dst, src) in head.label.iter_mut().zip(SYS_HEAD_LABEL) {
            *dst = *src;
        }
        head.recs_offset[0] = NvmpgOffset(SYSRECS_OFFSET);
        head
    }

    /// The label up to its first NUL.
    pub fn label_bytes(&self) -> &[u8] {
        let len = self.label.iter().position(|&c| c == 0).unwrap_or(LBL_SIZE);
        self.label.get(..len).unwrap_or(&[])
    }

    /// Reads a head.
    pub fn decode(buf: &[u8]) -> Result<Self, FormatError> {
        Self::decode_fixed(buf).ok_or(truncated(Field::Head, Self::SIZE, buf.len()))
    }

    /// Writes a head.
    pub fn encode(&self, buf: &mut [u8]) -> Result<(), FormatError> {
        self.encode_fixed(buf)
            .ok_or(truncated(Field::Head, Self::SIZE, buf.len()))
    }

    /// The head state rules, for `heads[index]` stored at byte `at` of namespace 0:
    /// `heads[0]`, the allocator's own, is ALLOC, and every state is FREE or ALLOC. Calls
    /// `report` once per broken rule. Returns whether the head is an owner (ALLOC), whose
    /// chains are to be walked.
    pub fn check_state(&self, index: usize, at: u64, mut report: impl FnMut(FormatError)) -> bool {
        let offset = at + Self::OFF_STATE as u64;
        if index == 0 && self.state != HEAD_STATE_ALLOC {
            report(FormatError::BadValue {
                field: Field::HeadState,
                offset,
                found: self.state.into(),
                expected: HEAD_STATE_ALLOC.into(),
            });
        }
        match self.state {
            HEAD_STATE_ALLOC => true,
            HEAD_STATE_FREE => false,
            found => {
                report(FormatError::BadHeadState { offset, found });
                false
            }
        }
    }

    /// The rule on `recs_offset[ns]` of an owner head stored at byte `at` of namespace 0, in
    /// a set of `total_ns` namespaces: a namespace outside the set has no chain. Calls
    /// `report` if it has one. Returns the first link of the chain to walk, if any.
    pub fn check_link(
        &self,
        ns: usize,
        total_ns: u32,
        at: u64,
        mut report: impl FnMut(FormatError),
    ) -> Option<NvmpgOffset> {
        let first = self.recs_offset.get(ns).copied().unwrap_or_default();
        if first.is_none() {
            return None;
        }
        if ns >= total_ns as usize {
            report(FormatError::BadValue {
                field: Field::HeadRecsOffset,
                offset: at + (Self::OFF_RECS_OFFSET + ns * 8) as u64,
                found: first.0,
                expected: 0,
            });
            return None;
        }
        Some(first)
    }
}

/// Where a walk of the allocation lists met a recs block before (see [`RecsHeader::follow`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not yet.
    No,
    /// In the chain being walked.
    ThisChain,
    /// In another chain.
    OtherChain,
}

layout! {
    /// `struct bch_nvmpg_recs` (fixed part; the records are read one by one): an 8 KiB link
    /// of a requester's chain of records, in the area `[SYSRECS_OFFSET, START)` of namespace 0.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct RecsHeader: 88 bytes {
        /// Nvmpg offset of the owning head.
        pub head_offset: NvmpgOffset => OFF_HEAD_OFFSET = 0,
        /// Nvmpg offset of the next block of the chain, none at the end.
        pub next_offset: NvmpgOffset => OFF_NEXT_OFFSET = 8,
        /// [`RECS_MAGIC`].
        pub magic: [u8; 16] => OFF_MAGIC = 16,
        /// Same as the owning head's uuid.
        pub uuid: [u8; 16] => OFF_UUID = 32,
        /// Capacity of `recs[]` ([`RecsHeader::MAX_RECS`]).
        pub size: u32 => OFF_SIZE = 48,
        /// Live (non-empty) records.
        pub used: u32 => OFF_USED = 52,
        /// Reserved.
        pub pad: [u64; 4] => OFF_PAD = 56,
    }
}

impl RecsHeader {
    /// Bytes of the whole on-media block.
    pub const BLOCK_SIZE: usize = 8192;
    /// Offset of `recs[]`, right after the fixed part.
    pub const OFF_RECS: usize = Self::SIZE;
    /// `BCH_NVMPG_MAX_RECS`: records that fit in a block (1013).
    pub const MAX_RECS: usize = (Self::BLOCK_SIZE - Self::OFF_RECS) / Rec::SIZE;

    /// An empty block of the chain of the head at `head_offset` owned by `uuid`.
    pub fn empty(head_offset: NvmpgOffset, uuid: [u8; 16]) -> Self {
        Self {
            head_offset,
            magic: RECS_MAGIC,
            uuid,
            size: Self::MAX_RECS as u32,
            ..Self::default()
        }
    }

    /// Offset of `recs[slot]` inside the block, if the slot is below [`Self::MAX_RECS`].
    pub const fn rec_off(slot: usize) -> Option<usize> {
        if slot >= Self::MAX_RECS {
            return None;
        }
        Some(Self::OFF_RECS + slot * Rec::SIZE)
    }

    /// Byte offset in namespace 0 of block `index` of the recs area.
    pub const fn block_offset(index: usize) -> Option<u64> {
        if index >= SYSRECS_BLOCKS {
            return None;
        }
        Some(SYSRECS_OFFSET + (index * Self::BLOCK_SIZE) as u64)
    }

    /// Index in the recs area of the block `ptr` points to: the link rule, on a pointer to a
    /// recs block, which must point into the area of namespace 0, at a block boundary.
    /// Errors name `field` at `at`, the place the pointer was read from.
    pub fn block_index(ptr: NvmpgOffset, field: Field, at: u64) -> Result<usize, FormatError> {
        let off = ptr.offset();
        if ptr.ns() != 0 || !(SYSRECS_OFFSET..START).contains(&off) {
            return Err(FormatError::OffsetOutOfRange {
                field,
                offset: at,
                found: ptr.0,
            });
        }
        let rel = off - SYSRECS_OFFSET;
        let size = Self::BLOCK_SIZE as u64;
        if rel & (size - 1) != 0 {
            return Err(FormatError::OffsetMisaligned {
                field,
                offset: at,
                found: ptr.0,
                align: size,
            });
        }
        Ok((rel / size) as usize)
    }

    /// The chain rules, on the link `ptr` read from `field` at byte `at` of namespace 0: the
    /// link rule of [`RecsHeader::block_index`], then the block must be new to the walk:
    /// `seen(index)` says where the walk met it before (and may note that it meets it now),
    /// and a block of this chain (a cycle) or of another one (a shared block) is reported.
    /// Returns the index of the block to read next, if the link is sound.
    pub fn follow(
        ptr: NvmpgOffset,
        field: Field,
        at: u64,
        seen: impl FnOnce(usize) -> Seen,
        mut report: impl FnMut(FormatError),
    ) -> Option<usize> {
        let index = match Self::block_index(ptr, field, at) {
            Ok(index) => index,
            Err(e) => {
                report(e);
                return None;
            }
        };
        let (offset, found) = (at, ptr.0);
        match seen(index) {
            Seen::No => return Some(index),
            Seen::ThisChain => report(FormatError::ChainCycle { offset, found }),
            Seen::OtherChain => report(FormatError::RecsShared { offset, found }),
        }
        None
    }

    /// Reads the fixed part.
    pub fn decode(buf: &[u8]) -> Result<Self, FormatError> {
        Self::decode_fixed(buf).ok_or(truncated(Field::Recs, Self::SIZE, buf.len()))
    }

    /// Writes the fixed part.
    pub fn encode(&self, buf: &mut [u8]) -> Result<(), FormatError> {
        self.encode_fixed(buf)
            .ok_or(truncated(Field::Recs, Self::SIZE, buf.len()))
    }

    /// The recs block rules, for the block at byte `at` of namespace 0 in a chain of the head
    /// at nvmpg offset `head_ptr` owned by `uuid`: the magic, then `uuid` and `head_offset`
    /// name the owning head, `size` is [`RecsHeader::MAX_RECS`] and `used` at most that.
    /// Calls `report` once per broken rule. Without the magic the block is no recs block:
    /// nothing else is checked and the result is `false`.
    ///
    /// Whether `used` counts the live records is [`RecsHeader::check_used`]'s rule.
    pub fn check(
        &self,
        at: u64,
        uuid: &[u8; 16],
        head_ptr: NvmpgOffset,
        mut report: impl FnMut(FormatError),
    ) -> bool {
        let off = |o: usize| at + o as u64;
        if self.magic != RECS_MAGIC {
            report(FormatError::BadMagic {
                field: Field::RecsMagic,
                offset: off(Self::OFF_MAGIC),
            });
            return false;
        }
        if self.uuid != *uuid {
            report(FormatError::UuidMismatch {
                field: Field::RecsUuid,
                offset: off(Self::OFF_UUID),
            });
        }
        if self.head_offset != head_ptr {
            report(FormatError::HeadOffsetMismatch {
                offset: off(Self::OFF_HEAD_OFFSET),
                found: self.head_offset.0,
                expected: head_ptr.0,
            });
        }
        let max = Self::MAX_RECS as u64;
        if u64::from(self.size) != max {
            report(FormatError::BadValue {
                field: Field::RecsSize,
                offset: off(Self::OFF_SIZE),
                found: self.size.into(),
                expected: max,
            });
        }
        if u64::from(self.used) > max {
            report(FormatError::TooLarge {
                field: Field::RecsUsed,
                offset: off(Self::OFF_USED),
                found: self.used.into(),
                max,
            });
        }
        true
    }

    /// The rule that `used` of the block at byte `at` of namespace 0 counts its `live`
    /// records. A `used` above [`RecsHeader::MAX_RECS`] is [`RecsHeader::check`]'s problem and
    /// not reported again. Only the offline checker applies it: `used` is a hint that lags its
    /// slots after a crash, and the loader rewrites it instead (see `reclist.rs`).
    pub fn check_used(&self, at: u64, live: u64, mut report: impl FnMut(FormatError)) {
        let used = u64::from(self.used);
        if used != live && used <= Self::MAX_RECS as u64 {
            report(FormatError::UsedMismatch {
                field: Field::RecsUsed,
                offset: at + Self::OFF_USED as u64,
                found: used,
                expected: live,
            });
        }
    }
}

/// Writes the metadata of a freshly formatted namespace into `meta`, which stands for the
/// namespace's first bytes and must already be zeroed: the sealed `sb` and, on namespace 0,
/// the set header with the allocator's own head and its empty recs block.
///
/// `meta` must reach the set header (8 KiB), and on namespace 0 the end of the first recs
/// block (24 KiB); nothing is written when it is shorter.
pub fn write_formatted(meta: &mut [u8], sb: &Sb) -> Result<(), FormatError> {
    let need = if sb.this_ns == 0 {
        SYSRECS_OFFSET as usize + RecsHeader::BLOCK_SIZE
    } else {
        RECLIST_HEAD_OFFSET as usize
    };
    if meta.len() < need {
        return Err(truncated(Field::Sb, need, meta.len()));
    }
    if sb.this_ns == 0 {
        let header = SetHeader {
            size: SetHeader::MAX_HEADS as u32,
            used: 1,
            pad: [0; 4],
        };
        header.encode(tail(meta, RECLIST_HEAD_OFFSET)?)?;
        let head_offset = SetHeader::head_nvmpg_offset(0).unwrap_or(NvmpgOffset::NONE);
        Head::sys_alloc(sb.set_uuid).encode(tail(meta, head_offset.offset())?)?;
        RecsHeader::empty(head_offset, sb.set_uuid).encode(tail(meta, SYSRECS_OFFSET)?)?;
    }
    sb.encode_sealed(tail(meta, SB_OFFSET)?)?;
    Ok(())
}

/// The bytes of `buf` from `off` on.
fn tail(buf: &mut [u8], off: u64) -> Result<&mut [u8], FormatError> {
    let have = buf.len();
    usize::try_from(off)
        .ok()
        .and_then(|off| buf.get_mut(off..))
        .ok_or(FormatError::Truncated {
            field: Field::Sb,
            offset: 0,
            need: off,
            have: have as u64,
        })
}
