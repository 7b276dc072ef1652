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
#include <linux/uaccess.h>
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

/* Our DAX holder's notify_failure: into Rust, which finds the namespace by its holder. */
static int bch_nvm_notify_failure(struct dax_device *dax_dev, u64 offset, u64 len, int mf_flags)
{
	return bch_nvm_dax_notify(dax_holder(dax_dev), offset, len, mf_flags);
}

static const struct dax_holder_operations bch_nvm_holder_ops = {
	.notify_failure = bch_nvm_notify_failure,
};

struct dax_device *bch_nvm_dax_get(struct file *bdev_file, u64 *start_off, void *holder,
				   int *why)
{
	struct block_device *bdev = file_bdev(bdev_file);
	struct dax_device *dax_dev;

	/* The checks fs_dax_get_by_bdev() makes, in its order, so the caller learns which. */
	if (!blk_queue_dax(bdev->bd_disk->queue)) {
		*why = BCH_NVM_DAX_NONE;
		return NULL;
	}
	if ((get_start_sect(bdev) << SECTOR_SHIFT) % PAGE_SIZE || bdev_nr_bytes(bdev) % PAGE_SIZE) {
		*why = BCH_NVM_DAX_UNALIGNED;
		return NULL;
	}
	dax_dev = fs_dax_get_by_bdev(bdev, start_off, holder, &bch_nvm_holder_ops);
	if (!dax_dev) {
		*why = BCH_NVM_DAX_HELD;
		return NULL;
	}
	if (!dax_synchronous(dax_dev)) {
		fs_put_dax(dax_dev, holder);
		*why = BCH_NVM_DAX_ASYNC;
		return NULL;
	}
	return dax_dev;
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

unsigned long bch_nvm_copy_mc(void *dst, const void *src, size_t len)
{
	return copy_mc_to_kernel(dst, src, len);
}

void bch_nvm_cond_resched(void)
{
	cond_resched();
}

#if IS_ENABLED(CONFIG_KUNIT)
void bch_nvm_kunit_fail(struct kunit *test, const void *rust_fmt_args)
{
	KUNIT_FAIL(test, "%pA", rust_fmt_args);
}
#endif
