// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/utrace: one session per open file; a user engine per ATTACH.
 *
 * The node is created by the misc core with mode 0600 (root only). Even
 * root must prove, for each thread it attaches to, the right to ptrace it:
 * an fd of the thread's /proc/PID/mem, which the kernel only let it open
 * after ptrace_may_access(PTRACE_MODE_ATTACH_FSCREDS) with LSMs and Yama.
 *
 * Objects and lifetimes:
 *  - struct ud_session: one per open file. Reference counted: the file
 *    holds one, every user engine (struct ud_engine) holds one, so a late
 *    callback or ops->release never touches freed memory. The ring buffer
 *    and the pid namespace reference are dropped at close,
 *    once no callback is inside the session (->closing set, then an RCU
 *    grace period for callbacks in atomic context and ->active at 0 for
 *    the others: see ud_enter()); the struct itself is freed by the last
 *    reference.
 *  - struct ud_engine: one per ATTACH, the data of one core engine. It is
 *    freed in ops->release, when the core drops the engine's last
 *    reference. The handle table holds the reference utrace_attach_task()
 *    returned, so an engine in the table, and its ud_engine, stay valid;
 *    an ioctl takes its own engine reference under the table's lock.
 *
 * Locking rules:
 *  - s->lock (spinlock) protects the ring (ring, ring_size, tail, used),
 *    lost, seq, closing and every field of every ud_engine marked "s->lock"
 *    below. It is a leaf lock: nothing is called under it but memcpy,
 *    ktime_get_ns and hrtimer_start, never the core. It is only taken in
 *    task context (callbacks run in the thread, in the syscall tracepoint
 *    or in task_work; report_reap where the thread is released, a kprobe
 *    on release_task() or a kworker), never in interrupt context (the wake
 *    timer does not take it), so it does not disable interrupts: their
 *    restore at each unlock was the largest cost of a record.
 *  - s->attach_mutex serialises changes of the handle table (ATTACH,
 *    DETACH, close) and LIST, so an entry LIST reads cannot be freed.
 *  - s->read_mutex serialises readers and QUEUE_SIZE against them: its
 *    holder is the only one to take records off the ring or replace it.
 *    Writers only append after tail + used, so the records queued when a
 *    reader looks stay where they are until it consumes them, and it
 *    copies them to user space without s->lock.
 *  - The xarray's own lock pairs lookups with taking an engine reference.
 *  - Callbacks run in the traced thread with no lock held; the only place
 *    one sleeps is ud_queue(), killably waiting for room for a record that
 *    holds the thread. Closing sets ->closing and wakes it.
 *  - Before utrace_control() on behalf of user space, the ioctl updates the
 *    engine's state under s->lock, then utrace_barrier(): a callback that
 *    read the old state has returned (its STOP is in place) before the
 *    control acts, so a RESUME can never be overtaken by a late STOP.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/delay.h>
#include <linux/elf.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/magic.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/poll.h>
#include <linux/preempt.h>
#include <linux/ptrace.h>
#include <linux/rcupdate.h>
#include <linux/regset.h>
#include <linux/sched.h>
#include <linux/sched/coredump.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/utrace.h>
#include <linux/utsname.h>
#include <linux/wait.h>
#include <linux/xarray.h>
#include <asm/syscall.h>
#include <uapi/linux/utrace.h>

#include "../utrace_internal.h"

/* Where a held thread waits: what a CONTROL verdict applies to. */
enum ud_held_at {
	UD_HELD_OTHER,
	UD_HELD_ENTRY,		/* in report_syscall_entry's stop */
	UD_HELD_SIGNAL,		/* with its signal held (SIGNAL_HOLD) */
};

enum ud_step {
	UD_STEP_NONE,
	UD_STEP_ASKED,		/* CONTROL SINGLESTEP: arm at the next resume */
	UD_STEP_RUNNING,	/* armed: the next resume report ends it */
};

struct ud_session {
	struct kref kref;
	spinlock_t lock;
	wait_queue_head_t read_wq;	/* readers and poll: records queued */
	wait_queue_head_t room_wq;	/* held threads: room in the ring */
	wait_queue_head_t idle_wq;	/* close: ->active dropped to 0 */
	atomic_t active;		/* callbacks inside (ud_enter) */
	bool closing;			/* s->lock; set once, at close */
	u8 *ring;			/* s->lock */
	u32 ring_size;			/* s->lock; a multiple of 8 */
	u32 tail;			/* s->lock; oldest record */
	u32 used;			/* s->lock */
	u64 lost;			/* s->lock; dropped, not yet reported */
	u64 seq;			/* s->lock; last sequence number */
	struct mutex read_mutex;
	struct mutex attach_mutex;
	u32 groups;			/* attach_mutex; last ATTACH's group */
	struct xarray engines;		/* handle -> struct ud_engine */
	struct pid_namespace *ns;	/* of the opener; put at close */
	struct hrtimer wake_timer;	/* the batched wakeup of readers */
	bool wake_armed;		/* set under s->lock, cleared by the timer */
};

struct ud_engine {
	struct ud_session *s;		/* one session reference */
	struct utrace_engine *engine;	/* set before the engine can report */
	struct task_struct *task;	/* one task reference */
	struct mm_struct *mm;		/* mmgrab: the mm the proof was for */
	u32 handle;
	u32 flags;			/* UTRACE_ATTACH_F_*, UD_F_*; fixed */
	u32 group;			/* the ATTACH it stems from; fixed */
	pid_t tid;			/* s->lock */
	pid_t tgid;			/* s->lock */
	/* events, se_flags: written under s->lock, read also without it. */
	u64 events;			/* s->lock; UTRACE_EV_* */
	u64 stop_events;		/* s->lock */
	u32 se_flags;			/* s->lock; UTRACE_SE_* */
	unsigned long *filter;		/* s->lock; syscall filter, or NULL */
	bool want_stop;			/* s->lock; we ask the core to hold it */
	bool announced;			/* s->lock; a HELD record went out */
	bool dead;			/* s->lock; DEATH or REAP seen */
	u8 step;			/* s->lock; enum ud_step */
	u8 held_at;			/* s->lock; enum ud_held_at */
	int held_signo;			/* s->lock; UD_HELD_SIGNAL: which */
	/* A verdict for the repeated report (s->lock). */
	bool entry_pending;
	bool entry_abort;
	bool entry_args;
	s64 entry_retval;
	u64 entry_argv[6];
	bool sig_pending;
	int sig_signo;
	u32 sig_verdict;
	int sig_other;
};

/*
 * Internal engine flag: follow CLONE_THREAD children (ALL_THREADS), so no
 * thread of the process escapes.
 */
#define UD_F_THREADS 0x80000000U
/*
 * Internal engine flag: the attacher had CAP_SYS_PTRACE over the thread, so
 * the engine may stay through an exec that gains privilege (ud_report_exec).
 */
#define UD_F_PRIV 0x40000000U
#define UD_F_INHERIT (UTRACE_ATTACH_F_FOLLOW | UTRACE_ATTACH_F_KILL_ON_CLOSE | \
		      UTRACE_ATTACH_F_HOLD_CHILDREN | UD_F_THREADS | UD_F_PRIV)

#define UD_FILTER_LONGS (UTRACE_NR_SYSCALLS / BITS_PER_LONG)
#define UD_SCAN_BATCH 64	/* ALL_THREADS: threads taken per list scan */

/* What a new engine starts with: its parent's settings, or nothing. */
struct ud_settings {
	u64 events;
	u64 stop_events;
	u32 se_flags;
	bool has_filter;
	unsigned long filter[UD_FILTER_LONGS];
};

#define UD_REC_ALIGN 8
#define UD_HDR sizeof(struct utrace_event)
#define UD_LOST_SIZE (UD_HDR + sizeof(struct utrace_ev_lost))

/*
 * A record that holds no thread reaches a sleeping reader within this
 * delay, together with those that follow it: one wakeup for a batch, not
 * one per syscall (a wakeup costs the traced thread more than its record).
 */
#define UD_WAKE_DELAY_NS (1 * NSEC_PER_MSEC)
#define UD_ARG_MAX 4096		/* largest argument struct accepted */

/* A record with a fixed-size payload, built on the stack. */
struct ud_rec {
	struct utrace_event h;
	union {
		struct utrace_ev_syscall_entry entry;
		struct utrace_ev_syscall_exit exit;
		struct utrace_ev_signal sig;
		struct utrace_ev_clone clone;
		struct utrace_ev_exit code;
		struct utrace_ev_death death;
		struct utrace_ev_lost lost;
	} u;
};

static const struct utrace_engine_ops ud_ops;

static void ud_session_free(struct kref *kref)
{
	kfree(container_of(kref, struct ud_session, kref));
}

static void ud_session_put(struct ud_session *s)
{
	kref_put(&s->kref, ud_session_free);
}

/*
 * Is this callback an RCU reader (preemption or interrupts off: the syscall
 * tracepoint, a kprobe)? Without CONFIG_PREEMPT_COUNT we cannot tell.
 */
static bool ud_atomic_context(void)
{
	return IS_ENABLED(CONFIG_PREEMPT_COUNT) && !preemptible();
}

/*
 * A callback enters the session before touching the ring or s->ns, and
 * leaves it after. Once close has set ->closing, waited for an RCU grace
 * period and seen ->active at 0, no callback is inside or will get in.
 * Callbacks in atomic context (the syscall tracepoint's, at every record)
 * are RCU readers: close's synchronize_rcu() waits for them, and they skip
 * ->active and its two atomics. The others count themselves in ->active;
 * the full barriers pair with close.
 */
static bool ud_enter(struct ud_session *s)
{
	if (ud_atomic_context())
		return !READ_ONCE(s->closing);
	atomic_inc(&s->active);
	/* active before closing: pairs with smp_mb() in release. */
	smp_mb__after_atomic();
	if (READ_ONCE(s->closing)) {
		if (atomic_dec_and_test(&s->active))
			wake_up(&s->idle_wq);
		return false;
	}
	return true;
}

static void ud_exit(struct ud_session *s)
{
	/*
	 * Only release waits for active to drop to 0, after it set closing
	 * and ran smp_mb(); the value-returning atomic is our full barrier:
	 * we see closing, or release sees active at 0 and does not sleep.
	 * No wait-queue lock at every callback.
	 */
	if (ud_atomic_context())
		return;
	if (atomic_dec_and_test(&s->active) && READ_ONCE(s->closing))
		wake_up(&s->idle_wq);
}

/* ---------------------------------------------------------------------- */
/* The ring: whole records, 8-byte aligned, oldest at ->tail. */

/*
 * An offset into the ring from one below 2 * size (tail < size, and what
 * is added never exceeds used <= size): a compare, not a division, at
 * every record.
 */
static u32 ud_ring_wrap(u32 pos, u32 size)
{
	return pos >= size ? pos - size : pos;
}

