// SPDX-License-Identifier: GPL-2.0
/*
 * The utrace core: engines, the attached and attaching lists, reporting
 * passes, quiescence, resume actions and the stop.
 *
 * Per-thread state (struct utrace) lives in a hash keyed by task pointer: a
 * module cannot add a field to task_struct. It is created on the first
 * attach and freed after the thread is reaped (sched_process_free).
 *
 * Where things run:
 *  - hooks (tracepoint probes) run in atomic context; they only record what
 *    happened in utrace->pending and queue utrace->work with task_work_add();
 *    other threads asking for a pass queue utrace->rwork or ->iwork instead
 *    (see utrace_queue() for why the thread's own work is its alone);
 *  - every report (callback pass) and every stop runs in that task_work, in
 *    the traced thread itself on its way back to user mode (or in do_exit
 *    for the death report), where it may sleep;
 *  - report_reap runs in a kworker after the thread is released.
 *
 * Locking rules (the original's, kept):
 *  - utrace->lock protects attaching, engine->flags writes, utrace->flags
 *    writes, utrace->resume and the stopped/death/reap/exiting state.
 *  - utrace->attached is walked WITHOUT a lock by the thread itself during a
 *    reporting pass. So it may only be changed under utrace->lock AND while
 *    the thread is quiescent: it is current, or it is stopped in
 *    utrace_stop() (utrace->stopped, which only the thread clears, under the
 *    lock), or it is past its death report. New engines wait on attaching
 *    and are spliced in at the start of the thread's next pass, so an
 *    engine attached during a pass never sees the event in progress.
 *  - utrace_table_lock protects insertions into and removals from the hash;
 *    lookups are RCU, and a struct utrace is freed after a grace period.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/freezer.h>
#include <linux/delay.h>
#include <linux/hashtable.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>
#include <linux/utrace.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <asm/syscall.h>
#include <asm/unistd.h>
#include <uapi/linux/utrace.h>

#include "core.h"

/* In engine->flags and utrace->flags: this engine wants the thread stopped. */
#define ENGINE_STOP (1UL << _UTRACE_NEVENTS)

#define DEATH_EVENTS (UTRACE_EVENT(DEATH) | UTRACE_EVENT(QUIESCE))

/*
 * Events that need every signal to reach get_signal(): the kernel otherwise
 * drops an ignored signal at once and turns a fatal one into a group
 * SIGKILL before any hook sees it (ptrace's trick: real_blocked). EXIT is
 * one of them, so a fatal signal's exit is reported too.
 */
#define REAL_BLOCKED_EVENTS \
	(UTRACE_EVENT(SIGNAL_IGN) | UTRACE_EVENT(SIGNAL_TERM) | \
	 UTRACE_EVENT(SIGNAL_CORE) | UTRACE_EVENT(EXIT))

/*
 * A value no system call returns (errno 4095 does not exist): written to ax
 * when a syscall is skipped, so the exit probe can tell whether the kernel
 * really skipped it (it re-reads the syscall number after sys_enter) or ran
 * it anyway.
 */
#define SKIP_SENTINEL (-4095L)

/* Bits of utrace->pending: what the task_work has to do. */
enum {
	PENDING_QUEUED,		/* utrace->work (the thread's own) is queued */
	PENDING_IQUEUED,	/* utrace->iwork (INTERRUPT) is queued */
	PENDING_RQUEUED,	/* utrace->rwork (another's request) is queued */
	PENDING_ENTRY,		/* syscall skipped: report entry, then rerun */
	PENDING_EXIT,		/* report syscall exit */
	PENDING_EXEC,		/* report exec */
	PENDING_CLONE,		/* report clone (in the parent) */
	PENDING_CLONE_HOLD,	/* new child: wait for the parent's report */
	PENDING_DEATH,		/* report death (in do_exit) */
	PENDING_SIGNAL,		/* in get_signal(): the signal path */
	PENDING_STEP,		/* a single-step finished: report */
	PENDING_HANDLER,	/* a handler frame was built: report */
	PENDING_DEFER,		/* work ran inside a syscall: redo at exit */
};

struct utrace {
	spinlock_t lock;
	struct list_head attached;	/* see the locking rules above */
	struct list_head attaching;
	struct task_struct *task;	/* valid until the free hook */
	struct utrace_engine *reporting;
	unsigned long flags;		/* union of engine flags, REAP, STOP */
	unsigned long pending;		/* PENDING_* bits, atomic bitops */
	u8 resume;			/* enum utrace_resume_action */
	bool sysfilter_all;		/* some engine wants every syscall */
	/* Union of the engines' syscall filters; read racily by the hooks. */
	DECLARE_BITMAP(sysfilter, UTRACE_NR_SYSCALLS);
	bool pending_attach;
	bool stopped;			/* in utrace_stop(); cleared by task */
	unsigned int examiners;		/* pinned by utrace_prepare_examine() */
	bool exiting;			/* past the exit hook */
	bool death;			/* report_death in progress */
	bool reap;			/* reaped; engines gone */

	/* Owned by the thread itself (current only, no lock). */
	bool entry_report;		/* report SYSCALL_ENTRY for it */
	bool entry_exit;		/* it is exit/exit_group: report EXIT */
	bool step_armed;		/* TF set by us, trap not yet seen */
	bool step_set_tf;		/* we set TF (the user had not) */
	bool rb_marked;			/* we filled task->real_blocked */
	bool in_syscall;		/* between sys_enter and sys_exit */
	long entry_nr;			/* the skipped syscall */
	unsigned long entry_ax;		/* ax at its entry (-ENOSYS on x86) */
	unsigned long entry_ip;		/* ip just after its instruction */
	bool bypass;			/* let the re-executed syscall pass */
	unsigned long bypass_ip;
	long bypass_nr;
	struct task_struct *clone_child;	/* for PENDING_CLONE */
	unsigned long clone_flags;

	struct callback_head work;	/* queued by the thread itself */
	struct callback_head iwork;	/* INTERRUPT, by another thread */
	struct callback_head rwork;	/* a request of another thread */
	struct work_struct reap_work;
	struct hlist_node node;
	struct rcu_head rcu;
};

#define UTRACE_HASH_BITS 10
static DEFINE_HASHTABLE(utrace_table, UTRACE_HASH_BITS);
static DEFINE_SPINLOCK(utrace_table_lock);
static DECLARE_WAIT_QUEUE_HEAD(utrace_clone_wq);
static struct kmem_cache *utrace_cachep;
static struct kmem_cache *utrace_engine_cachep;
static struct workqueue_struct *utrace_wq;

/* Stopped threads wait here for their examiners to finish. */
static DECLARE_WAIT_QUEUE_HEAD(utrace_examine_wq);

/* Live-object counters, read-only module parameters for the tests. */
static atomic_t utrace_live_engines = ATOMIC_INIT(0);
static atomic_t utrace_live_threads = ATOMIC_INIT(0);
static atomic_t utrace_pending_works = ATOMIC_INIT(0);
/* Entry reports that ran late or not at all: a core bug, never expected. */
static atomic_t utrace_entry_misses = ATOMIC_INIT(0);

static int utrace_counter_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read((atomic_t *)kp->arg));
}

static const struct kernel_param_ops utrace_counter_ops = {
	.get = utrace_counter_get,
};

module_param_cb(live_engines, &utrace_counter_ops, &utrace_live_engines, 0444);
MODULE_PARM_DESC(live_engines, "engines not yet freed");
module_param_cb(live_threads, &utrace_counter_ops, &utrace_live_threads, 0444);
MODULE_PARM_DESC(live_threads, "per-thread states not yet freed");
module_param_cb(pending_works, &utrace_counter_ops, &utrace_pending_works,
		0444);
MODULE_PARM_DESC(pending_works, "queued task_work and reap work items");
module_param_cb(entry_misses, &utrace_counter_ops, &utrace_entry_misses,
		0444);
MODULE_PARM_DESC(entry_misses,
		 "syscall entry reports that did not run before the syscall returned (a bug)");

/*
 * Stop-before-syscall self-test, run on the first syscall the loading
 * process makes after module init.
 */
enum { ST_ARMED, ST_SKIPPED, ST_REEXEC, ST_DONE };
static struct task_struct *selftest_task;
static int selftest_state;
static long selftest_nr;
static bool syscall_skip_works;

u64 utrace_core_features(void)
{
	u64 f = UTRACE_FEAT_CORE;

	f |= UTRACE_FEAT_SINGLESTEP | UTRACE_FEAT_SIGNAL_INTERCEPT |
	     UTRACE_FEAT_EXIT_MM_INTACT;
	if (READ_ONCE(selftest_state) == ST_DONE &&
	    READ_ONCE(syscall_skip_works))
		f |= UTRACE_FEAT_SYSCALL_STOP_BEFORE;
	return f;
}

/* Fast-path test in every probe: nothing traced, nothing to do. */
static inline bool utrace_idle(void)
{
	return likely(!atomic_read(&utrace_live_threads)) &&
	       likely(!READ_ONCE(selftest_task));
}

/* Nothing traced and no self-test running: the syscall probes may go. */
bool utrace_core_idle(void)
{
	return utrace_idle();
}

/* Caller holds rcu_read_lock(), or has preemption off (an RCU reader too). */
static struct utrace *task_utrace(struct task_struct *task)
{
	struct utrace *utrace;

	hash_for_each_possible_rcu(utrace_table, utrace, node,
				   (unsigned long)task)
		if (utrace->task == task)
			return utrace;
	return NULL;
}

static struct utrace *current_utrace(void)
{
	struct utrace *utrace;

	rcu_read_lock();
	utrace = task_utrace(current);
	rcu_read_unlock();
	return utrace;
}

/*
 * The same from a tracepoint probe, at every syscall: preemption is off
 * there (__DO_TRACE), and since the RCU flavours were merged (4.20) that is
 * a read-side critical section of the RCU that frees utrace (call_rcu), so
 * the hot path makes no rcu_read_lock()/unlock() calls.
 */
static struct utrace *current_utrace_in_probe(void)
{
	lockdep_assert_preemption_disabled();
	return task_utrace(current);
}

unsigned long utrace_task_flags(struct task_struct *task)
{
	struct utrace *utrace;
	unsigned long flags = 0;

	rcu_read_lock();
	utrace = task_utrace(task);
	if (utrace)
		flags = READ_ONCE(utrace->flags);
	rcu_read_unlock();
	return flags;
}
EXPORT_SYMBOL_GPL(utrace_task_flags);

static void utrace_work_fn(struct callback_head *cb);
static void utrace_iwork_fn(struct callback_head *cb);
static void utrace_rwork_fn(struct callback_head *cb);
static void utrace_reap_fn(struct work_struct *work);
static void utrace_reap(struct utrace *utrace, struct task_struct *task);
static void utrace_mark_real_blocked(struct task_struct *task,
				     struct utrace *utrace);

static struct utrace *utrace_alloc(struct task_struct *task, gfp_t gfp)
{
	struct utrace *utrace = kmem_cache_zalloc(utrace_cachep, gfp);

	if (!utrace)
		return NULL;
	spin_lock_init(&utrace->lock);
	INIT_LIST_HEAD(&utrace->attached);
	INIT_LIST_HEAD(&utrace->attaching);
	utrace->task = task;
	utrace->resume = UTRACE_RESUME;
	utrace->sysfilter_all = true;
	init_task_work(&utrace->work, utrace_work_fn);
	init_task_work(&utrace->iwork, utrace_iwork_fn);
	init_task_work(&utrace->rwork, utrace_rwork_fn);
	INIT_WORK(&utrace->reap_work, utrace_reap_fn);
	return utrace;
}

/*
 * Inserts @new for @task unless one exists. Returns the one in the table, or
 * NULL if the task is already released (it would never be freed).
 */
static struct utrace *utrace_insert(struct task_struct *task,
				    struct utrace *new)
{
	struct utrace *utrace;

	spin_lock(&utrace_table_lock);
	utrace = task_utrace(task);
	if (!utrace) {
		hash_add_rcu(utrace_table, &new->node, (unsigned long)task);
		atomic_inc(&utrace_live_threads);
		utrace = new;
	}
	spin_unlock(&utrace_table_lock);
	if (utrace != new)
		kmem_cache_free(utrace_cachep, new);
	return utrace;
}

