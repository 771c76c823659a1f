// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only: a scriptable utrace engine, driven from user space through
 * /dev/utrace_test, so the semantics suite can make the core's callbacks do
 * and return what each behaviour case needs. Never shipped.
 *
 * Locking rules:
 *  - ute_mutex serialises the ioctls that change which engine sits in a slot
 *    (ATTACH, PUT, PIN_PID) and open/release. It is never held while calling
 *    into the core in a way that waits for a callback (barrier, control,
 *    set_events, examine), because a callback may be blocked waiting for a
 *    RELEASE ioctl.
 *  - ute_lock (a spinlock, irq-safe because ops->release may run from any
 *    context) protects everything a callback reads or writes: the slots'
 *    engine/task pointers, their scripted answers and counters, the log, the
 *    release table and the tracked-task table. Callbacks run in traced
 *    threads concurrently with ioctls; they only touch shared state under it
 *    and never sleep while holding it.
 *  - An ioctl that calls into the core first takes its own engine and task
 *    references under ute_lock, so a concurrent PUT cannot free them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/utrace.h>
#include <linux/wait.h>
#include <asm/syscall.h>

#include "utrace_test_engine.h"

#define UTE_BLOCK_TIMEOUT (10 * HZ)
#define UTE_MAX_TASKS 256
#define UTE_MAX_RELEASE_IDS 64

struct ute_ret_cfg {
	bool active;
	bool match;
	bool has_then;
	u32 value;
	u32 then;
	u32 count;
	u64 match_event;
};

struct ute_script_cfg {
	u32 op;
	u32 arg_slot;
	u64 arg;
	u64 data_id;
	u32 ops_id;
	u32 count;
	bool match;
	u64 match_event;
};

struct ute_slot {
	struct utrace_engine *engine;	/* one engine reference, or NULL */
	struct task_struct *task;	/* one task reference while engine */
	struct ute_ret_cfg ret[UTE_CB_MAX];
	struct ute_script_cfg script[UTE_CB_MAX];
	u32 tokens;	/* RELEASEs not yet consumed by a BLOCK */
	u32 blocked;
	u32 calls;
	int attach_rc;
	int set_events_rc;
	int control_rc;
};

struct ute_release_count {
	u64 data_id;
	u32 count;
};

static DEFINE_MUTEX(ute_mutex);
static DEFINE_SPINLOCK(ute_lock);
static DECLARE_WAIT_QUEUE_HEAD(ute_wq);
static atomic_t ute_opened = ATOMIC_INIT(0);

/* All under ute_lock. */
static bool ute_active;
static struct ute_slot ute_slots[UTE_NSLOTS];
static struct ute_log_rec ute_log[UTE_LOG_SIZE];
static u32 ute_log_count;
static u64 ute_log_dropped;
static struct ute_release_count ute_releases[UTE_MAX_RELEASE_IDS];
/* Every thread an engine of ours was attached to, for the final sweep. */
static struct task_struct *ute_tasks[UTE_MAX_TASKS];
static unsigned int ute_ntasks;

/* Under ute_mutex. */
static struct pid *ute_pinned;

static const struct utrace_engine_ops ute_ops[2];
static const struct utrace_engine_ops ute_ops_qie;

static const struct utrace_engine_ops *ute_ops_of(u32 ops_id)
{
	if (ops_id == UTE_OPS_QIE)
		return &ute_ops_qie;
	return ops_id < ARRAY_SIZE(ute_ops) ? &ute_ops[ops_id] : NULL;
}

/* Caller holds ute_lock. Returns the first slot holding @engine, or -1. */
static int ute_find_slot(const struct utrace_engine *engine, int skip)
{
	int i;

	for (i = 0; i < UTE_NSLOTS; i++)
		if (i != skip && ute_slots[i].engine == engine)
			return i;
	return -1;
}

/* Caller holds ute_lock. The table keeps its own task reference. */
static void ute_track_task(struct task_struct *task)
{
	unsigned int i;

	for (i = 0; i < ute_ntasks; i++)
		if (ute_tasks[i] == task)
			return;
	if (ute_ntasks < UTE_MAX_TASKS) {
		get_task_struct(task);
		ute_tasks[ute_ntasks++] = task;
	}
}

/*
 * Detaches and waits for any callback in flight. Errors are expected here
 * (the engine may already be detached or reaped) and mean nothing to do.
 */
static void ute_detach(struct task_struct *task, struct utrace_engine *engine)
{
	int ret;

	ret = utrace_control(task, engine, UTRACE_DETACH);
	if (ret && ret != -ESRCH && ret != -EINPROGRESS && ret != -EALREADY)
		pr_debug("detach: %d\n", ret);
	ret = utrace_barrier(task, engine);
	if (ret && ret != -ESRCH)
		pr_debug("barrier: %d\n", ret);
}

