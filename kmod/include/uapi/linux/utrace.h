/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * utrace user-space interface: the ioctls of /dev/utrace.
 *
 * Rules every struct here follows, so the ABI can grow without breaking:
 *  - fixed-size types only (__u32, __u64), user pointers carried in __u64;
 *  - no implicit padding: every hole is a named reserved field that must be 0;
 *  - a leading size field where a struct may grow; the kernel accepts any
 *    size from the first published one up, and fills only what it knows.
 */
#ifndef _UAPI_LINUX_UTRACE_H
#define _UAPI_LINUX_UTRACE_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/* Bumped on any incompatible change of this header. */
#define UTRACE_DEV_API_VERSION 1

/* Device node: /dev/utrace, a misc device. */
#define UTRACE_DEVICE_NAME "utrace"

/*
 * Feature bits reported by UTRACE_IOC_VERSION. A bit is set only when the
 * running module and kernel really provide the feature; anything that
 * depends on an absent bit fails with -EOPNOTSUPP.
 */
#define UTRACE_FEAT_DEVICE _BITULL(0)		/* /dev/utrace sessions */
#define UTRACE_FEAT_CORE _BITULL(1)		/* in-kernel engine core */
#define UTRACE_FEAT_SYSCALL_STOP_BEFORE _BITULL(2) /* stop before a syscall */
#define UTRACE_FEAT_SINGLESTEP _BITULL(3)
#define UTRACE_FEAT_BLOCKSTEP _BITULL(4)
#define UTRACE_FEAT_SIGNAL_INTERCEPT _BITULL(5)
#define UTRACE_FEAT_EXIT_MM_INTACT _BITULL(6)
#define UTRACE_FEAT_JCTL _BITULL(7)
#define UTRACE_FEAT_FOLLOW _BITULL(8)		/* ATTACH_F_FOLLOW, _HOLD_CHILDREN */
#define UTRACE_FEAT_KILL_ON_CLOSE _BITULL(9)	/* ATTACH_F_KILL_ON_CLOSE */
#define UTRACE_FEAT_ALL_THREADS _BITULL(10)	/* ATTACH_F_ALL_THREADS */
#define UTRACE_FEAT_BARRIER _BITULL(11)	/* UTRACE_IOC_BARRIER */
#define UTRACE_FEAT_FPREGS _BITULL(12)		/* regset UTRACE_REGSET_FP */
#define UTRACE_FEAT_XSTATE _BITULL(13)		/* regset UTRACE_REGSET_XSTATE */
#define UTRACE_FEAT_RUN_ARGS _BITULL(14)	/* UTRACE_VERDICT_RUN_ARGS */
#define UTRACE_FEAT_SIGNAL_HOLD _BITULL(15)	/* UTRACE_VERDICT_HOLD */
#define UTRACE_FEAT_SE_GROUP _BITULL(16)	/* UTRACE_SE_GROUP */
#define UTRACE_FEAT_PROVE _BITULL(17)		/* UTRACE_IOC_PROVE */

/* Length of the module version string, NUL included. */
#define UTRACE_VERSION_STRLEN 32

/**
 * struct utrace_version - argument of UTRACE_IOC_VERSION
 * @size:	in: sizeof(struct utrace_version) as the caller knows it;
 *		out: the number of bytes the kernel filled in.
 * @api_version: out: UTRACE_DEV_API_VERSION of the running module.
 * @features:	out: UTRACE_FEAT_* bits.
 * @kernel_release: out: the first bytes of utsname()->release, NUL-ended.
 * @module_version: out: the module's version string, NUL-ended.
 */
struct utrace_version {
	__u32 size;
	__u32 api_version;
	__u64 features;
	char kernel_release[64];
	char module_version[UTRACE_VERSION_STRLEN];
};

/* The first published size of struct utrace_version. */
#define UTRACE_VERSION_SIZE_VER0 112

#define UTRACE_IOC_MAGIC 0xB9