static struct utrace *utrace_get_or_create(struct task_struct *task)
{
	struct utrace *utrace, *new;

	rcu_read_lock();
	utrace = task_utrace(task);
	rcu_read_unlock();
	if (utrace)
		return utrace;
	new = utrace_alloc(task, GFP_KERNEL);
	if (!new)
		return ERR_PTR(-ENOMEM);
	utrace = utrace_insert(task, new);
	/*
	 * Pairs with release_task(): if the free hook may already have run,
	 * nobody would ever free this struct. Its removal is the reap path.
	 */
	smp_mb();
	if (READ_ONCE(task->exit_state) == EXIT_DEAD) {
		utrace_reap(utrace, task);
		return ERR_PTR(-ESRCH);
	}
	return utrace;
}

static void utrace_free_rcu(struct rcu_head *rcu)
{
	kmem_cache_free(utrace_cachep, container_of(rcu, struct utrace, rcu));
}

/* ---------------------------------------------------------------------- */
/* Engines */

static u32 utrace_detached_quiesce(u32 action, struct utrace_engine *engine,
				   unsigned long event)
{
	return UTRACE_DETACH;
}

static void utrace_detached_reap(struct utrace_engine *engine,
				 struct task_struct *task)
{
}

/* A detached engine still on a list: it can only unlink itself. */
static const struct utrace_engine_ops utrace_detached_ops = {
	.report_quiesce = utrace_detached_quiesce,
	.report_reap = utrace_detached_reap,
};

void __utrace_engine_release(struct kref *kref)
{
	struct utrace_engine *engine = container_of(kref, struct utrace_engine,
						    kref);

	WARN_ON_ONCE(!list_empty(&engine->entry));
	if (engine->release)
		engine->release(engine->data);
	kfree(engine->syscall_filter);
	kmem_cache_free(utrace_engine_cachep, engine);
	atomic_dec(&utrace_live_engines);
}
EXPORT_SYMBOL_GPL(__utrace_engine_release);

static bool engine_matches(struct utrace_engine *engine, int flags,
			   const struct utrace_engine_ops *ops, void *data)
{
	if ((flags & UTRACE_ATTACH_MATCH_OPS) && engine->ops != ops)
		return false;
	if ((flags & UTRACE_ATTACH_MATCH_DATA) && engine->data != data)
		return false;
	return engine->ops && engine->ops != &utrace_detached_ops;
}

/* Caller holds utrace->lock. */
static struct utrace_engine *find_matching_engine(struct utrace *utrace,
						  int flags,
						  const struct utrace_engine_ops *ops,
						  void *data)
{
	struct utrace_engine *engine;

	list_for_each_entry(engine, &utrace->attached, entry)
		if (engine_matches(engine, flags, ops, data))
			return engine;
	list_for_each_entry(engine, &utrace->attaching, entry)
		if (engine_matches(engine, flags, ops, data))
			return engine;
	return NULL;
}

/**
 * utrace_attach_task - attach a new engine to a thread, or look one up
 * @target: thread to attach to; the caller keeps it alive
 * @flags: UTRACE_ATTACH_* flags
 * @ops: callback table for a new engine, or to match
 * @data: engine-private pointer for a new engine, or to match
 *
 * Returns the engine with a reference for the caller, or an ERR_PTR:
 * -ENOENT (lookup miss), -EINVAL (no ops), -EPERM (kernel thread), -EBUSY
 * (the thread is ptraced), -EEXIST (EXCLUSIVE and a match exists), -ESRCH
 * (the thread is already reaped), -ENOMEM. May sleep.
 */
struct utrace_engine *utrace_attach_task(struct task_struct *target, int flags,
					 const struct utrace_engine_ops *ops,
					 void *data)
{
	struct utrace_engine *engine;
	struct utrace *utrace;
	int err;

	if (!(flags & UTRACE_ATTACH_CREATE)) {
		rcu_read_lock();
		utrace = task_utrace(target);
		engine = NULL;
		if (utrace) {
			spin_lock(&utrace->lock);
			if (!utrace->reap) {
				engine = find_matching_engine(utrace, flags,
							      ops, data);
				if (engine)
					utrace_engine_get(engine);
			}
			spin_unlock(&utrace->lock);
		}
		rcu_read_unlock();
		return engine ?: ERR_PTR(-ENOENT);
	}

	if (unlikely(!ops) || unlikely(ops == &utrace_detached_ops))
		return ERR_PTR(-EINVAL);
	if (unlikely(target->flags & PF_KTHREAD))
		return ERR_PTR(-EPERM);	/* utrace is for users */
	/* Coexistence: never take a thread ptrace already traces. */
	if (READ_ONCE(target->ptrace))
		return ERR_PTR(-EBUSY);

	engine = kmem_cache_alloc(utrace_engine_cachep, GFP_KERNEL);
	if (unlikely(!engine))
		return ERR_PTR(-ENOMEM);
	/* One reference for the caller, one while attached. */
	kref_init(&engine->kref);
	kref_get(&engine->kref);
	engine->flags = 0;
	engine->ops = ops;
	engine->data = data;
	engine->release = ops->release;
	engine->syscall_filter = NULL;
	INIT_LIST_HEAD(&engine->entry);
	atomic_inc(&utrace_live_engines);

	utrace = utrace_get_or_create(target);
	if (IS_ERR(utrace))
		goto fail;
	/* utrace makes the core busy: the syscall probes stay on now. */
	err = utrace_hooks_syscalls_on();
	if (err) {
		utrace = ERR_PTR(err);
		goto fail;
	}

	spin_lock(&utrace->lock);
	if (unlikely(utrace->reap)) {
		spin_unlock(&utrace->lock);
		utrace = ERR_PTR(-ESRCH);
		goto fail;
	}
	if ((flags & UTRACE_ATTACH_EXCLUSIVE) &&
	    find_matching_engine(utrace, flags, ops, data)) {
		spin_unlock(&utrace->lock);
		utrace = ERR_PTR(-EEXIST);
		goto fail;
	}
	/* Joins at the thread's next reporting pass; see the locking rules. */
	list_add_tail(&engine->entry, &utrace->attaching);
	utrace->pending_attach = true;
	WRITE_ONCE(utrace->flags, utrace->flags | UTRACE_EVENT(REAP));
	spin_unlock(&utrace->lock);
	return engine;

fail:
	engine->release = NULL;
	kref_put(&engine->kref, __utrace_engine_release);
	kref_put(&engine->kref, __utrace_engine_release);
	return ERR_CAST(utrace);
}
EXPORT_SYMBOL_GPL(utrace_attach_task);

struct utrace_engine *utrace_attach_pid(struct pid *pid, int flags,
					const struct utrace_engine_ops *ops,
					void *data)
{
	struct utrace_engine *engine = ERR_PTR(-ESRCH);
	struct task_struct *task = get_pid_task(pid, PIDTYPE_PID);

	if (task) {
		engine = utrace_attach_task(task, flags, ops, data);
		put_task_struct(task);
	}
	return engine;
}
EXPORT_SYMBOL_GPL(utrace_attach_pid);

/*
 * Returns the target's utrace with its lock held, or an ERR_PTR: -ESRCH if
 * the engine is detached (@attached) or gone, or the thread was reaped;
 * -ERESTARTSYS if !@attached and the engine is detached but still listed.
 */
static struct utrace *get_utrace_lock(struct task_struct *target,
				      struct utrace_engine *engine,
				      bool attached)
	__acquires(utrace->lock)
{
	const struct utrace_engine_ops *ops;
	struct utrace *utrace;

	rcu_read_lock();
	ops = READ_ONCE(engine->ops);
	if (unlikely(!ops) ||
	    (attached && unlikely(ops == &utrace_detached_ops))) {
		utrace = ERR_PTR(-ESRCH);
		goto out;
	}
	utrace = task_utrace(target);
	if (unlikely(!utrace)) {
		utrace = ERR_PTR(-ESRCH);
		goto out;
	}
	spin_lock(&utrace->lock);
	ops = engine->ops;
	/* EXIT_DEAD: released by wait() or autoreap; our reap work follows. */
	if (unlikely(utrace->reap) || unlikely(!ops) ||
	    READ_ONCE(target->exit_state) == EXIT_DEAD ||
	    unlikely(ops == &utrace_detached_ops)) {
		int err = (!attached && ops == &utrace_detached_ops &&
			   !utrace->reap &&
			   READ_ONCE(target->exit_state) != EXIT_DEAD) ?
			  -ERESTARTSYS : -ESRCH;

		spin_unlock(&utrace->lock);
		utrace = ERR_PTR(err);
	}
out:
	rcu_read_unlock();
	return utrace;
}

/* Caller holds utrace->lock; the thread is current or quiescent. */
static void splice_attaching(struct utrace *utrace)
{
	list_splice_tail_init(&utrace->attaching, &utrace->attached);
	utrace->pending_attach = false;
}

/*
 * Marks an engine detached. Caller holds utrace->lock. ops is switched
 * before flags, pairing with the barriers in start_callback(), so a pass
 * never calls the old ops with the new flags.
 */
static void mark_engine_detached(struct utrace_engine *engine)
{
	WRITE_ONCE(engine->ops, &utrace_detached_ops);
	/* ops before flags: pairs with smp_rmb() in start_callback(). */
	smp_wmb();
	WRITE_ONCE(engine->flags, UTRACE_EVENT(QUIESCE));
}

static void utrace_wake(struct task_struct *task)
{
	/*
	 * wake_up_state() is not exported (and sealed on 6.12): a wait entry
	 * naming the task gets the same try_to_wake_up(task, __TASK_TRACED).
	 */
	struct wait_queue_entry wqe = { .private = task };

	default_wake_function(&wqe, __TASK_TRACED, 0, NULL);
}

/*
 * Recomputes the union of the syscall filters of engines that want syscall
 * events. Caller holds utrace->lock.
 */
static void utrace_update_sysfilter(struct utrace *utrace)
{
	struct utrace_engine *engine;
	bool all = false;

	bitmap_zero(utrace->sysfilter, UTRACE_NR_SYSCALLS);
	list_for_each_entry(engine, &utrace->attached, entry) {
		if (!(engine->flags & UTRACE_EVENT_SYSCALL) ||
		    engine->ops == &utrace_detached_ops)
			continue;
		if (!engine->syscall_filter)
			all = true;
		else
			bitmap_or(utrace->sysfilter, utrace->sysfilter,
				  engine->syscall_filter, UTRACE_NR_SYSCALLS);
	}
	list_for_each_entry(engine, &utrace->attaching, entry)
		if ((engine->flags & UTRACE_EVENT_SYSCALL) &&
		    !engine->syscall_filter)
			all = true;
		else if (engine->flags & UTRACE_EVENT_SYSCALL)
			bitmap_or(utrace->sysfilter, utrace->sysfilter,
				  engine->syscall_filter, UTRACE_NR_SYSCALLS);
	WRITE_ONCE(utrace->sysfilter_all, all);
}

/* Does any engine's filter let syscall @nr through? Lock-free, racy. */
static inline bool utrace_sysfilter_wants(struct utrace *utrace, long nr)
{
	if (READ_ONCE(utrace->sysfilter_all))
		return true;
	return nr >= 0 && nr < UTRACE_NR_SYSCALLS &&
	       test_bit(nr, utrace->sysfilter);
}

/*
 * Recomputes utrace->flags, unlinks detached engines onto @detached and
 * wakes the thread if no engine wants it stopped any more. Caller holds
 * utrace->lock, and the thread is current or quiescent.
 */
static void utrace_reset(struct utrace *utrace, struct list_head *detached)
{
	struct utrace_engine *engine, *next;
	unsigned long flags = 0;

	splice_attaching(utrace);
	list_for_each_entry_safe(engine, next, &utrace->attached, entry) {
		if (engine->ops == &utrace_detached_ops) {
			WRITE_ONCE(engine->ops, NULL);
			list_move(&engine->entry, detached);
		} else {
			flags |= engine->flags | UTRACE_EVENT(REAP);
		}
	}
	utrace_update_sysfilter(utrace);
	if (utrace->exiting && !utrace->death)
		flags &= UTRACE_EVENT(REAP) | ENGINE_STOP;
	WRITE_ONCE(utrace->flags, flags);
	if (!(flags & ENGINE_STOP) && utrace->stopped) {
		utrace->stopped = false;
		utrace_wake(utrace->task);
	}
}