static void ud_ring_put_locked(struct ud_session *s, const void *src, u32 len)
{
	u32 head = ud_ring_wrap(s->tail + s->used, s->ring_size);
	u32 first = min(len, s->ring_size - head);

	memcpy(s->ring + head, src, first);
	memcpy(s->ring, (const u8 *)src + first, len - first);
	s->used += len;
}

static void ud_ring_get_locked(struct ud_session *s, void *dst, u32 len)
{
	u32 first = min(len, s->ring_size - s->tail);

	memcpy(dst, s->ring + s->tail, first);
	memcpy((u8 *)dst + first, s->ring, len - first);
	s->tail = ud_ring_wrap(s->tail + len, s->ring_size);
	s->used -= len;
}

/* The size of the oldest record: its first u32 never wraps (8-aligned). */
static void ud_put_lost_locked(struct ud_session *s)
{
	struct ud_rec rec;

	memset(&rec, 0, sizeof(rec));
	rec.h.size = UD_LOST_SIZE;
	rec.h.type = UTRACE_REC_LOST;
	rec.h.seq = ++s->seq;
	rec.h.time_ns = ktime_get_ns();
	rec.u.lost.count = s->lost;
	s->lost = 0;
	ud_ring_put_locked(s, &rec, UD_LOST_SIZE);
}

static bool ud_has_room(struct ud_session *s, u32 need)
{
	return READ_ONCE(s->ring_size) - READ_ONCE(s->used) >= need;
}

static void ud_wake_readers(struct ud_session *s)
{
	wake_up_interruptible_poll(&s->read_wq, EPOLLIN | EPOLLRDNORM);
}

/* A record that could not be made (no memory) counts as lost. */
static void ud_lost(struct ud_session *s)
{

	spin_lock(&s->lock);
	s->lost++;
	spin_unlock(&s->lock);
	ud_wake_readers(s);
}

enum ud_wake { UD_WAKE_NONE, UD_WAKE_NOW, UD_WAKE_SYNC, UD_WAKE_ARM };

/*
 * Caller holds s->lock, the ring has room for @h and a LOST record if one
 * is due: puts them there. Returns how to wake readers once unlocked.
 */
static enum ud_wake ud_commit_locked(struct ud_session *s,
				     struct utrace_event *h, bool held)
{
	if (s->lost)
		ud_put_lost_locked(s);
	h->seq = ++s->seq;
	h->time_ns = ktime_get_ns();
	ud_ring_put_locked(s, h, h->size);
	/*
	 * Held threads and a half-full ring do not wait for the batch. A held
	 * thread is about to stop: a sync wakeup lets the reader take its CPU
	 * (as ptrace's wakeup of the tracer does) instead of waking another,
	 * maybe idle, one.
	 */
	if (held)
		return UD_WAKE_SYNC;
	if (s->used >= s->ring_size / 2)
		return UD_WAKE_NOW;
	/*
	 * The record before the look at wake_armed; the timer clears it
	 * before it wakes. So a timer we leave to it wakes readers after our
	 * record is there, or we see it cleared and arm it again.
	 */
	smp_mb();
	if (READ_ONCE(s->wake_armed))
		return UD_WAKE_NONE;
	WRITE_ONCE(s->wake_armed, true);
	return UD_WAKE_ARM;
}

/*
 * Caller holds s->lock: queues a record that holds no thread, or counts it
 * lost when the ring is full (or the session closing).
 */
static enum ud_wake ud_queue_nowait_locked(struct ud_session *s,
					   struct utrace_event *h)
{
	if (s->closing)
		return UD_WAKE_NONE;
	if (s->ring_size - s->used < h->size + (s->lost ? UD_LOST_SIZE : 0)) {
		s->lost++;
		return UD_WAKE_NOW;
	}
	return ud_commit_locked(s, h, false);
}

/* After s->lock is dropped. */
static void ud_wake(struct ud_session *s, enum ud_wake how)
{
	if (how == UD_WAKE_NOW)
		ud_wake_readers(s);
	else if (how == UD_WAKE_SYNC)
		wake_up_interruptible_sync_poll(&s->read_wq,
						EPOLLIN | EPOLLRDNORM);
	else if (how == UD_WAKE_ARM)
		hrtimer_start(&s->wake_timer, ns_to_ktime(UD_WAKE_DELAY_NS),
			      HRTIMER_MODE_REL);
}

/*
 * Queues @h (h->size bytes), preceded by a LOST record if some were
 * dropped. With @wait (the record holds the thread) waits killably for
 * room; without, a full ring drops the record and counts it. Fills in
 * seq and time_ns. A closing session takes no more records.
 */
static void ud_queue(struct ud_session *s, struct utrace_event *h, bool wait)
{
	enum ud_wake how;
	u32 need;

	if (!wait) {
		spin_lock(&s->lock);
		how = ud_queue_nowait_locked(s, h);
		spin_unlock(&s->lock);
		ud_wake(s, how);
		return;
	}
	for (;;) {
		spin_lock(&s->lock);
		if (s->closing) {
			spin_unlock(&s->lock);
			return;
		}
		need = h->size + (s->lost ? UD_LOST_SIZE : 0);
		if (s->ring_size - s->used >= need)
			break;
		spin_unlock(&s->lock);
		if (wait_event_killable(s->room_wq, READ_ONCE(s->closing) ||
					ud_has_room(s, need)))
			return;
	}
	how = ud_commit_locked(s, h, true);
	spin_unlock(&s->lock);
	ud_wake(s, how);
}

/*
 * Hard interrupt context: no s->lock here (see the locking rules). The
 * session outlives the timer: release cancels it once no callback can
 * queue a record any more.
 */
static enum hrtimer_restart ud_wake_timer_fn(struct hrtimer *timer)
{
	struct ud_session *s = container_of(timer, struct ud_session,
					    wake_timer);

	WRITE_ONCE(s->wake_armed, false);
	smp_mb();	/* pairs with the one in ud_commit_locked() */
	ud_wake_readers(s);
	return HRTIMER_NORESTART;
}

/* ---------------------------------------------------------------------- */
/* The user engine's callbacks. All but report_reap run in the thread. */

/*
 * Header of a record about current. Caller is inside the session, and fills
 * the payload after: the record is zeroed first, header, payload and the
 * padding to its aligned size, exactly the bytes that reach user space.
 */
static void ud_header(struct ud_engine *ue, struct utrace_event *h, u16 type,
		      size_t payload)
{
	u32 size = ALIGN(UD_HDR + payload, UD_REC_ALIGN);

	memset(h, 0, size);
	h->size = size;
	h->type = type;
	h->handle = ue->handle;
	if (ue->s->ns == &init_pid_ns) {
		/* The common case, at every record: no pid lookups. */
		h->tid = current->pid;
		h->tgid = current->tgid;
	} else {
		h->tid = task_pid_nr_ns(current, ue->s->ns);
		h->tgid = task_tgid_nr_ns(current, ue->s->ns);
	}
}

/* Caller holds s->lock. What the engine answers when it reports nothing. */
static u32 ud_plain_action_locked(struct ud_engine *ue)
{
	return ue->want_stop ? UTRACE_STOP : UTRACE_RESUME;
}

static u32 ud_plain_action(struct ud_engine *ue)
{
	u32 ret;

	spin_lock(&ue->s->lock);
	ret = ud_plain_action_locked(ue);
	spin_unlock(&ue->s->lock);
	return ret;
}

/*
 * Reports an event the user asked for. If @event is in stop_events, or a
 * STOP request is pending, the thread is to be held: the first record of a
 * stop carries UTRACE_REC_HELD (and waits for room), and @at tells a later
 * CONTROL what its verdict applies to. Returns the resume action.
 */
static u32 ud_report(struct ud_engine *ue, struct utrace_event *h,
		     u64 event, enum ud_held_at at, int signo)
{
	struct ud_session *s = ue->s;
	enum ud_wake how;
	bool held = false;
	u32 ret;

	/*
	 * In the syscall tracepoint (UTRACE_SYSCALL_*_ATOMIC) we may not
	 * sleep, and a held record may have to wait for room: a STOP that
	 * raced in is announced instead by the resume report at the return
	 * to user mode (a QUIESCE record), where the thread stops.
	 */
	bool atomic = ud_atomic_context();

	spin_lock(&s->lock);
	if (at == UD_HELD_ENTRY) {
		/* A new syscall: the last entry stop's verdict is spent. */
		ue->entry_pending = false;
		ue->entry_args = false;
	}
	if (ue->stop_events & event)
		ue->want_stop = true;
	if (ue->want_stop && !ue->announced && !atomic) {
		ue->announced = true;
		ue->held_at = at;
		ue->held_signo = signo;
		h->flags |= UTRACE_REC_HELD;
		held = true;
	}
	/*
	 * Decided now: a CONTROL that follows the record waits in
	 * utrace_barrier() until we have returned, then overrides this.
	 */
	ret = ud_plain_action_locked(ue);
	if (!held) {
		/* The common case, once per syscall: one lock round trip. */
		how = ud_queue_nowait_locked(s, h);
		spin_unlock(&s->lock);
		ud_wake(s, how);
		return ret;
	}
	spin_unlock(&s->lock);

	ud_queue(s, h, true);
	return ret;
}

/*
 * A resume report (report_quiesce(0), or report_signal REPORT/HANDLER):
 * the last word before the thread returns to user mode. Arms a requested
 * step, ends a finished one with a STEP record, or turns a pending STOP
 * request into a QUIESCE record; and keeps a stop we hold.
 */
static u32 ud_resume_point(struct ud_engine *ue)
{
	struct ud_session *s = ue->s;
	struct ud_rec rec;
	u16 type = 0;
	u32 ret;

	spin_lock(&s->lock);
	if (ue->step == UD_STEP_ASKED && !ue->want_stop) {
		ue->step = UD_STEP_RUNNING;
		ret = UTRACE_SINGLESTEP;
	} else {
		if (ue->step == UD_STEP_RUNNING) {
			ue->want_stop = true;
			type = UTRACE_REC_STEP;
		} else if (ue->want_stop && !ue->announced) {
			type = UTRACE_REC_QUIESCE;
		}
		if (type) {
			ue->step = UD_STEP_NONE;
			ue->announced = true;
			ue->held_at = UD_HELD_OTHER;
		}
		ret = ud_plain_action_locked(ue);
	}
	spin_unlock(&s->lock);

	if (type) {
		ud_header(ue, &rec.h, type, 0);
		rec.h.flags = UTRACE_REC_HELD;
		ud_queue(s, &rec.h, true);
	}
	return ret;
}

static u32 ud_report_quiesce(u32 action, struct utrace_engine *engine,
			     unsigned long event)
{
	struct ud_engine *ue = engine->data;
	u32 ret;

	if (!ud_enter(ue->s))
		return UTRACE_DETACH;
	if (!event) {
		ret = ud_resume_point(ue);
	} else if (event != UTRACE_EVENT(DEATH)) {
		/*
		 * Before every event, so at every syscall: no lock. The answer
		 * is advisory like any plain action: a CONTROL after it waits
		 * in utrace_barrier() for our return, then overrides it.
		 */
		ret = READ_ONCE(ue->want_stop) ? UTRACE_STOP : UTRACE_RESUME;
	} else {
		spin_lock(&ue->s->lock);
		if (event == UTRACE_EVENT(DEATH)) {
			ue->dead = true;
			ue->want_stop = false;
		}
		ret = ud_plain_action_locked(ue);
		spin_unlock(&ue->s->lock);
	}
	ud_exit(ue->s);
	return ret;
}

