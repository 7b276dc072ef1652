/* SPDX-License-Identifier: GPL-2.0 */
/* Prototypes of module/shims.c; the Rust side declares them in module/wrappers/{dax,pmem,kunit}.rs. */
#ifndef _BCACHE_NVM_SHIMS_H
#define _BCACHE_NVM_SHIMS_H

#include <linux/types.h>

struct dax_device;
struct file;
struct kunit;

/* Opens a block device by path for read and write, exclusively for holder. */
struct file *bch_nvm_bdev_open_rw(const char *path, void *holder);
/* Size in bytes of an opened block device. */
u64 bch_nvm_bdev_nr_bytes(struct file *bdev_file);
/* Why bch_nvm_dax_get() returned NULL. */
enum {
	BCH_NVM_DAX_NONE = 1,		/* the device has no DAX (not pmem, or raw mode) */
	BCH_NVM_DAX_UNALIGNED = 2,	/* start or size not page-aligned */
	BCH_NVM_DAX_HELD = 3,		/* its DAX device is held by another user (or dying) */
	BCH_NVM_DAX_ASYNC = 4,		/* not synchronous DAX: stores need a flush (virtio-pmem) */
};
/* The synchronous fsdax device of an opened block device, or NULL and *why. */
struct dax_device *bch_nvm_dax_get(struct file *bdev_file, u64 *start_off, void *holder,
				   int *why);
void bch_nvm_dax_put(struct dax_device *dax_dev, void *holder);
/* Rust (module/registry.rs): the DAX device held by holder fails or goes away. */
int bch_nvm_dax_notify(void *holder, u64 offset, u64 len, int mf_flags);
/* dax_direct_access() under dax_read_lock(): pages mapped from pgoff, or -errno. */
long bch_nvm_dax_map(struct dax_device *dax_dev, unsigned long pgoff, long nr_pages,
		  void **kaddr);
/* Persistent memory stores and ordering. */
void bch_nvm_memcpy_flushcache(void *dst, const void *src, size_t len);
void bch_nvm_wb_cache_pmem(void *addr, size_t len);
void bch_nvm_pmem_wmb(void);
/* copy_mc_to_kernel(): a machine-check-safe read; returns the bytes NOT copied. */
unsigned long bch_nvm_copy_mc(void *dst, const void *src, size_t len);
void bch_nvm_cond_resched(void);

/* Fails the running KUnit case with a message formatted by Rust (core::fmt::Arguments). */
void bch_nvm_kunit_fail(struct kunit *test, const void *rust_fmt_args);

#endif /* _BCACHE_NVM_SHIMS_H */
