// SPDX-License-Identifier: GPL-2.0

//! `KVec` as the pure code's growable sequence ([`Seq`], [`SeqFamily`]).

use crate::nvmpg::seq::{NoMem, Seq, SeqFamily};
use kernel::prelude::*;

impl<T: Copy> Seq<T> for KVec<T> {
    fn len(&self) -> usize {
        KVec::len(self)
    }

    fn as_slice(&self) -> &[T] {
        KVec::as_slice(self)
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        KVec::as_mut_slice(self)
    }

    fn try_push(&mut self, v: T) -> Result<(), NoMem> {
        self.push(v, GFP_KERNEL).map_err(|_| NoMem)
    }

    fn try_reserve(&mut self, additional: usize) -> Result<(), NoMem> {
        self.reserve(additional, GFP_KERNEL).map_err(|_| NoMem)
    }

    fn truncate(&mut self, len: usize) {
        if len < KVec::len(self) {
            // SAFETY: `len` is below the current length, so the first `len` elements are
            // initialised; the dropped tail needs no destructor because `T: Copy`.
            unsafe { self.set_len(len) };
        }
    }
}

/// The kernel's [`SeqFamily`]: sequences are `KVec`s allocated with `GFP_KERNEL`.
pub struct KernelSeqs;

impl SeqFamily for KernelSeqs {
    type Seq<T: Copy> = KVec<T>;

    fn new_seq<T: Copy>() -> KVec<T> {
        KVec::new()
    }
}