#define UTRACE_IOC_VERSION _IOWR(UTRACE_IOC_MAGIC, 0x00, struct utrace_version)

/*
 * Sessions and user engines.
 *
 * Every argument struct below starts with __u32 size: the caller's
 * sizeof(). The kernel rejects a size below the struct's first published
 * size (UTRACE_*_SIZE_VER0) or above 4096 with -EINVAL; bytes past the size
 * the kernel knows must be zero (-EINVAL otherwise). Fields named reserved*
 * must be zero (-EINVAL otherwise). See docs/utrace-dev.md.
 */

/* Event bits: the bit numbers of the in-kernel UTRACE_EVENT(). */
#define UTRACE_EV_QUIESCE _BITULL(0)
#define UTRACE_EV_REAP _BITULL(1)
#define UTRACE_EV_CLONE _BITULL(2)
#define UTRACE_EV_EXEC _BITULL(3)
#define UTRACE_EV_EXIT _BITULL(4)
#define UTRACE_EV_DEATH _BITULL(5)
#define UTRACE_EV_SYSCALL_ENTRY _BITULL(6)
#define UTRACE_EV_SYSCALL_EXIT _BITULL(7)
#define UTRACE_EV_SIGNAL _BITULL(8)		/* runs a handler */
#define UTRACE_EV_SIGNAL_IGN _BITULL(9)	/* ignored */
#define UTRACE_EV_SIGNAL_STOP _BITULL(10)	/* stops */
#define UTRACE_EV_SIGNAL_TERM _BITULL(11)	/* terminates */
#define UTRACE_EV_SIGNAL_CORE _BITULL(12)	/* dumps core */
#define UTRACE_EV_SIGNAL_ALL (UTRACE_EV_SIGNAL | UTRACE_EV_SIGNAL_IGN | \
			      UTRACE_EV_SIGNAL_STOP | UTRACE_EV_SIGNAL_TERM | \
			      UTRACE_EV_SIGNAL_CORE)
#define UTRACE_EV_SYSCALL (UTRACE_EV_SYSCALL_ENTRY | UTRACE_EV_SYSCALL_EXIT)
/* Events SET_EVENTS accepts, and those that may hold the thread. */
#define UTRACE_EV_ALL (UTRACE_EV_QUIESCE | UTRACE_EV_REAP | UTRACE_EV_CLONE | \
		       UTRACE_EV_EXEC | UTRACE_EV_EXIT | UTRACE_EV_DEATH | \
		       UTRACE_EV_SYSCALL | UTRACE_EV_SIGNAL_ALL)
#define UTRACE_EV_STOPPABLE (UTRACE_EV_CLONE | UTRACE_EV_EXEC | \
			     UTRACE_EV_EXIT | UTRACE_EV_SYSCALL | \
			     UTRACE_EV_SIGNAL_ALL)

/* Syscall numbers the in-kernel filter bitmap covers. */
#define UTRACE_FILTER_NR 512

/* struct utrace_attach.flags */
#define UTRACE_ATTACH_F_EXCLUSIVE 0x1	/* -EEXIST if already ours */
#define UTRACE_ATTACH_F_FOLLOW 0x2	/* children get an engine too */
#define UTRACE_ATTACH_F_KILL_ON_CLOSE 0x4 /* SIGKILL the threads at close */
#define UTRACE_ATTACH_F_HOLD_CHILDREN 0x8 /* with FOLLOW: hold new children */
#define UTRACE_ATTACH_F_ALL_THREADS 0x10 /* every thread of tid's process */
#define UTRACE_ATTACH_F_ALL (UTRACE_ATTACH_F_EXCLUSIVE | \
			     UTRACE_ATTACH_F_FOLLOW | \
			     UTRACE_ATTACH_F_KILL_ON_CLOSE | \
			     UTRACE_ATTACH_F_HOLD_CHILDREN | \
			     UTRACE_ATTACH_F_ALL_THREADS)

