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

// Session structs: their first published sizes, 8-byte multiples, and no
// implicit padding (every byte is a named member).
static_assert(sizeof(utrace_attach) == UTRACE_ATTACH_SIZE_VER0);
static_assert(sizeof(utrace_set_events) == UTRACE_SET_EVENTS_SIZE_VER0);
static_assert(sizeof(utrace_control) == UTRACE_CONTROL_SIZE_VER0);
static_assert(sizeof(utrace_detach) == UTRACE_DETACH_SIZE_VER0);
static_assert(sizeof(utrace_regs) == UTRACE_REGS_SIZE_VER0);
static_assert(sizeof(utrace_mem) == UTRACE_MEM_SIZE_VER0);
static_assert(sizeof(utrace_list) == UTRACE_LIST_SIZE_VER0);
static_assert(sizeof(utrace_queue_size) == UTRACE_QUEUE_SIZE_SIZE_VER0);
static_assert(sizeof(utrace_barrier) == UTRACE_BARRIER_SIZE_VER0);
static_assert(sizeof(utrace_mem_iov) == 24);
static_assert(sizeof(utrace_engine_info) == 32);
static_assert(sizeof(utrace_event) == 40);
static_assert(sizeof(utrace_ev_syscall_entry) == 56);
static_assert(sizeof(utrace_ev_syscall_exit) == 16);
static_assert(sizeof(utrace_ev_signal) == 144);
static_assert(sizeof(utrace_ev_clone) == 16);
static_assert(sizeof(utrace_ev_exec) == 8);
static_assert(sizeof(utrace_ev_exit) == 8);
static_assert(sizeof(utrace_ev_death) == 8);
static_assert(sizeof(utrace_ev_lost) == 8);

#define M(s, f) sizeof(s::f)
static_assert(sizeof(utrace_attach) == M(utrace_attach, size) + M(utrace_attach, flags) +
                                           M(utrace_attach, tid) + M(utrace_attach, proof_fd) +
                                           M(utrace_attach, handle) + M(utrace_attach, reserved0) +
                                           M(utrace_attach, reserved));
static_assert(sizeof(utrace_set_events) ==
              M(utrace_set_events, size) + M(utrace_set_events, handle) +
                  M(utrace_set_events, events) + M(utrace_set_events, stop_events) +
                  M(utrace_set_events, flags) + M(utrace_set_events, reserved0) +
                  M(utrace_set_events, syscall_filter) + M(utrace_set_events, reserved));
static_assert(sizeof(utrace_control) ==
              M(utrace_control, size) + M(utrace_control, handle) + M(utrace_control, action) +
                  M(utrace_control, verdict) + M(utrace_control, signo) +
                  M(utrace_control, reserved0) + M(utrace_control, retval) +
                  M(utrace_control, args) + M(utrace_control, reserved));
static_assert(sizeof(utrace_regs) == M(utrace_regs, size) + M(utrace_regs, handle) +
                                         M(utrace_regs, regs) + M(utrace_regs, len) +
                                         M(utrace_regs, regset) + M(utrace_regs, reserved));
static_assert(sizeof(utrace_barrier) ==
              M(utrace_barrier, size) + M(utrace_barrier, handle) + M(utrace_barrier, reserved));
static_assert(sizeof(utrace_ev_clone) == M(utrace_ev_clone, child_tid) +
                                             M(utrace_ev_clone, child_handle) +
                                             M(utrace_ev_clone, clone_flags));
static_assert(sizeof(utrace_event) ==
              M(utrace_event, size) + M(utrace_event, type) + M(utrace_event, flags) +
                  M(utrace_event, seq) + M(utrace_event, time_ns) + M(utrace_event, handle) +
                  M(utrace_event, tid) + M(utrace_event, tgid) + M(utrace_event, reserved));
static_assert(sizeof(utrace_mem) == M(utrace_mem, size) + M(utrace_mem, handle) +
                                        M(utrace_mem, iov) + M(utrace_mem, count) +
                                        M(utrace_mem, flags) + M(utrace_mem, done) +
                                        M(utrace_mem, reserved));