/*
 * The event bit of a signal and what the kernel would do with it, as the
 * core classifies it (its signal_event()).
 */
/*
 * The event a signal report stands for, from the signal action the core
 * hands us: the kernel's own verdict for the signal (the core classifies
 * it), as changed by any engine before us.
 */
static u64 ud_signal_event(u32 sa)
{
	switch (sa) {
	case UTRACE_SIGNAL_DELIVER:
		return UTRACE_EV_SIGNAL;
	case UTRACE_SIGNAL_IGN:
		return UTRACE_EV_SIGNAL_IGN;
	case UTRACE_SIGNAL_STOP:
	case UTRACE_SIGNAL_TSTP:
		return UTRACE_EV_SIGNAL_STOP;
	case UTRACE_SIGNAL_CORE:
		return UTRACE_EV_SIGNAL_CORE;
	default:
		return UTRACE_EV_SIGNAL_TERM;
	}
}

/* Caller holds s->lock: the resume action after a verdict was applied. */
static u32 ud_after_verdict_locked(struct ud_engine *ue)
{
	if (ue->step == UD_STEP_ASKED && !ue->want_stop) {
		ue->step = UD_STEP_RUNNING;
		return UTRACE_SINGLESTEP;
	}
	return ud_plain_action_locked(ue);
}

static u32 ud_report_signal(u32 action, struct utrace_engine *engine,
			    struct pt_regs *regs, kernel_siginfo_t *info,
			    const struct k_sigaction *orig_ka,
			    struct k_sigaction *return_ka)
{
	struct ud_engine *ue = engine->data;
	struct ud_session *s = ue->s;
	u32 sa = utrace_signal_action(action);
	struct ud_rec rec;
	siginfo_t uinfo;
	bool hold = false;
	u64 event;
	u32 ret;

	if (!ud_enter(s))
		return sa | UTRACE_DETACH;
	if (sa == UTRACE_SIGNAL_REPORT || sa == UTRACE_SIGNAL_HANDLER || !orig_ka) {
		ret = sa | ud_resume_point(ue);
		goto out;
	}

	event = ud_signal_event(sa);

	spin_lock(&s->lock);
	if (ue->sig_pending && info->si_signo == ue->sig_signo &&
	    ue->sig_verdict == UTRACE_VERDICT_HOLD) {
		/*
		 * Still held: the core hands a held signal back at once, so it
		 * is reported again as a new stop, whatever the event mask.
		 */
		ue->sig_pending = false;
		ue->want_stop = true;
		ue->announced = false;
		ue->step = UD_STEP_NONE;
		hold = true;
	} else if (ue->sig_pending && info->si_signo == ue->sig_signo) {
		/* The signal we held, reported again: apply the verdict. */
		ue->sig_pending = false;
		switch (ue->sig_verdict) {
		case UTRACE_VERDICT_IGNORE:
			sa = UTRACE_SIGNAL_IGN;
			break;
		case UTRACE_VERDICT_DELIVER_OTHER:
			/* The core re-queues si_signo: its own disposition applies. */
			info->si_signo = ue->sig_other;
			sa = UTRACE_SIGNAL_DELIVER;
			break;
		default:
			break;
		}
		ret = sa | ud_after_verdict_locked(ue);
		spin_unlock(&s->lock);
		goto out;
	}
	if (!hold && !(ue->events & event)) {
		ret = sa | ud_plain_action_locked(ue);
		spin_unlock(&s->lock);
		goto out;
	}
	spin_unlock(&s->lock);

	ud_header(ue, &rec.h, UTRACE_REC_SIGNAL, sizeof(rec.u.sig));
	rec.u.sig.signo = info->si_signo;
	rec.u.sig.code = info->si_code;
	rec.u.sig.err = info->si_errno;
	rec.u.sig.disposition = sa >> 4;
	BUILD_BUG_ON(sizeof(uinfo) != sizeof(rec.u.sig.siginfo));
	copy_siginfo_to_external(&uinfo, info);
	memcpy(rec.u.sig.siginfo, &uinfo, sizeof(uinfo));
	ret = ud_report(ue, &rec.h, event, UD_HELD_SIGNAL, info->si_signo);
	if (rec.h.flags & UTRACE_REC_HELD)
		ret |= UTRACE_SIGNAL_HOLD;	/* re-reported after the stop */
	ret |= sa;
out:
	ud_exit(s);
	return ret;
}

static u32 ud_report_syscall_entry(u32 action, struct utrace_engine *engine,
				   struct pt_regs *regs)
{
	struct ud_engine *ue = engine->data;
	struct ud_session *s = ue->s;
	u32 sa = utrace_syscall_action(action);
	struct ud_rec rec;
	bool args;
	u32 ret;

	if (!ud_enter(s))
		return sa | UTRACE_DETACH;
	if (action & UTRACE_SYSCALL_RESUMED) {
		/* Repeated after our stop: the verdict, and no new record. */
		spin_lock(&s->lock);
		if (ue->entry_pending && ue->entry_abort) {
			sa = UTRACE_SYSCALL_ABORT;
			regs->ax = ue->entry_retval;
		} else if (ue->entry_pending && ue->entry_args) {
			/* The core runs the syscall from these registers. */
			regs->di = ue->entry_argv[0];
			regs->si = ue->entry_argv[1];
			regs->dx = ue->entry_argv[2];
			regs->r10 = ue->entry_argv[3];
			regs->r8 = ue->entry_argv[4];
			regs->r9 = ue->entry_argv[5];
		}
		ue->entry_pending = false;
		ue->entry_args = false;
		/*
		 * Ask for the step; it is armed by the resume report, where
		 * ud_resume_point() answers SINGLESTEP again (still ASKED).
		 */
		if (ue->step == UD_STEP_ASKED && !ue->want_stop)
			ret = UTRACE_SINGLESTEP;
		else
			ret = ud_plain_action_locked(ue);
		spin_unlock(&s->lock);
		ret |= sa;
		goto out;
	}
	/*
	 * A new syscall: no s->lock round trip of its own (ud_report() clears
	 * the last stop's entry state under its lock). The event set is read
	 * without the lock: a SET_EVENTS racing with this entry applies from
	 * this one or the next.
	 */
	if (!(READ_ONCE(ue->events) & UTRACE_EV_SYSCALL_ENTRY)) {
		spin_lock(&s->lock);
		ue->entry_pending = false;
		ue->entry_args = false;
		ret = sa | ud_plain_action_locked(ue);
		spin_unlock(&s->lock);
		goto out;
	}
	args = READ_ONCE(ue->se_flags) & UTRACE_SE_CAPTURE_ARGS;

	ud_header(ue, &rec.h, UTRACE_REC_SYSCALL_ENTRY, sizeof(rec.u.entry));
	rec.u.entry.nr = regs->orig_ax;
	if (args) {
		rec.h.flags |= UTRACE_REC_ARGS;
		rec.u.entry.args[0] = regs->di;
		rec.u.entry.args[1] = regs->si;
		rec.u.entry.args[2] = regs->dx;
		rec.u.entry.args[3] = regs->r10;
		rec.u.entry.args[4] = regs->r8;
		rec.u.entry.args[5] = regs->r9;
	}
	ret = sa | ud_report(ue, &rec.h, UTRACE_EV_SYSCALL_ENTRY,
			     UD_HELD_ENTRY, 0);
out:
	ud_exit(s);
	return ret;
}

static u32 ud_report_syscall_exit(u32 action, struct utrace_engine *engine,
				  struct pt_regs *regs)
{
	struct ud_engine *ue = engine->data;
	struct ud_rec rec;
	u32 ret;

	if (!ud_enter(ue->s))
		return UTRACE_DETACH;
	ud_header(ue, &rec.h, UTRACE_REC_SYSCALL_EXIT, sizeof(rec.u.exit));
	rec.u.exit.nr = regs->orig_ax;
	rec.u.exit.ret = regs->ax;
	ret = ud_report(ue, &rec.h, UTRACE_EV_SYSCALL_EXIT, UD_HELD_OTHER, 0);
	ud_exit(ue->s);
	return ret;
}

static int ud_attach_locked(struct ud_session *s, struct task_struct *task,
			    struct mm_struct *mm, u32 flags, u32 group,
			    const struct ud_settings *set, bool hold);
static struct ud_engine *ud_group_engine(struct ud_session *s,
					 struct task_struct *task, u32 group);

/*
 * Follows @child of current, traced by @ue: a new engine of the session
 * with @ue's settings. The core holds a clone child (not a vfork child)
 * before its first instruction until this report has returned, so the new
 * engine, spliced in at the child's first reporting pass, sees everything
 * the child does. Returns the child's handle, or 0.
 */
static u32 ud_follow(struct ud_engine *ue, unsigned long clone_flags,
		     struct task_struct *child)
{
	struct ud_session *s = ue->s;
	struct mm_struct *mm = NULL;
	struct ud_settings *set;
	struct ud_engine *old;
	bool hold, mm_ref = false;
	int ret;

	if (!(ue->flags & UTRACE_ATTACH_F_FOLLOW) &&
	    !((ue->flags & UD_F_THREADS) && (clone_flags & CLONE_THREAD)))
		return 0;
	/* A vfork child is reported after it exec'd or exited. */
	if (READ_ONCE(child->exit_state) || (child->flags & PF_EXITING))
		return 0;
	set = kzalloc(sizeof(*set), GFP_KERNEL);
	if (!set)
		return 0;

	mutex_lock(&s->attach_mutex);
	/*
	 * The child may be examined only in an mm the proof covers: the
	 * proven one itself (CLONE_VM), or, for a fork, the copy of it that
	 * the child starts with (it has not run yet: no vfork, no exec).
	 * ue->mm changes (UTRACE_IOC_PROVE) only under attach_mutex.
	 */
	if (current->mm == ue->mm) {
		if (clone_flags & CLONE_VM) {
			mm = ue->mm;
		} else if (!(clone_flags & CLONE_VFORK)) {
			mm = get_task_mm(child);
			mm_ref = mm;
		}
	}
	hold = ue->flags & UTRACE_ATTACH_F_HOLD_CHILDREN;

