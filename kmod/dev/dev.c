// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/utrace: one session per open file.
 *
 * The node is created by the misc core with mode 0600 (root only): tracing
 * another thread is a privileged act, and until a session proves its right to
 * trace each target, only root may open the device.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/utsname.h>
#include <uapi/linux/utrace.h>

#include "../utrace_internal.h"

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
	v.features = utrace_features();
	strscpy(v.kernel_release, utsname()->release, sizeof(v.kernel_release));
	strscpy(v.module_version, UTRACE_MODULE_VERSION,
		sizeof(v.module_version));

	if (copy_to_user(uarg, &v, v.size))
		return -EFAULT;
	return 0;
}

static long utrace_dev_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case UTRACE_IOC_VERSION:
		return utrace_ioc_version(uarg);
	default:
		return -ENOTTY;
	}
}

static int utrace_dev_open(struct inode *inode, struct file *file)
{
	return nonseekable_open(inode, file);
}

static int utrace_dev_release(struct inode *inode, struct file *file)
{
	return 0;
}

/* .owner pins the module while any file is open. */
static const struct file_operations utrace_dev_fops = {
	.owner = THIS_MODULE,
	.open = utrace_dev_open,
	.release = utrace_dev_release,
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
