// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for kernel APIs the Rust crate cannot call directly: macros, static inlines
 * and headers the 6.12 bindings do not cover (<linux/dax.h>, pmem flushing, KUnit's
 * failure reporting). Each shim is one call, or one call under the lock it needs; no logic.
 */
#include <linux/blkdev.h>
#include <linux/dax.h>
#include <linux/libnvdimm.h>
#include <linux/pfn_t.h>
#include <linux/string.h>
#include <kunit/test.h>
#include "shims.h"

struct file *bch_nvm_bdev_open_rw(const char *path, void *holder)
{
	return bdev_file_open_by_path(path, BLK_OPEN_READ | BLK_OPEN_WRITE, holder, NULL);
}

u64 bch_nvm_bdev_nr_bytes(struct file *bdev_file)
{
	return bdev_nr_bytes(file_bdev(bdev_file));
}

struct dax_device *bch_nvm_dax_get(struct file *bdev_file, u64 *start_off, void *holder)
{
	return fs_dax_get_by_bdev(file_bdev(bdev_file), start_off, holder, NULL);
}

void bch_nvm_dax_put(struct dax_device *dax_dev, void *holder)
{
	fs_put_dax(dax_dev, holder);
}

long bch_nvm_dax_map(struct dax_device *dax_dev, unsigned long pgoff, long nr_pages,
		  void **kaddr)
{
	pfn_t pfn;
	long ret;
	int id;

	id = dax_read_lock();
	ret = dax_direct_access(dax_dev, pgoff, nr_pages, DAX_ACCESS, kaddr, &pfn);
	dax_read_unlock(id);
	return ret;
}

void bch_nvm_memcpy_flushcache(void *dst, const void *src, size_t len)
{
	memcpy_flushcache(dst, src, len);
}

void bch_nvm_wb_cache_pmem(void *addr, size_t len)
{
	arch_wb_cache_pmem(addr, len);
}

void bch_nvm_pmem_wmb(void)
{
	pmem_wmb();
}

#if IS_ENABLED(CONFIG_KUNIT)
void bch_nvm_kunit_fail(struct kunit *test, const void *rust_fmt_args)
{
	KUNIT_FAIL(test, "%pA", rust_fmt_args);
}
#endif
