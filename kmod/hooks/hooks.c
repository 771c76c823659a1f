// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel hooks of the utrace module: tracepoints found by name. The probes
 * hold no policy; they hand each event to the core, which must not sleep
 * here (tracepoint probes run with preemption disabled).
 *
 * The __tracepoint_* symbols are not exported, so the tracepoints are found
 * with for_each_kernel_tracepoint() and registered with
 * tracepoint_probe_register_prio(), both exported GPL on 6.1 and 6.12.
 * The probe prototypes below match TP_PROTO of those kernels exactly.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/binfmts.h>
#include <linux/kdebug.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <linux/workqueue.h>
#include <asm/debugreg.h>

#include "../core/core.h"

static void probe_sys_enter(void *data, struct pt_regs *regs, long id)
{
	utrace_hook_sys_enter(regs, id);
}

static void probe_sys_exit(void *data, struct pt_regs *regs, long ret)
{
	utrace_hook_sys_exit(regs, ret);
}

static void probe_fork(void *data, struct task_struct *parent,
		       struct task_struct *child)
{
	utrace_hook_fork(parent, child);
}

static void probe_exec(void *data, struct task_struct *p, pid_t old_pid,
		       struct linux_binprm *bprm)
{
	utrace_hook_exec(p);
}

static void probe_exit(void *data, struct task_struct *p)
{
	utrace_hook_exit(p);
}

static void probe_free(void *data, struct task_struct *p)
{
	utrace_hook_free(p);
}

static void probe_signal_deliver(void *data, int sig,
				 struct kernel_siginfo *info,
				 struct k_sigaction *ka)
{
	utrace_hook_signal_deliver();
}

/*
 * Signal interception: an entry hook on get_signal(). It only queues the
 * core's task_work, which get_signal() runs as its very first step, before
 * it dequeues anything; there the core may sleep, dequeue and decide.
 */
static int kp_get_signal_pre(struct kprobe *p, struct pt_regs *regs)
{
	utrace_hook_get_signal();
	return 0;
}

static struct kprobe kp_get_signal = {
	.symbol_name = "get_signal",
	.pre_handler = kp_get_signal_pre,
};

static bool kp_registered;

/*
 * REAP: release_task() runs in the reaping context (the parent in wait(),
 * or the thread itself when it self-reaps); report_reap belongs there.
 */
static int kp_release_pre(struct kprobe *p, struct pt_regs *regs)
{
	utrace_hook_release((struct task_struct *)regs_get_kernel_argument(regs, 0));
	return 0;
}

static struct kprobe kp_release = {
	.symbol_name = "release_task",
	.pre_handler = kp_release_pre,
};

static bool kp_release_registered;

/*
 * The "Utrace:" line of /proc/PID/status: proc_pid_status(m, ns, pid, task)
 * has no hook of its own, so a return probe appends to its seq_file.
 */
struct status_args {
	struct seq_file *m;
	struct task_struct *task;
};

static int krp_status_entry(struct kretprobe_instance *ri,
			    struct pt_regs *regs)
{
	struct status_args *a = (struct status_args *)ri->data;

	a->m = (struct seq_file *)regs_get_kernel_argument(regs, 0);
	a->task = (struct task_struct *)regs_get_kernel_argument(regs, 3);
	return 0;
}

static int krp_status_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct status_args *a = (struct status_args *)ri->data;

	/* Only after a successful show: the seq_file is ours to extend. */
	if (!regs_return_value(regs))
		utrace_hook_proc_status(a->m, a->task);
	return 0;
}

static struct kretprobe krp_status = {
	.kp.symbol_name = "proc_pid_status",
	.entry_handler = krp_status_entry,
	.handler = krp_status_ret,
	.data_size = sizeof(struct status_args),
	.maxactive = 64,
};

static bool krp_status_registered;

/*
 * Single-step traps: exc_debug_user() calls the die chain with DIE_DEBUG and
 * skips its SIGTRAP when a notifier returns NOTIFY_STOP. err points to DR6.
 */
static int utrace_die_notify(struct notifier_block *nb, unsigned long val,
			     void *data)
{
	struct die_args *args = data;

	if (val != DIE_DEBUG || !user_mode(args->regs))
		return NOTIFY_DONE;
	if (!(*(unsigned long *)args->err & DR_STEP))
		return NOTIFY_DONE;
	return utrace_hook_step_trap(args->regs) ? NOTIFY_STOP : NOTIFY_DONE;
}

/* Below uprobes (INT_MAX - 1): never take a uprobe's own step trap. */
static struct notifier_block utrace_die_nb = {
	.notifier_call = utrace_die_notify,
	.priority = 0,
};

