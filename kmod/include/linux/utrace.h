/* SPDX-License-Identifier: GPL-2.0 */
/*
 * utrace: the in-kernel thread-tracing engine API (version 20091216),
 * exported EXPORT_SYMBOL_GPL by the utrace module so other modules can write
 * engines.
 *
 * An engine is attached to one thread. It chooses the events it sees with
 * utrace_set_events(); every callback except report_reap runs in the traced
 * thread itself (current), with no locks held, at a point where it may sleep
 * briefly. A callback's return value is a resume action (ORed with
 * event-specific bits); when engines disagree the smallest action wins, and
 * only UTRACE_STOP is sticky: the thread stays stopped until every engine
 * that asked for the stop lets it go.
 *
 * Differences from the in-tree original, forced by running as a module on
 * stock kernels, are noted where they apply (report_exec, report_jctl).
 */
#ifndef _LINUX_UTRACE_H
#define _LINUX_UTRACE_H

#include <linux/kref.h>
#include <linux/list.h>
#include <linux/signal_types.h>
#include <linux/types.h>

struct linux_binfmt;
struct linux_binprm;
struct pt_regs;
struct task_struct;
struct pid;

#define UTRACE_API_VERSION 20091216

enum utrace_resume_action {
	UTRACE_STOP,
	UTRACE_INTERRUPT,
	UTRACE_REPORT,
	UTRACE_SINGLESTEP,
	UTRACE_BLOCKSTEP,
	UTRACE_RESUME,
	UTRACE_DETACH,
	UTRACE_RESUME_MAX
};

#define UTRACE_RESUME_BITS 3
#define UTRACE_RESUME_MASK ((1U << UTRACE_RESUME_BITS) - 1)

static inline enum utrace_resume_action utrace_resume_action(u32 action)
{
	return action & UTRACE_RESUME_MASK;
}

enum utrace_signal_action {
	UTRACE_SIGNAL_DELIVER = 0x00,
	UTRACE_SIGNAL_IGN = 0x10,
	UTRACE_SIGNAL_TERM = 0x20,
	UTRACE_SIGNAL_CORE = 0x30,
	UTRACE_SIGNAL_STOP = 0x40,
	UTRACE_SIGNAL_TSTP = 0x50,
	UTRACE_SIGNAL_REPORT = 0x60,
	UTRACE_SIGNAL_HANDLER = 0x70
};

#define UTRACE_SIGNAL_MASK 0xf0
#define UTRACE_SIGNAL_HOLD 0x100

static inline enum utrace_signal_action utrace_signal_action(u32 action)
{
	return action & UTRACE_SIGNAL_MASK;
}

enum utrace_syscall_action {
	UTRACE_SYSCALL_RUN = 0x00,
	UTRACE_SYSCALL_ABORT = 0x10
};

#define UTRACE_SYSCALL_MASK 0xf0
#define UTRACE_SYSCALL_RESUMED 0x100

static inline enum utrace_syscall_action utrace_syscall_action(u32 action)
{
	return action & UTRACE_SYSCALL_MASK;
}

enum utrace_events {
	_UTRACE_EVENT_QUIESCE,
	_UTRACE_EVENT_REAP,
	_UTRACE_EVENT_CLONE,
	_UTRACE_EVENT_EXEC,
	_UTRACE_EVENT_EXIT,
	_UTRACE_EVENT_DEATH,
	_UTRACE_EVENT_SYSCALL_ENTRY,
	_UTRACE_EVENT_SYSCALL_EXIT,
	_UTRACE_EVENT_SIGNAL,
	_UTRACE_EVENT_SIGNAL_IGN,
	_UTRACE_EVENT_SIGNAL_STOP,
	_UTRACE_EVENT_SIGNAL_TERM,
	_UTRACE_EVENT_SIGNAL_CORE,
	_UTRACE_EVENT_JCTL,
	_UTRACE_NEVENTS
};

#define UTRACE_EVENT(type) (1UL << _UTRACE_EVENT_##type)

