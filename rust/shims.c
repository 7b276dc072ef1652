// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for kernel APIs that Rust cannot call directly: macros and static inlines
 * (KUnit's failure reporting, pmem flushing). Each one is a single call; no logic.
 */
#include <kunit/test.h>
#include "shims.h"

#if IS_ENABLED(CONFIG_KUNIT)
void bnvm_kunit_fail(struct kunit *test, const void *rust_fmt_args)
{
	KUNIT_FAIL(test, "%pA", rust_fmt_args);
}
#endif
