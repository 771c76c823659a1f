// SPDX-License-Identifier: GPL-2.0
/*
 * utrace_bench_engine: engines whose report_syscall_entry does nothing but
 * count and return UTRACE_RESUME, for measuring the cost of a reporting
 * pass. Test and benchmark use only.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/bitmap.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/sched/clock.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/utrace.h>

#include "utrace_bench_engine.h"

#define UBE_MAX 16

static atomic64_t ube_callbacks = ATOMIC64_INIT(0);

/* The attached engines and their threads; ube_mutex guards both arrays. */
static DEFINE_MUTEX(ube_mutex);
static struct utrace_engine *ube_engines[UBE_MAX];
static struct task_struct *ube_tasks[UBE_MAX];

static u32 ube_entry(u32 action, struct utrace_engine *engine,
		     struct pt_regs *regs)
{
	atomic64_inc(&ube_callbacks);
	return UTRACE_RESUME;
}

static const struct utrace_engine_ops ube_ops = {
	.report_syscall_entry = ube_entry,
};

static void ube_detach_all(void)
{
	int i;

	mutex_lock(&ube_mutex);
	for (i = 0; i < UBE_MAX; i++) {
		if (!ube_engines[i])
			continue;
		/*
		 * -ESRCH if the thread is gone: nothing left to undo. After
		 * -EINPROGRESS wait for the callback; the counter it bumps is
		 * all it touches, so a signal cutting the wait is harmless.
		 */
		if (utrace_control(ube_tasks[i], ube_engines[i],
				   UTRACE_DETACH) == -EINPROGRESS &&
		    utrace_barrier(ube_tasks[i], ube_engines[i]) == -ERESTARTSYS)
			pr_debug("barrier interrupted\n");
		utrace_engine_put(ube_engines[i]);
		put_task_struct(ube_tasks[i]);
		ube_engines[i] = NULL;
		ube_tasks[i] = NULL;
	}
	mutex_unlock(&ube_mutex);
}

static long ube_attach(struct ube_attach *a)
{
	unsigned long events = UTRACE_EVENT(SYSCALL_ENTRY);
	struct task_struct *task;
	unsigned long *filter = NULL;
	int i, n = 0, ret = 0;

	if (a->engines < 1 || a->engines > UBE_MAX ||
	    a->mode < UBE_ENTRY_ALL || a->mode > UBE_ENTRY_ATOMIC ||
	    a->filtered_nr >= UTRACE_NR_SYSCALLS)
		return -EINVAL;
	/* The core's fast path: the callback runs in the sys_enter probe. */
	if (a->mode == UBE_ENTRY_ATOMIC)
		events |= UTRACE_SYSCALL_ENTRY_ATOMIC;
	task = get_pid_task(find_get_pid(a->tid), PIDTYPE_PID);
	if (!task)
		return -ESRCH;
	if (a->mode == UBE_ENTRY_FILTERED) {
		filter = bitmap_alloc(UTRACE_NR_SYSCALLS, GFP_KERNEL);
		if (!filter) {
			put_task_struct(task);
			return -ENOMEM;
		}
		bitmap_fill(filter, UTRACE_NR_SYSCALLS);
		clear_bit(a->filtered_nr, filter);
	}
	mutex_lock(&ube_mutex);
	for (i = 0; i < UBE_MAX && n < a->engines; i++) {
		struct utrace_engine *e;

		if (ube_engines[i])
			continue;
		e = utrace_attach_task(task, UTRACE_ATTACH_CREATE, &ube_ops,
				       NULL);
		if (IS_ERR(e)) {
			ret = PTR_ERR(e);
			break;
		}
		get_task_struct(task);
		ube_engines[i] = e;
		ube_tasks[i] = task;
		n++;
		if (filter)
			ret = utrace_set_syscall_filter(task, e, filter);
		if (!ret)
			ret = utrace_set_events(task, e, events);
		if (ret)
			break;
	}
	mutex_unlock(&ube_mutex);
	bitmap_free(filter);
	put_task_struct(task);
	if (!ret && n < a->engines)
		ret = -ENOSPC;
	return ret;
}

/* Picoseconds per call of @clock, timed by ktime_get_ns(). */
static u64 ube_time_clock(u64 (*clock)(void), u32 reads)
{
	u64 t0, sink = 0;
	u32 i;

	t0 = ktime_get_ns();
	for (i = 0; i < reads; i++)
		sink += clock();
	/* Keep the loop: the sum is used. */
	OPTIMIZER_HIDE_VAR(sink);
	return (ktime_get_ns() - t0) * 1000 / reads;
}

static long ube_clocks(struct ube_clocks __user *uarg)
{
	struct ube_clocks c;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	if (!c.reads || c.reads > 10000000 || c.reserved)
		return -EINVAL;
	c.ktime_get_ps = ube_time_clock(ktime_get_ns, c.reads);
	c.mono_fast_ps = ube_time_clock(ktime_get_mono_fast_ns, c.reads);
	c.local_clock_ps = ube_time_clock(local_clock, c.reads);
	return copy_to_user(uarg, &c, sizeof(c)) ? -EFAULT : 0;
}

static long ube_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ube_attach a;
	struct ube_stats st;

	switch (cmd) {
	case UBE_IOC_ATTACH:
		if (copy_from_user(&a, (void __user *)arg, sizeof(a)))
			return -EFAULT;
		return ube_attach(&a);
	case UBE_IOC_CLOCKS:
		return ube_clocks((struct ube_clocks __user *)arg);
	case UBE_IOC_DETACH_ALL:
		ube_detach_all();
		return 0;
	case UBE_IOC_STATS:
		memset(&st, 0, sizeof(st));
		st.callbacks = atomic64_read(&ube_callbacks);
		return copy_to_user((void __user *)arg, &st, sizeof(st)) ?
		       -EFAULT : 0;
	default:
		return -ENOTTY;
	}
}

static int ube_release(struct inode *inode, struct file *file)
{
	ube_detach_all();
	return 0;
}

static const struct file_operations ube_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = ube_ioctl,
	.release = ube_release,
};

static struct miscdevice ube_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "utrace_bench",
	.fops = &ube_fops,
	.mode = 0600,
};

static int __init ube_init(void)
{
	return misc_register(&ube_dev);
}

static void __exit ube_exit(void)
{
	misc_deregister(&ube_dev);
	ube_detach_all();
}

module_init(ube_init);
module_exit(ube_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("utrace reporting-pass benchmark engines (test only)");
