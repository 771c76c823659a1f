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
	UBE_ENTRY_ATOMIC = 3,	/* UBE_ENTRY_ALL, reported in the tracepoint */
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

/* What one read of each kernel clock costs, averaged over @reads reads. */
struct ube_clocks {
	__u32 reads;		/* in: 1..10000000 */
	__u32 reserved;
	__u64 ktime_get_ps;	/* out: ps per read; each record is stamped so */
	__u64 mono_fast_ps;	/* out: ktime_get_mono_fast_ns() */
	__u64 local_clock_ps;	/* out: local_clock() */
};

#define UBE_IOC_ATTACH _IOW(0xBA, 0x01, struct ube_attach)
#define UBE_IOC_DETACH_ALL _IO(0xBA, 0x02)
#define UBE_IOC_STATS _IOR(0xBA, 0x03, struct ube_stats)
#define UBE_IOC_CLOCKS _IOWR(0xBA, 0x04, struct ube_clocks)

#endif /* _UTRACE_BENCH_ENGINE_H */