/*
 * Stores an engine made by a script into @slot. On failure (slot busy or
 * the device closing) the engine is detached again, so none is left behind.
 */
static void ute_store_scripted(u32 slot, struct utrace_engine *engine,
			       struct task_struct *task)
{
	unsigned long irqf;
	bool stored = false;

	spin_lock_irqsave(&ute_lock, irqf);
	if (ute_active && slot < UTE_NSLOTS && !ute_slots[slot].engine) {
		get_task_struct(task);
		ute_slots[slot].engine = engine;
		ute_slots[slot].task = task;
		ute_track_task(task);
		stored = true;
	}
	spin_unlock_irqrestore(&ute_lock, irqf);
	if (!stored) {
		ute_detach(task, engine);
		utrace_engine_put(engine);
	}
}

/* Records a script's core call result in a slot field (by offset). */
static void ute_set_rc(u32 slot, size_t field, int rc)
{
	unsigned long irqf;

	if (slot >= UTE_NSLOTS)
		return;
	spin_lock_irqsave(&ute_lock, irqf);
	*(int *)((char *)&ute_slots[slot] + field) = rc;
	spin_unlock_irqrestore(&ute_lock, irqf);
}

#define UTE_RC(name) offsetof(struct ute_slot, name)

/* ATTACH_CURRENT and ATTACH_CHILD_STOP. */
static void ute_script_attach(const struct ute_script_cfg *sc,
			      struct task_struct *task, bool stop)
{
	struct utrace_engine *engine;
	int ret;

	engine = utrace_attach_task(task, UTRACE_ATTACH_CREATE,
				    ute_ops_of(sc->ops_id),
				    (void *)(unsigned long)sc->data_id);
	ute_set_rc(sc->arg_slot, UTE_RC(attach_rc),
		   IS_ERR(engine) ? PTR_ERR(engine) : 0);
	if (IS_ERR(engine))
		return;
	/* Dropped by ute_release() when the engine's last reference goes. */
	__module_get(THIS_MODULE);
	/* Before the slot is published: a PUT could drop our reference. */
	ret = utrace_set_events(task, engine, sc->arg);
	ute_set_rc(sc->arg_slot, UTE_RC(set_events_rc), ret);
	if (stop) {
		ret = utrace_control(task, engine, UTRACE_STOP);
		ute_set_rc(sc->arg_slot, UTE_RC(control_rc), ret);
	}
	ute_store_scripted(sc->arg_slot, engine, task);
}

/* Only RELEASE or the device closing ends a BLOCK. */
static bool ute_take_token(u32 slot)
{
	unsigned long irqf;
	bool done;

	spin_lock_irqsave(&ute_lock, irqf);
	done = !ute_active || ute_slots[slot].tokens;
	if (ute_active && ute_slots[slot].tokens)
		ute_slots[slot].tokens--;
	spin_unlock_irqrestore(&ute_lock, irqf);
	return done;
}

static void ute_block(int slot)
{
	unsigned long irqf;
	long left;

	spin_lock_irqsave(&ute_lock, irqf);
	ute_slots[slot].blocked++;
	spin_unlock_irqrestore(&ute_lock, irqf);

	/* Interruptible: a SIGKILLed traced thread must not hang here. */
	left = wait_event_interruptible_timeout(ute_wq, ute_take_token(slot),
						UTE_BLOCK_TIMEOUT);
	if (left <= 0)
		pr_debug("block on slot %d ended early: %ld\n", slot, left);

	spin_lock_irqsave(&ute_lock, irqf);
	ute_slots[slot].blocked--;
	spin_unlock_irqrestore(&ute_lock, irqf);
}

/* What one callback does, decided under ute_lock when it starts. */
struct ute_call {
	int slot;
	u32 ret;
	struct ute_script_cfg script;
};

static bool ute_matches(bool match, u64 match_event, u64 event)
{
	return !match || match_event == event;
}

