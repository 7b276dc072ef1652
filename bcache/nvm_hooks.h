/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hooks between upstream bcache C and the bcache-nvm Rust crate.
 *
 * Functions declared here are either upstream bcache functions the Rust crate root
 * calls, or Rust functions (#[no_mangle] unsafe extern "C", prefix bch_nvm_) the patched
 * C calls. The few decisions the C hooks make themselves are listed in bcache/README.md.
 */
#ifndef _BCACHE_NVM_HOOKS_H
#define _BCACHE_NVM_HOOKS_H

#include <linux/types.h>

/* super.c: bcache's module init and exit, run by the Rust module!() root. */
int bcache_init(void);
void bcache_exit(void);

/*
 * module/sysfs.rs: /sys/fs/bcache/{register_nvdimm_meta,unregister_nvdimm_meta,nvdimm_meta}.
 * Stores return the size written or -errno; the show returns the bytes put in buf.
 */
struct kobject;
struct kobj_attribute;
ssize_t bch_nvm_sysfs_register_meta(struct kobject *k, struct kobj_attribute *attr,
				 const char *buf, size_t size);
ssize_t bch_nvm_sysfs_unregister_meta(struct kobject *k, struct kobj_attribute *attr,
				   const char *buf, size_t size);
/* /sys/fs/bcache/release_nvdimm_owner: free every range and the head of a cache set uuid. */
ssize_t bch_nvm_sysfs_release_owner(struct kobject *k, struct kobj_attribute *attr,
				    const char *buf, size_t size);
ssize_t bch_nvm_sysfs_show_meta(struct kobject *k, struct kobj_attribute *attr, char *buf);
/* /sys/fs/bcache/journal_latency: submit-to-durable time of journal writes (log2 histogram). */
ssize_t bch_nvm_sysfs_show_journal_latency(struct kobject *k, struct kobj_attribute *attr,
				      char *buf);

/*
 * module/journal/hooks.rs: the journal on an NVDIMM meta device (BCH_FEATURE_INCOMPAT_NVDIMM_META).
 * A cache's journal window (struct cache.nvm_journal) is made by create or attach and
 * released by detach; read, prepare and commit use it.
 */
/* read_super_common(): NULL if d[] name a journal range recorded for set_uuid, else why not. */
const char *bch_nvm_sb_check(const u8 *set_uuid, u32 bucket_size, u16 first_bucket,
			     u16 keys, const u64 *d);
/* A new cache set: allocate the journal range, zero it, fill d[] (keys may shrink). */
int bch_nvm_journal_create(const u8 *set_uuid, u32 bucket_size, u16 first_bucket,
			   u16 *keys, u64 *d, void **window);
/* An existing cache set: map its recorded journal range. */
int bch_nvm_journal_attach(const u8 *set_uuid, u32 bucket_size, u16 first_bucket,
			   u16 keys, const u64 *d, void **window);
/* run_cache_set(): a new set's superblock names its journal range now; keep it. */
void bch_nvm_journal_started(void *window);
/* Releases the window; a new set's range that never got started is freed. */
void bch_nvm_journal_detach(void **window);
/* Copies bytes of journal bucket bucket_index from sector offset into data. */
int bch_nvm_journal_read(void *window, unsigned int bucket_index, unsigned int offset,
			 void *data, size_t bytes);
/* Notes the jset to store at key offset ptr_offset (sectors) of bucket bucket_index. */
int bch_nvm_journal_prepare(void *window, unsigned int bucket_index, u64 ptr_offset,
			    const void *jset, size_t bytes);
/*
 * Stores the prepared jset durably, unless the flush before it failed (status < 0).
 * Returns 0, or -errno if the jset could not be stored (the flush had succeeded).
 */
int bch_nvm_journal_commit(void *window, int status);
/* Journal write w (either journal path) was submitted (done false) or is durable (true). */
void bch_nvm_journal_timing(const void *w, bool done);

/*
 * module/flush.rs: a cached device's backing-flush state (dc->nvm_flush), patch 0006.
 * Tickets and flush numbers start at 1; 0 means none.
 */
void *bch_nvm_flush_alloc(void);
void bch_nvm_flush_free(void *flush);
/* Whether a user flush must reach the backing device, given the direct writes completed. */
bool bch_nvm_flush_needed(void *flush, u64 direct_writes);
/* A ticket for every write completed before this call: the next flush issued. */
u64 bch_nvm_flush_ticket(void *flush);
/* The number of the flush to issue now, or 0 (none wanted, or one in flight). */
u64 bch_nvm_flush_start(void *flush, u64 direct_writes);
/* Flush gen completed with err (0 or -errno). */
void bch_nvm_flush_finish(void *flush, u64 gen, int err);
/* 0: ticket's flush pending; 1: durable; -EIO: it failed (and no later one succeeded). */
int bch_nvm_flush_status(void *flush, u64 ticket);

#endif /* _BCACHE_NVM_HOOKS_H */