/**
 * struct utrace_attach - argument of UTRACE_IOC_ATTACH
 * @size:	sizeof(struct utrace_attach)
 * @flags:	UTRACE_ATTACH_F_*
 * @tid:	the thread, in the caller's pid namespace
 * @proof_fd:	an fd of /proc/PID/mem (or /proc/PID/task/TID/mem) of the
 *		thread's process, opened for reading by the caller
 * @handle:	out: the engine's handle in this session (never 0)
 * @reserved0:	must be 0
 * @reserved:	must be 0
 */
struct utrace_attach {
	__u32 size;
	__u32 flags;
	__s32 tid;
	__s32 proof_fd;
	__u32 handle;
	__u32 reserved0;
	__u64 reserved[2];
};

#define UTRACE_ATTACH_SIZE_VER0 40

/* struct utrace_set_events.flags */
#define UTRACE_SE_CAPTURE_ARGS 0x1	/* syscall entry records carry args */
#define UTRACE_SE_GROUP 0x2		/* every engine of the handle's ATTACH */

/**
 * struct utrace_set_events - argument of UTRACE_IOC_SET_EVENTS
 * @size:	sizeof(struct utrace_set_events)
 * @handle:	the engine
 * @events:	UTRACE_EV_* to report (replaces the previous mask)
 * @stop_events: the subset of @events (within UTRACE_EV_STOPPABLE) that
 *		holds the thread stopped when reported
 * @flags:	UTRACE_SE_*
 * @reserved0:	must be 0
 * @syscall_filter: user pointer to a UTRACE_FILTER_NR-bit bitmap (64
 *		bytes, bit n = syscall n, little-endian longs), 0 = every syscall
 * @reserved:	must be 0
 */
struct utrace_set_events {
	__u32 size;
	__u32 handle;
	__u64 events;
	__u64 stop_events;
	__u32 flags;
	__u32 reserved0;
	__u64 syscall_filter;
	__u64 reserved[2];
};

#define UTRACE_SET_EVENTS_SIZE_VER0 56

/* struct utrace_control.action: the utrace resume actions. */
#define UTRACE_CTL_STOP 0
#define UTRACE_CTL_INTERRUPT 1
#define UTRACE_CTL_REPORT 2
#define UTRACE_CTL_SINGLESTEP 3
#define UTRACE_CTL_BLOCKSTEP 4	/* steps one instruction on x86-64 */
#define UTRACE_CTL_RESUME 5
#define UTRACE_CTL_DETACH 6

/* struct utrace_control.verdict */
#define UTRACE_VERDICT_DEFAULT 0	/* RUN, or DELIVER */
#define UTRACE_VERDICT_RUN 1		/* held at syscall entry: run it */
#define UTRACE_VERDICT_ABORT 2		/* ... skip it, return @retval */
#define UTRACE_VERDICT_DELIVER 3	/* held at a signal: deliver it */
#define UTRACE_VERDICT_DELIVER_OTHER 4	/* ... deliver @signo instead */
#define UTRACE_VERDICT_IGNORE 5		/* ... drop it */
#define UTRACE_VERDICT_RUN_ARGS 6	/* at syscall entry: run with @args */
#define UTRACE_VERDICT_HOLD 7		/* at a signal: keep it, report again */

/**
 * struct utrace_control - argument of UTRACE_IOC_CONTROL
 * @size:	sizeof(struct utrace_control)
 * @handle:	the engine
 * @action:	UTRACE_CTL_*
 * @verdict:	UTRACE_VERDICT_*, for a thread held at a syscall entry or a
 *		signal
 * @signo:	the signal for UTRACE_VERDICT_DELIVER_OTHER, else 0
 * @reserved0:	must be 0
 * @retval:	the syscall's return value for UTRACE_VERDICT_ABORT, else 0
 * @args:	user pointer to 6 __u64, the syscall's new arguments, for
 *		UTRACE_VERDICT_RUN_ARGS; else 0
 * @reserved:	must be 0
 */