#define UTRACE_EVENT_SIGNAL_ALL                                          \
	(UTRACE_EVENT(SIGNAL) | UTRACE_EVENT(SIGNAL_IGN) |               \
	 UTRACE_EVENT(SIGNAL_STOP) | UTRACE_EVENT(SIGNAL_TERM) |         \
	 UTRACE_EVENT(SIGNAL_CORE))

#define UTRACE_EVENT_SYSCALL \
	(UTRACE_EVENT(SYSCALL_ENTRY) | UTRACE_EVENT(SYSCALL_EXIT))

/*
 * Modifiers for utrace_set_events(), not events: the engine's
 * report_syscall_entry (or report_syscall_exit) and report_quiesce may run
 * in atomic context, in the syscall tracepoint itself. When every engine
 * of a thread that reports the event says so, and nothing asks the thread
 * to stop, the core reports there, without the skip-and-restart (entry) or
 * the task_work (exit) that make a report cost microseconds. A callback
 * that then returns UTRACE_STOP stops the thread at its next return to
 * user mode, after the syscall (as an asynchronous STOP would); one that
 * returns UTRACE_SYSCALL_ABORT skips the syscall with regs->ax as its
 * result. Engines that must stop before a syscall leave the bit clear.
 */
#define UTRACE_SYSCALL_ENTRY_ATOMIC (1UL << (_UTRACE_NEVENTS + 1))
#define UTRACE_SYSCALL_EXIT_ATOMIC (1UL << (_UTRACE_NEVENTS + 2))

/* Attach flags. */
#define UTRACE_ATTACH_MATCH_OPS 0x0001
#define UTRACE_ATTACH_MATCH_DATA 0x0002
#define UTRACE_ATTACH_MATCH_MASK 0x000f
#define UTRACE_ATTACH_CREATE 0x0010
#define UTRACE_ATTACH_EXCLUSIVE 0x0020

/**
 * struct utrace_engine - per-engine structure
 * @ops:	&struct utrace_engine_ops pointer passed to utrace_attach_task()
 * @data:	engine-private pointer passed to utrace_attach_task()
 * @flags:	event mask set by utrace_set_events() plus internal state
 *
 * The caller of utrace_attach_task() gets a pointer to this structure and
 * one reference on it; utrace_engine_put() drops it. @ops and @flags are
 * read-only for engines.
 */
struct utrace_engine {
/* private: */
	struct kref kref;
	void (*release)(void *data);
	struct list_head entry;
	unsigned long *syscall_filter;	/* NULL: every syscall */

/* public: */
	const struct utrace_engine_ops *ops;
	void *data;
	unsigned long flags;
};

/**
 * struct utrace_engine_ops - tracing engine callbacks
 *
 * Every callback but @report_reap runs in the traced thread (current), with
 * no locks held. @report_reap runs in whichever context reaps the thread and
 * must not block. See the semantics reference for the arguments.
 *
 * @report_exec: @fmt and @bprm are NULL in this module: the report is made
 *	once the exec has fully completed, on the thread's way to its first
 *	user instruction, because the kernel's exec hook cannot sleep. @regs
 *	holds the new image's initial user registers and may be changed.
 * @report_signal: a dequeued signal is put back (thread-private) for the
 *	kernel to carry out the verdict; @return_ka cannot change how the
 *	kernel delivers it (its own sigaction applies), so DELIVER uses the
 *	thread's disposition, and TERM/CORE/STOP/TSTP use a default-action
 *	signal (the reported one when its default matches, else SIGKILL,
 *	SIGSTOP or SIGTSTP).
 * @report_jctl: never called, as in the final utrace (v4), which had no
 *	call site left for it; UTRACE_FEAT_JCTL stays clear.
 * @quiesce_in_event: an extension of utrace's rules, for engines whose
 *	every event callback answers as their report_quiesce would: before
 *	an event the engine itself reports (it asked for the event, has the
 *	callback, and its syscall filter lets the syscall through),
 *	report_quiesce(@event) is not called. It still is at resume points
 *	(event 0) and before events only other engines report. Saves a
 *	callback and a full barrier per event, so per syscall.
 */
