// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite table of bcache-nvm (built with make KUNIT=1). The cases are Rust.
 */
#include <kunit/test.h>
#include "cases.h"

#define BNVM_KUNIT_ENTRY(name) KUNIT_CASE(bch_nvm_kunit_##name),

static struct kunit_case bch_nvm_cases[] = {
	BNVM_KUNIT_CASES(BNVM_KUNIT_ENTRY)
	{}
};

static struct kunit_suite bch_nvm_suite = {
	.name = "bcache_nvm",
	.test_cases = bch_nvm_cases,
};

kunit_test_suite(bch_nvm_suite);