static void put_detached_list(struct list_head *list)
{
	struct utrace_engine *engine, *next;

	list_for_each_entry_safe(engine, next, list, entry) {
		list_del_init(&engine->entry);
		utrace_engine_put(engine);	/* the implicit reference */
	}
}

/*
 * Queues @cb unless @bit says it is queued, taking a module reference per
 * queued work so unload waits for it.
 */
static void utrace_queue_cb(struct utrace *utrace, int bit,
			    struct callback_head *cb,
			    enum task_work_notify_mode mode)
{
	if (test_and_set_bit(bit, &utrace->pending))
		return;
	__module_get(THIS_MODULE);
	atomic_inc(&utrace_pending_works);
	if (task_work_add(utrace->task, cb, mode)) {
		/* The thread is past exit_task_work(): nothing more to run. */
		clear_bit(bit, &utrace->pending);
		atomic_dec(&utrace_pending_works);
		module_put(THIS_MODULE);
	}
}

/*
 * The thread's own hooks queue its pass here (so may the parent's fork hook
 * for a child that has not run yet). TWA_RESUME runs it at the next return
 * to user mode; TWA_NONE is for current inside get_signal(), which runs
 * task_work first thing.
 *
 * utrace->work is the thread's alone: when the hook finds PENDING_QUEUED
 * set, the work is already on its list with TIF_NOTIFY_RESUME, so it runs
 * before the thread gets back to user mode. Were another thread allowed to
 * queue it, that one could own the bit but not yet have added the work,
 * and a skipped syscall would return to user mode unreported (seen in
 * churn: the instruction re-executed with the skip sentinel as number).
 */
static void utrace_queue(struct utrace *utrace, enum task_work_notify_mode mode)
{
	utrace_queue_cb(utrace, PENDING_QUEUED, &utrace->work, mode);
}

/*
 * Another thread (or current, from a callback) asks for a pass: INTERRUPT
 * uses TWA_SIGNAL, which breaks an interruptible sleep, and a syscall so
 * broken restarts as after a stop signal; anything else runs at the next
 * return to user mode.
 */
static void utrace_queue_request(struct utrace *utrace, bool interrupt)
{
	if (interrupt)
		utrace_queue_cb(utrace, PENDING_IQUEUED, &utrace->iwork,
				TWA_SIGNAL);
	else if (utrace->task == current)
		utrace_queue(utrace, TWA_RESUME);
	else
		utrace_queue_cb(utrace, PENDING_RQUEUED, &utrace->rwork,
				TWA_RESUME);
}

/* ---------------------------------------------------------------------- */
/* Engine control */

static void mark_engine_wants_stop(struct utrace *utrace,
				   struct utrace_engine *engine)
{
	WRITE_ONCE(engine->flags, engine->flags | ENGINE_STOP);
	WRITE_ONCE(utrace->flags, utrace->flags | ENGINE_STOP);
}

static void clear_engine_wants_stop(struct utrace_engine *engine)
{
	WRITE_ONCE(engine->flags, engine->flags & ~ENGINE_STOP);
}

/* Caller holds utrace->lock. Asks the thread for a pass soon. */
static void utrace_request(struct utrace *utrace,
			   enum utrace_resume_action action)
{
	if (action >= utrace->resume)
		return;
	utrace->resume = action;
	if (!utrace->stopped && !utrace->exiting)
		utrace_queue_request(utrace, action == UTRACE_INTERRUPT);
}

/**
 * utrace_set_events - choose which events an engine sees
 * @target: the thread the engine is attached to
 * @engine: the engine
 * @events: UTRACE_EVENT() bits; the engine's own stop state is kept
 *
 * Returns 0, -ESRCH (engine detached or thread reaped), -EALREADY (a death
 * report may have begun or the thread is exiting; nothing changed), or
 * -EINPROGRESS (bits were cleared while a callback of this engine may be
 * running on another CPU; the change is made, utrace_barrier() waits).
 */
int utrace_set_events(struct task_struct *target, struct utrace_engine *engine,
		      unsigned long events)
{
	struct utrace *utrace;
	unsigned long old;
	bool mark = false;
	int ret = 0;

	utrace = get_utrace_lock(target, engine, true);
	if (IS_ERR(utrace))
		return PTR_ERR(utrace);

	events &= ~ENGINE_STOP;
	old = engine->flags & ~ENGINE_STOP;
	if (((events & ~old) & DEATH_EVENTS) && utrace->exiting) {
		ret = -EALREADY;
		goto unlock;
	}
	if (((old & ~events) & DEATH_EVENTS) && utrace->death) {
		ret = -EALREADY;
		goto unlock;
	}
	WRITE_ONCE(engine->flags, events | (engine->flags & ENGINE_STOP));
	WRITE_ONCE(utrace->flags, utrace->flags | events);
	if ((events & ~old) & UTRACE_EVENT_SYSCALL)
		utrace_update_sysfilter(utrace);
	mark = ((events & ~old) & REAL_BLOCKED_EVENTS) && !utrace->exiting;
	if ((old & ~events) && target != current && !utrace->stopped &&
	    !target->exit_state && READ_ONCE(utrace->reporting) == engine)
		ret = -EINPROGRESS;
unlock:
	spin_unlock(&utrace->lock);
	/* From now on ignored and fatal signals must be queued (see above). */
	if (mark)
		utrace_mark_real_blocked(target, utrace);
	return ret;
}
EXPORT_SYMBOL_GPL(utrace_set_events);

int utrace_set_events_pid(struct pid *pid, struct utrace_engine *engine,
			  unsigned long events)
{
	struct task_struct *task = get_pid_task(pid, PIDTYPE_PID);
	int ret = -ESRCH;

	if (task) {
		ret = utrace_set_events(task, engine, events);
		put_task_struct(task);
	}
	return ret;
}
EXPORT_SYMBOL_GPL(utrace_set_events_pid);

int utrace_set_syscall_filter(struct task_struct *target,
			      struct utrace_engine *engine,
			      const unsigned long *filter)
{
	unsigned long *copy = NULL, *old;
	struct utrace *utrace;

	if (filter) {
		copy = bitmap_alloc(UTRACE_NR_SYSCALLS, GFP_KERNEL);
		if (!copy)
			return -ENOMEM;
		bitmap_copy(copy, filter, UTRACE_NR_SYSCALLS);
	}
	utrace = get_utrace_lock(target, engine, true);
	if (IS_ERR(utrace)) {
		bitmap_free(copy);
		return PTR_ERR(utrace);
	}
	old = engine->syscall_filter;
	/* Read by the thread's passes without the lock: freed after RCU. */
	WRITE_ONCE(engine->syscall_filter, copy);
	utrace_update_sysfilter(utrace);
	spin_unlock(&utrace->lock);
	if (old) {
		synchronize_rcu();
		bitmap_free(old);
	}
	return 0;
}
EXPORT_SYMBOL_GPL(utrace_set_syscall_filter);

/**
 * utrace_control - control a thread manipulated by an engine
 * @target: the thread the engine is attached to
 * @engine: the engine
 * @action: what the thread should do
 *
 * Returns 0; -EINPROGRESS (STOP: the thread is not stopped yet; DETACH: a
 * callback of this engine may be running); -EINVAL (bad action, or
 * REPORT/SINGLESTEP/BLOCKSTEP without QUIESCE); -ESRCH (engine detached,
 * thread reaped, or any action but DETACH on a dead thread); -EALREADY
 * (DETACH while report_death runs). BLOCKSTEP steps one instruction.
 */
int utrace_control(struct task_struct *target, struct utrace_engine *engine,
		   enum utrace_resume_action action)
{
	struct utrace *utrace;
	LIST_HEAD(detached);
	bool reset;
	int ret = 0;

	if (unlikely(action >= UTRACE_RESUME_MAX))
		return -EINVAL;

	utrace = get_utrace_lock(target, engine, true);
	if (IS_ERR(utrace))
		return PTR_ERR(utrace);
	/*
	 * After the lookup: a reaped engine (its flags cleared) is -ESRCH,
	 * not a caller's missing QUIESCE callback.
	 */
	if (action >= UTRACE_REPORT && action < UTRACE_RESUME &&
	    !(READ_ONCE(engine->flags) & UTRACE_EVENT(QUIESCE))) {
		ret = -EINVAL;
		goto unlock;
	}

	/* Quiescent: we may unlink engines and wake it (locking rules). */
	reset = utrace->stopped;
	if (target->exit_state || utrace->exiting) {
		if (action != UTRACE_DETACH) {
			ret = -ESRCH;
			goto unlock;
		}
		if (utrace->death) {
			ret = -EALREADY;
			goto unlock;
		}
		reset = reset || target->exit_state;
	}

	switch (action) {
	case UTRACE_STOP:
		mark_engine_wants_stop(utrace, engine);
		if (!reset) {
			utrace_request(utrace, UTRACE_REPORT);
			/*
			 * A job-control stop counts as stopped: SIGCONT will
			 * take it only as far as our stop, before user mode.
			 */
			ret = task_is_stopped(target) ? 0 : -EINPROGRESS;
		}
		break;
	case UTRACE_DETACH:
		clear_engine_wants_stop(engine);
		mark_engine_detached(engine);
		if (!reset && target != current) {
			if (READ_ONCE(utrace->reporting) == engine)
				ret = -EINPROGRESS;
			utrace_request(utrace, UTRACE_REPORT);
		}
		break;
	case UTRACE_RESUME:
		clear_engine_wants_stop(engine);
		break;
	case UTRACE_BLOCKSTEP:
		/*
		 * Branch stepping needs DEBUGCTL.BTF, which only the kernel's
		 * unexported step code manages: step one instruction instead,
		 * as utrace did where the arch lacked block step.
		 */
		action = UTRACE_SINGLESTEP;
		fallthrough;
	case UTRACE_REPORT:
	case UTRACE_INTERRUPT:
	case UTRACE_SINGLESTEP:
		clear_engine_wants_stop(engine);
		if (reset)
			utrace->resume = min_t(u8, utrace->resume, action);
		else
			utrace_request(utrace, action);
		break;
	default:
		break;
	}
	if (reset)
		utrace_reset(utrace, &detached);
unlock:
	spin_unlock(&utrace->lock);
	put_detached_list(&detached);
	return ret;
}
EXPORT_SYMBOL_GPL(utrace_control);

int utrace_control_pid(struct pid *pid, struct utrace_engine *engine,
		       enum utrace_resume_action action)
{
	struct task_struct *task = get_pid_task(pid, PIDTYPE_PID);
	int ret = -ESRCH;

	if (task) {
		ret = utrace_control(task, engine, action);
		put_task_struct(task);
	}
	return ret;
}
EXPORT_SYMBOL_GPL(utrace_control_pid);

/* How long utrace_barrier() waits on the CPU for a running callback. */
#define UTRACE_BARRIER_SPIN_NS (50 * NSEC_PER_USEC)

/*
 * Waits on the CPU, briefly and only while @target runs, for @engine's
 * callback to return: most do within microseconds. The usual case is a
 * client answering a record its callback has just queued (and woken it
 * for) before the callback got back to the core. Sleeping a tick instead
 * cost that round trip milliseconds. True if the callback was seen to
 * return; the caller checks again under the lock.
 */
static bool utrace_barrier_spin(struct task_struct *target,
				struct utrace_engine *engine)
{
	u64 end = local_clock() + UTRACE_BARRIER_SPIN_NS;
	struct utrace *utrace;
	bool done = false;

	/* RCU keeps the utrace (freed after a grace period) while we look. */
	rcu_read_lock();
	utrace = task_utrace(target);
	while (utrace) {
		done = READ_ONCE(utrace->reporting) != engine;
		if (done || !READ_ONCE(target->on_cpu) || need_resched() ||
		    local_clock() > end)
			break;
		cpu_relax();
	}
	rcu_read_unlock();
	return done;
}

/**
 * utrace_barrier - wait until an engine's callback in progress has returned
 * @target: the thread the engine is attached to
 * @engine: the engine, which may already be detached (caller holds a ref)
 *
 * Returns 0 once no callback of @engine is running on @target, -ESRCH if
 * the engine is fully detached or the thread reaped, -ERESTARTSYS on a
 * signal. May sleep.
 */
