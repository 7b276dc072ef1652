// SPDX-License-Identifier: GPL-2.0

//! The kernel's `Vec` as the pure code's growable sequence ([`GrowVec`], [`GrowVecFamily`]).
//!
//! The allocator's state (free blocks, the records index) grows with the namespace's
//! records: up to tens of MiB for a full record area, too much for one kmalloc. The family
//! therefore uses `KVVec` (kmalloc, falling back to vmalloc for large sizes).

use crate::pure::grow_vec::{GrowVec, GrowVecFamily, NoMem};
use kernel::alloc::{Allocator, KVVec, Vec};
use kernel::prelude::*;

impl<T: Copy, A: Allocator> GrowVec<T> for Vec<T, A> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn as_slice(&self) -> &[T] {
        Vec::as_slice(self)
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        Vec::as_mut_slice(self)
    }

    fn try_push(&mut self, v: T) -> Result<(), NoMem> {
        self.push(v, GFP_KERNEL).map_err(|_| NoMem)
    }

    fn try_reserve(&mut self, additional: usize) -> Result<(), NoMem> {
        self.reserve(additional, GFP_KERNEL).map_err(|_| NoMem)
    }

    fn truncate(&mut self, len: usize) {
        if len < Vec::len(self) {
            // SAFETY: `len` is below the current length, so the first `len` elements are
            // initialised; the dropped tail needs no destructor because `T: Copy`.
            unsafe { self.set_len(len) };
        }
    }
}

/// The kernel's [`GrowVecFamily`]: sequences are `KVVec`s allocated with `GFP_KERNEL`.
pub struct KernelVecs;

impl GrowVecFamily for KernelVecs {
    type GrowVec<T: Copy> = KVVec<T>;

    fn new_seq<T: Copy>() -> KVVec<T> {
        KVVec::new()
    }
}