struct utrace_control {
	__u32 size;
	__u32 handle;
	__u32 action;
	__u32 verdict;
	__s32 signo;
	__u32 reserved0;
	__s64 retval;
	__u64 args;
	__u64 reserved;
};

#define UTRACE_CONTROL_SIZE_VER0 48

/**
 * struct utrace_detach - argument of UTRACE_IOC_DETACH
 * @size:	sizeof(struct utrace_detach)
 * @handle:	the engine
 * @reserved:	must be 0
 */
struct utrace_detach {
	__u32 size;
	__u32 handle;
	__u64 reserved;
};

#define UTRACE_DETACH_SIZE_VER0 16

/**
 * struct utrace_barrier - argument of UTRACE_IOC_BARRIER
 * @size:	sizeof(struct utrace_barrier)
 * @handle:	the engine
 * @reserved:	must be 0
 *
 * Returns once no callback of the engine is running (utrace_barrier()):
 * everything the engine reported before is queued, and a change made
 * before the call (SET_EVENTS, CONTROL) governs every later callback.
 */
struct utrace_barrier {
	__u32 size;
	__u32 handle;
	__u64 reserved;
};

#define UTRACE_BARRIER_SIZE_VER0 16

/**
 * struct utrace_prove - argument of UTRACE_IOC_PROVE
 * @size:	sizeof(struct utrace_prove)
 * @handle:	the engine
 * @proof_fd:	an fd of /proc/PID/mem of the thread's process as it is now,
 *		as for UTRACE_IOC_ATTACH
 * @reserved:	must be 0
 *
 * After the thread exec'd, GETREGS/SETREGS/MEM fail with EPERM: the proof
 * covered the old image. A new proof for the new image (which the kernel
 * lets the caller open only if it may ptrace it now, setuid images
 * included) makes them work again. Events never stop.
 */
struct utrace_prove {
	__u32 size;
	__u32 handle;
	__s32 proof_fd;
	__u32 reserved;
};

#define UTRACE_PROVE_SIZE_VER0 16

/*
 * struct utrace_regs.regset: which register set, by its ELF core note
 * type. 0 is the general registers too.
 */
#define UTRACE_REGSET_GENERAL 1		/* NT_PRSTATUS: user_regs_struct */
#define UTRACE_REGSET_FP 2		/* NT_PRFPREG: user_fpregs_struct */
#define UTRACE_REGSET_XSTATE 0x202	/* NT_X86_XSTATE: the XSAVE area */

/**
 * struct utrace_regs - argument of UTRACE_IOC_GETREGS and UTRACE_IOC_SETREGS
 * @size:	sizeof(struct utrace_regs)
 * @handle:	the engine, which must hold the thread stopped
 * @regs:	user pointer to the register set's layout: struct
 *		user_regs_struct, struct user_fpregs_struct (<sys/user.h>),
 *		or the XSAVE area
 * @len:	in: bytes at @regs, at least the set's size;
 *		out: the bytes read or written, or the set's size when @len
 *		was too small (-EINVAL)
 * @regset:	UTRACE_REGSET_*, or 0 for the general registers
 * @reserved:	must be 0
 */
struct utrace_regs {
	__u32 size;
	__u32 handle;
	__u64 regs;
	__u32 len;
	__u32 regset;
	__u64 reserved;
};

#define UTRACE_REGS_SIZE_VER0 32

/**
 * struct utrace_mem_iov - one piece of a UTRACE_IOC_MEM transfer
 * @addr:	address in the traced thread
 * @len:	bytes
 * @buf:	user pointer in the caller
 */
struct utrace_mem_iov {
	__u64 addr;
	__u64 len;
	__u64 buf;
};

#define UTRACE_MEM_IOV_MAX 1024
#define UTRACE_MEM_WRITE 0x1	/* struct utrace_mem.flags: write */

