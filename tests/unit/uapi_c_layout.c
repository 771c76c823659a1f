/* Compiles the uapi header as strict C and pins its layout. */
#include <linux/utrace.h>
#include <stddef.h>

#include "uapi_layout.h"

_Static_assert(sizeof(struct utrace_version) == 112, "utrace_version size");
_Static_assert(sizeof(struct utrace_version) == UTRACE_VERSION_SIZE_VER0,
               "UTRACE_VERSION_SIZE_VER0 is the first published size");
_Static_assert(offsetof(struct utrace_version, size) == 0, "size offset");
_Static_assert(offsetof(struct utrace_version, api_version) == 4, "api_version offset");
_Static_assert(offsetof(struct utrace_version, features) == 8, "features offset");
_Static_assert(offsetof(struct utrace_version, kernel_release) == 16, "kernel_release offset");
_Static_assert(offsetof(struct utrace_version, module_version) == 80, "module_version offset");

void uapi_c_layout_get(struct uapi_c_layout *out)
{
    out->version_size = sizeof(struct utrace_version);
    out->version_off_size = offsetof(struct utrace_version, size);
    out->version_off_api_version = offsetof(struct utrace_version, api_version);
    out->version_off_features = offsetof(struct utrace_version, features);
    out->version_off_kernel_release = offsetof(struct utrace_version, kernel_release);
    out->version_off_module_version = offsetof(struct utrace_version, module_version);
    out->ioc_version = UTRACE_IOC_VERSION;
}