struct utrace_engine_ops {
	u32 (*report_quiesce)(u32 action, struct utrace_engine *engine,
			      unsigned long event);
	u32 (*report_signal)(u32 action, struct utrace_engine *engine,
			     struct pt_regs *regs, kernel_siginfo_t *info,
			     const struct k_sigaction *orig_ka,
			     struct k_sigaction *return_ka);
	u32 (*report_clone)(u32 action, struct utrace_engine *engine,
			    unsigned long clone_flags,
			    struct task_struct *child);
	u32 (*report_jctl)(u32 action, struct utrace_engine *engine,
			   int type, int notify);
	u32 (*report_exec)(u32 action, struct utrace_engine *engine,
			   const struct linux_binfmt *fmt,
			   const struct linux_binprm *bprm,
			   struct pt_regs *regs);
	u32 (*report_syscall_entry)(u32 action, struct utrace_engine *engine,
				    struct pt_regs *regs);
	u32 (*report_syscall_exit)(u32 action, struct utrace_engine *engine,
				   struct pt_regs *regs);
	u32 (*report_exit)(u32 action, struct utrace_engine *engine,
			   long orig_code, long *code);
	u32 (*report_death)(struct utrace_engine *engine,
			    bool group_dead, int signal);
	void (*report_reap)(struct utrace_engine *engine,
			    struct task_struct *task);
	void (*release)(void *data);
	bool quiesce_in_event;
};

struct utrace;

/**
 * struct utrace_examiner - private state for utrace_prepare_examine()
 */
struct utrace_examiner {
/* private: */
	long state;
	unsigned long ncsw;
	struct utrace *utrace;	/* pinned, until utrace_finish_examine() */
};

void __utrace_engine_release(struct kref *kref);

static inline void utrace_engine_get(struct utrace_engine *engine)
{
	kref_get(&engine->kref);
}

static inline void utrace_engine_put(struct utrace_engine *engine)
{
	kref_put(&engine->kref, __utrace_engine_release);
}

struct utrace_engine *utrace_attach_task(struct task_struct *target, int flags,
					 const struct utrace_engine_ops *ops,
					 void *data);
struct utrace_engine *utrace_attach_pid(struct pid *pid, int flags,
					const struct utrace_engine_ops *ops,
					void *data);
int __must_check utrace_control(struct task_struct *target,
				struct utrace_engine *engine,
				enum utrace_resume_action action);
int __must_check utrace_set_events(struct task_struct *target,
				   struct utrace_engine *engine,
				   unsigned long eventmask);
int __must_check utrace_barrier(struct task_struct *target,
				struct utrace_engine *engine);
int __must_check utrace_prepare_examine(struct task_struct *target,
					struct utrace_engine *engine,
					struct utrace_examiner *exam);
int __must_check utrace_finish_examine(struct task_struct *target,
				       struct utrace_engine *engine,
				       struct utrace_examiner *exam);

int __must_check utrace_control_pid(struct pid *pid,
				    struct utrace_engine *engine,
				    enum utrace_resume_action action);
int __must_check utrace_set_events_pid(struct pid *pid,
				       struct utrace_engine *engine,
				       unsigned long eventmask);
int __must_check utrace_barrier_pid(struct pid *pid,
				    struct utrace_engine *engine);

/*
 * Extension: which syscalls (x86-64 numbers below UTRACE_NR_SYSCALLS) reach
 * this engine's report_syscall_entry/exit. @filter is a bitmap the core
 * copies, or NULL for all. A syscall no engine of the thread wants costs a
 * bitmap test in the hook and no report at all.
 */
#define UTRACE_NR_SYSCALLS 512
int __must_check utrace_set_syscall_filter(struct task_struct *target,
					   struct utrace_engine *engine,
					   const unsigned long *filter);

/* The thread's event union, 0 when it has no engine (/proc "Utrace:"). */
unsigned long utrace_task_flags(struct task_struct *task);

#endif /* _LINUX_UTRACE_H */
