//! Growable sequences for the pure code.
//!
//! The pure files must build without the `alloc` crate, so every piece of state that grows with
//! the media (free blocks, heads, recs blocks, scratch lists) lives in a caller-provided [`GrowVec`].
//! The kernel implements it for `KVec<T>` (`push(v, GFP_KERNEL)`, `reserve`, and `set_len` for
//! `truncate`, sound because `T: Copy` has no destructor); the host for `Vec<T>`.
//!
//! Only `try_push` and `try_reserve` allocate; everything else is built on the slice views and
//! cannot fail for lack of memory.

/// Out of memory: a [`GrowVec`] could not grow. The kernel side maps it to `-ENOMEM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoMem;

/// A growable sequence of plain values.
///
/// Contract for implementors: `truncate` never releases capacity, and after
/// `try_reserve(n)` succeeds the next `n` pushes succeed.
pub trait GrowVec<T: Copy> {
    /// Number of elements.
    fn len(&self) -> usize;

    /// The elements.
    fn as_slice(&self) -> &[T];

    /// The elements, mutably.
    fn as_mut_slice(&mut self) -> &mut [T];

    /// Appends `v`, growing the storage if needed.
    fn try_push(&mut self, v: T) -> Result<(), NoMem>;

    /// Makes room for `additional` more elements without changing the contents.
    fn try_reserve(&mut self, additional: usize) -> Result<(), NoMem>;

    /// Shortens the sequence to `len` elements; does nothing if it is not longer than that.
    fn truncate(&mut self, len: usize);

    /// Whether the sequence is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every element.
    fn clear(&mut self) {
        self.truncate(0);
    }

    /// Inserts `v` at `idx`, shifting the tail up. `idx > len` is clamped to `len`.
    fn try_insert(&mut self, idx: usize, v: T) -> Result<(), NoMem> {
        self.try_push(v)?;
        if let Some(tail) = self.as_mut_slice().get_mut(idx..) {
            tail.rotate_right(1);
        }
        Ok(())
    }

    /// Removes and returns the element at `idx`, shifting the tail down; `None` if out of range.
    fn remove(&mut self, idx: usize) -> Option<T> {
        let len = self.len();
        let tail = self.as_mut_slice().get_mut(idx..)?;
        let v = *tail.first()?;
        tail.rotate_left(1);
        self.truncate(len - 1);
        Some(v)
    }
}

/// A way to make empty [`GrowVec`]s of any element type: the kernel's is `KVec`, the host's `Vec`.
///
/// Lets a structure that needs several sequences be generic over a single parameter.
pub trait GrowVecFamily {
    /// The sequence type for elements of type `T`.
    type GrowVec<T: Copy>: GrowVec<T>;

    /// A new, empty sequence (must not allocate).
    fn new_seq<T: Copy>() -> Self::GrowVec<T>;
}