int utrace_barrier(struct task_struct *target, struct utrace_engine *engine)
{
	struct utrace *utrace;
	int ret = -ERESTARTSYS;

	if (target == current)
		return 0;
	do {
		utrace = get_utrace_lock(target, engine, false);
		if (IS_ERR(utrace)) {
			ret = PTR_ERR(utrace);
			if (ret != -ERESTARTSYS)
				break;
		} else {
			ret = READ_ONCE(utrace->reporting) == engine ?
			      -ERESTARTSYS : 0;
			spin_unlock(&utrace->lock);
			if (!ret)
				break;
			if (utrace_barrier_spin(target, engine))
				continue;
		}
		schedule_timeout_interruptible(1);
	} while (!signal_pending(current));
	return ret;
}
EXPORT_SYMBOL_GPL(utrace_barrier);

int utrace_barrier_pid(struct pid *pid, struct utrace_engine *engine)
{
	struct task_struct *task = get_pid_task(pid, PIDTYPE_PID);
	int ret = -ESRCH;

	if (task) {
		ret = utrace_barrier(task, engine);
		put_task_struct(task);
	}
	return ret;
}
EXPORT_SYMBOL_GPL(utrace_barrier_pid);

static void utrace_examine_unpin(struct utrace_examiner *exam)
{
	struct utrace *utrace = exam->utrace;
	bool wake;

	if (!utrace)
		return;
	exam->utrace = NULL;
	spin_lock(&utrace->lock);
	wake = !--utrace->examiners;
	spin_unlock(&utrace->lock);
	if (wake)
		wake_up_all(&utrace_examine_wq);
}

/**
 * utrace_prepare_examine - make sure a stopped thread is off its CPU
 * @target: the thread the engine holds stopped
 * @engine: the engine
 * @exam: state for utrace_finish_examine()
 *
 * Returns 0 when @target is held stopped by @engine and off CPU, -EINVAL if
 * @engine does not hold it stopped, -ESRCH if it is dead, -EAGAIN if it is
 * still running.
 *
 * After 0, utrace_finish_examine() must follow: until then the thread may
 * be resumed or killed, but it does not leave its stop, so its registers
 * (on its kernel stack, which exit frees) stay there to read. Do nothing
 * in between that may wait on user space (no copy_to_user/copy_from_user:
 * a userfaultfd could hold a killed thread forever).
 */
int utrace_prepare_examine(struct task_struct *target,
			   struct utrace_engine *engine,
			   struct utrace_examiner *exam)
{
	struct utrace *utrace;
	int tries, ret = 0;

	exam->utrace = NULL;
	if (target == current)
		return 0;
	utrace = get_utrace_lock(target, engine, true);
	if (IS_ERR(utrace))
		return PTR_ERR(utrace);
	if (!(engine->flags & ENGINE_STOP))
		ret = -EINVAL;
	else if (target->exit_state)
		ret = -ESRCH;
	else if (!utrace->stopped)
		ret = -EAGAIN;
	if (!ret) {
		/* Valid while pinned: a thread in its stop is not reaped. */
		utrace->examiners++;
		exam->utrace = utrace;
	}
	spin_unlock(&utrace->lock);
	if (ret)
		return ret;
	/*
	 * wait_task_inactive() is not exported: wait (up to ~20 ms) for the
	 * thread to finish switching out of its CPU.
	 */
	for (tries = 0; READ_ONCE(target->on_cpu); tries++) {
		if (tries > 200) {
			utrace_examine_unpin(exam);
			return -EAGAIN;
		}
		usleep_range(50, 100);
	}
	exam->state = READ_ONCE(target->__state);
	exam->ncsw = READ_ONCE(target->nvcsw) + READ_ONCE(target->nivcsw);
	if (exam->state == TASK_RUNNING) {
		utrace_examine_unpin(exam);
		return -EAGAIN;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(utrace_prepare_examine);

/**
 * utrace_finish_examine - end what utrace_prepare_examine() began
 * @target: the thread
 * @engine: the engine
 * @exam: as utrace_prepare_examine() filled it
 *
 * Lets the thread leave its stop again. Returns 0 if it stayed stopped all
 * along (what was read is consistent), -EAGAIN if it ran meanwhile,
 * -EINVAL if @engine no longer holds it, -ESRCH if the engine is gone.
 */
int utrace_finish_examine(struct task_struct *target,
			  struct utrace_engine *engine,
			  struct utrace_examiner *exam)
{
	struct utrace *utrace;
	int ret = 0;

	if (target == current)
		return 0;
	if (READ_ONCE(target->__state) != exam->state ||
	    READ_ONCE(target->nvcsw) + READ_ONCE(target->nivcsw) !=
	    exam->ncsw)
		ret = -EAGAIN;
	utrace_examine_unpin(exam);
	utrace = get_utrace_lock(target, engine, true);
	if (IS_ERR(utrace))
		return PTR_ERR(utrace);
	if (!(engine->flags & ENGINE_STOP))
		ret = -EINVAL;
	spin_unlock(&utrace->lock);
	return ret;
}
EXPORT_SYMBOL_GPL(utrace_finish_examine);

/* ---------------------------------------------------------------------- */
/* Reporting passes: only ever run by the thread itself (current). */

struct utrace_report {
	long sysnr;		/* for syscall events: the engines' filters */
	u32 result;
	enum utrace_resume_action action;
	enum utrace_resume_action resume_action;
	bool detaches;
	bool spurious;
};

#define INIT_REPORT(var) \
	struct utrace_report var = { \
		.sysnr = -1, \
		.action = UTRACE_RESUME, \
		.resume_action = UTRACE_RESUME, \
		.spurious = true, \
	}

/*
 * Applies a callback's return value. Returns true if the engine is now
 * detached (it returned DETACH, or utrace_control() detached it meanwhile).
 */
static bool finish_callback(struct utrace *utrace, struct utrace_report *report,
			    struct utrace_engine *engine, u32 ret)
{
	enum utrace_resume_action action = utrace_resume_action(ret);
	bool detached = false;

	report->result = ret & ~UTRACE_RESUME_MASK;
	report->spurious = false;

	/* The lock only when this engine's state changes (not the fast path). */
	if (action == UTRACE_DETACH ||
	    READ_ONCE(engine->ops) == &utrace_detached_ops) {
		spin_lock(&utrace->lock);
		if (engine->ops != &utrace_detached_ops)
			mark_engine_detached(engine);
		spin_unlock(&utrace->lock);
		report->detaches = true;
		detached = true;
	} else {
		if (action < report->action)
			report->action = action;
		if (action != UTRACE_STOP && action < report->resume_action)
			report->resume_action = action;
		if ((action == UTRACE_STOP) !=
		    !!(READ_ONCE(engine->flags) & ENGINE_STOP)) {
			spin_lock(&utrace->lock);
			/* A concurrent DETACH wins over our stop request. */
			if (engine->ops == &utrace_detached_ops)
				report->detaches = detached = true;
			else if (action == UTRACE_STOP)
				mark_engine_wants_stop(utrace, engine);
			else
				clear_engine_wants_stop(engine);
			spin_unlock(&utrace->lock);
		}
	}
	/* Pairs with utrace_barrier(): the result is in place before this. */
	smp_store_release(&utrace->reporting, NULL);
	return detached;
}

/* Does @engine's syscall filter let @nr through? */
static bool engine_wants_syscall(struct utrace_engine *engine, long nr)
{
	unsigned long *filter;
	bool ret;

	/*
	 * RCU: utrace_set_syscall_filter() frees a replaced filter after a
	 * grace period. The sched flavour (preemption off) is inline, where
	 * rcu_read_lock() is two calls under PREEMPT_RCU, at every syscall.
	 */
	rcu_read_lock_sched();
	filter = READ_ONCE(engine->syscall_filter);
	ret = !filter || (nr < UTRACE_NR_SYSCALLS && test_bit(nr, filter));
	rcu_read_unlock_sched();
	return ret;
}

/*
 * Does @engine's syscall filter let this pass's syscall through to its
 * @event callback? Asked only when the engine wants @event (@want): at
 * every syscall, the other engines skip the filter lookup.
 */
static bool engine_passes(struct utrace_engine *engine,
			  const struct utrace_report *report,
			  unsigned long want, unsigned long event)
{
	return !(want & event) || report->sysnr < 0 ||
	       engine_wants_syscall(engine, report->sysnr);
}

/*
 * Will @engine's own callback for @event run, and does the engine let it
 * answer for report_quiesce (utrace_engine_ops.quiesce_in_event)?
 */
static bool event_answers_quiesce(const struct utrace_engine_ops *ops,
				  unsigned long want, unsigned long event,
				  bool passes)
{
	if (!ops->quiesce_in_event || !(want & event) || !passes)
		return false;
	switch (event) {
	case UTRACE_EVENT(SYSCALL_ENTRY):
		return ops->report_syscall_entry;
	case UTRACE_EVENT(SYSCALL_EXIT):
		return ops->report_syscall_exit;
	case UTRACE_EVENT(CLONE):
		return ops->report_clone;
	case UTRACE_EVENT(EXEC):
		return ops->report_exec;
	case UTRACE_EVENT(EXIT):
		return ops->report_exit;
	case UTRACE_EVENT(DEATH):
		return ops->report_death;
	default:
		return false;
	}
}

/*
 * Starts one engine's part of a pass: the report_quiesce call (for QUIESCE
 * engines and detached ones), then whether the engine wants @event itself.
 * Returns the ops to call, or NULL to skip the engine.
 */
static const struct utrace_engine_ops *
start_callback(struct utrace *utrace, struct utrace_report *report,
	       struct utrace_engine *engine, unsigned long event)
{
	const struct utrace_engine_ops *ops;
	unsigned long want;
	bool as_signal, passes;

	WRITE_ONCE(utrace->reporting, engine);
	/* reporting before flags: utrace_barrier() must see us running. */
	smp_mb();
	want = READ_ONCE(engine->flags);
	/* flags before ops: pairs with smp_wmb() in mark_engine_detached(). */
	smp_rmb();
	ops = READ_ONCE(engine->ops);
	passes = engine_passes(engine, report, want, event);

	/*
	 * In the signal path a QUIESCE engine's report_signal stands in for
	 * its report_quiesce (utrace's rule): it sees the signal instead.
	 */
	as_signal = (event & UTRACE_EVENT_SIGNAL_ALL) && ops->report_signal;
	if (as_signal && (want & UTRACE_EVENT(QUIESCE)))
		want |= event;
	else if (((want & UTRACE_EVENT(QUIESCE)) &&
		  !event_answers_quiesce(ops, want, event, passes)) ||
		 ops == &utrace_detached_ops) {
		/* Its result bits are no vote on the event's own action. */
		u32 result = report->result;
		u32 ret = ops->report_quiesce ?
			  ops->report_quiesce(report->action, engine, event) :
			  UTRACE_RESUME;
		bool gone = finish_callback(utrace, report, engine, ret);

		report->result = result;
		if (gone || !event)
			return NULL;
		WRITE_ONCE(utrace->reporting, engine);
		/* As above; report_quiesce may have enabled this very event. */
		smp_mb();
		want = READ_ONCE(engine->flags);
		/* ...or changed the filter. */
		passes = engine_passes(engine, report, want, event);
	}

	if (want & ENGINE_STOP)
		report->action = UTRACE_STOP;
	if (!passes)
		want &= ~event;
	if (want & event)
		return ops;
	/* Not calling: utrace_barrier() may stop waiting. */
	smp_store_release(&utrace->reporting, NULL);
	return NULL;
}

#define REPORT_CALLBACKS(rev, utrace, report, event, callback, ...)	\
	do {								\
		struct utrace_engine *engine;				\
		const struct utrace_engine_ops *ops;			\
		list_for_each_entry##rev(engine, &(utrace)->attached, entry) { \
			ops = start_callback(utrace, report, engine, event); \
			if (!ops)					\
				continue;				\
			if (!ops->callback) {				\
				/* no callback: the barrier may pass */	\
				smp_store_release(&(utrace)->reporting, NULL); \
				continue;				\
			}						\
			finish_callback(utrace, report, engine,		\
					ops->callback(__VA_ARGS__));	\
		}							\
	} while (0)

/* Splices new engines and takes the pending resume action. */
static enum utrace_resume_action start_report(struct utrace *utrace)
{
	enum utrace_resume_action resume = READ_ONCE(utrace->resume);

