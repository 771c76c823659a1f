// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only: breaks the kernel on purpose so that the VM harness self-test
 * can prove it fails a run on a WARN, a panic and a hang. Never shipped.
 *
 *   insmod utrace_harness_trigger.ko action=warn|panic|hang
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/panic.h>
#include <linux/string.h>

static char *action = "none";
module_param(action, charp, 0444);
MODULE_PARM_DESC(action, "warn, panic or hang");

/* Never completed: waiting on it is the hang. */
static DECLARE_COMPLETION(never);

static int __init trigger_init(void)
{
	pr_info("action=%s\n", action);
	if (!strcmp(action, "warn")) {
		WARN(1, "utrace harness self-test: deliberate WARN\n");
	} else if (!strcmp(action, "panic")) {
		panic("utrace harness self-test: deliberate panic\n");
	} else if (!strcmp(action, "hang")) {
		/* Killable, so the guest can still be torn down cleanly. */
		if (wait_for_completion_killable(&never))
			return -EINTR;
	} else if (strcmp(action, "none")) {
		return -EINVAL;
	}
	return 0;
}

static void __exit trigger_exit(void)
{
}

module_init(trigger_init);
module_exit(trigger_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("utrace VM harness self-test trigger (test only)");