	/*
	 * The settings now, under attach_mutex: a UTRACE_SE_GROUP change is
	 * made under it too, so it either reaches the child's engine or was
	 * there before the copy.
	 */
	spin_lock(&s->lock);
	set->events = ue->events;
	set->stop_events = ue->stop_events;
	set->se_flags = ue->se_flags;
	if (ue->filter) {
		set->has_filter = true;
		memcpy(set->filter, ue->filter, sizeof(set->filter));
	}
	spin_unlock(&s->lock);
	/* ALL_THREADS may have attached it already: one engine per group. */
	old = ud_group_engine(s, child, ue->group);
	if (old)
		ret = old->handle;
	else if (READ_ONCE(s->closing))
		ret = 0;
	else
		ret = ud_attach_locked(s, child, mm, ue->flags & UD_F_INHERIT,
				       ue->group, set, hold);
	mutex_unlock(&s->attach_mutex);
	if (mm_ref)
		mmput(mm);
	kfree(set);
	return ret > 0 ? ret : 0;
}

static u32 ud_report_clone(u32 action, struct utrace_engine *engine,
			   unsigned long clone_flags, struct task_struct *child)
{
	struct ud_engine *ue = engine->data;
	struct ud_rec rec;
	u32 ret, handle;

	if (!ud_enter(ue->s))
		return UTRACE_DETACH;
	handle = ud_follow(ue, clone_flags, child);
	if (!(READ_ONCE(ue->events) & UTRACE_EV_CLONE)) {
		ret = ud_plain_action(ue);
		goto out;
	}
	ud_header(ue, &rec.h, UTRACE_REC_CLONE, sizeof(rec.u.clone));
	rec.u.clone.child_tid = task_pid_nr_ns(child, ue->s->ns);
	rec.u.clone.child_handle = handle;
	rec.u.clone.clone_flags = clone_flags;
	ret = ud_report(ue, &rec.h, UTRACE_EV_CLONE, UD_HELD_OTHER, 0);
out:
	ud_exit(ue->s);
	return ret;
}

/*
 * EXEC: the core reports once the exec has completed, before the new
 * image's first instruction. Nothing can have shared the new mm yet (no
 * user code ran to clone it), so mm->exe_file is stable here; RCU only
 * for the annotation.
 */
static u32 ud_report_exec(u32 action, struct utrace_engine *engine,
			  const struct linux_binfmt *fmt,
			  const struct linux_binprm *bprm, struct pt_regs *regs)
{
	struct ud_engine *ue = engine->data;
	struct ud_session *s = ue->s;
	struct utrace_ev_exec *ex;
	struct utrace_event *h;
	char *buf, *path = NULL;
	struct file *exe;
	bool lost, wanted;
	size_t len = 0;
	u32 ret;

	if (!ud_enter(s))
		return UTRACE_DETACH;
	/*
	 * An exec that gained privilege (setuid or setgid image, file
	 * capabilities, an unreadable image) left the new mm not dumpable,
	 * the kernel's own sign for cutting observers off (perf). ptrace
	 * would have run such an image unprivileged; here the proof was for
	 * the old image, so unless the attacher could trace the new one
	 * anyway (CAP_SYS_PTRACE), the engine lets go before its first
	 * instruction: no hold, no verdict, the EXEC record is its last.
	 */
	lost = !(ue->flags & UD_F_PRIV) &&
	       get_dumpable(current->mm) != SUID_DUMP_USER;
	spin_lock(&s->lock);
	/* An exec from a non-leader thread takes the leader's tid. */
	ue->tid = task_pid_nr_ns(current, s->ns);
	if (lost) {
		ue->stop_events = 0;
		ue->want_stop = false;
		ue->dead = true;
	}
	wanted = ue->events & UTRACE_EV_EXEC;
	spin_unlock(&s->lock);
	if (!wanted) {
		ret = lost ? UTRACE_DETACH : ud_plain_action(ue);
		goto out;
	}

	h = kmalloc(UTRACE_EVENT_MAX_SIZE, GFP_KERNEL);	/* ud_header() zeroes */
	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!h || !buf) {
		kfree(h);
		kfree(buf);
		ud_lost(s);
		ret = lost ? UTRACE_DETACH : ud_plain_action(ue);
		goto out;
	}
	rcu_read_lock();
	exe = rcu_dereference(current->mm->exe_file);
	if (exe) {
		path = d_path(&exe->f_path, buf, PATH_MAX);
		if (IS_ERR(path))
			path = NULL;
	}
	rcu_read_unlock();
	if (path)
		len = strnlen(path, PATH_MAX - 1);
	ex = (struct utrace_ev_exec *)(h + 1);
	ud_header(ue, h, UTRACE_REC_EXEC, sizeof(*ex) + len + 1);
	ex->path_len = len;
	if (len)
		memcpy(ex + 1, path, len);
	kfree(buf);
	ret = ud_report(ue, h, UTRACE_EV_EXEC, UD_HELD_OTHER, 0);
	if (lost)
		ret = UTRACE_DETACH;
	kfree(h);
out:
	ud_exit(s);
	return ret;
}

static u32 ud_report_exit(u32 action, struct utrace_engine *engine,
			  long orig_code, long *code)
{
	struct ud_engine *ue = engine->data;
	struct ud_rec rec;
	u32 ret;

	if (!ud_enter(ue->s))
		return UTRACE_DETACH;
	ud_header(ue, &rec.h, UTRACE_REC_EXIT, sizeof(rec.u.code));
	rec.u.code.code = orig_code;
	ret = ud_report(ue, &rec.h, UTRACE_EV_EXIT, UD_HELD_OTHER, 0);
	ud_exit(ue->s);
	return ret;
}

static u32 ud_report_death(struct utrace_engine *engine, bool group_dead,
			   int signal)
{
	struct ud_engine *ue = engine->data;
	struct ud_session *s = ue->s;
	struct ud_rec rec;

	if (!ud_enter(s))
		return UTRACE_DETACH;
	spin_lock(&s->lock);
	ue->dead = true;
	ue->want_stop = false;
	spin_unlock(&s->lock);
	ud_header(ue, &rec.h, UTRACE_REC_DEATH, sizeof(rec.u.death));
	rec.u.death.group_dead = group_dead;
	rec.u.death.signal = signal;
	ud_queue(s, &rec.h, false);
	ud_exit(s);
	return UTRACE_RESUME;
}

/* In whatever context reaps the thread: must not block. */
static void ud_report_reap(struct utrace_engine *engine,
			   struct task_struct *task)
{
	struct ud_engine *ue = engine->data;
	struct ud_session *s = ue->s;
	struct ud_rec rec;

	if (!ud_enter(s))
		return;
	memset(&rec, 0, sizeof(rec));
	spin_lock(&s->lock);
	ue->dead = true;
	ue->want_stop = false;
	rec.h.tid = ue->tid;
	rec.h.tgid = ue->tgid;
	spin_unlock(&s->lock);
	rec.h.size = UD_HDR;
	rec.h.type = UTRACE_REC_REAP;
	rec.h.handle = ue->handle;
	ud_queue(s, &rec.h, false);
	ud_exit(s);
}

/* The core's last reference is gone: any context. */
static void ud_release(void *data)
{
	struct ud_engine *ue = data;

	if (ue->mm)
		mmdrop(ue->mm);
	put_task_struct(ue->task);
	ud_session_put(ue->s);
	kfree(ue->filter);
	kfree(ue);
}

static const struct utrace_engine_ops ud_ops = {
	.report_quiesce = ud_report_quiesce,
	.report_signal = ud_report_signal,
	.report_clone = ud_report_clone,
	.report_exec = ud_report_exec,
	.report_syscall_entry = ud_report_syscall_entry,
	.report_syscall_exit = ud_report_syscall_exit,
	.report_exit = ud_report_exit,
	.report_death = ud_report_death,
	.report_reap = ud_report_reap,
	.release = ud_release,
	/* Each event callback stops the thread as report_quiesce would. */
	.quiesce_in_event = true,
};

/* ---------------------------------------------------------------------- */
/* ioctls */

/*
 * Copies a versioned argument struct: @usize (its first u32) must be at
 * least @ver0 and at most UD_ARG_MAX; bytes past @ksize must be zero.
 */
static int ud_copy_arg(void *karg, size_t ksize, size_t ver0,
		       void __user *uarg, u32 *usizep)
{
	u32 usize;
	int ret;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < ver0 || usize > UD_ARG_MAX)
		return -EINVAL;
	ret = copy_struct_from_user(karg, ksize, uarg, usize);
	if (ret == -E2BIG)
		return -EINVAL;
	if (ret)
		return ret;
	*usizep = usize;
	return 0;
}

#define UD_COPY_ARG(k, uarg, ver0, usizep) \
	ud_copy_arg(&(k), sizeof(k), ver0, uarg, usizep)

/* Writes back field @f of @k if the caller's struct has room for it. */
#define UD_PUT_FIELD(k, uarg, usize, f)					\
	((offsetofend(typeof(k), f) <= (usize)) ?			\
	 (copy_to_user((u8 __user *)(uarg) + offsetof(typeof(k), f),	\
		       &(k).f, sizeof((k).f)) ? -EFAULT : 0) : 0)

/*
 * The regset of @task's view with core note type @note, or NULL. The
 * XSAVE regset has n == 0 on a CPU without XSAVE.
 */
static const struct user_regset *ud_regset(struct task_struct *task,
					   unsigned int note)
{
	const struct user_regset_view *view = task_user_regset_view(task);
	unsigned int i;

	for (i = 0; i < view->n; i++)
		if (view->regsets[i].core_note_type == note)
			return view->regsets[i].n ? &view->regsets[i] : NULL;
	return NULL;
}

/* What this file adds to the module's features, on this kernel and CPU. */
static u64 ud_features(void)
{
	u64 f = UTRACE_FEAT_FOLLOW | UTRACE_FEAT_KILL_ON_CLOSE |
		UTRACE_FEAT_ALL_THREADS | UTRACE_FEAT_BARRIER |
		UTRACE_FEAT_RUN_ARGS | UTRACE_FEAT_SIGNAL_HOLD |
		UTRACE_FEAT_SE_GROUP | UTRACE_FEAT_PROVE;
	const struct user_regset *rs;

	rs = ud_regset(current, NT_PRFPREG);
	if (rs && rs->set)
		f |= UTRACE_FEAT_FPREGS;
	rs = ud_regset(current, NT_X86_XSTATE);
	if (rs && rs->set)
		f |= UTRACE_FEAT_XSTATE;
	return f;
}

static long utrace_ioc_version(void __user *uarg)
{
	struct utrace_version v;
	u32 usize;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < UTRACE_VERSION_SIZE_VER0)
		return -EINVAL;

	/* Zero first: no uninitialised byte may reach user space. */
	memset(&v, 0, sizeof(v));
	v.size = min_t(u32, usize, sizeof(v));
	v.api_version = UTRACE_DEV_API_VERSION;
	v.features = utrace_features() | ud_features();
	strscpy(v.kernel_release, utsname()->release, sizeof(v.kernel_release));
	strscpy(v.module_version, UTRACE_MODULE_VERSION,
		sizeof(v.module_version));

	if (copy_to_user(uarg, &v, v.size))
		return -EFAULT;
	return 0;
}

/* Looks up @handle with an engine reference the caller puts (ud_put). */
static struct ud_engine *ud_get(struct ud_session *s, u32 handle)
{
	struct ud_engine *ue;