	/* The common pass takes no lock: nothing to splice or consume. */
	if (READ_ONCE(utrace->pending_attach) || resume < UTRACE_RESUME) {
		spin_lock(&utrace->lock);
		splice_attaching(utrace);
		resume = utrace->resume;
		utrace->resume = UTRACE_RESUME;
		spin_unlock(&utrace->lock);
	}
	return resume;
}

/* After a pass: drop detached engines, shrink the flags if nobody cared. */
static void finish_report(struct utrace *utrace, struct utrace_report *report)
{
	LIST_HEAD(detached);

	if (!report->detaches && !report->spurious)
		return;
	spin_lock(&utrace->lock);
	utrace_reset(utrace, &detached);
	spin_unlock(&utrace->lock);
	put_detached_list(&detached);
}

/*
 * Caller holds utrace->lock and is the thread itself: does any engine still
 * want it stopped? utrace->flags may carry a stale ENGINE_STOP (bits are
 * dropped lazily), so ask the engines.
 */
static bool utrace_wants_stop(struct utrace *utrace)
{
	struct utrace_engine *engine;

	splice_attaching(utrace);
	list_for_each_entry(engine, &utrace->attached, entry)
		if (engine->flags & ENGINE_STOP)
			return true;
	WRITE_ONCE(utrace->flags, utrace->flags & ~ENGINE_STOP);
	return false;
}

/*
 * The stop. Sleeps in TASK_TRACED (shown as 't', not woken by ordinary
 * signals, woken by SIGKILL) without JOBCTL_TRACED, which belongs to ptrace.
 * The state is set before the condition is checked, so a wake-up between
 * the check and schedule() is not lost.
 */
static void utrace_stop(struct utrace *utrace)
{
	bool stop, first = true;

	for (;;) {
		set_special_state(TASK_TRACED);
		/* State before the test: a concurrent wake-up is not lost. */
		smp_mb();
		spin_lock(&utrace->lock);
		if (first) {
			stop = !fatal_signal_pending(current) &&
			       !(current->flags & PF_EXITING) &&
			       utrace_wants_stop(utrace);
			utrace->stopped = stop;
		} else {
			/*
			 * Once released (utrace_reset() cleared stopped), go:
			 * a STOP asked for since then gets a pass of its own,
			 * with callbacks. Any other wake-up sleeps again.
			 */
			stop = utrace->stopped && !fatal_signal_pending(current);
			if (!stop)
				utrace->stopped = false;
		}
		spin_unlock(&utrace->lock);
		if (!stop)
			break;
		first = false;
		schedule();
	}
	__set_current_state(TASK_RUNNING);
	/*
	 * An examiner may be reading or writing our registers, on our stack,
	 * which exit frees: even killed, we stay until it is done. No new one
	 * can come (stopped is false, under the lock above); none takes long,
	 * none touches user memory while it holds us (utrace_prepare_examine).
	 */
	if (READ_ONCE(utrace->examiners))
		wait_event(utrace_examine_wq, !READ_ONCE(utrace->examiners));
	try_to_freeze();
}

/*
 * Arms or disarms the trap flag for the action the last pass before user
 * mode chose. ptrace's own stepping (TIF_SINGLESTEP) is left alone.
 */
static void utrace_set_stepping(struct utrace *utrace, struct pt_regs *regs,
				enum utrace_resume_action action)
{
	if (test_thread_flag(TIF_SINGLESTEP))
		return;
	if (action == UTRACE_SINGLESTEP || action == UTRACE_BLOCKSTEP) {
		if (!utrace->step_armed) {
			utrace->step_set_tf = !(regs->flags & X86_EFLAGS_TF);
			regs->flags |= X86_EFLAGS_TF;
			utrace->step_armed = true;
		}
	} else if (utrace->step_armed) {
		if (utrace->step_set_tf)
			regs->flags &= ~X86_EFLAGS_TF;
		utrace->step_armed = false;
	}
}

/* Caller is current: a step finished (trap, or a stepped syscall). */
static void utrace_step_done(struct utrace *utrace, struct pt_regs *regs)
{
	if (utrace->step_set_tf)
		regs->flags &= ~X86_EFLAGS_TF;
	utrace->step_armed = false;
	set_bit(PENDING_STEP, &utrace->pending);
	utrace_queue(utrace, TWA_RESUME);
}

/* Does the stop a pass chose, then the step or report chosen for after. */
static void finish_resume_report(struct utrace *utrace,
				 struct utrace_report *report,
				 struct pt_regs *regs)
{
	enum utrace_resume_action action = report->action;

	finish_report(utrace, report);
	if (action == UTRACE_STOP) {
		utrace_stop(utrace);
		action = report->resume_action;
		/* A REPORT or INTERRUPT chosen with the stop re-arms. */
		if (action < UTRACE_SINGLESTEP) {
			spin_lock(&utrace->lock);
			if (action < utrace->resume)
				utrace->resume = action;
			spin_unlock(&utrace->lock);
		}
	}
	utrace_set_stepping(utrace, regs, action);
}

/*
 * One resume-report pass: QUIESCE engines get report_quiesce(event 0), or
 * in the signal path report_signal(@code) when they have one (@code is
 * UTRACE_SIGNAL_REPORT, or UTRACE_SIGNAL_HANDLER after a handler frame was
 * built; 0 outside the signal path). Engines without QUIESCE that hold a
 * stop keep it.
 */
static void resume_report_pass(struct utrace *utrace, struct utrace_report *report,
			       struct pt_regs *regs, u32 code)
{
	const struct utrace_engine_ops *ops;
	struct utrace_engine *engine;
	struct k_sigaction ka;
	kernel_siginfo_t info;
	unsigned long want;
	u32 ret;

	list_for_each_entry(engine, &utrace->attached, entry) {
		WRITE_ONCE(utrace->reporting, engine);
		/* As in start_callback(). */
		smp_mb();
		want = READ_ONCE(engine->flags);
		/* flags before ops: pairs with mark_engine_detached(). */
		smp_rmb();
		ops = READ_ONCE(engine->ops);
		if ((want & UTRACE_EVENT(QUIESCE)) || ops == &utrace_detached_ops) {
			if (code && ops->report_signal) {
				memset(&info, 0, sizeof(info));
				memset(&ka, 0, sizeof(ka));
				ret = ops->report_signal(code | report->action,
							 engine, regs, &info,
							 NULL, &ka);
			} else if (ops->report_quiesce) {
				ret = ops->report_quiesce(report->action,
							  engine, 0);
			} else {
				ret = UTRACE_RESUME;
			}
			if (finish_callback(utrace, report, engine, ret))
				continue;
			want = READ_ONCE(engine->flags);
		} else {
			/* Not calling: utrace_barrier() may stop waiting. */
			smp_store_release(&utrace->reporting, NULL);
		}
		if (want & ENGINE_STOP)
			report->action = UTRACE_STOP;
	}
}

/* The resume report and any stop or step still wanted, until settled. */
static void utrace_resume_report(struct utrace *utrace, struct pt_regs *regs,
				 u32 code)
{
	for (;;) {
		enum utrace_resume_action resume = start_report(utrace);

		INIT_REPORT(report);

		if (fatal_signal_pending(current))
			return;
		/* Nothing asked for: leave a chosen step armed, as utrace did. */
		if (resume == UTRACE_RESUME &&
		    !(READ_ONCE(utrace->flags) & ENGINE_STOP))
			return;
		/* The pending action is where the pass starts. */
		report.action = resume;
		if (resume != UTRACE_RESUME) {
			resume_report_pass(utrace, &report, regs, code);
			report.spurious = false;
		} else {
			/* Only a stop is pending: no report was asked for. */
			struct utrace_engine *engine;

			list_for_each_entry(engine, &utrace->attached, entry)
				if (READ_ONCE(engine->flags) & ENGINE_STOP)
					report.action = UTRACE_STOP;
			report.spurious = report.action != UTRACE_STOP;
		}
		finish_resume_report(utrace, &report, regs);
		if (READ_ONCE(utrace->resume) == UTRACE_RESUME &&
		    !(READ_ONCE(utrace->flags) & ENGINE_STOP))
			return;
		cond_resched();
	}
}

/* Lowers the pending resume action: the resume report carries it out. */
static void utrace_pend(struct utrace *utrace, enum utrace_resume_action action)
{
	if (action >= READ_ONCE(utrace->resume))
		return;
	spin_lock(&utrace->lock);
	if (action < utrace->resume)
		utrace->resume = action;
	spin_unlock(&utrace->lock);
}

/*
 * EXIT: the thread has decided to exit and still has its address space
 * and files. STOP here stops at once. *code is the wait status.
 */
static void utrace_report_exit(struct utrace *utrace, long orig_code,
			       long *code)
{
	INIT_REPORT(report);

	start_report(utrace);
	REPORT_CALLBACKS(, utrace, &report, UTRACE_EVENT(EXIT), report_exit,
			 report.action, engine, orig_code, code);
	finish_report(utrace, &report);
	if (report.action == UTRACE_STOP)
		utrace_stop(utrace);
}

static void utrace_report_syscall_entry(struct utrace *utrace,
					struct pt_regs *regs)
{
	enum utrace_resume_action after = UTRACE_RESUME;
	u32 result = UTRACE_SYSCALL_RUN;
	u32 resumed = 0;

	/* Show the registers as at syscall entry (ptrace's view). */
	regs->orig_ax = utrace->entry_nr;
	regs->ax = utrace->entry_ax;
	regs->ip = utrace->entry_ip;

	while (utrace->entry_report) {
		INIT_REPORT(report);

		report.sysnr = regs->orig_ax;
		start_report(utrace);
		REPORT_CALLBACKS(_reverse, utrace, &report,
				 UTRACE_EVENT(SYSCALL_ENTRY), report_syscall_entry,
				 report.result | report.action | resumed,
				 engine, regs);
		result = report.result;
		finish_report(utrace, &report);
		after = report.action;
		if (report.action != UTRACE_STOP)
			break;
		utrace_stop(utrace);
		if (fatal_signal_pending(current)) {
			result = UTRACE_SYSCALL_ABORT;
			break;
		}
		after = report.resume_action;
		utrace_pend(utrace, after);
		/* Repeat the report only if someone asked for one. */
		if (READ_ONCE(utrace->resume) > UTRACE_REPORT)
			break;
		resumed = UTRACE_SYSCALL_RESUMED;
	}
	if (after != UTRACE_STOP)
		utrace_pend(utrace, after);

	if (utrace_syscall_action(result) == UTRACE_SYSCALL_ABORT) {
		/* Not run: ax is the entry value, or what an engine put there. */
		regs->orig_ax = -1;
		if (READ_ONCE(utrace->flags) & UTRACE_EVENT(SYSCALL_EXIT))
			set_bit(PENDING_EXIT, &utrace->pending);
		return;
	}
	if (utrace->entry_exit && !fatal_signal_pending(current) &&
	    (regs->orig_ax == __NR_exit || regs->orig_ax == __NR_exit_group)) {
		long code = (regs->di & 0xff) << 8;

		utrace_report_exit(utrace, code, &code);
		/* An exit syscall can only carry an exit status. */
		regs->di = (code >> 8) & 0xff;
	}
	/* Run it: re-execute the syscall instruction, let it pass. */
	utrace->bypass = true;
	utrace->bypass_ip = utrace->entry_ip;
	utrace->bypass_nr = regs->orig_ax;
	regs->ax = regs->orig_ax;
	regs->orig_ax = -1;
	regs->ip = utrace->entry_ip - 2;
}

/* A deferred-stop event: STOP takes effect in the resume report. */
static void utrace_note_deferred(struct utrace *utrace,
				 struct utrace_report *report)
{
	finish_report(utrace, report);
	utrace_pend(utrace, report->action == UTRACE_STOP ? UTRACE_REPORT :
			    report->action);
}

static void utrace_report_syscall_exit(struct utrace *utrace,
				       struct pt_regs *regs)
{
	INIT_REPORT(report);