static void ute_begin(struct utrace_engine *engine, enum ute_cb cb,
		      u64 event, u32 dflt, struct ute_call *c)
{
	struct ute_ret_cfg *r;
	struct ute_script_cfg *sc;
	unsigned long irqf;

	c->ret = dflt;
	c->script.op = UTE_OP_NONE;
	spin_lock_irqsave(&ute_lock, irqf);
	c->slot = ute_find_slot(engine, -1);
	if (c->slot >= 0) {
		ute_slots[c->slot].calls++;
		r = &ute_slots[c->slot].ret[cb];
		if (r->active && ute_matches(r->match, r->match_event, event)) {
			c->ret = r->value;
			if (r->count && !--r->count) {
				/* Answer @then from now on, or the default. */
				r->active = r->has_then;
				r->value = r->then;
			}
		}
		sc = &ute_slots[c->slot].script[cb];
		if (ute_active && sc->op != UTE_OP_NONE &&
		    ute_matches(sc->match, sc->match_event, event)) {
			c->script = *sc;
			if (sc->count && !--sc->count)
				sc->op = UTE_OP_NONE;
		}
	}
	spin_unlock_irqrestore(&ute_lock, irqf);
}

/* What a script may touch besides the engine; members unused are NULL. */
struct ute_ctx {
	struct task_struct *child;
	struct pt_regs *regs;
	long *code;
	kernel_siginfo_t *info;
};

static void ute_run_script(struct utrace_engine *engine, struct ute_call *c,
			   const struct ute_ctx *x)
{
	struct pt_regs *regs = x->regs;
	const struct ute_script_cfg *sc = &c->script;
	int ret;

	switch (sc->op) {
	case UTE_OP_ATTACH_CURRENT:
		ute_script_attach(sc, current, false);
		break;
	case UTE_OP_ATTACH_CHILD_STOP:
		if (x->child)
			ute_script_attach(sc, x->child, true);
		break;
	case UTE_OP_SET_EVENTS_SELF:
		ret = utrace_set_events(current, engine, sc->arg);
		ute_set_rc(c->slot, UTE_RC(set_events_rc), ret);
		break;
	case UTE_OP_BLOCK:
		ute_block(c->slot);
		break;
	case UTE_OP_SET_SYSCALL_RETURN:
		if (regs)
			regs_set_return_value(regs, sc->arg);
		break;
	case UTE_OP_SET_EXIT_CODE:
		if (x->code)
			*x->code = (long)sc->arg;
		break;
	case UTE_OP_SET_SYSCALL_ARG0:
#ifdef CONFIG_X86_64
		if (regs)
			regs->di = sc->arg;
#endif
		break;
	case UTE_OP_SET_SIGNO:
		/* The core delivers info->si_signo instead of the original. */
		if (x->info)
			x->info->si_signo = (int)sc->arg;
		break;
	default:
		break;
	}
}

static void ute_log_append(struct utrace_engine *engine, int slot,
			   enum ute_cb cb, u32 action, u64 event, pid_t tid,
			   u32 ret)
{
	struct ute_log_rec *rec;
	unsigned long irqf;

	spin_lock_irqsave(&ute_lock, irqf);
	if (ute_log_count < UTE_LOG_SIZE) {
		/* Keep the oldest: tests look for the first reports. */
		rec = &ute_log[ute_log_count];
		rec->seq = ute_log_count++;
		rec->event = event;
		rec->data_id = (unsigned long)engine->data;
		rec->slot = slot < 0 ? UTE_NO_SLOT : slot;
		rec->cb = cb;
		rec->action = action;
		rec->tid = tid;
		rec->ret = ret;
		rec->reserved = 0;
	} else {
		ute_log_dropped++;
	}
	spin_unlock_irqrestore(&ute_lock, irqf);
}

/* The common shape of every callback except report_reap. */
static u32 ute_callback(struct utrace_engine *engine, enum ute_cb cb,
			u32 action, u64 event, u32 dflt,
			struct task_struct *child, struct pt_regs *regs,
			long *code)
{
	struct ute_ctx x = { .child = child, .regs = regs, .code = code };
	struct ute_call c;

	ute_begin(engine, cb, event, dflt, &c);
	ute_run_script(engine, &c, &x);
	ute_log_append(engine, c.slot, cb, action, event,
		       task_pid_nr(current), c.ret);
	return c.ret;
}

static u32 ute_report_quiesce(u32 action, struct utrace_engine *engine,
			      unsigned long event)
{
	return ute_callback(engine, UTE_CB_QUIESCE, action, event,
			    UTRACE_RESUME, NULL, NULL, NULL);
}

static u32 ute_report_signal(u32 action, struct utrace_engine *engine,
			     struct pt_regs *regs, kernel_siginfo_t *info,
			     const struct k_sigaction *orig_ka,
			     struct k_sigaction *return_ka)
{
	struct ute_call c;
	/* info is only meaningful for a real signal (orig_ka set). */
	u64 signo = orig_ka && info ? info->si_signo : 0;
	struct ute_ctx x = { .regs = regs, .info = orig_ka ? info : NULL };