/**
 * struct utrace_mem - argument of UTRACE_IOC_MEM
 * @size:	sizeof(struct utrace_mem)
 * @handle:	the engine, which must hold the thread stopped
 * @iov:	user pointer to @count struct utrace_mem_iov
 * @count:	number of pieces, at most UTRACE_MEM_IOV_MAX
 * @flags:	UTRACE_MEM_WRITE, or 0 to read
 * @done:	out: bytes transferred, pieces in order, up to the first
 *		short one (also the ioctl's return value)
 * @reserved:	must be 0
 */
struct utrace_mem {
	__u32 size;
	__u32 handle;
	__u64 iov;
	__u32 count;
	__u32 flags;
	__u64 done;
	__u64 reserved[2];
};

#define UTRACE_MEM_SIZE_VER0 48

/* struct utrace_engine_info.state */
#define UTRACE_STATE_RUNNING 0	/* not held by this engine */
#define UTRACE_STATE_HELD 1	/* held (or about to be held) */
#define UTRACE_STATE_DEAD 2	/* the thread died */

/**
 * struct utrace_engine_info - one element of UTRACE_IOC_LIST's array
 * @handle:	the engine
 * @tid:	its thread, in the session's pid namespace
 * @events:	UTRACE_EV_* reported
 * @stop_events: UTRACE_EV_* that hold the thread
 * @state:	UTRACE_STATE_*
 * @reserved:	0
 */
struct utrace_engine_info {
	__u32 handle;
	__s32 tid;
	__u64 events;
	__u64 stop_events;
	__u32 state;
	__u32 reserved;
};

/**
 * struct utrace_list - argument of UTRACE_IOC_LIST
 * @size:	sizeof(struct utrace_list)
 * @max:	room at @buf, in elements
 * @buf:	user pointer to @max struct utrace_engine_info
 * @count:	out: the session's engines (may exceed @max)
 * @reserved0:	must be 0
 * @reserved:	must be 0
 */
struct utrace_list {
	__u32 size;
	__u32 max;
	__u64 buf;
	__u32 count;
	__u32 reserved0;
	__u64 reserved;
};

#define UTRACE_LIST_SIZE_VER0 32

/* Event queue bounds (bytes). */
#define UTRACE_QUEUE_DEFAULT (1U << 20)
#define UTRACE_QUEUE_MIN (16U << 10)
#define UTRACE_QUEUE_MAX (64U << 20)

/**
 * struct utrace_queue_size - argument of UTRACE_IOC_QUEUE_SIZE
 * @size:	sizeof(struct utrace_queue_size)
 * @reserved0:	must be 0
 * @bytes:	in: the new bound (0: leave it), rounded up to 8;
 *		out: the bound in force
 */
struct utrace_queue_size {
	__u32 size;
	__u32 reserved0;
	__u64 bytes;
};

#define UTRACE_QUEUE_SIZE_SIZE_VER0 16

/* Event records: read(2) returns whole records, each 8-byte aligned. */
#define UTRACE_REC_SYSCALL_ENTRY 1
#define UTRACE_REC_SYSCALL_EXIT 2
#define UTRACE_REC_SIGNAL 3
#define UTRACE_REC_CLONE 4
#define UTRACE_REC_EXEC 5
#define UTRACE_REC_EXIT 6
#define UTRACE_REC_DEATH 7
#define UTRACE_REC_REAP 8
#define UTRACE_REC_QUIESCE 9
#define UTRACE_REC_STEP 10
#define UTRACE_REC_LOST 11

/* struct utrace_event.flags */
#define UTRACE_REC_HELD 0x1	/* the thread stays stopped until CONTROL */
#define UTRACE_REC_ARGS 0x2	/* SYSCALL_ENTRY: args[] are filled in */

/**
 * struct utrace_event - the header of every record
 * @size:	bytes of the whole record, header included, a multiple of 8
 * @type:	UTRACE_REC_*
 * @flags:	UTRACE_REC_HELD, UTRACE_REC_ARGS
 * @seq:	per-session sequence number, from 1, without gaps (LOST
 *		records take numbers too)
 * @time_ns:	CLOCK_MONOTONIC when the record was queued
 * @handle:	the engine (0 for LOST)
 * @tid:	the thread, in the session's pid namespace (0 for LOST)
 * @tgid:	its thread group (0 for LOST)
 * @reserved:	0
 */
