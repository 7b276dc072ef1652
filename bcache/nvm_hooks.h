/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hooks between upstream bcache C and the bcache-nvm Rust crate.
 *
 * Functions declared here are either upstream bcache functions the Rust crate root
 * calls, or Rust functions (#[no_mangle] extern "C") the patched C calls. Hooks carry
 * no logic of their own.
 */
#ifndef _BCACHE_NVM_HOOKS_H
#define _BCACHE_NVM_HOOKS_H

/* super.c: bcache's module init and exit, run by the Rust module!() root. */
int bcache_init(void);
void bcache_exit(void);

/*
 * sysfs/nvdimm_meta.rs: /sys/fs/bcache/{register_nvdimm_meta,unregister_nvdimm_meta,nvdimm_meta}.
 * Stores return the size written or -errno; the show returns the bytes put in buf.
 */
struct kobject;
struct kobj_attribute;
ssize_t bch_nvmpg_sysfs_register(struct kobject *k, struct kobj_attribute *attr,
				 const char *buf, size_t size);
ssize_t bch_nvmpg_sysfs_unregister(struct kobject *k, struct kobj_attribute *attr,
				   const char *buf, size_t size);
ssize_t bch_nvmpg_sysfs_show(struct kobject *k, struct kobj_attribute *attr, char *buf);

#endif /* _BCACHE_NVM_HOOKS_H */
