/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * utrace_bench_engine: the engines of the reporting-pass benchmark
 * (bench/reporting_pass.cpp), driven through /dev/utrace_bench.
 */
#ifndef _UTRACE_BENCH_ENGINE_H
#define _UTRACE_BENCH_ENGINE_H

#include <linux/ioctl.h>
#include <linux/types.h>

enum ube_mode {
	UBE_ENTRY_ALL = 1,	/* SYSCALL_ENTRY for every syscall, RESUME */
	UBE_ENTRY_FILTERED = 2,	/* same, with one syscall filtered out */
};

struct ube_attach {
	__u32 tid;		/* thread to attach to */
	__u32 mode;		/* enum ube_mode */
	__u32 engines;		/* how many engines (1..16) */
	__u32 filtered_nr;	/* UBE_ENTRY_FILTERED: the syscall left out */
};

struct ube_stats {
	__u64 callbacks;	/* report_syscall_entry calls so far */
};

#define UBE_IOC_ATTACH _IOW(0xBA, 0x01, struct ube_attach)
#define UBE_IOC_DETACH_ALL _IO(0xBA, 0x02)
#define UBE_IOC_STATS _IOR(0xBA, 0x03, struct ube_stats)

#endif /* _UTRACE_BENCH_ENGINE_H */