	xa_lock(&s->engines);
	ue = xa_load(&s->engines, handle);
	if (ue)
		utrace_engine_get(ue->engine);
	xa_unlock(&s->engines);
	return ue ?: ERR_PTR(-ENOENT);
}

/* Drops ud_get()'s reference: @ue may be freed by it. */
static void ud_put(struct ud_engine *ue)
{
	utrace_engine_put(ue->engine);
}

/*
 * The proof of the right to trace @task: @fd is /proc/PID/mem (or
 * /proc/PID/task/TID/mem), opened for reading, and the mm it was opened
 * for (proc keeps it in private_data) is @task's. The open itself ran
 * ptrace_may_access(PTRACE_MODE_ATTACH_FSCREDS), LSMs and Yama included. A
 * different mm (the process exec'd since, maybe setuid) proves nothing.
 * On success *@mmp holds an mmgrab() reference on the proven mm.
 */
static int ud_check_proof(int fd, struct task_struct *task,
			  struct mm_struct **mmp)
{
	struct mm_struct *mm;
	struct file *f;
	int ret = -EPERM;

	if (fd < 0)
		return -EPERM;
	f = fget(fd);
	if (!f)
		return -EPERM;
	if (file_inode(f)->i_sb->s_magic != PROC_SUPER_MAGIC ||
	    !S_ISREG(file_inode(f)->i_mode) || !(f->f_mode & FMODE_READ) ||
	    strcmp(f->f_path.dentry->d_name.name, "mem"))
		goto out;
	mm = get_task_mm(task);
	if (!mm)
		goto out;
	if (f->private_data == mm) {
		mmgrab(mm);
		*mmp = mm;
		ret = 0;
	}
	mmput(mm);
out:
	fput(f);
	return ret;
}

/* Caller holds s->attach_mutex. Is @task already traced by this session? */
static bool ud_session_has(struct ud_session *s, struct task_struct *task)
{
	struct ud_engine *ue;
	unsigned long idx;

	xa_for_each(&s->engines, idx, ue)
		if (ue->task == task && !READ_ONCE(ue->dead))
			return true;
	return false;
}

/*
 * Detaches an engine already taken out of the table; puts the table's
 * reference. A held thread runs again. Errors mean the engine is gone
 * already (thread reaped, or dying): nothing left to undo.
 */
static int ud_detach(struct ud_engine *ue)
{
	struct utrace_engine *engine = ue->engine;
	int ret;

	spin_lock(&ue->s->lock);
	ue->want_stop = false;
	ue->step = UD_STEP_NONE;
	ue->entry_pending = false;
	ue->sig_pending = false;
	spin_unlock(&ue->s->lock);
	ret = utrace_control(ue->task, engine, UTRACE_DETACH);
	if (ret && ret != -ESRCH && ret != -EALREADY && ret != -EINPROGRESS)
		pr_debug("detach: %d\n", ret);
	utrace_engine_put(engine);
	return ret;
}

/*
 * The core events an engine needs: the user's, QUIESCE, CLONE to follow;
 * and, for syscall events that do not stop, leave to report them in the
 * tracepoint (our callbacks never sleep there: see ud_report()).
 */
static unsigned long ud_core_events(u64 events, u64 stop, u32 flags)
{
	/* EXEC always: an exec that gains privilege detaches the engine. */
	unsigned long ev = events | UTRACE_EVENT(QUIESCE) | UTRACE_EVENT(EXEC);

	if (flags & (UTRACE_ATTACH_F_FOLLOW | UD_F_THREADS))
		ev |= UTRACE_EVENT(CLONE);
	if (!(stop & UTRACE_EV_SYSCALL_ENTRY))
		ev |= UTRACE_SYSCALL_ENTRY_ATOMIC;
	if (!(stop & UTRACE_EV_SYSCALL_EXIT))
		ev |= UTRACE_SYSCALL_EXIT_ATOMIC;
	return ev;
}

/* An engine that never reached the core: undo what ud_attach_locked did. */
static void ud_free_unattached(struct ud_engine *ue)
{
	ud_release(ue);
}

/*
 * Caller holds s->attach_mutex. Attaches a new user engine of @s to
 * @task, with @set's settings (NULL: none yet), examining @mm (NULL: no
 * proof, examining is refused), held from its first report on if @hold.
 * Takes its own references on @task and @mm. Returns the handle (> 0) or a
 * negative errno.
 */
static int ud_attach_locked(struct ud_session *s, struct task_struct *task,
			    struct mm_struct *mm, u32 flags, u32 group,
			    const struct ud_settings *set, bool hold)
{
	struct utrace_engine *engine;
	struct ud_engine *ue;
	u32 id;
	int ret;

	ue = kzalloc(sizeof(*ue), GFP_KERNEL);
	if (!ue)
		return -ENOMEM;
	if (set && set->has_filter) {
		ue->filter = kmemdup(set->filter, sizeof(set->filter),
				     GFP_KERNEL);
		if (!ue->filter) {
			kfree(ue);
			return -ENOMEM;
		}
	}
	get_task_struct(task);
	ue->task = task;
	if (mm)
		mmgrab(mm);
	ue->mm = mm;
	ue->tid = task_pid_nr_ns(task, s->ns);
	ue->tgid = task_tgid_nr_ns(task, s->ns);
	ue->flags = flags;
	ue->group = group;
	if (set) {
		ue->events = set->events;
		ue->stop_events = set->stop_events;
		ue->se_flags = set->se_flags;
	}
	ue->want_stop = hold;
	kref_get(&s->kref);
	ue->s = s;

	/*
	 * From 1, not xa_limit_31b: erasing index 0 (DETACH of handle 0)
	 * marks it free even in an ALLOC1 array, and 0 is never a handle.
	 */
	ret = xa_alloc(&s->engines, &id, NULL, XA_LIMIT(1, INT_MAX), GFP_KERNEL);
	if (ret) {
		ud_free_unattached(ue);
		return ret;
	}
	ue->handle = id;
	engine = utrace_attach_task(task, UTRACE_ATTACH_CREATE, &ud_ops, ue);
	if (IS_ERR(engine)) {
		xa_erase(&s->engines, id);
		ud_free_unattached(ue);
		return PTR_ERR(engine);
	}
	/* From here on ue belongs to the engine: ud_release() frees it. */
	ue->engine = engine;
	ret = ue->filter ? utrace_set_syscall_filter(task, engine, ue->filter) :
			   0;
	/* QUIESCE always: STOP, SINGLESTEP and REPORT need its reports. */
	if (!ret)
		ret = utrace_set_events(task, engine,
					ud_core_events(ue->events,
						       ue->stop_events, flags));
	/*
	 * A child held by the core stops at its first reporting pass anyway;
	 * a vfork child, reported late, is asked to stop where it is.
	 */
	if (!ret && hold) {
		ret = utrace_control(task, engine, UTRACE_STOP);
		if (ret == -EINPROGRESS)
			ret = 0;
	}
	if (!ret) {
		xa_store(&s->engines, id, ue, GFP_KERNEL);
		return id;
	}
	xa_erase(&s->engines, id);
	ud_detach(ue);
	return ret;
}

/* Caller holds s->attach_mutex. @task's live engine of ATTACH @group. */
static struct ud_engine *ud_group_engine(struct ud_session *s,
					 struct task_struct *task, u32 group)
{
	struct ud_engine *ue;
	unsigned long idx;

	xa_for_each(&s->engines, idx, ue)
		if (ue->task == task && ue->group == group &&
		    !READ_ONCE(ue->dead))
			return ue;
	return NULL;
}

/* Caller holds s->attach_mutex. Detaches every engine of @group. */
static void ud_detach_group(struct ud_session *s, u32 group)
{
	struct ud_engine *ue;
	unsigned long idx;

	xa_for_each(&s->engines, idx, ue) {
		if (ue->group != group)
			continue;
		xa_erase(&s->engines, idx);
		ud_detach(ue);
	}
}

/*
 * Caller holds s->attach_mutex. ALL_THREADS: @task's engine is attached;
 * now every other thread of its process. The engines follow CLONE_THREAD
 * children (UD_F_THREADS), so a thread created by an attached thread is
 * caught in report_clone; one created by a thread not yet attached is in
 * the thread list before its parent's fork hook reads the core flags, so
 * a scan after its parent's attach sees it. Scans repeat until one finds
 * no new thread. @seen (pid -> task, one task reference each) makes sure a
 * thread that cannot be attached (exiting) is tried once.
 */
static int ud_attach_threads(struct ud_session *s, struct task_struct *task,
			     struct mm_struct *mm, u32 flags, u32 group)
{
	struct task_struct *t, *old, *batch[UD_SCAN_BATCH];
	unsigned int i, n;
	struct xarray seen;
	unsigned long idx;
	int ret = 0;

	xa_init(&seen);
	get_task_struct(task);
	old = xa_store(&seen, task->pid, task, GFP_KERNEL);
	if (xa_is_err(old)) {
		put_task_struct(task);
		ret = xa_err(old);
	}
	while (!ret) {
		/*
		 * Our engines' CLONE bit before the thread list: pairs with
		 * the locked instructions in copy_process() between its
		 * thread-list insertion and the fork hook (x86: full fence).
		 */
		smp_mb();
		n = 0;
		rcu_read_lock();
		for_each_thread(task, t) {
			if (xa_load(&seen, t->pid) == t)
				continue;
			get_task_struct(t);
			batch[n++] = t;
			if (n == UD_SCAN_BATCH)
				break;
		}
		rcu_read_unlock();
		if (!n)
			break;
		for (i = 0; i < n; i++) {
			t = batch[i];
			batch[i] = NULL;
			/* seen takes over the reference. */
			old = ret ? NULL : xa_store(&seen, t->pid, t, GFP_KERNEL);
			if (ret || xa_is_err(old)) {
				put_task_struct(t);
				ret = ret ?: xa_err(old);
				continue;
			}
			if (old)
				put_task_struct(old);	/* its pid was reused */
			if ((flags & UTRACE_ATTACH_F_EXCLUSIVE) &&
			    ud_session_has(s, t))
				continue;
			ret = ud_attach_locked(s, t, mm, flags, group, NULL,
					       false);
			/* Gone meanwhile: the thread list loses it. */
			if (ret == -ESRCH || ret == -EALREADY || ret > 0)
				ret = 0;
			if (!ret && fatal_signal_pending(current))
				ret = -EINTR;
		}
		cond_resched();
	}
	xa_for_each(&seen, idx, t)
		put_task_struct(t);
	xa_destroy(&seen);
	return ret;
}