static bool die_registered;

struct utrace_tp {
	const char *name;
	void *probe;
	int prio;
	bool lazy;		/* only while some thread is traced */
	struct tracepoint *tp;
	bool registered;
};

/*
 * The syscall probes rewrite orig_ax to skip a syscall; run them after the
 * observers (perf, BPF) at default priority so those see the real call.
 */
static struct utrace_tp utrace_tps[] = {
	{ "sys_enter", probe_sys_enter, TRACEPOINT_DEFAULT_PRIO - 1, true },
	{ "sys_exit", probe_sys_exit, TRACEPOINT_DEFAULT_PRIO - 1, true },
	{ "sched_process_fork", probe_fork, TRACEPOINT_DEFAULT_PRIO },
	{ "sched_process_exec", probe_exec, TRACEPOINT_DEFAULT_PRIO },
	{ "sched_process_exit", probe_exit, TRACEPOINT_DEFAULT_PRIO },
	{ "sched_process_free", probe_free, TRACEPOINT_DEFAULT_PRIO },
	{ "signal_deliver", probe_signal_deliver, TRACEPOINT_DEFAULT_PRIO },
};

static void find_tp(struct tracepoint *tp, void *priv)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(utrace_tps); i++)
		if (!strcmp(tp->name, utrace_tps[i].name))
			utrace_tps[i].tp = tp;
}

static int tp_register(struct utrace_tp *t)
{
	int ret;

	ret = tracepoint_probe_register_prio(t->tp, t->probe, NULL, t->prio);
	if (ret)
		pr_err("cannot register on tracepoint %s: %d\n", t->name, ret);
	else
		t->registered = true;
	return ret;
}

static void tp_unregister(struct utrace_tp *t)
{
	if (!t->registered)
		return;
	tracepoint_probe_unregister(t->tp, t->probe, NULL);
	t->registered = false;
}

/*
 * A probe on sys_enter or sys_exit puts every thread of the system on the
 * slow syscall path (SYSCALL_WORK_SYSCALL_TRACEPOINT is set on all of
 * them), traced or not. With lazy_probes those two are on only while the
 * core has some thread's state: from the first attach until a second after
 * the last state is freed (the delay spares attach/detach loops the
 * re-registering). The default: a machine that traces nothing pays
 * nothing. lazy_probes=0 keeps them for as long as the module is loaded
 * (the bench measures so, with nothing toggled under its loops). Turning a
 * tracepoint on or off patches kernel text under running CPUs; QEMU before
 * 10 mishandled that under multi-threaded TCG (vCPUs stuck for good on the
 * patched jump in syscall_trace_enter()), hence tools/install-deps' QEMU.
 *
 * syscall_hooks_mutex serialises turning them on and off; syscall_hooks_on
 * is written under it and read without it on the attach fast path.
 * syscall_hooks_qlock orders queueing the off work (from any context, the
 * reap may run with preemption disabled) against module exit setting
 * syscall_hooks_dead: after that, nobody queues it again.
 */
static bool lazy_probes = true;
module_param(lazy_probes, bool, 0444);
MODULE_PARM_DESC(lazy_probes,
		 "sys_enter/sys_exit probes only while some thread is traced (default; 0: while loaded)");

static DEFINE_MUTEX(syscall_hooks_mutex);
static DEFINE_SPINLOCK(syscall_hooks_qlock);
static bool syscall_hooks_on;
static bool syscall_hooks_dead;

static void syscall_hooks_set_locked(bool on)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(utrace_tps); i++) {
		if (!utrace_tps[i].lazy)
			continue;
		if (on && !utrace_tps[i].registered) {
			if (tp_register(&utrace_tps[i]))
				on = false;
		} else if (!on) {
			tp_unregister(&utrace_tps[i]);
		}
	}
	if (!on)	/* all or none: undo a half-done registration */
		for (i = 0; i < ARRAY_SIZE(utrace_tps); i++)
			if (utrace_tps[i].lazy)
				tp_unregister(&utrace_tps[i]);
	WRITE_ONCE(syscall_hooks_on, on);
}

static void syscall_hooks_off_fn(struct work_struct *work)
{
	mutex_lock(&syscall_hooks_mutex);
	if (syscall_hooks_on && !syscall_hooks_dead && utrace_core_idle()) {
		/*
		 * Store-buffer pairing with utrace_hooks_syscalls_on(): an
		 * attach makes the core busy, then reads syscall_hooks_on; we
		 * clear syscall_hooks_on, then read whether the core is busy.
		 * With a full barrier on both sides, at least one of us sees
		 * the other: we keep the probes, or it waits for the mutex
		 * and turns them on again.
		 */
		WRITE_ONCE(syscall_hooks_on, false);
		smp_mb();	/* the pairing described above */
		syscall_hooks_set_locked(!utrace_core_idle());
	}
	mutex_unlock(&syscall_hooks_mutex);
}

