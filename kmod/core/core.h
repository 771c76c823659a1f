/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Entry points of the utrace core for the hooks layer. Every function here
 * is called from a kernel hook (tracepoint probe) and must not sleep; the
 * core defers anything that may sleep to task_work.
 */
#ifndef _UTRACE_CORE_H
#define _UTRACE_CORE_H

#include <linux/types.h>

struct linux_binprm;
struct seq_file;
struct pt_regs;
struct task_struct;

void utrace_hook_sys_enter(struct pt_regs *regs, long id);
void utrace_hook_sys_exit(struct pt_regs *regs, long ret);
void utrace_hook_fork(struct task_struct *parent, struct task_struct *child);
void utrace_hook_exec(struct task_struct *task);
void utrace_hook_exit(struct task_struct *task);
void utrace_hook_free(struct task_struct *task);
void utrace_hook_release(struct task_struct *task);
void utrace_hook_proc_status(struct seq_file *m, struct task_struct *task);
void utrace_hook_get_signal(void);
void utrace_hook_signal_deliver(void);
bool utrace_hook_step_trap(struct pt_regs *regs);

int utrace_core_init(void);
bool utrace_core_idle(void);
void utrace_core_exit(void);
u64 utrace_core_features(void);

int utrace_hooks_init(void);
void utrace_hooks_exit(void);
int utrace_hooks_syscalls_on(void);
void utrace_hooks_syscalls_idle(void);

#endif /* _UTRACE_CORE_H */
