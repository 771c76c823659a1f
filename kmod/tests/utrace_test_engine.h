/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * utrace_test_engine: a scriptable utrace engine for the semantics tests.
 * Test-only; never shipped. Shared by the module and the C++ test suite.
 *
 * /dev/utrace_test (root only, one opener at a time) holds UTE_NSLOTS engine
 * slots. Each slot holds one engine reference and one reference on its
 * target thread. Callbacks answer as scripted per slot and log every call.
 *
 * ABI rules as in <linux/utrace.h>'s uapi: fixed-size types, user pointers in
 * __u64, no implicit padding (reserved fields must be 0). Result fields are
 * signed (0 or a negative errno from the core).
 */
#ifndef _UTRACE_TEST_ENGINE_H
#define _UTRACE_TEST_ENGINE_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define UTE_DEVICE_NAME "utrace_test"
#define UTE_NSLOTS 16
#define UTE_LOG_SIZE 4096

/* ute_attach.ops_id: distinct ops tables, or a NULL ops pointer. */
#define UTE_OPS_0 0
#define UTE_OPS_1 1
#define UTE_OPS_NULL 2
#define UTE_OPS_QIE 3		/* UTE_OPS_0's callbacks, quiesce_in_event set */

/* ute_attach.how: which core entry point is used. */
#define UTE_HOW_PID 0		/* utrace_attach_pid(find_get_pid(pid)) */
#define UTE_HOW_TASK 1		/* utrace_attach_task(task of pid) */
#define UTE_HOW_PINNED 2	/* utrace_attach_pid(pid pinned by PIN_PID) */

/* Callback ids: SET_RETURN, SET_SCRIPT and log records. */
enum ute_cb {
	UTE_CB_QUIESCE,
	UTE_CB_SIGNAL,
	UTE_CB_CLONE,
	UTE_CB_JCTL,
	UTE_CB_EXEC,
	UTE_CB_SYSCALL_ENTRY,
	UTE_CB_SYSCALL_EXIT,
	UTE_CB_EXIT,
	UTE_CB_DEATH,
	UTE_CB_REAP,
	UTE_CB_MAX
};

/* Scripted side effects, run inside a callback before it returns. */
enum ute_op {
	UTE_OP_NONE,
	UTE_OP_ATTACH_CURRENT,	 /* CREATE on current into arg_slot, events arg */
	UTE_OP_ATTACH_CHILD_STOP, /* report_clone: CREATE on child, events arg, STOP */
	UTE_OP_SET_EVENTS_SELF,	 /* utrace_set_events(current, this engine, arg) */
	UTE_OP_BLOCK,		 /* sleep until RELEASE of this slot (10 s max) */
	UTE_OP_SET_SYSCALL_RETURN, /* report_syscall_exit: return value = arg */
	UTE_OP_SET_EXIT_CODE,	 /* report_exit: *code = arg */
	UTE_OP_SET_SYSCALL_ARG0, /* report_syscall_entry: first argument = arg */
	UTE_OP_SET_SIGNO,	 /* report_signal (real signal): info->si_signo = arg */
	UTE_OP_MAX
};

/* Slot value meaning "no slot" (callback of an engine in no slot). */
#define UTE_NO_SLOT 0xffffffffU

/**
 * struct ute_attach - UTE_IOC_ATTACH
 * @pid:	in: target thread id (global pid namespace).
 * @slot:	in: slot to store the engine in; must be empty.
 * @flags:	in: UTRACE_ATTACH_* flags.
 * @ops_id:	in: UTE_OPS_*.
 * @how:	in: UTE_HOW_*.
 * @result:	out: 0, or the core's negative errno.
 * @data_id:	in: the engine's data pointer value (for MATCH_DATA).
 * @same_as:	out: index of another slot holding the very same engine,
 *		or -1 (useful after a lookup).
 * @reserved:	must be 0.
 */
struct ute_attach {
	__s32 pid;
	__u32 slot;
	__u32 flags;
	__u32 ops_id;
	__u32 how;
	__s32 result;
	__u64 data_id;
	__s32 same_as;
	__u32 reserved;
};

/**
 * struct ute_slot_cmd - SET_EVENTS, CONTROL, BARRIER, PUT, RELEASE
 * @slot:	in: slot index.
 * @result:	out: the core's return code (0 for PUT and RELEASE).
 * @arg:	in: event mask (SET_EVENTS) or resume action (CONTROL).
 */
