// The uapi header is a binary contract: C and C++ must agree on it, and its
// layout may only change with a new API version.
#include <linux/utrace.h>

#include <cstddef>
#include <gtest/gtest.h>
#include <type_traits>

#include "uapi_layout.h"

static_assert(std::is_standard_layout_v<utrace_version>);
static_assert(sizeof(utrace_version) == 112);
static_assert(offsetof(utrace_version, size) == 0);
static_assert(offsetof(utrace_version, api_version) == 4);
static_assert(offsetof(utrace_version, features) == 8);
static_assert(offsetof(utrace_version, kernel_release) == 16);
static_assert(offsetof(utrace_version, module_version) == 80);
static_assert(alignof(utrace_version) == 8);

TEST(UapiLayout, CAndCppAgreeOnVersionStruct)
{
    uapi_c_layout c{};
    uapi_c_layout_get(&c);
    EXPECT_EQ(c.version_size, sizeof(utrace_version));
    EXPECT_EQ(c.version_off_size, offsetof(utrace_version, size));
    EXPECT_EQ(c.version_off_api_version, offsetof(utrace_version, api_version));
    EXPECT_EQ(c.version_off_features, offsetof(utrace_version, features));
    EXPECT_EQ(c.version_off_kernel_release, offsetof(utrace_version, kernel_release));
    EXPECT_EQ(c.version_off_module_version, offsetof(utrace_version, module_version));
}

TEST(UapiLayout, IoctlNumbersEncodeDirectionAndSize)
{
    uapi_c_layout c{};
    uapi_c_layout_get(&c);
    EXPECT_EQ(c.ioc_version, static_cast<unsigned long>(UTRACE_IOC_VERSION));
    EXPECT_EQ(_IOC_DIR(UTRACE_IOC_VERSION), static_cast<unsigned>(_IOC_READ | _IOC_WRITE));
    EXPECT_EQ(_IOC_SIZE(UTRACE_IOC_VERSION), sizeof(utrace_version));
    EXPECT_EQ(_IOC_TYPE(UTRACE_IOC_VERSION), static_cast<unsigned>(UTRACE_IOC_MAGIC));
}

TEST(UapiLayout, NoImplicitPadding)
{
    // Every byte is a named field: the sum of the members is the size.
    utrace_version v{};
    EXPECT_EQ(sizeof(v.size) + sizeof(v.api_version) + sizeof(v.features) +
                  sizeof(v.kernel_release) + sizeof(v.module_version),
              sizeof(v));
}
