// SPDX-License-Identifier: GPL-2.0
/*
 * utrace: Roland McGrath's thread-tracing core as a loadable module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/init.h>
#include <uapi/linux/utrace.h>

#include "utrace_internal.h"

u64 utrace_features(void)
{
	return UTRACE_FEAT_DEVICE;
}

static int __init utrace_init(void)
{
	int ret;

	ret = utrace_dev_init();
	if (ret)
		return ret;
	pr_info("version %s loaded, api %d\n", UTRACE_MODULE_VERSION,
		UTRACE_API_VERSION);
	return 0;
}

static void __exit utrace_exit(void)
{
	utrace_dev_exit();
}

module_init(utrace_init);
module_exit(utrace_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("utrace developers");
MODULE_DESCRIPTION("utrace thread-tracing core and /dev/utrace");
MODULE_VERSION(UTRACE_MODULE_VERSION);
