/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Declarations shared between the layers of the utrace module.
 * Each layer only calls the one below it: dev -> core -> hooks.
 */
#ifndef _UTRACE_INTERNAL_H
#define _UTRACE_INTERNAL_H

#define UTRACE_MODULE_VERSION "0.1.0"

int utrace_dev_init(void);
void utrace_dev_exit(void);
u64 utrace_features(void);

#endif /* _UTRACE_INTERNAL_H */