struct utrace_event {
	__u32 size;
	__u16 type;
	__u16 flags;
	__u64 seq;
	__u64 time_ns;
	__u32 handle;
	__s32 tid;
	__s32 tgid;
	__u32 reserved;
};

struct utrace_ev_syscall_entry {
	__s64 nr;
	__u64 args[6];		/* with UTRACE_REC_ARGS, else 0 */
};

struct utrace_ev_syscall_exit {
	__s64 nr;
	__s64 ret;
};

/* struct utrace_ev_signal.disposition: what the kernel would do. */
#define UTRACE_DISP_DELIVER 0	/* run the handler */
#define UTRACE_DISP_IGN 1
#define UTRACE_DISP_TERM 2
#define UTRACE_DISP_CORE 3
#define UTRACE_DISP_STOP 4
#define UTRACE_DISP_TSTP 5

struct utrace_ev_signal {
	__s32 signo;
	__s32 code;
	__s32 err;
	__u32 disposition;
	__u8 siginfo[128];	/* as siginfo_t, zero-padded */
};

/*
 * @child_handle: the child's engine in this session when the engine follows
 * children (UTRACE_ATTACH_F_FOLLOW, or a thread under ALL_THREADS), else 0.
 */
struct utrace_ev_clone {
	__s32 child_tid;
	__u32 child_handle;
	__u64 clone_flags;
};

/* Followed by the path: path_len bytes, a NUL, zeros up to 8-alignment. */
struct utrace_ev_exec {
	__u32 path_len;		/* bytes of path, without the NUL */
	__u32 reserved;
};

struct utrace_ev_exit {
	__s64 code;		/* wait status: (code << 8) or signal */
};

struct utrace_ev_death {
	__u32 group_dead;
	__s32 signal;		/* sent to the parent; -1 when self-reaping */
};

struct utrace_ev_lost {
	__u64 count;		/* records dropped since the last LOST */
};

/* The largest record: an EXEC with a PATH_MAX path. */
#define UTRACE_EVENT_MAX_SIZE (sizeof(struct utrace_event) + \
			       sizeof(struct utrace_ev_exec) + 4096)

#define UTRACE_IOC_ATTACH _IOWR(UTRACE_IOC_MAGIC, 0x01, struct utrace_attach)
#define UTRACE_IOC_SET_EVENTS _IOW(UTRACE_IOC_MAGIC, 0x02, \
				   struct utrace_set_events)
#define UTRACE_IOC_CONTROL _IOW(UTRACE_IOC_MAGIC, 0x03, struct utrace_control)
#define UTRACE_IOC_DETACH _IOW(UTRACE_IOC_MAGIC, 0x04, struct utrace_detach)
#define UTRACE_IOC_GETREGS _IOWR(UTRACE_IOC_MAGIC, 0x05, struct utrace_regs)
#define UTRACE_IOC_SETREGS _IOWR(UTRACE_IOC_MAGIC, 0x06, struct utrace_regs)
#define UTRACE_IOC_MEM _IOWR(UTRACE_IOC_MAGIC, 0x07, struct utrace_mem)
#define UTRACE_IOC_LIST _IOWR(UTRACE_IOC_MAGIC, 0x08, struct utrace_list)
#define UTRACE_IOC_QUEUE_SIZE _IOWR(UTRACE_IOC_MAGIC, 0x09, \
				    struct utrace_queue_size)
#define UTRACE_IOC_BARRIER _IOW(UTRACE_IOC_MAGIC, 0x0a, struct utrace_barrier)
#define UTRACE_IOC_PROVE _IOW(UTRACE_IOC_MAGIC, 0x0b, struct utrace_prove)

#endif /* _UAPI_LINUX_UTRACE_H */