static_assert(sizeof(utrace_engine_info) ==
              M(utrace_engine_info, handle) + M(utrace_engine_info, tid) +
                  M(utrace_engine_info, events) + M(utrace_engine_info, stop_events) +
                  M(utrace_engine_info, state) + M(utrace_engine_info, reserved));
#undef M

// Fields that grew out of reserved space keep the offsets the first published
// layout gave that space, so old binaries and new kernels agree.
static_assert(offsetof(utrace_control, retval) == 24);
static_assert(offsetof(utrace_control, args) == 32);
static_assert(offsetof(utrace_control, reserved) == 40);
static_assert(offsetof(utrace_regs, len) == 16);
static_assert(offsetof(utrace_regs, regset) == 20);
static_assert(offsetof(utrace_ev_clone, child_handle) == 4);
static_assert(offsetof(utrace_ev_clone, clone_flags) == 8);

// The regset selectors are the ELF core note types (<linux/elf.h>).
static_assert(UTRACE_REGSET_GENERAL == 1);    // NT_PRSTATUS
static_assert(UTRACE_REGSET_FP == 2);         // NT_PRFPREG
static_assert(UTRACE_REGSET_XSTATE == 0x202); // NT_X86_XSTATE

// Attach flags and verdicts are the published numbers, distinct bits.
static_assert(UTRACE_ATTACH_F_EXCLUSIVE == 0x1 && UTRACE_ATTACH_F_FOLLOW == 0x2 &&
              UTRACE_ATTACH_F_KILL_ON_CLOSE == 0x4 && UTRACE_ATTACH_F_HOLD_CHILDREN == 0x8 &&
              UTRACE_ATTACH_F_ALL_THREADS == 0x10);
static_assert(UTRACE_ATTACH_F_ALL == 0x1f);
static_assert(UTRACE_VERDICT_RUN_ARGS == 6 && UTRACE_VERDICT_HOLD == 7);

TEST(UapiLayout, BarrierIoctlEncodesItsStruct)
{
    EXPECT_EQ(_IOC_DIR(UTRACE_IOC_BARRIER), static_cast<unsigned>(_IOC_WRITE));
    EXPECT_EQ(_IOC_SIZE(UTRACE_IOC_BARRIER), sizeof(utrace_barrier));
    EXPECT_EQ(_IOC_NR(UTRACE_IOC_BARRIER), 0x0au);
    EXPECT_EQ(_IOC_TYPE(UTRACE_IOC_BARRIER), static_cast<unsigned>(UTRACE_IOC_MAGIC));
}

TEST(UapiLayout, FeatureBitsAreDistinct)
{
    const unsigned long long bits[] = {
        UTRACE_FEAT_DEVICE,         UTRACE_FEAT_CORE,        UTRACE_FEAT_SYSCALL_STOP_BEFORE,
        UTRACE_FEAT_SINGLESTEP,     UTRACE_FEAT_BLOCKSTEP,   UTRACE_FEAT_SIGNAL_INTERCEPT,
        UTRACE_FEAT_EXIT_MM_INTACT, UTRACE_FEAT_JCTL,        UTRACE_FEAT_FOLLOW,
        UTRACE_FEAT_KILL_ON_CLOSE,  UTRACE_FEAT_ALL_THREADS, UTRACE_FEAT_BARRIER,
        UTRACE_FEAT_FPREGS,         UTRACE_FEAT_XSTATE,      UTRACE_FEAT_RUN_ARGS,
        UTRACE_FEAT_SIGNAL_HOLD,    UTRACE_FEAT_SE_GROUP};
    unsigned long long all = 0;
    for (auto b : bits) {
        EXPECT_EQ(b & (b - 1), 0ull) << "one bit each";
        EXPECT_EQ(all & b, 0ull) << "no two features share a bit";
        all |= b;
    }
}

// The event bits are the in-kernel UTRACE_EVENT() bit numbers.
static_assert(UTRACE_EV_SYSCALL_ENTRY == (1ULL << 6));
static_assert(UTRACE_EV_SIGNAL_CORE == (1ULL << 12));