static DECLARE_DELAYED_WORK(syscall_hooks_off_work, syscall_hooks_off_fn);

/*
 * Called by the core when it is about to trace a thread, after it made
 * itself busy (a struct utrace exists). May sleep.
 */
int utrace_hooks_syscalls_on(void)
{
	int ret = 0;

	smp_mb();	/* see syscall_hooks_off_fn() */
	if (READ_ONCE(syscall_hooks_on))
		return 0;
	mutex_lock(&syscall_hooks_mutex);
	if (!syscall_hooks_on && !syscall_hooks_dead) {
		syscall_hooks_set_locked(true);
		if (!syscall_hooks_on)
			ret = -ENOMEM;
	}
	mutex_unlock(&syscall_hooks_mutex);
	return ret;
}

/* Called by the core when it may have become idle; any context. */
void utrace_hooks_syscalls_idle(void)
{
	unsigned long flags;

	spin_lock_irqsave(&syscall_hooks_qlock, flags);
	if (lazy_probes && !syscall_hooks_dead)
		mod_delayed_work(system_wq, &syscall_hooks_off_work, HZ);
	spin_unlock_irqrestore(&syscall_hooks_qlock, flags);
}

static int syscall_probes_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(syscall_hooks_on));
}

static const struct kernel_param_ops syscall_probes_ops = {
	.get = syscall_probes_get,
};

module_param_cb(syscall_probes, &syscall_probes_ops, NULL, 0444);
MODULE_PARM_DESC(syscall_probes,
		 "1 while the sys_enter/sys_exit probes are on (some thread traced)");

void utrace_hooks_exit(void)
{
	int i;

	/* No off work runs or is queued past this point. */
	spin_lock_irq(&syscall_hooks_qlock);
	syscall_hooks_dead = true;
	spin_unlock_irq(&syscall_hooks_qlock);
	cancel_delayed_work_sync(&syscall_hooks_off_work);

	if (die_registered) {
		unregister_die_notifier(&utrace_die_nb);
		die_registered = false;
	}
	if (kp_registered) {
		unregister_kprobe(&kp_get_signal);
		kp_registered = false;
	}
	if (kp_release_registered) {
		unregister_kprobe(&kp_release);
		kp_release_registered = false;
	}
	if (krp_status_registered) {
		unregister_kretprobe(&krp_status);
		krp_status_registered = false;
	}

	for (i = ARRAY_SIZE(utrace_tps) - 1; i >= 0; i--)
		tp_unregister(&utrace_tps[i]);
	WRITE_ONCE(syscall_hooks_on, false);
	/* No probe may still be running once we return. */
	tracepoint_synchronize_unregister();
}

int utrace_hooks_init(void)
{
	int i, ret;

	for_each_kernel_tracepoint(find_tp, NULL);
	for (i = 0; i < ARRAY_SIZE(utrace_tps); i++) {
		if (!utrace_tps[i].tp) {
			pr_err("kernel has no tracepoint %s\n", utrace_tps[i].name);
			ret = -ENOENT;
			goto fail;
		}
		/* The lazy ones too: the core's load-time self-test needs them. */
		ret = tp_register(&utrace_tps[i]);
		if (ret)
			goto fail;
	}
	syscall_hooks_on = true;
	ret = register_kprobe(&kp_get_signal);
	if (ret) {
		pr_err("cannot hook get_signal: %d\n", ret);
		goto fail;
	}
	kp_registered = true;
	ret = register_kprobe(&kp_release);
	if (ret) {
		pr_err("cannot hook release_task: %d\n", ret);
		goto fail;
	}
	kp_release_registered = true;
	/* Optional: without it only the /proc line is missing. */
	if (register_kretprobe(&krp_status))
		pr_info("no Utrace: line in /proc/PID/status on this kernel\n");
	else
		krp_status_registered = true;
	ret = register_die_notifier(&utrace_die_nb);
	if (ret)
		goto fail;
	die_registered = true;
	/* Off again once the self-test (the loader's next syscall) is done. */
	if (lazy_probes)
		schedule_delayed_work(&syscall_hooks_off_work, HZ);
	return 0;
fail:
	utrace_hooks_exit();
	return ret;
}