	ute_begin(engine, UTE_CB_SIGNAL, signo, UTRACE_RESUME, &c);
	/* Without an explicit signal action, pass the given one through. */
	if (!utrace_signal_action(c.ret))
		c.ret |= utrace_signal_action(action);
	ute_run_script(engine, &c, &x);
	/* Logged as received, before a SET_SIGNO script changed it. */
	ute_log_append(engine, c.slot, UTE_CB_SIGNAL, action, signo,
		       task_pid_nr(current), c.ret);
	return c.ret;
}

static u32 ute_report_clone(u32 action, struct utrace_engine *engine,
			    unsigned long clone_flags,
			    struct task_struct *child)
{
	return ute_callback(engine, UTE_CB_CLONE, action, task_pid_nr(child),
			    UTRACE_RESUME, child, NULL, NULL);
}

static u32 ute_report_jctl(u32 action, struct utrace_engine *engine,
			   int type, int notify)
{
	return ute_callback(engine, UTE_CB_JCTL, action, (u64)(s64)type,
			    UTRACE_RESUME, NULL, NULL, NULL);
}

static u32 ute_report_exec(u32 action, struct utrace_engine *engine,
			   const struct linux_binfmt *fmt,
			   const struct linux_binprm *bprm,
			   struct pt_regs *regs)
{
	return ute_callback(engine, UTE_CB_EXEC, action, 0, UTRACE_RESUME,
			    NULL, regs, NULL);
}

static u32 ute_report_syscall_entry(u32 action, struct utrace_engine *engine,
				    struct pt_regs *regs)
{
	u64 nr = (u64)(s64)syscall_get_nr(current, regs);

	return ute_callback(engine, UTE_CB_SYSCALL_ENTRY, action, nr,
			    UTRACE_SYSCALL_RUN | UTRACE_RESUME, NULL, regs,
			    NULL);
}

static u32 ute_report_syscall_exit(u32 action, struct utrace_engine *engine,
				   struct pt_regs *regs)
{
	u64 nr = (u64)(s64)syscall_get_nr(current, regs);

	return ute_callback(engine, UTE_CB_SYSCALL_EXIT, action, nr,
			    UTRACE_RESUME, NULL, regs, NULL);
}

static u32 ute_report_exit(u32 action, struct utrace_engine *engine,
			   long orig_code, long *code)
{
	return ute_callback(engine, UTE_CB_EXIT, action, (u64)orig_code,
			    UTRACE_RESUME, NULL, NULL, code);
}

static u32 ute_report_death(struct utrace_engine *engine, bool group_dead,
			    int signal)
{
	return ute_callback(engine, UTE_CB_DEATH, group_dead, (u64)(s64)signal,
			    UTRACE_RESUME, NULL, NULL, NULL);
}

/* May run in any task's context and must not sleep: no scripts here. */
static void ute_report_reap(struct utrace_engine *engine,
			    struct task_struct *task)
{
	unsigned long irqf;
	int slot;

	spin_lock_irqsave(&ute_lock, irqf);
	slot = ute_find_slot(engine, -1);
	if (slot >= 0)
		ute_slots[slot].calls++;
	spin_unlock_irqrestore(&ute_lock, irqf);
	/* event: who reaps (current); tid: who is reaped. */
	ute_log_append(engine, slot, UTE_CB_REAP, 0, task_pid_nr(current),
		       task_pid_nr(task), 0);
}

/* Counts by data value: the engine is gone when this runs. */
static void ute_release(void *data)
{
	u64 id = (unsigned long)data;
	unsigned long irqf;
	int i;

	spin_lock_irqsave(&ute_lock, irqf);
	for (i = 0; i < UTE_MAX_RELEASE_IDS; i++) {
		if (ute_releases[i].count && ute_releases[i].data_id != id)
			continue;
		ute_releases[i].data_id = id;
		ute_releases[i].count++;
		break;
	}
	spin_unlock_irqrestore(&ute_lock, irqf);
	/* Pairs with the __module_get() made when the engine was created. */
	module_put(THIS_MODULE);
}

#define UTE_CALLBACKS \
	.report_quiesce = ute_report_quiesce, \
	.report_signal = ute_report_signal, \
	.report_clone = ute_report_clone, \
	.report_jctl = ute_report_jctl, \
	.report_exec = ute_report_exec, \
	.report_syscall_entry = ute_report_syscall_entry, \
	.report_syscall_exit = ute_report_syscall_exit, \
	.report_exit = ute_report_exit, \
	.report_death = ute_report_death, \
	.report_reap = ute_report_reap, \
	.release = ute_release

