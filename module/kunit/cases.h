/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The KUnit cases of bcache-nvm. Each X(name) is a Rust function bch_nvm_kunit_<name>
 * made with kunit_case!() in module/kunit/mod.rs and its submodules.
 */
#ifndef _BCACHE_NVM_KUNIT_CASES_H
#define _BCACHE_NVM_KUNIT_CASES_H

struct kunit;

#define BNVM_KUNIT_CASES(X)		\
	X(crc64_matches_kernel)		\
	X(dax_store_read_back)		\
	X(dax_open_errors)		\
	X(alloc_free_merge)		\
	X(owner_isolation)		\
	X(no_space)			\
	X(two_boot)			\
	X(pin_blocks_unregister)		\
	X(journal_create_write_attach)

#define BNVM_KUNIT_DECLARE(name) void bch_nvm_kunit_##name(struct kunit *test);
BNVM_KUNIT_CASES(BNVM_KUNIT_DECLARE)

#endif /* _BCACHE_NVM_KUNIT_CASES_H */