	report.sysnr = regs->orig_ax;
	start_report(utrace);
	REPORT_CALLBACKS(, utrace, &report, UTRACE_EVENT(SYSCALL_EXIT),
			 report_syscall_exit, report.action, engine, regs);
	utrace_note_deferred(utrace, &report);
}

static void utrace_report_exec(struct utrace *utrace, struct pt_regs *regs)
{
	INIT_REPORT(report);

	start_report(utrace);
	REPORT_CALLBACKS(, utrace, &report, UTRACE_EVENT(EXEC), report_exec,
			 report.action, engine, NULL, NULL, regs);
	utrace_note_deferred(utrace, &report);
}

static void release_clone_hold(struct task_struct *child)
{
	struct utrace *cu;

	rcu_read_lock();
	cu = task_utrace(child);
	if (cu && test_and_clear_bit(PENDING_CLONE_HOLD, &cu->pending))
		wake_up_all(&utrace_clone_wq);
	rcu_read_unlock();
}

static void utrace_report_clone(struct utrace *utrace)
{
	struct task_struct *child = utrace->clone_child;

	INIT_REPORT(report);

	utrace->clone_child = NULL;
	if (!child)
		return;
	start_report(utrace);
	REPORT_CALLBACKS(, utrace, &report, UTRACE_EVENT(CLONE), report_clone,
			 report.action, engine, utrace->clone_flags, child);
	release_clone_hold(child);
	put_task_struct(child);
	utrace_note_deferred(utrace, &report);
}

/* ---------------------------------------------------------------------- */
/* The signal path: in get_signal(), before it dequeues anything. */

static int utrace_dequeue(kernel_siginfo_t *info)
{
	enum pid_type type;

	/* Caller holds current->sighand->siglock. */
#ifdef UTRACE_DEQUEUE_SIGNAL_TASK	/* 6.1: takes the task (Kbuild) */
	return dequeue_signal(current, &current->blocked, info, &type);
#else
	return dequeue_signal(&current->blocked, info, &type);
#endif
}

/* What delivering @sig under @ka would do, as an event and an action. */
static unsigned long signal_event(int sig, const struct k_sigaction *ka,
				  u32 *action)
{
	if (ka->sa.sa_handler == SIG_IGN) {
		*action = UTRACE_SIGNAL_IGN;
		return UTRACE_EVENT(SIGNAL_IGN);
	}
	if (ka->sa.sa_handler != SIG_DFL) {
		*action = UTRACE_SIGNAL_DELIVER;
		return UTRACE_EVENT(SIGNAL);
	}
	if (sig_kernel_coredump(sig)) {
		*action = UTRACE_SIGNAL_CORE;
		return UTRACE_EVENT(SIGNAL_CORE);
	}
	if (sig_kernel_ignore(sig)) {
		*action = UTRACE_SIGNAL_IGN;
		return UTRACE_EVENT(SIGNAL_IGN);
	}
	if (sig_kernel_stop(sig)) {
		*action = sig == SIGSTOP ? UTRACE_SIGNAL_STOP :
					   UTRACE_SIGNAL_TSTP;
		return UTRACE_EVENT(SIGNAL_STOP);
	}
	*action = UTRACE_SIGNAL_TERM;
	return UTRACE_EVENT(SIGNAL_TERM);
}

/*
 * Puts a signal back for get_signal() to deliver right after us. It becomes
 * thread-private: the module cannot requeue onto the shared queue.
 */
static void utrace_requeue(int sig, kernel_siginfo_t *info)
{
	info->si_signo = sig;
	send_sig_info(sig, info, current);
}

/* Is @sig's own disposition its default, and that default @kind? */
static bool signal_defaults_to(int sig, bool core)
{
	void __user *handler;

	spin_lock_irq(&current->sighand->siglock);
	handler = current->sighand->action[sig - 1].sa.sa_handler;
	spin_unlock_irq(&current->sighand->siglock);
	if (handler != SIG_DFL || sig_kernel_ignore(sig) || sig_kernel_stop(sig))
		return false;
	return core ? sig_kernel_coredump(sig) : !sig_kernel_coredump(sig);
}

/*
 * Dequeues one signal, reports it and carries out the engines' verdict.
 * Returns true if an engine held it (UTRACE_SIGNAL_HOLD): it is back on the
 * queue and is reported again, as utrace's signal loop did.
 */
static bool utrace_report_one_signal(struct utrace *utrace,
				     struct pt_regs *regs)
{
	struct sighand_struct *sighand = current->sighand;
	unsigned long event, flags = READ_ONCE(utrace->flags);
	struct k_sigaction orig_ka, return_ka;
	enum utrace_resume_action after;
	kernel_siginfo_t info;
	u32 verdict;
	int signr, sig;

	INIT_REPORT(report);

	if (!(flags & UTRACE_EVENT_SIGNAL_ALL))
		return false;

	/*
	 * SIGKILL is never reported; a group stop runs its course. Both are
	 * tested under siglock, which zap_other_threads() and complete_signal()
	 * hold to set them: tested before the lock, a SIGKILL arriving in
	 * between (an exec's zap) was dequeued here as the lowest-numbered
	 * signal, and requeued through send_sig_info() it became a group exit
	 * with code SIGKILL that killed the exec'ing thread too.
	 */
	spin_lock_irq(&sighand->siglock);
	if (__fatal_signal_pending(current) ||
	    (current->jobctl & JOBCTL_STOP_PENDING))
		signr = 0;
	else
		signr = utrace_dequeue(&info);
	if (signr)
		orig_ka = sighand->action[signr - 1];
	spin_unlock_irq(&sighand->siglock);
	if (!signr)
		return false;

	event = signal_event(signr, &orig_ka, &verdict);
	if (!(flags & (event | UTRACE_EVENT(QUIESCE)))) {
		utrace_requeue(signr, &info);
		return false;
	}
	return_ka = orig_ka;
	start_report(utrace);
	report.result = verdict;
	REPORT_CALLBACKS(, utrace, &report, event, report_signal,
			 report.result | report.action, engine, regs, &info,
			 &orig_ka, &return_ka);
	finish_report(utrace, &report);
	/*
	 * SIGKILL came during the report (an exec's zap, a group exit): it
	 * wins and the signal is dropped, as get_signal() would have. A fatal
	 * signal requeued now would turn an exec's zap into a group exit.
	 */
	if (fatal_signal_pending(current))
		return false;
	/* No report loop here: REPORT and INTERRUPT just resume. */
	after = report.action;
	if (after == UTRACE_REPORT || after == UTRACE_INTERRUPT)
		after = UTRACE_RESUME;
	if (after == UTRACE_STOP) {
		utrace_stop(utrace);	/* holding the signal */
		if (fatal_signal_pending(current))
			return false;	/* SIGKILL wins; drop it */
		after = report.resume_action;
		if (after == UTRACE_REPORT || after == UTRACE_INTERRUPT)
			after = UTRACE_RESUME;
	}
	utrace_set_stepping(utrace, regs, after);

	sig = info.si_signo;
	if (sig <= 0 || sig > _NSIG)
		sig = signr;
	verdict = utrace_signal_action(report.result);
	if (report.result & UTRACE_SIGNAL_HOLD) {
		utrace_requeue(sig, &info);
		return true;
	}
	switch (verdict) {
	case UTRACE_SIGNAL_DELIVER:
		if (return_ka.sa.sa_handler != SIG_DFL &&
		    return_ka.sa.sa_handler != SIG_IGN &&
		    (after != UTRACE_RESUME || utrace->step_armed)) {
			/*
			 * Report at the handler's first instruction, once
			 * the frame is built (signal_deliver hook). The frame
			 * must not save our trap flag.
			 */
			utrace_set_stepping(utrace, regs, UTRACE_RESUME);
			set_bit(PENDING_HANDLER, &utrace->pending);
		}
		utrace_requeue(sig, &info);
		break;
	case UTRACE_SIGNAL_TERM:
	case UTRACE_SIGNAL_CORE: {
		bool core = verdict == UTRACE_SIGNAL_CORE;
		long code = sig | (core ? 0x80 : 0);

		if (READ_ONCE(utrace->flags) & UTRACE_EVENT(EXIT))
			utrace_report_exit(utrace, code, &code);
		if (signal_defaults_to(sig, core))
			utrace_requeue(sig, &info);
		else
			utrace_requeue(SIGKILL, &info);
		break;
	}
	case UTRACE_SIGNAL_STOP:
		utrace_requeue(SIGSTOP, &info);
		break;
	case UTRACE_SIGNAL_TSTP:
		utrace_requeue(signal_defaults_to(SIGTSTP, false) ?
			       SIGTSTP : SIGSTOP, &info);
		break;
	case UTRACE_SIGNAL_IGN:
	case UTRACE_SIGNAL_REPORT:
	default:
		break;
	}
	return false;
}

static void utrace_report_signal(struct utrace *utrace, struct pt_regs *regs)
{
	while (utrace_report_one_signal(utrace, regs))
		cond_resched();
}

static void utrace_report_death(struct utrace *utrace)
{
	struct task_struct *task = current;
	bool group_dead = !atomic_read(&task->signal->live);
	int signal = thread_group_leader(task) ? task->exit_signal : -1;
	struct utrace_engine *engine;
	const struct utrace_engine_ops *ops;
	LIST_HEAD(detached);

	INIT_REPORT(report);

	spin_lock(&utrace->lock);
	utrace->death = true;
	utrace->resume = UTRACE_RESUME;
	splice_attaching(utrace);
	spin_unlock(&utrace->lock);

	list_for_each_entry(engine, &utrace->attached, entry) {
		ops = start_callback(utrace, &report, engine,
				     UTRACE_EVENT(DEATH));
		if (!ops)
			continue;
		if (!ops->report_death) {
			/* no callback: the barrier may pass */
			smp_store_release(&utrace->reporting, NULL);
			continue;
		}
		finish_callback(utrace, &report, engine,
				ops->report_death(engine, group_dead, signal));
	}

	spin_lock(&utrace->lock);
	utrace->death = false;
	utrace_reset(utrace, &detached);
	spin_unlock(&utrace->lock);
	put_detached_list(&detached);
}

/*
 * Signals the kernel would never let us see: it drops a signal whose
 * disposition ignores it when it is sent (sig_ignored()), and turns a fatal
 * one into a group exit at once (complete_signal()), unless the thread is
 * ptraced or has the signal in real_blocked. real_blocked is only used by
 * sigtimedwait(), which sets it from blocked on entry, restores blocked
 * from it and empties it on exit. So an EMPTY real_blocked may be filled
 * (a later sigtimedwait() overwrites it harmlessly), from any context under
 * the thread's siglock; then, as under ptrace, such signals are queued and
 * our signal path reports them. Only the thread itself, outside any
 * sigtimedwait(), empties it again.
 */
static void real_blocked_all(sigset_t *set)
{
	sigfillset(set);
	sigdelsetmask(set, sigmask(SIGKILL) | sigmask(SIGSTOP));
}

/* Caller holds task->sighand->siglock. */
static void mark_real_blocked_locked(struct task_struct *task,
				     struct utrace *utrace)
{
	if (sigisemptyset(&task->real_blocked)) {
		real_blocked_all(&task->real_blocked);
		WRITE_ONCE(utrace->rb_marked, true);
	}
}

/* From any context: the __lock_task_sighand() pattern, exports only. */
static void utrace_mark_real_blocked(struct task_struct *task,
				     struct utrace *utrace)
{
	struct sighand_struct *sighand;
	unsigned long irqf;