/* Two tables with the same callbacks but different addresses (MATCH_OPS). */
static const struct utrace_engine_ops ute_ops[2] = {
	[0 ... 1] = { UTE_CALLBACKS },
};

/* The same callbacks under the quiesce_in_event extension. */
static const struct utrace_engine_ops ute_ops_qie = {
	UTE_CALLBACKS,
	.quiesce_in_event = true,
};

/* ---- ioctls ---- */

/* Takes references on a slot's engine and task; -EINVAL if it is empty. */
static int ute_slot_get(u32 slot, struct task_struct **task,
			struct utrace_engine **engine)
{
	unsigned long irqf;
	int ret = -EINVAL;

	if (slot >= UTE_NSLOTS)
		return -EINVAL;
	spin_lock_irqsave(&ute_lock, irqf);
	if (ute_slots[slot].engine) {
		*engine = ute_slots[slot].engine;
		*task = ute_slots[slot].task;
		utrace_engine_get(*engine);
		get_task_struct(*task);
		ret = 0;
	}
	spin_unlock_irqrestore(&ute_lock, irqf);
	return ret;
}

static void ute_slot_put(struct task_struct *task,
			 struct utrace_engine *engine)
{
	utrace_engine_put(engine);
	put_task_struct(task);
}

static struct task_struct *ute_task_of(pid_t nr)
{
	struct task_struct *task;

	rcu_read_lock();
	task = get_pid_task(find_vpid(nr), PIDTYPE_PID);
	rcu_read_unlock();
	return task;
}

static long ute_ioc_attach(void __user *uarg)
{
	const struct utrace_engine_ops *ops;
	struct utrace_engine *engine;
	struct task_struct *task = NULL;
	struct ute_attach a;
	unsigned long irqf;
	struct pid *pid;
	bool stored;
	void *data;
	long ret = 0;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.slot >= UTE_NSLOTS || a.ops_id > UTE_OPS_QIE ||
	    a.how > UTE_HOW_PINNED || a.reserved)
		return -EINVAL;
	ops = ute_ops_of(a.ops_id);
	data = (void *)(unsigned long)a.data_id;
	a.same_as = -1;

	mutex_lock(&ute_mutex);
	if (READ_ONCE(ute_slots[a.slot].engine)) {
		ret = -EBUSY;
		goto out;
	}
	switch (a.how) {
	case UTE_HOW_PID:
		pid = find_get_pid(a.pid);
		if (!pid) {
			/* Not the core's answer: no struct pid to pass it. */
			engine = ERR_PTR(-ESRCH);
			break;
		}
		task = get_pid_task(pid, PIDTYPE_PID);
		engine = utrace_attach_pid(pid, a.flags, ops, data);
		put_pid(pid);
		break;
	case UTE_HOW_TASK:
		task = ute_task_of(a.pid);
		engine = task ? utrace_attach_task(task, a.flags, ops, data) :
				ERR_PTR(-ESRCH);
		break;
	default:
		if (!ute_pinned) {
			ret = -EINVAL;
			goto out;
		}
		task = get_pid_task(ute_pinned, PIDTYPE_PID);
		engine = utrace_attach_pid(ute_pinned, a.flags, ops, data);
		break;
	}

	if (IS_ERR(engine)) {
		a.result = PTR_ERR(engine);
		goto out;
	}
	a.result = 0;
	if (a.flags & UTRACE_ATTACH_CREATE)
		__module_get(THIS_MODULE);	/* put by ute_release() */
	if (!task) {
		/* The core attached to a task we could not pin: undo. */
		pr_err("attach to pid %d succeeded without a task\n", a.pid);
		utrace_engine_put(engine);
		goto out;
	}
	spin_lock_irqsave(&ute_lock, irqf);
	/* A script may have filled the slot meanwhile (it does not take the mutex). */
	stored = !ute_slots[a.slot].engine;
	if (stored) {
		ute_slots[a.slot].engine = engine;
		ute_slots[a.slot].task = task;
		a.same_as = ute_find_slot(engine, a.slot);
		ute_track_task(task);
	}
	spin_unlock_irqrestore(&ute_lock, irqf);
	if (!stored) {
		if (a.flags & UTRACE_ATTACH_CREATE)
			ute_detach(task, engine);
		utrace_engine_put(engine);
		ret = -EBUSY;
		goto out;
	}
	task = NULL;	/* the slot owns the reference now */
out:
	mutex_unlock(&ute_mutex);
	if (task)
		put_task_struct(task);
	if (!ret && copy_to_user(uarg, &a, sizeof(a)))
		ret = -EFAULT;
	return ret;
}

