/* SPDX-License-Identifier: GPL-2.0 */
/* Prototypes of rust/shims.c, called from the Rust crate. */
#ifndef _BCACHE_NVM_SHIMS_H
#define _BCACHE_NVM_SHIMS_H

struct kunit;

/* Fails the running KUnit case with a message formatted by Rust (core::fmt::Arguments). */
void bnvm_kunit_fail(struct kunit *test, const void *rust_fmt_args);

#endif /* _BCACHE_NVM_SHIMS_H */
