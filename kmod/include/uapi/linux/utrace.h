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

#endif /* _UAPI_LINUX_UTRACE_H */
