// What the C compiler sees of the uapi structs, so the C++ test can check
// that C and C++ agree on every size and offset.
#ifndef UTRACE_TESTS_UAPI_LAYOUT_H
#define UTRACE_TESTS_UAPI_LAYOUT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uapi_c_layout {
    size_t version_size;
    size_t version_off_size;
    size_t version_off_api_version;
    size_t version_off_features;
    size_t version_off_kernel_release;
    size_t version_off_module_version;
    unsigned long ioc_version;
};

void uapi_c_layout_get(struct uapi_c_layout *out);

#ifdef __cplusplus
}
#endif

#endif