static long ute_ioc_slot_cmd(unsigned int cmd, void __user *uarg)
{
	struct utrace_engine *engine;
	struct task_struct *task;
	struct ute_slot_cmd c;
	unsigned long irqf;
	long ret;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	if (c.slot >= UTE_NSLOTS)
		return -EINVAL;

	switch (cmd) {
	case UTE_IOC_RELEASE:
		spin_lock_irqsave(&ute_lock, irqf);
		ute_slots[c.slot].tokens++;
		spin_unlock_irqrestore(&ute_lock, irqf);
		wake_up_all(&ute_wq);
		c.result = 0;
		break;
	case UTE_IOC_PUT:
		mutex_lock(&ute_mutex);
		spin_lock_irqsave(&ute_lock, irqf);
		engine = ute_slots[c.slot].engine;
		task = ute_slots[c.slot].task;
		ute_slots[c.slot].engine = NULL;
		ute_slots[c.slot].task = NULL;
		spin_unlock_irqrestore(&ute_lock, irqf);
		mutex_unlock(&ute_mutex);
		if (!engine)
			return -EINVAL;
		ute_slot_put(task, engine);
		c.result = 0;
		break;
	default:
		ret = ute_slot_get(c.slot, &task, &engine);
		if (ret)
			return ret;
		if (cmd == UTE_IOC_SET_EVENTS)
			c.result = utrace_set_events(task, engine, c.arg);
		else if (cmd == UTE_IOC_CONTROL)
			/* Out-of-range actions pass through: the core checks. */
			c.result = utrace_control(task, engine,
						  (enum utrace_resume_action)c.arg);
		else
			c.result = utrace_barrier(task, engine);
		ute_slot_put(task, engine);
		break;
	}
	if (copy_to_user(uarg, &c, sizeof(c)))
		return -EFAULT;
	return 0;
}

static long ute_ioc_set_return(void __user *uarg)
{
	struct ute_set_return r;
	struct ute_ret_cfg *cfg;
	unsigned long irqf;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	if (r.slot >= UTE_NSLOTS || r.cb >= UTE_CB_MAX || r.match > 1 ||
	    r.has_then > 1 || r.reserved)
		return -EINVAL;
	spin_lock_irqsave(&ute_lock, irqf);
	cfg = &ute_slots[r.slot].ret[r.cb];
	cfg->active = true;
	cfg->value = r.value;
	cfg->count = r.count;
	cfg->match = r.match;
	cfg->match_event = r.match_event;
	/* Without a count there is no "after": @then would never be used. */
	cfg->has_then = r.has_then && r.count;
	cfg->then = r.then;
	spin_unlock_irqrestore(&ute_lock, irqf);
	return 0;
}

static long ute_ioc_set_script(void __user *uarg)
{
	struct ute_script s;
	struct ute_script_cfg *cfg;
	unsigned long irqf;

	if (copy_from_user(&s, uarg, sizeof(s)))
		return -EFAULT;
	if (s.slot >= UTE_NSLOTS || s.cb >= UTE_CB_MAX || s.cb == UTE_CB_REAP ||
	    s.op >= UTE_OP_MAX || s.match > 1 || s.reserved ||
	    ((s.op == UTE_OP_ATTACH_CURRENT ||
	      s.op == UTE_OP_ATTACH_CHILD_STOP) &&
	     (s.arg_slot >= UTE_NSLOTS || s.ops_id > UTE_OPS_1)))
		return -EINVAL;
	spin_lock_irqsave(&ute_lock, irqf);
	cfg = &ute_slots[s.slot].script[s.cb];
	cfg->op = s.op;
	cfg->arg_slot = s.arg_slot;
	cfg->arg = s.arg;
	cfg->data_id = s.data_id;
	cfg->ops_id = s.ops_id;
	cfg->count = s.count;
	cfg->match = s.match;
	cfg->match_event = s.match_event;
	spin_unlock_irqrestore(&ute_lock, irqf);
	return 0;
}