struct ute_slot_cmd {
	__u32 slot;
	__s32 result;
	__u64 arg;
};

/**
 * struct ute_set_return - UTE_IOC_SET_RETURN
 * @slot:	in: slot whose engine answers.
 * @cb:		in: enum ute_cb.
 * @value:	in: value the callback returns.
 * @count:	in: number of calls to answer so, then back to the default;
 *		0 = forever.
 * @match:	in: if 1, only calls whose logged event equals @match_event
 *		count and use @value (e.g. one syscall number).
 * @has_then:	in: if 1, once @count calls were answered with @value, the
 *		(matching) calls after them are answered with @then instead of
 *		the default, forever (e.g. RESUME once, then STOP).
 * @match_event: in: see @match.
 * @then:	in: see @has_then.
 * @reserved:	must be 0.
 *
 * Defaults: UTRACE_RESUME; report_signal passes the signal action it was
 * given through; report_syscall_entry adds UTRACE_SYSCALL_RUN (0).
 */
struct ute_set_return {
	__u32 slot;
	__u32 cb;
	__u32 value;
	__u32 count;
	__u32 match;
	__u32 has_then;
	__u64 match_event;
	__u32 then;
	__u32 reserved;
};

/**
 * struct ute_script - UTE_IOC_SET_SCRIPT
 * @slot:	in: slot whose engine runs the script.
 * @cb:		in: enum ute_cb (not UTE_CB_REAP: reap may not sleep).
 * @op:		in: enum ute_op; UTE_OP_NONE clears the script.
 * @arg_slot:	in: slot for the ATTACH_* ops.
 * @arg:	in: events, value or exit code, depending on @op.
 * @data_id:	in: data of an engine created by the ATTACH_* ops.
 * @ops_id:	in: ops of an engine created by the ATTACH_* ops.
 * @count:	in: runs left; 0 = forever.
 * @match:	in: as in struct ute_set_return.
 * @reserved:	must be 0.
 * @match_event: in: as in struct ute_set_return.
 */
struct ute_script {
	__u32 slot;
	__u32 cb;
	__u32 op;
	__u32 arg_slot;
	__u64 arg;
	__u64 data_id;
	__u32 ops_id;
	__u32 count;
	__u32 match;
	__u32 reserved;
	__u64 match_event;
};

/**
 * struct ute_log_rec - one callback, appended when the callback returns
 * @seq:	0, 1, 2... since the last CLEAR_LOG.
 * @event:	report_quiesce: event; report_syscall_*: syscall number;
 *		report_clone: child tid; report_death: signal (sign-extended);
 *		report_signal: si_signo (0 without a real signal, i.e.
 *		orig_ka NULL); report_exit: orig_code; report_jctl: type;
 *		report_reap: the tid of current, the reaper; report_exec: 0.
 * @data_id:	the engine's data pointer value.
 * @slot:	slot holding the engine, or UTE_NO_SLOT.
 * @cb:		enum ute_cb.
 * @action:	the action argument as received (report_death: group_dead).
 * @tid:	current's tid (report_reap: the reaped thread's tid).
 * @ret:	the value returned (0 for report_reap).
 * @reserved:	0.
 */
struct ute_log_rec {
	__u64 seq;
	__u64 event;
	__u64 data_id;
	__u32 slot;
	__u32 cb;
	__u32 action;
	__s32 tid;
	__u32 ret;
	__u32 reserved;
};

/**
 * struct ute_read_log - UTE_IOC_READ_LOG (does not consume the log)
 * @buf:	in: user pointer to an array of struct ute_log_rec.
 * @max:	in: capacity of @buf in records.
 * @count:	out: records copied, oldest first.
 * @dropped:	out: records lost since CLEAR_LOG because the log was full
 *		(the log keeps the oldest records).
 */
struct ute_read_log {
	__u64 buf;
	__u32 max;
	__u32 count;
	__u64 dropped;
};

/* ute_examine.flags: SIGKILL the target between prepare and finish. */
#define UTE_EXAMINE_KILL 0x1

