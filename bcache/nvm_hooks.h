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

#endif /* _BCACHE_NVM_HOOKS_H */
