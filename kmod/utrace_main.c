// SPDX-License-Identifier: GPL-2.0
/*
 * utrace: Roland McGrath's thread-tracing core as a loadable module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/init.h>
#include <uapi/linux/utrace.h>

#include "utrace_internal.h"
#include "core/core.h"

u64 utrace_features(void)
{
	return UTRACE_FEAT_DEVICE | utrace_core_features();
}

static int __init utrace_init(void)
{
	int ret;

	ret = utrace_core_init();
	if (ret)
		return ret;
	ret = utrace_hooks_init();
	if (ret)
		goto fail_core;
	ret = utrace_dev_init();
	if (ret)
		goto fail_hooks;
	pr_info("version %s loaded, api %d\n", UTRACE_MODULE_VERSION,
		UTRACE_DEV_API_VERSION);
	return 0;

fail_hooks:
	utrace_hooks_exit();
fail_core:
	utrace_core_exit();
	return ret;
}

static void __exit utrace_exit(void)
{
	utrace_dev_exit();
	utrace_hooks_exit();
	utrace_core_exit();
}

module_init(utrace_init);
module_exit(utrace_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("utrace developers");
MODULE_DESCRIPTION("utrace thread-tracing core and /dev/utrace");
MODULE_VERSION(UTRACE_MODULE_VERSION);