static long ud_ioc_attach(struct ud_session *s, void __user *uarg)
{
	struct mm_struct *mm = NULL;
	struct utrace_attach a;
	struct task_struct *task;
	struct pid *pid;
	u32 usize, group, flags;
	long ret;

	ret = UD_COPY_ARG(a, uarg, UTRACE_ATTACH_SIZE_VER0, &usize);
	if (ret)
		return ret;
	if (a.reserved0 || a.reserved[0] || a.reserved[1] || a.handle ||
	    (a.flags & ~UTRACE_ATTACH_F_ALL))
		return -EINVAL;
	/* Holding children means following them. */
	if ((a.flags & UTRACE_ATTACH_F_HOLD_CHILDREN) &&
	    !(a.flags & UTRACE_ATTACH_F_FOLLOW))
		return -EINVAL;
	if (a.tid <= 0)
		return -ESRCH;
	flags = a.flags;
	if (flags & UTRACE_ATTACH_F_ALL_THREADS)
		flags = (flags & ~UTRACE_ATTACH_F_ALL_THREADS) | UD_F_THREADS;

	pid = find_get_pid(a.tid);
	task = pid ? get_pid_task(pid, PIDTYPE_PID) : NULL;
	put_pid(pid);
	if (!task)
		return -ESRCH;
	if (task->flags & PF_KTHREAD) {
		ret = -EPERM;
		goto out_task;
	}
	ret = ud_check_proof(a.proof_fd, task, &mm);
	if (ret)
		goto out_task;
	if (ns_capable_noaudit(task_cred_xxx(task, user_ns), CAP_SYS_PTRACE))
		flags |= UD_F_PRIV;

	mutex_lock(&s->attach_mutex);
	if ((a.flags & UTRACE_ATTACH_F_EXCLUSIVE) && ud_session_has(s, task)) {
		ret = -EEXIST;
		goto out_unlock;
	}
	group = ++s->groups;
	ret = ud_attach_locked(s, task, mm, flags, group, NULL, false);
	/* Exiting: the core takes no new engine's DEATH; as good as gone. */
	if (ret == -EALREADY)
		ret = -ESRCH;
	if (ret < 0)
		goto out_unlock;
	a.handle = ret;
	ret = 0;
	if (flags & UD_F_THREADS)
		ret = ud_attach_threads(s, task, mm, flags, group);
	if (!ret)
		ret = UD_PUT_FIELD(a, uarg, usize, handle);
	if (ret)
		ud_detach_group(s, group);
out_unlock:
	mutex_unlock(&s->attach_mutex);
	mmdrop(mm);
out_task:
	put_task_struct(task);
	return ret;
}

/*
 * Gives @ue the settings of @se, with syscall filter @kf (NULL: all).
 * Returns 0, -ESRCH (dead), -ENOMEM, or -EINPROGRESS: bits were cleared
 * while a callback may run; the caller owes a utrace_barrier().
 */
static int ud_apply_settings(struct ud_session *s, struct ud_engine *ue,
			     const struct utrace_set_events *se,
			     const unsigned long *kf)
{
	unsigned long *filter = NULL, *old;
	int ret;

	/* Kept: followed children start with the same filter. */
	if (kf) {
		filter = kmemdup(kf, UD_FILTER_LONGS * sizeof(long), GFP_KERNEL);
		if (!filter)
			return -ENOMEM;
	}
	old = filter;
	spin_lock(&s->lock);
	ret = ue->dead ? -ESRCH : 0;
	if (!ret) {
		WRITE_ONCE(ue->events, se->events);
		ue->stop_events = se->stop_events;
		WRITE_ONCE(ue->se_flags, se->flags & UTRACE_SE_CAPTURE_ARGS);
		old = ue->filter;
		ue->filter = filter;
	}
	spin_unlock(&s->lock);
	kfree(old);
	if (!ret)
		ret = utrace_set_syscall_filter(ue->task, ue->engine, kf);
	if (!ret)
		ret = utrace_set_events(ue->task, ue->engine,
					ud_core_events(se->events,
						       se->stop_events,
						       ue->flags));
	return ret;
}

/*
 * UTRACE_SE_GROUP: every live engine of @se->handle's ATTACH. Under
 * s->attach_mutex, which ud_follow() holds while it copies a parent's
 * settings and attaches the child, so each child gets either the old
 * settings and is updated here, or the new ones. The barriers wait for
 * callbacks, and a callback may wait for attach_mutex (ud_follow): they
 * come after the unlock.
 */
static long ud_set_events_group(struct ud_session *s,
				const struct utrace_set_events *se,
				const unsigned long *kf)
{
	struct ud_engine *ue, **all;
	bool *wait;
	unsigned long idx;
	u32 n = 0, i, group;
	long ret, err;

	mutex_lock(&s->attach_mutex);
	ue = xa_load(&s->engines, se->handle);
	if (!ue) {
		mutex_unlock(&s->attach_mutex);
		return -ENOENT;
	}
	group = ue->group;
	xa_for_each(&s->engines, idx, ue)
		n += ue->group == group;
	all = kvcalloc(n, sizeof(*all) + sizeof(*wait), GFP_KERNEL);
	if (!all) {
		mutex_unlock(&s->attach_mutex);
		return -ENOMEM;
	}
	wait = (bool *)(all + n);
	ret = 0;
	i = 0;
	xa_for_each(&s->engines, idx, ue) {
		if (ue->group != group || i >= n)
			continue;
		utrace_engine_get(ue->engine);
		all[i] = ue;
		err = ud_apply_settings(s, ue, se, kf);
		wait[i++] = err == -EINPROGRESS;
		/* Other threads may be dying: only the handle's own counts. */
		if (ue->handle == se->handle && err != -EINPROGRESS)
			ret = err;
		else if (err == -ENOMEM)
			ret = err;
	}
	mutex_unlock(&s->attach_mutex);
	n = i;
	for (i = 0; i < n; i++) {
		if (wait[i]) {
			err = utrace_barrier(all[i]->task, all[i]->engine);
			if (err == -ERESTARTSYS)
				ret = -EINTR;
		}
		ud_put(all[i]);
	}
	kvfree(all);
	return ret;
}

static long ud_ioc_set_events(struct ud_session *s, void __user *uarg)
{
	unsigned long kf[UD_FILTER_LONGS];
	struct utrace_set_events se;
	struct ud_engine *ue;
	u32 usize;
	long ret;

	BUILD_BUG_ON(UTRACE_FILTER_NR != UTRACE_NR_SYSCALLS);
	ret = UD_COPY_ARG(se, uarg, UTRACE_SET_EVENTS_SIZE_VER0, &usize);
	if (ret)
		return ret;
	if (se.reserved0 || se.reserved[0] || se.reserved[1] ||
	    (se.events & ~UTRACE_EV_ALL) || (se.stop_events & ~se.events) ||
	    (se.stop_events & ~UTRACE_EV_STOPPABLE) ||
	    (se.flags & ~(UTRACE_SE_CAPTURE_ARGS | UTRACE_SE_GROUP)))
		return -EINVAL;
	if (se.syscall_filter &&
	    copy_from_user(kf, u64_to_user_ptr(se.syscall_filter), sizeof(kf)))
		return -EFAULT;
	if (se.flags & UTRACE_SE_GROUP)
		return ud_set_events_group(s, &se,
					   se.syscall_filter ? kf : NULL);

	ue = ud_get(s, se.handle);
	if (IS_ERR(ue))
		return PTR_ERR(ue);
	ret = ud_apply_settings(s, ue, &se, se.syscall_filter ? kf : NULL);
	/* Bits were cleared while a callback ran: wait for it. */
	if (ret == -EINPROGRESS)
		ret = utrace_barrier(ue->task, ue->engine);
	ud_put(ue);
	return ret == -ERESTARTSYS ? -EINTR : ret;
}

static long ud_ioc_detach_handle(struct ud_session *s, u32 handle)
{
	struct ud_engine *ue;
	int ret;

	mutex_lock(&s->attach_mutex);
	ue = xa_erase(&s->engines, handle);
	mutex_unlock(&s->attach_mutex);
	if (!ue)
		return -ENOENT;
	/* Keep ue for the barrier: the table's reference goes in ud_detach. */
	utrace_engine_get(ue->engine);
	/*
	 * -EINPROGRESS: a callback of ours is running; wait for it, so no
	 * callback runs once this returns. Otherwise none is (and a barrier
	 * would wait for the thread's next reporting pass to unlink us).
	 */
	ret = ud_detach(ue) == -EINPROGRESS ?
	      utrace_barrier(ue->task, ue->engine) : 0;
	ud_put(ue);
	return ret == -ERESTARTSYS ? -EINTR : 0;
}

static long ud_ioc_barrier(struct ud_session *s, void __user *uarg)
{
	struct utrace_barrier b;
	struct ud_engine *ue;
	u32 usize;
	long ret;

	ret = UD_COPY_ARG(b, uarg, UTRACE_BARRIER_SIZE_VER0, &usize);
	if (ret)
		return ret;
	if (b.reserved)
		return -EINVAL;
	ue = ud_get(s, b.handle);
	if (IS_ERR(ue))
		return PTR_ERR(ue);
	ret = utrace_barrier(ue->task, ue->engine);
	ud_put(ue);
	return ret == -ERESTARTSYS ? -EINTR : ret;
}

/*
 * A new proof for an engine's thread after an exec: examining is allowed
 * again in the mm the thread runs now, exactly as a new ATTACH would allow.
 */
static long ud_ioc_prove(struct ud_session *s, void __user *uarg)
{
	struct mm_struct *mm, *old;
	struct utrace_prove p;
	struct ud_engine *ue;
	u32 usize;
	long ret;

	ret = UD_COPY_ARG(p, uarg, UTRACE_PROVE_SIZE_VER0, &usize);
	if (ret)
		return ret;
	if (p.reserved)
		return -EINVAL;
	ue = ud_get(s, p.handle);
	if (IS_ERR(ue))
		return PTR_ERR(ue);
	ret = ud_check_proof(p.proof_fd, ue->task, &mm);
	if (!ret) {
		/* ud_follow() reads ue->mm under attach_mutex. */
		mutex_lock(&s->attach_mutex);
		old = ue->mm;
		WRITE_ONCE(ue->mm, mm);
		mutex_unlock(&s->attach_mutex);
		if (old)
			mmdrop(old);
	}
	ud_put(ue);
	return ret;
}

static long ud_ioc_detach(struct ud_session *s, void __user *uarg)
{
	struct utrace_detach d;
	u32 usize;
	long ret;

	ret = UD_COPY_ARG(d, uarg, UTRACE_DETACH_SIZE_VER0, &usize);
	if (ret)
		return ret;
	if (d.reserved)
		return -EINVAL;
	return ud_ioc_detach_handle(s, d.handle);
}