	rcu_read_lock();
	for (;;) {
		sighand = rcu_dereference(task->sighand);
		if (!sighand)
			break;
		spin_lock_irqsave(&sighand->siglock, irqf);
		if (likely(sighand == rcu_access_pointer(task->sighand))) {
			mark_real_blocked_locked(task, utrace);
			spin_unlock_irqrestore(&sighand->siglock, irqf);
			break;
		}
		spin_unlock_irqrestore(&sighand->siglock, irqf);
	}
	rcu_read_unlock();
}

/* Caller is current, not inside sigtimedwait(). */
static void utrace_sync_real_blocked(struct utrace *utrace)
{
	bool want = READ_ONCE(utrace->flags) & REAL_BLOCKED_EVENTS;
	sigset_t all;

	if (!want && !READ_ONCE(utrace->rb_marked))
		return;
	/*
	 * Runs at every report: no siglock when the mark is in place. Outside
	 * sigtimedwait() a non-empty real_blocked is ours, and only current
	 * empties it, so this unlocked look cannot miss a needed mark.
	 */
	if (want && !sigisemptyset(&current->real_blocked))
		return;
	spin_lock_irq(&current->sighand->siglock);
	if (want) {
		mark_real_blocked_locked(current, utrace);
	} else {
		real_blocked_all(&all);
		if (sigequalsets(&current->real_blocked, &all))
			sigemptyset(&current->real_blocked);
		WRITE_ONCE(utrace->rb_marked, false);
	}
	spin_unlock_irq(&current->sighand->siglock);
}

/*
 * The task_work: everything that may sleep. Runs in the traced thread on
 * its way to user mode (or in get_signal(), or in do_exit()).
 */
static void utrace_resume(struct utrace *utrace)
{
	struct pt_regs *regs = task_pt_regs(current);
	struct task_struct *child;

	if (current->flags & PF_EXITING) {
		/* Never stop an exiting thread; release a held child. */
		child = utrace->clone_child;
		if (child) {
			utrace->clone_child = NULL;
			release_clone_hold(child);
			put_task_struct(child);
		}
		clear_bit(PENDING_ENTRY, &utrace->pending);
		clear_bit(PENDING_EXIT, &utrace->pending);
		clear_bit(PENDING_EXEC, &utrace->pending);
		clear_bit(PENDING_CLONE, &utrace->pending);
		clear_bit(PENDING_SIGNAL, &utrace->pending);
		clear_bit(PENDING_HANDLER, &utrace->pending);
		if (test_and_clear_bit(PENDING_DEATH, &utrace->pending))
			utrace_report_death(utrace);
		return;
	}

	/*
	 * io_uring and KVM run task_work inside a syscall: reports and stops
	 * belong at the syscall's end, where the sys_exit hook queues us again.
	 */
	if (READ_ONCE(utrace->in_syscall)) {
		set_bit(PENDING_DEFER, &utrace->pending);
		return;
	}

	/* A new child runs no user code before its parent's report_clone. */
	if (test_bit(PENDING_CLONE_HOLD, &utrace->pending))
		wait_event_killable(utrace_clone_wq,
				    !test_bit(PENDING_CLONE_HOLD,
					      &utrace->pending));

	if (test_and_clear_bit(PENDING_ENTRY, &utrace->pending))
		utrace_report_syscall_entry(utrace, regs);
	utrace_sync_real_blocked(utrace);
	if (fatal_signal_pending(current)) {
		/* SIGKILL: no more reports but the death ones. */
		clear_bit(PENDING_EXIT, &utrace->pending);
		clear_bit(PENDING_EXEC, &utrace->pending);
		clear_bit(PENDING_STEP, &utrace->pending);
		clear_bit(PENDING_SIGNAL, &utrace->pending);
		clear_bit(PENDING_HANDLER, &utrace->pending);
		if (test_and_clear_bit(PENDING_CLONE, &utrace->pending)) {
			release_clone_hold(utrace->clone_child);
			put_task_struct(utrace->clone_child);
			utrace->clone_child = NULL;
		}
		return;
	}
	if (test_and_clear_bit(PENDING_EXIT, &utrace->pending))
		utrace_report_syscall_exit(utrace, regs);
	if (test_and_clear_bit(PENDING_EXEC, &utrace->pending))
		utrace_report_exec(utrace, regs);
	if (test_and_clear_bit(PENDING_CLONE, &utrace->pending))
		utrace_report_clone(utrace);
	if (test_and_clear_bit(PENDING_STEP, &utrace->pending))
		utrace_pend(utrace, UTRACE_REPORT);
	if (test_and_clear_bit(PENDING_SIGNAL, &utrace->pending)) {
		utrace_resume_report(utrace, regs, UTRACE_SIGNAL_REPORT);
		utrace_report_signal(utrace, regs);
	} else if (test_and_clear_bit(PENDING_HANDLER, &utrace->pending)) {
		utrace_pend(utrace, UTRACE_REPORT);
		utrace_resume_report(utrace, regs, UTRACE_SIGNAL_HANDLER);
	} else {
		utrace_resume_report(utrace, regs, 0);
	}
}

static void utrace_work_done(void)
{
	atomic_dec(&utrace_pending_works);
	/*
	 * The last instructions after this put are covered by the
	 * synchronize_rcu_tasks() in utrace_core_exit().
	 */
	module_put(THIS_MODULE);
}

static void utrace_work_fn(struct callback_head *cb)
{
	struct utrace *utrace = container_of(cb, struct utrace, work);

	clear_bit(PENDING_QUEUED, &utrace->pending);
	utrace_resume(utrace);
	utrace_work_done();
}

static void utrace_iwork_fn(struct callback_head *cb)
{
	struct utrace *utrace = container_of(cb, struct utrace, iwork);

	clear_bit(PENDING_IQUEUED, &utrace->pending);
	utrace_resume(utrace);
	utrace_work_done();
}

static void utrace_rwork_fn(struct callback_head *cb)
{
	struct utrace *utrace = container_of(cb, struct utrace, rwork);

	clear_bit(PENDING_RQUEUED, &utrace->pending);
	utrace_resume(utrace);
	utrace_work_done();
}

/* ---------------------------------------------------------------------- */
/* Hooks (atomic context) */

/* current is the self-test task: ours is not its last reference. */
static void selftest_finish(void)
{
	struct task_struct *task = xchg(&selftest_task, NULL);

	if (task)
		put_task_struct(task);
}

static void selftest_sys_enter(struct pt_regs *regs, long id)
{
	switch (READ_ONCE(selftest_state)) {
	case ST_ARMED:
		selftest_nr = id;
		regs->orig_ax = -1;
		regs->ax = SKIP_SENTINEL;
		regs->ip -= 2;
		WRITE_ONCE(selftest_state, ST_SKIPPED);
		break;
	case ST_REEXEC:
		WRITE_ONCE(selftest_state, ST_DONE);
		selftest_finish();
		break;
	}
}

static void selftest_sys_exit(struct pt_regs *regs)
{
	if (READ_ONCE(selftest_state) != ST_SKIPPED)
		return;
	if (regs->ax == SKIP_SENTINEL) {
		/* Skipped: run it again for real, exactly once. */
		WRITE_ONCE(syscall_skip_works, true);
		regs->ax = selftest_nr;
		WRITE_ONCE(selftest_state, ST_REEXEC);
	} else {
		/* The kernel ran it anyway: undo the rewind. */
		regs->ip += 2;
		WRITE_ONCE(selftest_state, ST_DONE);
		selftest_finish();
	}
}

/*
 * May this syscall event be reported right here, in the tracepoint? Only
 * if every live engine that will be called (those with the event, and
 * those with QUIESCE, whose report_quiesce comes first) said its callbacks
 * are atomic-safe (@atomic), and nothing is pending that needs the full
 * pass: new engines to splice, a resume action, a stop, a step. Current is
 * the thread and running, so the attached list cannot change under us
 * (the reporting pass's own rule).
 */
static bool utrace_fast_ok(struct utrace *utrace, unsigned long event,
			   unsigned long atomic)
{
	struct utrace_engine *engine;

	/* Engines tell the tracepoint from task_work by preemptible(). */
	if (!IS_ENABLED(CONFIG_PREEMPT_COUNT))
		return false;
	if (READ_ONCE(utrace->pending_attach) ||
	    READ_ONCE(utrace->resume) < UTRACE_RESUME ||
	    (READ_ONCE(utrace->flags) & ENGINE_STOP) || utrace->step_armed)
		return false;
	list_for_each_entry(engine, &utrace->attached, entry) {
		unsigned long f = READ_ONCE(engine->flags);

		if (READ_ONCE(engine->ops) == &utrace_detached_ops)
			continue;
		if ((f & (event | UTRACE_EVENT(QUIESCE))) && !(f & atomic))
			return false;
	}
	return true;
}

/* After a report in the tracepoint: what it asked for, at return to user. */
static void utrace_fast_done(struct utrace *utrace,
			     struct utrace_report *report)
{
	enum utrace_resume_action action = report->action;

