// SPDX-License-Identifier: GPL-2.0

//! KUnit cases written in Rust.
//!
//! The 6.12 `kernel` crate has no `#[kunit_tests]`. Our suites are declared in C
//! (`module/kunit/suites.c`: the `kunit_suite` and its `kunit_case` table), and every case is a
//! Rust function made by [`kunit_case!`](crate::kunit_case). A case receives a [`Test`] and
//! reports failed expectations through it; KUnit prints them and the case's KTAP result.

use core::fmt;
use kernel::bindings;

extern "C" {
    fn bch_nvm_kunit_fail(test: *mut bindings::kunit, args: *const kernel::ffi::c_void);
}

/// The running KUnit case.
///
/// # Invariants
///
/// `ptr` is the `struct kunit` of the case that is running on this thread, valid for `'a`.
pub struct Test<'a> {
    ptr: *mut bindings::kunit,
    _case: core::marker::PhantomData<&'a mut bindings::kunit>,
}

impl Test<'_> {
    /// Wraps the `struct kunit` KUnit passed to a case function.
    ///
    /// # Safety
    ///
    /// `ptr` must be the `struct kunit` of the case running on this thread, and the returned
    /// value must not outlive that case.
    pub unsafe fn from_raw(ptr: *mut bindings::kunit) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            ptr,
            _case: core::marker::PhantomData,
        }
    }

    /// Marks the case failed with a message; the case goes on running.
    pub fn fail(&self, args: fmt::Arguments<'_>) {
        // SAFETY: by the type invariant `ptr` is the running case; `args` outlives the call,
        // and the shim formats it with `%pA`, which takes a `core::fmt::Arguments` pointer.
        unsafe { bch_nvm_kunit_fail(self.ptr, (&args as *const fmt::Arguments<'_>).cast()) }
    }

    /// Fails the case unless `cond` holds. Returns `cond`, so a case can stop early.
    #[track_caller]
    pub fn check(&self, cond: bool, what: &str) -> bool {
        if !cond {
            let at = core::panic::Location::caller();
            self.fail(format_args!(
                "{}:{}: expected {}",
                at.file(),
                at.line(),
                what
            ));
        }
        cond
    }

    /// Fails the case unless `left == right`, printing both. Returns whether they matched.
    #[track_caller]
    pub fn check_eq<T: PartialEq + fmt::Debug>(&self, left: T, right: T, what: &str) -> bool {
        let ok = left == right;
        if !ok {
            let at = core::panic::Location::caller();
            self.fail(format_args!(
                "{}:{}: {}: {:?} != {:?}",
                at.file(),
                at.line(),
                what,
                left,
                right
            ));
        }
        ok
    }
}

/// Defines a KUnit case named `$name` (the C symbol listed in `module/kunit/cases.h`) that runs
/// `$body(&Test)`.
#[macro_export]
macro_rules! kunit_case {
    ($name:ident, $body:path) => {
        /// KUnit case entry point, called by KUnit through the C suite table.
        ///
        /// # Safety
        ///
        /// Called by KUnit only, with the running case's `struct kunit`.
        #[no_mangle]
        unsafe extern "C" fn $name(test: *mut kernel::bindings::kunit) {
            // SAFETY: guaranteed by the caller; the `Test` does not escape this call.
            let t = unsafe { $crate::wrappers::kunit::Test::from_raw(test) };
            $body(&t);
        }
    };
}