static long ute_ioc_read_log(void __user *uarg)
{
	struct ute_log_rec *buf;
	struct ute_read_log r;
	unsigned long irqf;
	u32 n;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	n = min_t(u32, r.max, UTE_LOG_SIZE);
	buf = kvmalloc_array(max_t(u32, n, 1), sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	/* Snapshot under the lock; copy to user space after dropping it. */
	spin_lock_irqsave(&ute_lock, irqf);
	n = min(n, ute_log_count);
	memcpy(buf, ute_log, n * sizeof(*buf));
	r.dropped = ute_log_dropped;
	spin_unlock_irqrestore(&ute_lock, irqf);
	r.count = n;
	if (copy_to_user(u64_to_user_ptr(r.buf), buf, n * sizeof(*buf)) ||
	    copy_to_user(uarg, &r, sizeof(r))) {
		kvfree(buf);
		return -EFAULT;
	}
	kvfree(buf);
	return 0;
}

static void ute_clear_log(void)
{
	unsigned long irqf;

	spin_lock_irqsave(&ute_lock, irqf);
	ute_log_count = 0;
	ute_log_dropped = 0;
	spin_unlock_irqrestore(&ute_lock, irqf);
}

static long ute_ioc_examine(void __user *uarg)
{
	struct utrace_examiner exam;
	struct utrace_engine *engine;
	struct task_struct *task, *target;
	struct pt_regs *regs;
	struct ute_examine x;
	long ret;

	if (copy_from_user(&x, uarg, sizeof(x)))
		return -EFAULT;
	if (x.reserved || x.flags & ~UTE_EXAMINE_KILL)
		return -EINVAL;
	ret = ute_slot_get(x.slot, &task, &engine);
	if (ret)
		return ret;
	target = task;
	if (x.pid) {
		target = ute_task_of(x.pid);
		if (!target) {
			ute_slot_put(task, engine);
			return -ESRCH;
		}
	}
	x.ip = 0;
	x.orig_ax = 0;
	x.finish_rc = 0;
	x.prepare_rc = utrace_prepare_examine(target, engine, &exam);
	if (!x.prepare_rc) {
		regs = task_pt_regs(target);
		x.ip = instruction_pointer(regs);
		x.orig_ax = (u64)(s64)syscall_get_nr(target, regs);
		if (x.flags & UTE_EXAMINE_KILL) {
			send_sig(SIGKILL, target, 1);
			/* Give the woken thread time to run. */
			msleep(50);
		}
		x.finish_rc = utrace_finish_examine(target, engine, &exam);
	}
	if (target != task)
		put_task_struct(target);
	ute_slot_put(task, engine);
	if (copy_to_user(uarg, &x, sizeof(x)))
		return -EFAULT;
	return 0;
}

static long ute_ioc_slot_info(void __user *uarg)
{
	struct ute_slot_info info;
	struct ute_slot *s;
	unsigned long irqf;
	u32 slot;

	if (copy_from_user(&info, uarg, sizeof(info)))
		return -EFAULT;
	if (info.slot >= UTE_NSLOTS)
		return -EINVAL;
	slot = info.slot;
	memset(&info, 0, sizeof(info));
	info.slot = slot;
	spin_lock_irqsave(&ute_lock, irqf);
	s = &ute_slots[info.slot];
	if (s->engine) {
		info.in_use = 1;
		info.engine_flags = READ_ONCE(s->engine->flags);
		info.refcount = kref_read(&s->engine->kref);
		info.tid = task_pid_nr(s->task);
	}
	info.blocked = s->blocked;
	info.calls = s->calls;
	info.attach_rc = s->attach_rc;
	info.set_events_rc = s->set_events_rc;
	info.control_rc = s->control_rc;
	spin_unlock_irqrestore(&ute_lock, irqf);
	if (copy_to_user(uarg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static long ute_ioc_releases(void __user *uarg)
{
	struct ute_releases r;
	unsigned long irqf;
	int i;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	r.count = 0;
	r.reserved = 0;
	spin_lock_irqsave(&ute_lock, irqf);
	for (i = 0; i < UTE_MAX_RELEASE_IDS; i++)
		if (ute_releases[i].count && ute_releases[i].data_id == r.data_id)
			r.count = ute_releases[i].count;
	spin_unlock_irqrestore(&ute_lock, irqf);
	if (copy_to_user(uarg, &r, sizeof(r)))
		return -EFAULT;
	return 0;
}

static long ute_ioc_pin_pid(void __user *uarg)
{
	struct ute_pin_pid p;

	if (copy_from_user(&p, uarg, sizeof(p)))
		return -EFAULT;
	mutex_lock(&ute_mutex);
	put_pid(ute_pinned);
	ute_pinned = p.pid ? find_get_pid(p.pid) : NULL;
	p.result = p.pid && !ute_pinned ? -ESRCH : 0;
	mutex_unlock(&ute_mutex);
	if (copy_to_user(uarg, &p, sizeof(p)))
		return -EFAULT;
	return 0;
}

static long ute_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case UTE_IOC_ATTACH:
		return ute_ioc_attach(uarg);
	case UTE_IOC_SET_EVENTS:
	case UTE_IOC_CONTROL:
	case UTE_IOC_BARRIER:
	case UTE_IOC_PUT:
	case UTE_IOC_RELEASE:
		return ute_ioc_slot_cmd(cmd, uarg);
	case UTE_IOC_SET_RETURN:
		return ute_ioc_set_return(uarg);
	case UTE_IOC_SET_SCRIPT:
		return ute_ioc_set_script(uarg);
	case UTE_IOC_READ_LOG:
		return ute_ioc_read_log(uarg);
	case UTE_IOC_CLEAR_LOG:
		ute_clear_log();
		return 0;
	case UTE_IOC_EXAMINE:
		return ute_ioc_examine(uarg);
	case UTE_IOC_SLOT_INFO:
		return ute_ioc_slot_info(uarg);
	case UTE_IOC_RELEASES:
		return ute_ioc_releases(uarg);
	case UTE_IOC_PIN_PID:
		return ute_ioc_pin_pid(uarg);
	default:
		return -ENOTTY;
	}
}

/* Detaches every engine with one of our ops tables still on @task. */
static void ute_sweep_task(struct task_struct *task)
{
	struct utrace_engine *engine;
	unsigned int o, n;

	for (o = 0; o < ARRAY_SIZE(ute_ops); o++) {
		/* Bounded in case a detach does not stick. */
		for (n = 0; n < 64; n++) {
			engine = utrace_attach_task(task, UTRACE_ATTACH_MATCH_OPS,
						    &ute_ops[o], NULL);
			if (IS_ERR(engine))
				break;
			ute_detach(task, engine);
			utrace_engine_put(engine);
		}
	}
}

/*
 * Leaves no engine of ours attached: detaches every slot's engine, then
 * looks up and detaches any other engine with our ops on every thread we
 * ever attached to (engines whose slot reference was already put, or that
 * a script could not store). Scripts are off first, so none attaches more.
 */
static void ute_cleanup(void)
{
	struct utrace_engine *engine;
	struct task_struct *task;
	unsigned long irqf;
	unsigned int i, pass;

	mutex_lock(&ute_mutex);
	spin_lock_irqsave(&ute_lock, irqf);
	ute_active = false;
	spin_unlock_irqrestore(&ute_lock, irqf);
	wake_up_all(&ute_wq);

	for (i = 0; i < UTE_NSLOTS; i++) {
		spin_lock_irqsave(&ute_lock, irqf);
		engine = ute_slots[i].engine;
		task = ute_slots[i].task;
		ute_slots[i].engine = NULL;
		ute_slots[i].task = NULL;
		spin_unlock_irqrestore(&ute_lock, irqf);
		if (!engine)
			continue;
		ute_detach(task, engine);
		ute_slot_put(task, engine);
	}

	/* No new tasks are tracked once inactive; the table is stable. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < ute_ntasks; i++)
			ute_sweep_task(ute_tasks[i]);
	for (i = 0; i < ute_ntasks; i++)
		put_task_struct(ute_tasks[i]);
	ute_ntasks = 0;
	put_pid(ute_pinned);
	ute_pinned = NULL;
	mutex_unlock(&ute_mutex);
}

static int ute_open(struct inode *inode, struct file *file)
{
	unsigned long irqf;

	/* One opener: the slots and the log are global. */
	if (atomic_cmpxchg(&ute_opened, 0, 1))
		return -EBUSY;
	mutex_lock(&ute_mutex);
	spin_lock_irqsave(&ute_lock, irqf);
	memset(ute_slots, 0, sizeof(ute_slots));
	memset(ute_releases, 0, sizeof(ute_releases));
	ute_log_count = 0;
	ute_log_dropped = 0;
	ute_active = true;
	spin_unlock_irqrestore(&ute_lock, irqf);
	mutex_unlock(&ute_mutex);
	return nonseekable_open(inode, file);
}

static int ute_file_release(struct inode *inode, struct file *file)
{
	ute_cleanup();
	atomic_set(&ute_opened, 0);
	return 0;
}

static const struct file_operations ute_fops = {
	.owner = THIS_MODULE,
	.open = ute_open,
	.release = ute_file_release,
	.unlocked_ioctl = ute_ioctl,
};

static struct miscdevice ute_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = UTE_DEVICE_NAME,
	.fops = &ute_fops,
	.mode = 0600,
};

static int __init ute_init(void)
{
	return misc_register(&ute_miscdev);
}

/*
 * Every engine holds a module reference until its release, and the device
 * file pins the module, so nothing of ours is attached by the time we get
 * here.
 */
static void __exit ute_exit(void)
{
	misc_deregister(&ute_miscdev);
}

module_init(ute_init);
module_exit(ute_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("utrace scriptable test engine (test only)");