	/* Detached engines and stale flags: the next full pass tidies up. */
	if (report->detaches || report->spurious)
		action = min(action, UTRACE_REPORT);
	if (action == UTRACE_STOP)
		action = UTRACE_REPORT;	/* stops in that report */
	if (action >= UTRACE_RESUME)
		return;
	utrace_pend(utrace, action);
	utrace_queue(utrace, action == UTRACE_INTERRUPT ? TWA_SIGNAL :
			     TWA_RESUME);
}

static bool utrace_fast_entry(struct utrace *utrace, struct pt_regs *regs,
			      long id)
{
	INIT_REPORT(report);

	if (!utrace_fast_ok(utrace, UTRACE_EVENT(SYSCALL_ENTRY),
			    UTRACE_SYSCALL_ENTRY_ATOMIC))
		return false;
	report.sysnr = id;
	REPORT_CALLBACKS(_reverse, utrace, &report,
			 UTRACE_EVENT(SYSCALL_ENTRY), report_syscall_entry,
			 report.result | report.action, engine, regs);
	if (utrace_syscall_action(report.result) == UTRACE_SYSCALL_ABORT)
		regs->orig_ax = -1;	/* not run: regs->ax is its result */
	utrace_fast_done(utrace, &report);
	return true;
}

static bool utrace_fast_exit(struct utrace *utrace, struct pt_regs *regs)
{
	INIT_REPORT(report);

	if (!utrace_fast_ok(utrace, UTRACE_EVENT(SYSCALL_EXIT),
			    UTRACE_SYSCALL_EXIT_ATOMIC))
		return false;
	report.sysnr = regs->orig_ax;
	REPORT_CALLBACKS(, utrace, &report, UTRACE_EVENT(SYSCALL_EXIT),
			 report_syscall_exit, report.action, engine, regs);
	utrace_fast_done(utrace, &report);
	return true;
}

/*
 * The entry report of a skipped syscall must run before the thread gets
 * back to user mode. Should it not have (a bug: say so), the thread
 * re-executes the instruction with the sentinel for a number: make that the
 * skipped syscall again, so it is reported late but still before it runs.
 * Returns false if this syscall must be left alone.
 */
static bool utrace_entry_retry(struct utrace *utrace, struct pt_regs *regs,
			       long *id)
{
	clear_bit(PENDING_ENTRY, &utrace->pending);
	atomic_inc(&utrace_entry_misses);
	pr_err_ratelimited("pid %d: entry report of syscall %ld at %lx did not run (syscall %ld at %lx, pending %lx)\n",
			   current->pid, utrace->entry_nr, utrace->entry_ip,
			   *id, regs->ip, utrace->pending);
	if (*id != SKIP_SENTINEL || regs->ip != utrace->entry_ip)
		return true;
	regs->orig_ax = utrace->entry_nr;
	regs->ax = utrace->entry_ax;
	*id = utrace->entry_nr;
	return true;
}

void utrace_hook_sys_enter(struct pt_regs *regs, long id)
{
	struct utrace *utrace;
	unsigned long flags;
	bool entry, exiting;

	if (utrace_idle())
		return;
	if (unlikely(current == READ_ONCE(selftest_task))) {
		selftest_sys_enter(regs, id);
		return;
	}
	utrace = current_utrace_in_probe();
	if (!utrace)
		return;
	if (unlikely(test_bit(PENDING_ENTRY, &utrace->pending)) &&
	    !utrace_entry_retry(utrace, regs, &id))
		return;
	WRITE_ONCE(utrace->in_syscall, true);
	if (utrace->bypass) {
		if (regs->ip == utrace->bypass_ip && id == utrace->bypass_nr) {
			utrace->bypass = false;
			return;
		}
	}
	flags = READ_ONCE(utrace->flags);
	entry = (flags & UTRACE_EVENT(SYSCALL_ENTRY)) &&
		utrace_sysfilter_wants(utrace, id);
	exiting = (flags & UTRACE_EVENT(EXIT)) &&
		  (id == __NR_exit || id == __NR_exit_group);
	if (!(entry || exiting) || id < 0)
		return;
	if (entry && !exiting && utrace_fast_entry(utrace, regs, id))
		return;
	utrace->entry_report = entry;
	utrace->entry_exit = exiting;
	/*
	 * Skip the syscall and rewind to its instruction, as for
	 * -ERESTARTNOINTR; the report (which may stop) runs in task_work and
	 * then lets the instruction run again.
	 */
	utrace->entry_nr = id;
	utrace->entry_ax = regs->ax;
	/* Absolute, not relative: restoring it twice cannot move it. */
	utrace->entry_ip = regs->ip;
	regs->orig_ax = -1;
	regs->ax = SKIP_SENTINEL;
	regs->ip -= 2;
	set_bit(PENDING_ENTRY, &utrace->pending);
	utrace_queue(utrace, TWA_RESUME);
}

void utrace_hook_sys_exit(struct pt_regs *regs, long ret)
{
	struct utrace *utrace;

	if (utrace_idle())
		return;
	if (unlikely(current == READ_ONCE(selftest_task))) {
		selftest_sys_exit(regs);
		return;
	}
	utrace = current_utrace_in_probe();
	if (!utrace)
		return;
	WRITE_ONCE(utrace->in_syscall, false);
	/* A plain test first: a locked op at every syscall costs. */
	if (unlikely(test_bit(PENDING_DEFER, &utrace->pending)) &&
	    test_and_clear_bit(PENDING_DEFER, &utrace->pending))
		utrace_queue(utrace, TWA_RESUME);
	if (test_bit(PENDING_ENTRY, &utrace->pending)) {
		if (regs->ax != SKIP_SENTINEL) {
			clear_bit(PENDING_ENTRY, &utrace->pending);
			/*
			 * This kernel re-reads the number (the load-time
			 * self-test said so): a stale bit, never move ip.
			 */
			if (READ_ONCE(syscall_skip_works)) {
				atomic_inc(&utrace_entry_misses);
				pr_err_ratelimited("pid %d: syscall %ld at %lx ran while its entry report was pending (pending %lx)\n",
						   current->pid, utrace->entry_nr,
						   utrace->entry_ip,
						   utrace->pending);
				return;
			}
			/* Old kernel: it did not re-read the number. */
			regs->ip = utrace->entry_ip;
			pr_warn_once("this kernel cannot stop before a syscall\n");
		}
		return;
	}
	/* Stepping over a syscall: the step ends as it returns. */
	if (utrace->step_armed)
		utrace_step_done(utrace, regs);
	if ((READ_ONCE(utrace->flags) & UTRACE_EVENT(SYSCALL_EXIT)) &&
	    utrace_sysfilter_wants(utrace, regs->orig_ax) &&
	    !utrace_fast_exit(utrace, regs)) {
		set_bit(PENDING_EXIT, &utrace->pending);
		utrace_queue(utrace, TWA_RESUME);
	}
}

static unsigned long clone_flags_of(struct pt_regs *regs)
{
	u64 flags = 0;

	switch (regs->orig_ax) {
	case __NR_clone:
		return regs->di;
	case __NR_clone3:
		if (copy_from_user_nofault(&flags, (void __user *)regs->di,
					   sizeof(flags)))
			return 0;
		return flags;
	case __NR_vfork:
		return CLONE_VFORK | CLONE_VM | SIGCHLD;
	default:
		return SIGCHLD;
	}
}

void utrace_hook_fork(struct task_struct *parent, struct task_struct *child)
{
	struct utrace *utrace, *cu;
	unsigned long flags;

	if (utrace_idle() || parent != current)
		return;
	utrace = current_utrace();
	if (!utrace)
		return;
	/* The child copied our trap flag: it must not take a stray step trap. */
	if (utrace->step_armed && utrace->step_set_tf)
		task_pt_regs(child)->flags &= ~X86_EFLAGS_TF;
	if (!(READ_ONCE(utrace->flags) & UTRACE_EVENT(CLONE)))
		return;
	if (child->flags & (PF_KTHREAD | PF_IO_WORKER) || utrace->clone_child)
		return;
	flags = clone_flags_of(task_pt_regs(current));

	/*
	 * Hold the child before its first instruction until our report_clone
	 * has run, so engines can attach to it and stop it there. Not for
	 * vfork: the parent waits for the child before it can report.
	 */
	if (!(flags & CLONE_VFORK)) {
		cu = utrace_alloc(child, GFP_NOWAIT | __GFP_NOWARN);
		if (cu) {
			set_bit(PENDING_CLONE_HOLD, &cu->pending);
			cu = utrace_insert(child, cu);
			utrace_queue(cu, TWA_RESUME);
		}
	}
	get_task_struct(child);
	utrace->clone_child = child;
	utrace->clone_flags = flags;
	set_bit(PENDING_CLONE, &utrace->pending);
	utrace_queue(utrace, TWA_RESUME);
}

void utrace_hook_exec(struct task_struct *task)
{
	struct utrace *utrace;

	if (utrace_idle() || task != current)
		return;
	utrace = current_utrace();
	if (!utrace)
		return;
	utrace->bypass = false;
	/* The new image starts with clean flags: no step of ours is armed. */
	utrace->step_armed = false;
	if (READ_ONCE(utrace->flags) & UTRACE_EVENT(EXEC)) {
		set_bit(PENDING_EXEC, &utrace->pending);
		utrace_queue(utrace, TWA_RESUME);
	}
}

void utrace_hook_exit(struct task_struct *task)
{
	struct utrace *utrace;
	bool report;

	if (utrace_idle() || task != current)
		return;
	utrace = current_utrace();
	if (!utrace)
		return;
	/* Serialises with utrace_set_events() adding DEATH events. */
	spin_lock(&utrace->lock);
	utrace->exiting = true;
	report = utrace->flags & DEATH_EVENTS;
	spin_unlock(&utrace->lock);
	if (report) {
		set_bit(PENDING_DEATH, &utrace->pending);
		/* Runs in exit_task_work(), later in do_exit(). */
		utrace_queue(utrace, TWA_RESUME);
	}
}

/* get_signal() entry (kprobe): run the signal path in its task_work. */
void utrace_hook_get_signal(void)
{
	struct utrace *utrace;

	if (utrace_idle())
		return;
	utrace = current_utrace();
	if (!utrace)
		return;
	if ((READ_ONCE(utrace->flags) &
	     (UTRACE_EVENT_SIGNAL_ALL | UTRACE_EVENT(EXIT))) ||
	    READ_ONCE(utrace->resume) < UTRACE_RESUME) {
		set_bit(PENDING_SIGNAL, &utrace->pending);
		utrace_queue(utrace, TWA_NONE);
	}
}

/* signal_deliver: the handler frame is next; report once it is built. */
void utrace_hook_signal_deliver(void)
{
	struct utrace *utrace;

	if (utrace_idle())
		return;
	utrace = current_utrace();
	if (utrace && test_bit(PENDING_HANDLER, &utrace->pending))
		utrace_queue(utrace, TWA_RESUME);
}

/* A single-step trap in user mode (DIE_DEBUG): ours if we armed it. */
bool utrace_hook_step_trap(struct pt_regs *regs)
{
	struct utrace *utrace;

	if (utrace_idle())
		return false;
	utrace = current_utrace();
	if (!utrace || !utrace->step_armed || test_thread_flag(TIF_SINGLESTEP))
		return false;
	utrace_step_done(utrace, regs);
	return true;
}

/* RCU callback context: defer to process context, keep the task alive. */
void utrace_hook_free(struct task_struct *task)
{
	struct utrace *utrace;

	if (utrace_idle())
		return;
	/* RCU keeps utrace valid until its reap work has run and freed it. */
	rcu_read_lock();
	utrace = task_utrace(task);
	if (utrace && !READ_ONCE(utrace->reap)) {
		/* Normally reaped at release_task(); this is the safety net. */
		get_task_struct(task);
		atomic_inc(&utrace_pending_works);
		if (!queue_work(utrace_wq, &utrace->reap_work)) {
			atomic_dec(&utrace_pending_works);
			put_task_struct(task);
		}
	}
	rcu_read_unlock();
}

/*
 * REAP: the thread is released. Detaches every engine, makes report_reap
 * calls (which must not block) and frees the per-thread state after a
 * grace period. Runs in the releasing context (the parent in wait(), the
 * thread itself when it self-reaps) with preemption disabled, or in
 * process context; idempotent.
 */
static void utrace_reap(struct utrace *utrace, struct task_struct *task)
{
	struct utrace_engine *engine, *next;
	LIST_HEAD(engines);

	spin_lock(&utrace->lock);
	if (utrace->reap) {
		spin_unlock(&utrace->lock);
		return;
	}
	utrace->reap = true;
	WRITE_ONCE(utrace->flags, 0);
	splice_attaching(utrace);
	list_splice_init(&utrace->attached, &engines);
	spin_unlock(&utrace->lock);

	spin_lock(&utrace_table_lock);
	hash_del_rcu(&utrace->node);
	spin_unlock(&utrace_table_lock);

	list_for_each_entry_safe(engine, next, &engines, entry) {
		const struct utrace_engine_ops *ops = READ_ONCE(engine->ops);

		if (ops && ops != &utrace_detached_ops &&
		    (engine->flags & UTRACE_EVENT(REAP)) && ops->report_reap)
			ops->report_reap(engine, task);
		WRITE_ONCE(engine->ops, NULL);
		WRITE_ONCE(engine->flags, 0);
		list_del_init(&engine->entry);
		utrace_engine_put(engine);
	}
	if (atomic_dec_and_test(&utrace_live_threads))
		utrace_hooks_syscalls_idle();
	call_rcu(&utrace->rcu, utrace_free_rcu);
}

/* release_task() entry (kprobe): the thread is being reaped. */
void utrace_hook_release(struct task_struct *task)
{
	struct utrace *utrace;

	if (utrace_idle())
		return;
	rcu_read_lock();
	utrace = task_utrace(task);
	rcu_read_unlock();
	/* Only the releasing path reaps: utrace cannot be freed under us. */
	if (utrace)
		utrace_reap(utrace, task);
}

/* Fallback for a state release_task() did not see: reap it here. */
static void utrace_reap_fn(struct work_struct *work)
{
	struct utrace *utrace = container_of(work, struct utrace, reap_work);
	struct task_struct *task = utrace->task;

	utrace_reap(utrace, task);
	put_task_struct(task);
	atomic_dec(&utrace_pending_works);
}

/* /proc/PID/status (kretprobe on proc_pid_status): the Utrace: line. */
void utrace_hook_proc_status(struct seq_file *m, struct task_struct *task)
{
	struct utrace *utrace;

	if (utrace_idle())
		return;
	rcu_read_lock();
	utrace = task_utrace(task);
	if (utrace && !READ_ONCE(utrace->reap))
		seq_printf(m, "Utrace:\t%lx\n", READ_ONCE(utrace->flags));
	rcu_read_unlock();
}

/* ---------------------------------------------------------------------- */

int utrace_core_init(void)
{
	utrace_cachep = KMEM_CACHE(utrace, 0);
	utrace_engine_cachep = KMEM_CACHE(utrace_engine, 0);
	utrace_wq = alloc_workqueue("utrace", WQ_UNBOUND, 0);
	if (!utrace_cachep || !utrace_engine_cachep || !utrace_wq) {
		utrace_core_exit();
		return -ENOMEM;
	}
	/* Test stop-before-syscall on the loading process's next syscall. */
	WRITE_ONCE(selftest_state, ST_ARMED);
	get_task_struct(current);
	WRITE_ONCE(selftest_task, current);
	return 0;
}

/*
 * Called after the hooks are gone. Engines hold module references through
 * their users, queued task_work holds one each, so only threads without
 * engines can still have a struct utrace here.
 */
void utrace_core_exit(void)
{
	struct utrace *utrace;
	struct hlist_node *tmp;
	int bkt;

	if (selftest_task) {
		put_task_struct(selftest_task);
		selftest_task = NULL;
	}
	if (utrace_wq)
		destroy_workqueue(utrace_wq);	/* flushes reap work */
	/* No thread is still in the tail of one of our task_work calls. */
	synchronize_rcu_tasks();
	hash_for_each_safe(utrace_table, bkt, tmp, utrace, node) {
		hash_del(&utrace->node);
		WARN_ON_ONCE(!list_empty(&utrace->attached) ||
			     !list_empty(&utrace->attaching));
		atomic_dec(&utrace_live_threads);
		kmem_cache_free(utrace_cachep, utrace);
	}
	rcu_barrier();
	kmem_cache_destroy(utrace_engine_cachep);
	kmem_cache_destroy(utrace_cachep);
}