static long ud_ioc_control(struct ud_session *s, void __user *uarg)
{
	enum utrace_resume_action core;
	struct utrace_control c;
	struct ud_engine *ue;
	bool held, entry_verdict, sig_verdict;
	u64 argv[6] = {};
	u32 usize;
	long ret;

	ret = UD_COPY_ARG(c, uarg, UTRACE_CONTROL_SIZE_VER0, &usize);
	if (ret)
		return ret;
	if (c.reserved0 || c.reserved || c.action > UTRACE_CTL_DETACH ||
	    c.verdict > UTRACE_VERDICT_HOLD ||
	    (c.retval && c.verdict != UTRACE_VERDICT_ABORT) ||
	    (!c.args != (c.verdict != UTRACE_VERDICT_RUN_ARGS)))
		return -EINVAL;
	if (c.verdict == UTRACE_VERDICT_DELIVER_OTHER ?
	    (c.signo <= 0 || c.signo > _NSIG) : c.signo)
		return -EINVAL;
	entry_verdict = c.verdict == UTRACE_VERDICT_RUN ||
			c.verdict == UTRACE_VERDICT_ABORT ||
			c.verdict == UTRACE_VERDICT_RUN_ARGS;
	sig_verdict = c.verdict >= UTRACE_VERDICT_DELIVER && !entry_verdict;
	if (c.verdict && (c.action == UTRACE_CTL_STOP ||
			  c.action == UTRACE_CTL_DETACH))
		return -EINVAL;
	if (c.action == UTRACE_CTL_DETACH)
		return ud_ioc_detach_handle(s, c.handle);
	if (c.args && copy_from_user(argv, u64_to_user_ptr(c.args),
				     sizeof(argv)))
		return -EFAULT;

	ue = ud_get(s, c.handle);
	if (IS_ERR(ue))
		return PTR_ERR(ue);
	core = c.action == UTRACE_CTL_BLOCKSTEP ? UTRACE_SINGLESTEP : c.action;

	spin_lock(&s->lock);
	held = ue->want_stop && ue->announced;
	if (ue->dead) {
		ret = -ESRCH;
	} else if ((entry_verdict &&
		    !(held && ue->held_at == UD_HELD_ENTRY)) ||
		   (sig_verdict &&
		    !(held && ue->held_at == UD_HELD_SIGNAL))) {
		ret = -EINVAL;	/* no such verdict pending */
	} else if (c.action == UTRACE_CTL_STOP) {
		if (!ue->want_stop) {
			ue->want_stop = true;
			ue->announced = false;
		}
		ue->step = UD_STEP_NONE;
	} else {
		ue->want_stop = false;
		ue->announced = false;
		ue->step = core == UTRACE_SINGLESTEP ? UD_STEP_ASKED :
						       UD_STEP_NONE;
		if (held && ue->held_at == UD_HELD_ENTRY &&
		    (c.verdict == UTRACE_VERDICT_ABORT ||
		     c.verdict == UTRACE_VERDICT_RUN_ARGS)) {
			/*
			 * The core repeats the entry report: abort there, or
			 * put the new arguments in place.
			 */
			ue->entry_pending = true;
			ue->entry_abort = c.verdict == UTRACE_VERDICT_ABORT;
			ue->entry_args = c.verdict == UTRACE_VERDICT_RUN_ARGS;
			ue->entry_retval = c.retval;
			memcpy(ue->entry_argv, argv, sizeof(argv));
			if (core > UTRACE_REPORT)
				core = UTRACE_REPORT;
		}
		if (held && ue->held_at == UD_HELD_SIGNAL) {
			/* The held signal comes back: the verdict applies. */
			ue->sig_pending = true;
			ue->sig_signo = ue->held_signo;
			ue->sig_verdict = c.verdict;
			ue->sig_other = c.signo;
		}
	}
	spin_unlock(&s->lock);

	if (!ret) {
		ret = utrace_barrier(ue->task, ue->engine);
		if (!ret)
			ret = utrace_control(ue->task, ue->engine, core);
	}
	if (!ret && c.action == UTRACE_CTL_STOP) {
		/* Stopped already (by another engine, or job control). */
		spin_lock(&s->lock);
		if (ue->want_stop && !ue->announced) {
			ue->announced = true;
			ue->held_at = UD_HELD_OTHER;
		}
		spin_unlock(&s->lock);
	}
	ud_put(ue);
	return ret == -ERESTARTSYS ? -EINTR : ret;
}

/*
 * Takes the engine from @handle that must hold its thread stopped and
 * still be examining the mm the proof was for.
 */
static struct ud_engine *ud_get_held(struct ud_session *s, u32 handle)
{
	struct mm_struct *mm;
	struct ud_engine *ue;
	bool held;

	ue = ud_get(s, handle);
	if (IS_ERR(ue))
		return ue;
	spin_lock(&s->lock);
	held = ue->want_stop && !ue->dead;
	spin_unlock(&s->lock);
	if (!held) {
		ud_put(ue);
		return ERR_PTR(-EBUSY);
	}
	mm = get_task_mm(ue->task);
	if (mm != ue->mm) {
		if (mm)
			mmput(mm);
		ud_put(ue);
		return ERR_PTR(mm ? -EPERM : -ESRCH);
	}
	mmput(mm);
	return ue;
}

/*
 * utrace_prepare_examine(), waiting a little for a thread that was just
 * told to stop to get there (a deferred stop runs on its way to user mode).
 */
static int ud_prepare_examine(struct ud_engine *ue,
			      struct utrace_examiner *exam)
{
	int tries, ret;

	ret = utrace_barrier(ue->task, ue->engine);
	if (ret)
		return ret == -ERESTARTSYS ? -EINTR : ret;
	for (tries = 0;; tries++) {
		ret = utrace_prepare_examine(ue->task, ue->engine, exam);
		if (ret != -EAGAIN || tries >= 200 ||
		    fatal_signal_pending(current))
			break;
		usleep_range(500, 1000);
	}
	return ret == -EINVAL ? -EBUSY : ret;
}

static long ud_ioc_regs(struct ud_session *s, void __user *uarg, bool set)
{
	const struct user_regset *rs;
	struct utrace_examiner exam;
	struct utrace_regs r;
	struct ud_engine *ue;
	unsigned int size, note;
	void *kbuf = NULL;
	u32 usize;
	long ret;
	int err;

	ret = UD_COPY_ARG(r, uarg, UTRACE_REGS_SIZE_VER0, &usize);
	if (ret)
		return ret;
	if (r.reserved)
		return -EINVAL;
	switch (r.regset) {
	case 0:
	case UTRACE_REGSET_GENERAL:
		note = NT_PRSTATUS;
		break;
	case UTRACE_REGSET_FP:
		note = NT_PRFPREG;
		break;
	case UTRACE_REGSET_XSTATE:
		note = NT_X86_XSTATE;
		break;
	default:
		return -EINVAL;
	}
	ue = ud_get_held(s, r.handle);
	if (IS_ERR(ue))
		return PTR_ERR(ue);
	/*
	 * The regset view and the registers are on the thread's side (its
	 * kernel stack): only while it is pinned in its stop (see
	 * utrace_prepare_examine()), and no user memory is touched then.
	 */
	ret = ud_prepare_examine(ue, &exam);
	if (ret)
		goto out;
	rs = ud_regset(ue->task, note);
	size = rs ? rs->n * rs->size : 0;
	if (!set && rs && r.len >= size) {
		/* A read needs no user memory first: all in this one pin. */
		kbuf = kzalloc(size, GFP_KERNEL);
		ret = kbuf ? regset_get(ue->task, rs, size, kbuf) : -ENOMEM;
		goto finish;
	}
	ret = utrace_finish_examine(ue->task, ue->engine, &exam);
	if (ret)
		goto out_busy;
	ret = -EOPNOTSUPP;
	if (!rs || (set && !rs->set))
		goto out;
	if (r.len < size) {
		/* Tell the caller the size it needs. */
		r.len = size;
		ret = UD_PUT_FIELD(r, uarg, usize, len) ?: -EINVAL;
		goto out;
	}
	ret = -ENOMEM;
	kbuf = kzalloc(size, GFP_KERNEL);
	if (!kbuf)
		goto out;
	/* Only a write gets here: its values first, then the second pin. */
	ret = -EFAULT;
	if (copy_from_user(kbuf, u64_to_user_ptr(r.regs), size))
		goto out;

	ret = ud_prepare_examine(ue, &exam);
	if (ret)
		goto out;
	ret = rs->set(ue->task, rs, 0, size, kbuf, NULL);
finish:
	if (ret == -ENODEV)
		ret = -EOPNOTSUPP;	/* the CPU lacks this state */
	/* Always: it lets the thread go on. Its answer counts on success. */
	err = utrace_finish_examine(ue->task, ue->engine, &exam);
	if (ret >= 0)
		ret = err;
out_busy:
	if (ret == -EINVAL)
		ret = -EBUSY;
	if (ret)
		goto out;
	ret = -EFAULT;
	if (!set && copy_to_user(u64_to_user_ptr(r.regs), kbuf, size))
		goto out;
	r.len = size;
	ret = UD_PUT_FIELD(r, uarg, usize, len);
out:
	kfree(kbuf);
	ud_put(ue);
	return ret;
}

/* Bytes one MEM call moves at most, so the count fits the return value. */
#define UD_MEM_MAX (1UL << 30)

static long ud_ioc_mem(struct ud_session *s, void __user *uarg)
{
	struct utrace_mem_iov __user *uiov;
	unsigned int gup = FOLL_FORCE;
	struct utrace_mem_iov iov;
	struct ud_engine *ue;
	struct utrace_mem m;
	u64 done = 0;
	void *page;
	u32 usize, i;
	long ret;

	ret = UD_COPY_ARG(m, uarg, UTRACE_MEM_SIZE_VER0, &usize);
	if (ret)
		return ret;
	if (m.reserved[0] || m.reserved[1] || m.done ||
	    (m.flags & ~UTRACE_MEM_WRITE) || m.count > UTRACE_MEM_IOV_MAX)
		return -EINVAL;
	if (m.flags & UTRACE_MEM_WRITE)
		gup |= FOLL_WRITE;
	ue = ud_get_held(s, m.handle);
	if (IS_ERR(ue))
		return PTR_ERR(ue);
	page = (void *)__get_free_page(GFP_KERNEL);
	if (!page) {
		ret = -ENOMEM;
		goto out;
	}
	uiov = u64_to_user_ptr(m.iov);
	ret = 0;
	for (i = 0; i < m.count && !ret; i++) {
		if (copy_from_user(&iov, &uiov[i], sizeof(iov))) {
			ret = -EFAULT;
			break;
		}
		if (iov.len > UD_MEM_MAX - done) {
			ret = -EINVAL;
			break;
		}
		while (iov.len) {
			int n = min_t(u64, iov.len, PAGE_SIZE), got;
			void __user *ubuf = u64_to_user_ptr(iov.buf);

			if (fatal_signal_pending(current)) {
				ret = -EINTR;
				break;
			}
			if ((gup & FOLL_WRITE) && copy_from_user(page, ubuf, n)) {
				ret = -EFAULT;
				break;
			}
			got = access_process_vm(ue->task, iov.addr, page, n,
						gup);
			if (got > 0 && !(gup & FOLL_WRITE) &&
			    copy_to_user(ubuf, page, got)) {
				ret = -EFAULT;
				break;
			}
			if (got > 0)
				done += got;
			if (got < n) {
				ret = -EIO;
				break;
			}
			iov.addr += n;
			iov.buf += n;
			iov.len -= n;
			cond_resched();
		}
	}
	free_page((unsigned long)page);
	/* A partial transfer reports how far it got. */
	if (done || !ret) {
		m.done = done;
		ret = UD_PUT_FIELD(m, uarg, usize, done) ?: (long)done;
	}
out:
	ud_put(ue);
	return ret;
}