/**
 * struct ute_examine - UTE_IOC_EXAMINE
 * @slot:	in: slot of the engine doing the examining.
 * @pid:	in: target tid, or 0 for the slot's own target.
 * @prepare_rc:	out: utrace_prepare_examine() result.
 * @finish_rc:	out: utrace_finish_examine() result (only if prepare was 0).
 * @ip:		out: user instruction pointer of the target.
 * @orig_ax:	out: syscall number slot of the target's user registers.
 * @flags:	in: UTE_EXAMINE_*.
 * @reserved:	must be 0.
 */
struct ute_examine {
	__u32 slot;
	__s32 pid;
	__s32 prepare_rc;
	__s32 finish_rc;
	__u64 ip;
	__u64 orig_ax;
	__u32 flags;
	__u32 reserved;
};

/**
 * struct ute_slot_info - UTE_IOC_SLOT_INFO
 * @slot:	in: slot index.
 * @in_use:	out: 1 if the slot holds an engine.
 * @engine_flags: out: engine->flags (event mask plus the core's stop bit).
 * @refcount:	out: the engine's reference count.
 * @tid:	out: the slot's target thread.
 * @blocked:	out: callbacks of this slot now waiting in UTE_OP_BLOCK.
 * @calls:	out: callbacks of this slot so far.
 * @attach_rc:	out: last ATTACH_* script op result (attach) on this slot
 *		as arg_slot.
 * @set_events_rc: out: last script set_events result for this slot.
 * @control_rc:	out: last script utrace_control result for this slot.
 * @reserved:	0.
 */
struct ute_slot_info {
	__u32 slot;
	__u32 in_use;
	__u64 engine_flags;
	__u32 refcount;
	__s32 tid;
	__u32 blocked;
	__u32 calls;
	__s32 attach_rc;
	__s32 set_events_rc;
	__s32 control_rc;
	__u32 reserved;
};

/**
 * struct ute_releases - UTE_IOC_RELEASES: ops->release calls per data value
 * @data_id:	in: the data pointer value.
 * @count:	out: release(data) calls seen since the device was opened.
 * @reserved:	must be 0.
 */
struct ute_releases {
	__u64 data_id;
	__u32 count;
	__u32 reserved;
};

/**
 * struct ute_pin_pid - UTE_IOC_PIN_PID: keep a struct pid for UTE_HOW_PINNED
 * @pid:	in: pid number, or 0 to unpin.
 * @result:	out: 0, or -ESRCH if no such pid.
 */
struct ute_pin_pid {
	__s32 pid;
	__s32 result;
};

#define UTE_IOC_MAGIC 0xBA

#define UTE_IOC_ATTACH _IOWR(UTE_IOC_MAGIC, 0x01, struct ute_attach)
#define UTE_IOC_SET_EVENTS _IOWR(UTE_IOC_MAGIC, 0x02, struct ute_slot_cmd)
#define UTE_IOC_CONTROL _IOWR(UTE_IOC_MAGIC, 0x03, struct ute_slot_cmd)
#define UTE_IOC_BARRIER _IOWR(UTE_IOC_MAGIC, 0x04, struct ute_slot_cmd)
#define UTE_IOC_PUT _IOWR(UTE_IOC_MAGIC, 0x05, struct ute_slot_cmd)
#define UTE_IOC_SET_RETURN _IOW(UTE_IOC_MAGIC, 0x06, struct ute_set_return)
#define UTE_IOC_SET_SCRIPT _IOW(UTE_IOC_MAGIC, 0x07, struct ute_script)
#define UTE_IOC_RELEASE _IOWR(UTE_IOC_MAGIC, 0x08, struct ute_slot_cmd)
#define UTE_IOC_READ_LOG _IOWR(UTE_IOC_MAGIC, 0x09, struct ute_read_log)
#define UTE_IOC_CLEAR_LOG _IO(UTE_IOC_MAGIC, 0x0a)
#define UTE_IOC_EXAMINE _IOWR(UTE_IOC_MAGIC, 0x0b, struct ute_examine)
#define UTE_IOC_SLOT_INFO _IOWR(UTE_IOC_MAGIC, 0x0c, struct ute_slot_info)
#define UTE_IOC_RELEASES _IOWR(UTE_IOC_MAGIC, 0x0d, struct ute_releases)
#define UTE_IOC_PIN_PID _IOWR(UTE_IOC_MAGIC, 0x0e, struct ute_pin_pid)

#endif /* _UTRACE_TEST_ENGINE_H */