static long ud_ioc_list(struct ud_session *s, void __user *uarg)
{
	struct utrace_engine_info *info = NULL;
	struct utrace_list l;
	struct ud_engine *ue;
	unsigned long idx;
	u32 usize, n = 0, count = 0;
	long ret;

	ret = UD_COPY_ARG(l, uarg, UTRACE_LIST_SIZE_VER0, &usize);
	if (ret)
		return ret;
	if (l.reserved0 || l.reserved || l.count)
		return -EINVAL;
	if (l.max) {
		info = kvcalloc(min_t(u32, l.max, 65536), sizeof(*info),
				GFP_KERNEL);
		if (!info)
			return -ENOMEM;
	}
	mutex_lock(&s->attach_mutex);
	xa_for_each(&s->engines, idx, ue) {
		count++;
		if (n >= min_t(u32, l.max, 65536))
			continue;
		spin_lock(&s->lock);
		info[n].handle = ue->handle;
		info[n].tid = ue->tid;
		info[n].events = ue->events;
		info[n].stop_events = ue->stop_events;
		info[n].state = ue->dead ? UTRACE_STATE_DEAD :
				ue->want_stop ? UTRACE_STATE_HELD :
						UTRACE_STATE_RUNNING;
		spin_unlock(&s->lock);
		n++;
	}
	mutex_unlock(&s->attach_mutex);
	ret = 0;
	if (n && copy_to_user(u64_to_user_ptr(l.buf), info,
			      n * sizeof(*info)))
		ret = -EFAULT;
	kvfree(info);
	l.count = count;
	if (!ret)
		ret = UD_PUT_FIELD(l, uarg, usize, count);
	return ret ?: n;
}

static long ud_ioc_queue_size(struct ud_session *s, void __user *uarg)
{
	struct utrace_queue_size q;
	u8 *ring, *old = NULL;
	u32 usize, size;
	long ret;

	ret = UD_COPY_ARG(q, uarg, UTRACE_QUEUE_SIZE_SIZE_VER0, &usize);
	if (ret)
		return ret;
	if (q.reserved0)
		return -EINVAL;
	if (q.bytes) {
		if (q.bytes < UTRACE_QUEUE_MIN || q.bytes > UTRACE_QUEUE_MAX)
			return -EINVAL;
		size = ALIGN(q.bytes, UD_REC_ALIGN);
		ring = kvzalloc(size, GFP_KERNEL);
		if (!ring)
			return -ENOMEM;
		mutex_lock(&s->read_mutex);
		spin_lock(&s->lock);
		if (s->used > size) {
			ret = -EBUSY;
			old = ring;
		} else {
			/* Move the queued records over, oldest first. */
			u32 used = s->used;

			ud_ring_get_locked(s, ring, used);
			old = s->ring;
			s->ring = ring;
			s->ring_size = size;
			s->tail = 0;
			s->used = used;
		}
		spin_unlock(&s->lock);
		mutex_unlock(&s->read_mutex);
		kvfree(old);
		if (ret)
			return ret;
		wake_up_all(&s->room_wq);
	}
	spin_lock(&s->lock);
	q.bytes = s->ring_size;
	spin_unlock(&s->lock);
	return UD_PUT_FIELD(q, uarg, usize, bytes);
}

static long utrace_dev_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	struct ud_session *s = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case UTRACE_IOC_VERSION:
		return utrace_ioc_version(uarg);
	case UTRACE_IOC_ATTACH:
		return ud_ioc_attach(s, uarg);
	case UTRACE_IOC_SET_EVENTS:
		return ud_ioc_set_events(s, uarg);
	case UTRACE_IOC_CONTROL:
		return ud_ioc_control(s, uarg);
	case UTRACE_IOC_DETACH:
		return ud_ioc_detach(s, uarg);
	case UTRACE_IOC_GETREGS:
		return ud_ioc_regs(s, uarg, false);
	case UTRACE_IOC_SETREGS:
		return ud_ioc_regs(s, uarg, true);
	case UTRACE_IOC_MEM:
		return ud_ioc_mem(s, uarg);
	case UTRACE_IOC_LIST:
		return ud_ioc_list(s, uarg);
	case UTRACE_IOC_QUEUE_SIZE:
		return ud_ioc_queue_size(s, uarg);
	case UTRACE_IOC_BARRIER:
		return ud_ioc_barrier(s, uarg);
	case UTRACE_IOC_PROVE:
		return ud_ioc_prove(s, uarg);
	default:
		return -ENOTTY;
	}
}

/* ---------------------------------------------------------------------- */
/* read, poll, open, release */

static ssize_t utrace_dev_read(struct file *file, char __user *buf,
			       size_t count, loff_t *ppos)
{
	struct ud_session *s = file->private_data;
	u32 ring_size, tail, used, n, size, first;
	ssize_t ret = 0;
	u8 *ring;

	if (mutex_lock_interruptible(&s->read_mutex))
		return -ERESTARTSYS;
	spin_lock(&s->lock);
	while (!s->used && !s->lost) {
		spin_unlock(&s->lock);
		if (file->f_flags & O_NONBLOCK) {
			ret = -EAGAIN;
			goto out;
		}
		if (wait_event_interruptible(s->read_wq, READ_ONCE(s->used) ||
					     READ_ONCE(s->lost))) {
			ret = -ERESTARTSYS;
			goto out;
		}
		spin_lock(&s->lock);
	}
	/* Drops with nothing queued after them: say so now. */
	if (!s->used && s->ring_size >= UD_LOST_SIZE)
		ud_put_lost_locked(s);
	/* What is queued now stays put for us: see the locking rules. */
	ring = s->ring;
	ring_size = s->ring_size;
	tail = s->tail;
	used = s->used;
	spin_unlock(&s->lock);

	/*
	 * Whole records that fit. Records are 8-byte aligned in a ring of a
	 * multiple of 8 bytes: a header's size field never wraps.
	 */
	for (n = 0; n < used; n += size) {
		memcpy(&size, ring + ud_ring_wrap(tail + n, ring_size),
		       sizeof(size));
		if (size > count - n)
			break;
	}
	if (!n) {
		ret = -EINVAL;	/* too small for the next record */
		goto out;
	}
	first = min(n, ring_size - tail);
	/* A bad buffer consumes nothing: the records are read again. */
	if (copy_to_user(buf, ring + tail, first) ||
	    copy_to_user(buf + first, ring, n - first)) {
		ret = -EFAULT;
		goto out;
	}
	spin_lock(&s->lock);
	s->tail = ud_ring_wrap(tail + n, ring_size);
	s->used -= n;
	spin_unlock(&s->lock);
	/* Held threads waiting for room; a barrier orders used before it. */
	if (wq_has_sleeper(&s->room_wq))
		wake_up_all(&s->room_wq);
	ret = n;
out:
	mutex_unlock(&s->read_mutex);
	return ret;
}

static __poll_t utrace_dev_poll(struct file *file, poll_table *wait)
{
	struct ud_session *s = file->private_data;

	poll_wait(file, &s->read_wq, wait);
	if (READ_ONCE(s->used) || READ_ONCE(s->lost))
		return EPOLLIN | EPOLLRDNORM;
	return 0;
}

static int utrace_dev_open(struct inode *inode, struct file *file)
{
	struct ud_session *s;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	s->ring = kvzalloc(UTRACE_QUEUE_DEFAULT, GFP_KERNEL);
	if (!s->ring) {
		kfree(s);
		return -ENOMEM;
	}
	s->ring_size = UTRACE_QUEUE_DEFAULT;
	kref_init(&s->kref);
	spin_lock_init(&s->lock);
	init_waitqueue_head(&s->read_wq);
	init_waitqueue_head(&s->room_wq);
	init_waitqueue_head(&s->idle_wq);
	atomic_set(&s->active, 0);
	mutex_init(&s->read_mutex);
	mutex_init(&s->attach_mutex);
	xa_init_flags(&s->engines, XA_FLAGS_ALLOC1);
	s->ns = get_pid_ns(task_active_pid_ns(current));
	hrtimer_init(&s->wake_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	s->wake_timer.function = ud_wake_timer_fn;
	file->private_data = s;
	return nonseekable_open(inode, file);
}

/*
 * Close, or the death of the client: every engine is detached (a held
 * thread runs again), then, once no callback is inside the session, the
 * ring and the namespace reference go. Engines' ops->release drop the
 * remaining session references whenever the core lets go of them.
 */
static int utrace_dev_release(struct inode *inode, struct file *file)
{
	struct ud_session *s = file->private_data;
	struct ud_engine *ue;
	unsigned long idx;

	spin_lock(&s->lock);
	s->closing = true;
	spin_unlock(&s->lock);
	/* closing before active: pairs with ud_enter(). */
	smp_mb();
	wake_up_all(&s->room_wq);

	mutex_lock(&s->attach_mutex);
	xa_for_each(&s->engines, idx, ue) {
		xa_erase(&s->engines, idx);
		/*
		 * Like PTRACE_O_EXITKILL: the kill is queued before the detach
		 * lets a held thread go, so it runs no more user code.
		 */
		if ((ue->flags & UTRACE_ATTACH_F_KILL_ON_CLOSE) &&
		    !READ_ONCE(ue->dead))
			send_sig(SIGKILL, ue->task, 1);
		ud_detach(ue);
	}
	mutex_unlock(&s->attach_mutex);

	/* Callbacks in atomic context are RCU readers (ud_enter()). */
	synchronize_rcu();
	wait_event(s->idle_wq, !atomic_read(&s->active));
	/* No callback queues a record now: the last batch timer can go. */
	hrtimer_cancel(&s->wake_timer);
	spin_lock(&s->lock);
	s->ring_size = 0;
	s->used = 0;
	spin_unlock(&s->lock);
	kvfree(s->ring);
	s->ring = NULL;
	put_pid_ns(s->ns);
	s->ns = NULL;
	xa_destroy(&s->engines);
	ud_session_put(s);
	return 0;
}

/* .owner pins the module while any file is open. */
static const struct file_operations utrace_dev_fops = {
	.owner = THIS_MODULE,
	.open = utrace_dev_open,
	.release = utrace_dev_release,
	.read = utrace_dev_read,
	.poll = utrace_dev_poll,
	.unlocked_ioctl = utrace_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice utrace_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = UTRACE_DEVICE_NAME,
	.fops = &utrace_dev_fops,
	.mode = 0600,
};

int utrace_dev_init(void)
{
	return misc_register(&utrace_miscdev);
}

void utrace_dev_exit(void)
{
	misc_deregister(&utrace_miscdev);
}
