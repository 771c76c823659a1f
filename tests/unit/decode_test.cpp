// Decode: the syscall/signal/errno tables and the strace-like renderer,
// table-driven against the C library's own constants and struct layouts.
#include "utrace/decode.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>

using namespace utrace;

namespace {

// A traced thread's memory: readable regions at fixed addresses; a read
// returns the readable prefix of the range, as the library's readers do.
class FakeMemory {
public:
    uint64_t put(uint64_t addr, const void *data, size_t len)
    {
        auto &r = regions_[addr];
        r.assign(static_cast<const uint8_t *>(data), static_cast<const uint8_t *>(data) + len);
        return addr;
    }
    uint64_t put(uint64_t addr, std::string_view s) { return put(addr, s.data(), s.size()); }
    uint64_t putCString(uint64_t addr, std::string_view s)
    {
        std::string z(s);
        return put(addr, z.c_str(), z.size() + 1);
    }
    template <class T> uint64_t putValue(uint64_t addr, const T &v)
    {
        return put(addr, &v, sizeof(v));
    }

    MemoryReader reader()
    {
        return [this](uint64_t addr, size_t len) {
            reads_++;
            std::vector<uint8_t> out;
            while (out.size() < len) {
                uint64_t a = addr + out.size();
                auto it = regions_.upper_bound(a);
                if (it == regions_.begin())
                    break;
                --it;
                if (a >= it->first + it->second.size())
                    break;
                size_t off = static_cast<size_t>(a - it->first);
                size_t n = std::min(len - out.size(), it->second.size() - off);
                out.insert(out.end(), it->second.begin() + static_cast<ptrdiff_t>(off),
                           it->second.begin() + static_cast<ptrdiff_t>(off + n));
            }
            return out;
        };
    }
    int reads() const { return reads_; }

private:
    std::map<uint64_t, std::vector<uint8_t>> regions_;
    int reads_ = 0;
};

SyscallEntry call(long nr, std::initializer_list<uint64_t> args)
{
    SyscallEntry e;
    e.nr = nr;
    e.hasArgs = true;
    size_t i = 0;
    for (uint64_t a : args)
        e.args[i++] = a;
    return e;
}

uint64_t neg(int64_t v)
{
    return static_cast<uint64_t>(v);
}

const MemoryReader kNoMemory;

// ---------------------------------------------------------------------------
// The syscall table

TEST(Decode, NumbersAndNamesMatchGlibcForEverySyscallItKnows)
{
    struct Known {
        long nr;
        const char *name;
    };
    static const Known known[] = {
#include "decode_glibc_syscalls.inc"
    };
    ASSERT_GT(std::size(known), 350u) << "glibc's <sys/syscall.h> should know the x86-64 calls";
    for (const auto &k : known) {
        SCOPED_TRACE(k.name);
        const SyscallInfo *s = syscallInfo(k.nr);
        ASSERT_NE(s, nullptr);
        EXPECT_EQ(s->name, k.name);
        EXPECT_EQ(syscallName(k.nr), k.name);
        EXPECT_EQ(syscallNumber(k.name), k.nr);
    }
}

TEST(Decode, TableCoversKernel612WithoutGapsOrX32)
{
    auto table = syscallTable();
    ASSERT_EQ(table.size(), 336u + 39u); // 0..335 and 424..462
    std::set<std::string_view> names;
    for (size_t i = 0; i < table.size(); i++) {
        const SyscallInfo &s = table[i];
        int expected = i <= 335 ? static_cast<int>(i) : static_cast<int>(424 + i - 336);
        EXPECT_EQ(s.nr, expected);
        EXPECT_LE(s.argc, 6);
        EXPECT_FALSE(s.summary.empty()) << s.name;
        EXPECT_TRUE(names.insert(s.name).second) << s.name << " twice";
        EXPECT_EQ(s.outMask >> s.argc, 0) << s.name << " marks a missing argument as written";
        EXPECT_EQ(syscallInfo(s.nr), &s);
    }
    for (int64_t nr : {-1L, 336L, 423L, 463L, 512L, 100000L}) {
        EXPECT_EQ(syscallInfo(nr), nullptr) << nr;
        EXPECT_EQ(syscallName(nr), "syscall_" + std::to_string(nr));
        EXPECT_EQ(syscallSummary(nr), "");
    }
    EXPECT_EQ(syscallNumber("mseal"), 462);
    EXPECT_EQ(syscallNumber("uretprobe"), 335);
    EXPECT_EQ(syscallNumber("syscall_500"), 500);
    EXPECT_EQ(syscallNumber("fstatat"), SYS_newfstatat); // glibc's name
    EXPECT_EQ(syscallNumber("no_such_call"), std::nullopt);
    EXPECT_EQ(syscallNumber(""), std::nullopt);
}

TEST(Decode, ArgumentCountsAndTypes)
{
    struct Case {
        const char *name;
        int argc;
        std::vector<ArgType> args;
        ArgType ret;
    };
    using enum ArgType;
    const Case cases[] = {
        {"read", 3, {Fd, Buffer, Size}, Int},
        {"write", 3, {Fd, Buffer, Size}, Int},
        {"openat", 4, {DirFd, Path, OpenFlags, Mode}, Fd},
        {"close", 1, {Fd}, Int},
        {"mmap", 6, {Pointer, Size, ProtFlags, MmapFlags, Fd, Hex}, Hex},
        {"brk", 1, {Pointer}, Hex},
        {"execve", 3, {Path, StrArray, Envp}, Int},
        {"clone", 5, {CloneFlags, Pointer, Pointer, Pointer, Hex}, Pid},
        {"clone3", 2, {CloneArgs, Size}, Pid},
        {"futex", 6, {Pointer, FutexOp, Int, Timespec, Pointer, Int}, Int},
        {"getpid", 0, {}, Pid},
        {"exit_group", 1, {Int}, Int},
        {"wait4", 4, {Pid, WaitStatus, WaitOptions, Pointer}, Pid},
        {"rt_sigaction", 4, {Signal, Sigaction, Sigaction, Size}, Int},
        {"newfstatat", 4, {DirFd, Path, Stat, AtFlags}, Int},
        {"statx", 5, {DirFd, Path, AtFlags, StatxMask, Statx}, Int},
        {"connect", 3, {Fd, Sockaddr, Int}, Int},
        {"poll", 3, {Pollfds, Uint, Int}, Int},
        {"writev", 3, {Fd, Iovec, Int}, Int},
        {"prctl", 5, {PrctlOp, Hex, Hex, Hex, Hex}, Int},
        {"ioctl", 3, {Fd, IoctlReq, Hex}, Int},
        {"fcntl", 3, {Fd, FcntlCmd, Hex}, Int},
        {"socket", 3, {SockDomain, SockType, Int}, Fd},
        {"access", 2, {Path, AccessMode}, Int},
        {"process_vm_readv", 6, {Pid, Iovec, Uint, Pointer, Uint, Hex}, Int},
        {"restart_syscall", 0, {}, Int},
    };
    for (const auto &c : cases) {
        SCOPED_TRACE(c.name);
        auto nr = syscallNumber(c.name);
        ASSERT_TRUE(nr);
        const SyscallInfo *s = syscallInfo(*nr);
        ASSERT_NE(s, nullptr);
        EXPECT_EQ(s->argc, c.argc);
        for (size_t i = 0; i < c.args.size(); i++)
            EXPECT_EQ(s->args[i], c.args[i])
                << "argument " << i << " is " << argTypeName(s->args[i]);
        EXPECT_EQ(s->ret, c.ret);
    }
    EXPECT_EQ(syscallInfo(SYS_read)->outMask, 0x2); // the buffer
    EXPECT_EQ(syscallInfo(SYS_write)->outMask, 0x0);
    EXPECT_EQ(syscallInfo(SYS_rt_sigaction)->outMask, 0x4); // oldact
    EXPECT_EQ(argTypeName(ArgType::OpenFlags), "OpenFlags");
    EXPECT_EQ(argTypeName(ArgType::IntPtr), "IntPtr");
}

TEST(Decode, SyscallClassesAsStraceNamesThem)
{
    struct Case {
        const char *name;
        uint16_t in;
        uint16_t notIn;
    };
    namespace C = SyscallClass;
    const Case cases[] = {
        {"openat", C::Desc | C::File, C::Network},
        {"read", C::Desc, C::File},
        {"open", C::Desc | C::File, C::Process},
        {"execve", C::File | C::Process, C::Desc},
        {"clone", C::Process, C::Memory},
        {"clone3", C::Process, C::File},
        {"exit_group", C::Process, C::Desc},
        {"wait4", C::Process, C::Signal},
        {"kill", C::Process | C::Signal, C::File},
        {"socket", C::Network, C::File},
        {"connect", C::Network, C::File},
        {"mmap", C::Desc | C::Memory, C::File},
        {"brk", C::Memory, C::Desc},
        {"rt_sigaction", C::Signal, C::Process},
        {"getuid", C::Creds | C::Pure, C::File},
        {"clock_gettime", C::Clock, C::File},
        {"newfstatat", C::Desc | C::File | C::Stat, C::Statfs},
        {"statfs", C::File | C::Statfs, C::Stat},
        {"shmget", C::Ipc, C::File},
        {"getpid", C::Pure, C::Process},
    };
    for (const auto &c : cases) {
        const SyscallInfo *s = syscallInfo(*syscallNumber(c.name));
        EXPECT_EQ(s->classes & c.in, c.in) << c.name;
        EXPECT_EQ(s->classes & c.notIn, 0) << c.name;
    }
    EXPECT_EQ(syscallClass("file"), SyscallClass::File);
    EXPECT_EQ(syscallClass("%network"), SyscallClass::Network);
    EXPECT_EQ(syscallClass("%%stat"), SyscallClass::Stat);
    EXPECT_EQ(syscallClass("Process"), SyscallClass::Process);
    EXPECT_EQ(syscallClass("%bogus"), std::nullopt);
    auto files = syscallsInClass(SyscallClass::File);
    EXPECT_GT(files.size(), 60u);
    EXPECT_TRUE(std::is_sorted(files.begin(), files.end()));
    EXPECT_NE(std::find(files.begin(), files.end(), SYS_openat), files.end());
    EXPECT_EQ(std::find(files.begin(), files.end(), SYS_read), files.end());
    auto both = syscallsInClass(SyscallClass::Signal | SyscallClass::Network);
    EXPECT_NE(std::find(both.begin(), both.end(), SYS_kill), both.end());
    EXPECT_NE(std::find(both.begin(), both.end(), SYS_sendto), both.end());
}

TEST(Decode, SummariesForTheClassroom)
{
    EXPECT_EQ(syscallSummary(SYS_openat), "open a file relative to a directory fd");
    EXPECT_EQ(syscallSummary(SYS_read), "read from a file descriptor");
    EXPECT_NE(syscallSummary(SYS_mmap).find("map"), std::string_view::npos);
    EXPECT_NE(syscallSummary(SYS_execve).find("execute"), std::string_view::npos);
    size_t withSummary = 0;
    for (const auto &s : syscallTable())
        withSummary += !s.summary.empty() && s.summary.size() < 80;
    EXPECT_EQ(withSummary, syscallTable().size());
}

// ---------------------------------------------------------------------------
// Signals and errno

TEST(Decode, SignalNames)
{
    struct Case {
        int nr;
        const char *name;
    };
    const Case cases[] = {
        {SIGHUP, "SIGHUP"},       {SIGINT, "SIGINT"},       {SIGQUIT, "SIGQUIT"},
        {SIGILL, "SIGILL"},       {SIGTRAP, "SIGTRAP"},     {SIGABRT, "SIGABRT"},
        {SIGBUS, "SIGBUS"},       {SIGFPE, "SIGFPE"},       {SIGKILL, "SIGKILL"},
        {SIGUSR1, "SIGUSR1"},     {SIGSEGV, "SIGSEGV"},     {SIGUSR2, "SIGUSR2"},
        {SIGPIPE, "SIGPIPE"},     {SIGALRM, "SIGALRM"},     {SIGTERM, "SIGTERM"},
        {SIGSTKFLT, "SIGSTKFLT"}, {SIGCHLD, "SIGCHLD"},     {SIGCONT, "SIGCONT"},
        {SIGSTOP, "SIGSTOP"},     {SIGTSTP, "SIGTSTP"},     {SIGTTIN, "SIGTTIN"},
        {SIGTTOU, "SIGTTOU"},     {SIGURG, "SIGURG"},       {SIGXCPU, "SIGXCPU"},
        {SIGXFSZ, "SIGXFSZ"},     {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"},
        {SIGWINCH, "SIGWINCH"},   {SIGIO, "SIGIO"},         {SIGPWR, "SIGPWR"},
        {SIGSYS, "SIGSYS"},       {32, "SIGRTMIN"},         {35, "SIGRTMIN+3"},
        {64, "SIGRTMIN+32"},
    };
    for (const auto &c : cases) {
        EXPECT_EQ(signalName(c.nr), c.name);
        EXPECT_EQ(signalNumber(c.name), c.nr) << c.name;
    }
    EXPECT_EQ(signalName(0), "0");
    EXPECT_EQ(signalName(65), "65");
    EXPECT_EQ(signalNumber("segv"), SIGSEGV);
    EXPECT_EQ(signalNumber("Kill"), SIGKILL);
    EXPECT_EQ(signalNumber("11"), 11);
    EXPECT_EQ(signalNumber("SIGRTMAX"), 64);
    EXPECT_EQ(signalNumber("SIGRTMAX-1"), 63);
    EXPECT_EQ(signalNumber("RTMIN+2"), 34);
    EXPECT_EQ(signalNumber("SIGIOT"), SIGABRT);
    EXPECT_EQ(signalNumber("SIGCLD"), SIGCHLD);
    EXPECT_EQ(signalNumber("SIGRTMIN+33"), std::nullopt);
    EXPECT_EQ(signalNumber("SIGFOO"), std::nullopt);
    EXPECT_EQ(signalNumber("0"), std::nullopt);
    EXPECT_EQ(signalNumber("65"), std::nullopt);
    EXPECT_EQ(signalNumber(""), std::nullopt);
}

TEST(Decode, ErrnoNamesAndMessagesMatchGlibc)
{
    int checked = 0;
    for (int e = 1; e < 134; e++) {
        const char *name = strerrorname_np(e);
        const char *desc = strerrordesc_np(e);
        if (!name)
            continue; // holes in the numbering (41, 58)
        checked++;
        EXPECT_EQ(errnoName(e), name);
        EXPECT_EQ(errnoMessage(e), desc) << name;
        EXPECT_EQ(errnoNumber(name), e);
    }
    EXPECT_GE(checked, 130);
    EXPECT_EQ(errnoName(ENOENT), "ENOENT");
    EXPECT_EQ(errnoMessage(EACCES), "Permission denied");
    EXPECT_EQ(errnoName(512), "ERESTARTSYS");
    EXPECT_EQ(errnoName(4000), "4000");
    EXPECT_EQ(errnoNumber("enoent"), ENOENT);
    EXPECT_EQ(errnoNumber("EWOULDBLOCK"), EAGAIN);
    EXPECT_EQ(errnoNumber("ENOTSUP"), EOPNOTSUPP);
    EXPECT_EQ(errnoNumber("ERESTARTNOINTR"), 513);
    EXPECT_EQ(errnoNumber("22"), EINVAL);
    EXPECT_EQ(errnoNumber("EBOGUS"), std::nullopt);
}

TEST(Decode, Results)
{
    struct Case {
        long nr;
        int64_t ret;
        const char *text;
    };
    const Case cases[] = {
        {SYS_openat, 3, "= 3"},
        {SYS_openat, -ENOENT, "= -1 ENOENT (No such file or directory)"},
        {SYS_open, -EACCES, "= -1 EACCES (Permission denied)"},
        {SYS_read, 0, "= 0"},
        {SYS_read, -EAGAIN, "= -1 EAGAIN (Resource temporarily unavailable)"},
        {SYS_mmap, 0x7f1234560000, "= 0x7f1234560000"},
        {SYS_mmap, -ENOMEM, "= -1 ENOMEM (Cannot allocate memory)"},
        {SYS_brk, 0x555555559000, "= 0x555555559000"},
        {SYS_lseek, 1LL << 40, "= 1099511627776"},
        {SYS_umask, 022, "= 022"},
        {SYS_wait4, -512, "= ? ERESTARTSYS (To be restarted if SA_RESTART is set)"},
        {SYS_nanosleep, -516, "= ? ERESTART_RESTARTBLOCK (Interrupted by signal)"},
        {SYS_exit_group, 0, "= ?"},
        {SYS_getpid, 1234, "= 1234"},
        {-1, -ENOSYS, "= -1 ENOSYS (Function not implemented)"},
        {999, 7, "= 7"},
        {SYS_write, -4096, "= -4096"}, // outside the errno range
    };
    for (const auto &c : cases)
        EXPECT_EQ(renderSyscallResult(c.nr, c.ret), c.text) << syscallName(c.nr) << " " << c.ret;
}

// ---------------------------------------------------------------------------
// Flags and values

TEST(Decode, FlagRendering)
{
    struct Case {
        ArgType type;
        uint64_t value;
        const char *text;
    };
    using enum ArgType;
    const Case cases[] = {
        {OpenFlags, O_RDONLY | O_CLOEXEC, "O_RDONLY|O_CLOEXEC"},
        {OpenFlags, O_WRONLY | O_CREAT | O_TRUNC, "O_WRONLY|O_CREAT|O_TRUNC"},
        {OpenFlags, O_RDWR | O_NONBLOCK | O_APPEND, "O_RDWR|O_APPEND|O_NONBLOCK"},
        {OpenFlags, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
         "O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_DIRECTORY"},
        {OpenFlags, O_WRONLY | O_SYNC, "O_WRONLY|O_SYNC"},
        {OpenFlags, O_WRONLY | O_DSYNC, "O_WRONLY|O_DSYNC"},
        {OpenFlags, O_RDWR | O_TMPFILE, "O_RDWR|O_TMPFILE"},
        {OpenFlags, O_PATH, "O_RDONLY|O_PATH"},
        {OpenFlags, O_RDONLY | 0x80000000u, "O_RDONLY|0x80000000"},
        {OpenFlags, O_RDONLY, "O_RDONLY"},
        {ProtFlags, PROT_READ | PROT_WRITE, "PROT_READ|PROT_WRITE"},
        {ProtFlags, PROT_READ | PROT_EXEC, "PROT_READ|PROT_EXEC"},
        {ProtFlags, PROT_NONE, "PROT_NONE"},
        {MmapFlags, MAP_PRIVATE | MAP_ANONYMOUS, "MAP_PRIVATE|MAP_ANONYMOUS"},
        {MmapFlags, MAP_PRIVATE | MAP_FIXED | MAP_DENYWRITE, "MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE"},
        {MmapFlags, MAP_SHARED, "MAP_SHARED"},
        {MmapFlags, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE,
         "MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE|MAP_STACK"},
        {CloneFlags, CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | SIGCHLD,
         "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"},
        {CloneFlags,
         CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
             CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID,
         "CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|"
         "CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID"},
        {CloneFlags, CLONE_VM | CLONE_VFORK | SIGCHLD, "CLONE_VM|CLONE_VFORK|SIGCHLD"},
        {CloneFlags, CLONE_VM | 0x400000000000ull, "CLONE_VM|0x400000000000"},
        {CloneFlags, 0, "0"},
        {AccessMode, F_OK, "F_OK"},
        {AccessMode, R_OK | W_OK, "R_OK|W_OK"},
        {AccessMode, X_OK, "X_OK"},
        {AtFlags, AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"},
        {AtFlags, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH"},
        {AtFlags, AT_REMOVEDIR, "AT_REMOVEDIR"},
        {AtFlags, 0, "0"},
        {DirFd, neg(AT_FDCWD), "AT_FDCWD"},
        {DirFd, 3, "3"},
        {Fd, neg(-1), "-1"},
        {Fd, 0xffffffffull, "-1"}, // int-sized in a 64-bit register
        {Whence, SEEK_END, "SEEK_END"},
        {Whence, 9, "9"},
        {IoctlReq, TCGETS, "TCGETS"},
        {IoctlReq, TIOCGWINSZ, "TIOCGWINSZ"},
        {IoctlReq, FIONREAD, "FIONREAD"},
        {IoctlReq, 0xdeadbeef, "0xdeadbeef"},
        {FcntlCmd, F_DUPFD_CLOEXEC, "F_DUPFD_CLOEXEC"},
        {FcntlCmd, F_SETFL, "F_SETFL"},
        {SockDomain, AF_INET6, "AF_INET6"},
        {SockDomain, AF_UNIX, "AF_UNIX"},
        {SockDomain, AF_NETLINK, "AF_NETLINK"},
        {SockType, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
         "SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK"},
        {SockType, SOCK_DGRAM, "SOCK_DGRAM"},
        {SockType, SOCK_CLOEXEC, "SOCK_CLOEXEC"},
        {WaitOptions, WNOHANG | __WALL, "WNOHANG|__WALL"},
        {WaitOptions, 0, "0"},
        {FutexOp, 0x80, "FUTEX_WAIT_PRIVATE"},
        {FutexOp, 0x81, "FUTEX_WAKE_PRIVATE"},
        {FutexOp, 0x189, "FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME"},
        {FutexOp, 1, "FUTEX_WAKE"},
        {PrctlOp, 15, "PR_SET_NAME"},
        {PrctlOp, 38, "PR_SET_NO_NEW_PRIVS"},
        {PrctlOp, 9999, "9999"},
        {Signal, SIGKILL, "SIGKILL"},
        {Signal, 0, "0"},
        {Mode, 0644, "0644"},
        {Mode, 0, "000"},
        {Mode, 04755, "04755"},
        {Mode, S_IFREG | 0600, "S_IFREG|0600"},
        {Mode, S_IFCHR | 0620, "S_IFCHR|0620"},
        {SigHow, SIG_SETMASK, "SIG_SETMASK"},
        {Madvise, MADV_DONTNEED, "MADV_DONTNEED"},
        {ClockId, CLOCK_MONOTONIC, "CLOCK_MONOTONIC"},
        {EpollCtlOp, EPOLL_CTL_ADD, "EPOLL_CTL_ADD"},
        {RlimitResource, RLIMIT_NOFILE, "RLIMIT_NOFILE"},
        {MsgFlags, MSG_DONTWAIT | MSG_NOSIGNAL, "MSG_DONTWAIT|MSG_NOSIGNAL"},
        {ShutdownHow, SHUT_RDWR, "SHUT_RDWR"},
        {ArchPrctlCode, 0x1002, "ARCH_SET_FS"},
        {ArchPrctlCode, 0x3001, "ARCH_CET_STATUS"},
        {GetrandomFlags, 1, "GRND_NONBLOCK"},
        {FlockOp, LOCK_EX | LOCK_NB, "LOCK_EX|LOCK_NB"},
        {StatxMask, STATX_BASIC_STATS | STATX_MNT_ID, "STATX_BASIC_STATS|STATX_MNT_ID"},
        {StatxMask, STATX_TYPE | STATX_SIZE, "STATX_TYPE|STATX_SIZE"},
        {MremapFlags, MREMAP_MAYMOVE, "MREMAP_MAYMOVE"},
        {Pointer, 0, "NULL"},
        {Pointer, 0x7ffd1000, "0x7ffd1000"},
        {Hex, 0, "0"},
        {Size, 4096, "4096"},
        {Off, neg(-1), "-1"},
        {Uint, 0xffffffffull, "4294967295"},
    };
    for (const auto &c : cases)
        EXPECT_EQ(renderValue(c.type, c.value, kNoMemory), c.text)
            << argTypeName(c.type) << " " << std::hex << c.value;
    RenderOptions raw;
    raw.raw = true;
    EXPECT_EQ(renderValue(ArgType::OpenFlags, O_CLOEXEC, kNoMemory, raw), "0x80000");
}

TEST(Decode, SignalSets)
{
    FakeMemory m;
    auto set = [&](std::initializer_list<int> sigs) {
        uint64_t bits = 0;
        for (int s : sigs)
            bits |= 1ull << (s - 1);
        return m.putValue(0x1000, bits);
    };
    EXPECT_EQ(renderValue(ArgType::SigSet, set({}), m.reader()), "[]");
    EXPECT_EQ(renderValue(ArgType::SigSet, set({SIGINT, SIGTERM}), m.reader()), "[INT TERM]");
    EXPECT_EQ(renderValue(ArgType::SigSet, set({SIGCHLD, 33}), m.reader()), "[CHLD RTMIN+1]");
    m.putValue(0x1000, ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1))));
    EXPECT_EQ(renderValue(ArgType::SigSet, 0x1000, m.reader()), "~[KILL STOP]");
    m.putValue(0x1000, ~0ull);
    EXPECT_EQ(renderValue(ArgType::SigSet, 0x1000, m.reader()), "~[]");
    EXPECT_EQ(renderValue(ArgType::SigSet, 0, m.reader()), "NULL");
    EXPECT_EQ(renderValue(ArgType::SigSet, 0x9000, m.reader()), "0x9000");
}

// ---------------------------------------------------------------------------
// Strings

TEST(Decode, StringEscaping)
{
    struct Case {
        std::string in;
        size_t limit;
        const char *out;
    };
    const Case cases[] = {
        {"hello", 32, "\"hello\""},
        {"a\nb\tc\r", 32, "\"a\\nb\\tc\\r\""},
        {"\v\f", 32, "\"\\v\\f\""},
        {"say \"hi\" \\o/", 32, "\"say \\\"hi\\\" \\\\o/\""},
        {std::string("a\0b", 3), 32, "\"a\\0b\""},
        {std::string("\x01"
                     "7",
                     2),
         32, "\"\\0017\""}, // a digit follows: three digits
        {std::string("\x01"
                     "8",
                     2),
         32, "\"\\18\""},
        {"\x7f\xff", 32, "\"\\177\\377\""},
        {"\x1b[0m", 32, "\"\\33[0m\""},
        {"abcdef", 3, "\"abc\"..."},
        {"abc", 3, "\"abc\""},
        {"", 32, "\"\""},
        {"abc", 0, "\"\"..."},
    };
    for (const auto &c : cases)
        EXPECT_EQ(quoteString(c.in, c.limit), c.out) << c.in;
    EXPECT_EQ(quoteString("abc", 32, true), "\"abc\"...");
}

TEST(Decode, StringsFromMemoryWithLimitAndUnreadablePointers)
{
    FakeMemory m;
    RenderOptions o;
    o.stringLimit = 5;
    uint64_t hello = m.put(0x10000, "hello world\n");
    EXPECT_EQ(renderSyscallEntry(call(SYS_write, {1, hello, 12}), m.reader(), o),
              "write(1, \"hello\"..., 12)");
    o.stringLimit = 32;
    EXPECT_EQ(renderSyscallEntry(call(SYS_write, {1, hello, 12}), m.reader(), o),
              "write(1, \"hello world\\n\", 12)");
    EXPECT_EQ(renderSyscallEntry(call(SYS_write, {1, hello, 5}), m.reader(), o),
              "write(1, \"hello\", 5)");
    // Unreadable: the address, as strace shows it.
    EXPECT_EQ(renderSyscallEntry(call(SYS_write, {2, 0xdead0000, 4}), m.reader(), o),
              "write(2, 0xdead0000, 4)");
    EXPECT_EQ(
        renderSyscallEntry(call(SYS_openat, {neg(AT_FDCWD), 0xdead0000, O_RDONLY}), m.reader()),
        "openat(AT_FDCWD, 0xdead0000, O_RDONLY)");
    EXPECT_EQ(renderSyscallEntry(call(SYS_openat, {neg(AT_FDCWD), 0, O_RDONLY}), m.reader()),
              "openat(AT_FDCWD, NULL, O_RDONLY)");
    // No memory at all (a reader that is empty or throws): addresses.
    EXPECT_EQ(renderSyscallEntry(call(SYS_write, {1, hello, 12}), kNoMemory),
              "write(1, 0x10000, 12)");
    MemoryReader throwing = [](uint64_t, size_t) -> std::vector<uint8_t> {
        throw std::runtime_error("EIO");
    };
    EXPECT_EQ(renderSyscallEntry(call(SYS_chdir, {hello}), throwing), "chdir(0x10000)");

    // Paths are not cut at -s; a string running into an unmapped page is
    // shown as far as it reads, marked as cut.
    std::string longPath = "/" + std::string(100, 'p');
    uint64_t p = m.putCString(0x20000, longPath);
    EXPECT_EQ(renderSyscallEntry(call(SYS_chdir, {p}), m.reader(), o),
              "chdir(\"" + longPath + "\")");
    uint64_t edge = m.put(0x30000 - 3, "abc"); // no NUL before the end of what is mapped
    EXPECT_EQ(renderSyscallEntry(call(SYS_chdir, {edge}), m.reader(), o), "chdir(\"abc\"...)");
    // A string crossing into the next page is read across it.
    m.put(0x40000 - 2, "/e");
    m.putCString(0x40000, "tc");
    EXPECT_EQ(renderSyscallEntry(call(SYS_chdir, {0x40000 - 2}), m.reader(), o), "chdir(\"/etc\")");
}

// ---------------------------------------------------------------------------
// Whole calls, with structs read from memory laid out by the C library's types

TEST(Decode, OpenAndFileCalls)
{
    FakeMemory m;
    uint64_t passwd = m.putCString(0x1000, "/etc/passwd");
    uint64_t x = m.putCString(0x2000, "x");
    auto mem = m.reader();
    EXPECT_EQ(renderSyscallEntry(
                  call(SYS_openat, {neg(AT_FDCWD), passwd, O_RDONLY | O_CLOEXEC, 0777}), mem),
              "openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC)");
    EXPECT_EQ(renderSyscall(call(SYS_openat, {3, x, O_WRONLY | O_CREAT | O_TRUNC, 0644}), 4, mem),
              "openat(3, \"x\", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 4");
    EXPECT_EQ(
        renderSyscall(call(SYS_openat, {neg(AT_FDCWD), passwd, O_RDONLY}), -ENOENT, mem),
        "openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = -1 ENOENT (No such file or directory)");
    EXPECT_EQ(renderSyscall(call(SYS_open, {passwd, O_RDONLY}), 3, mem),
              "open(\"/etc/passwd\", O_RDONLY) = 3");
    EXPECT_EQ(renderSyscall(call(SYS_access, {passwd, R_OK}), 0, mem),
              "access(\"/etc/passwd\", R_OK) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_close, {3}), 0, mem), "close(3) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_lseek, {3, 0, SEEK_END}), 1234, mem),
              "lseek(3, 0, SEEK_END) = 1234");
    EXPECT_EQ(renderSyscall(call(SYS_unlinkat, {3, x, AT_REMOVEDIR}), 0, mem),
              "unlinkat(3, \"x\", AT_REMOVEDIR) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_faccessat2, {neg(AT_FDCWD), x, X_OK, AT_EACCESS}), 0, mem),
              "faccessat2(AT_FDCWD, \"x\", X_OK, AT_EACCESS) = 0");
    // glibc's O_LARGEFILE is 0 on x86-64; the kernel's flag (set by open on 64-bit) is 0100000.
    EXPECT_EQ(renderSyscall(call(SYS_fcntl, {3, F_GETFL}), O_RDWR | 0100000, mem),
              "fcntl(3, F_GETFL) = 0x8002 (flags O_RDWR|O_LARGEFILE)");
    EXPECT_EQ(renderSyscall(call(SYS_fcntl, {3, F_GETFD}), 1, mem),
              "fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)");
    EXPECT_EQ(renderSyscall(call(SYS_fcntl, {3, F_SETFD, FD_CLOEXEC}), 0, mem),
              "fcntl(3, F_SETFD, FD_CLOEXEC) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_fcntl, {3, F_SETFL, O_RDONLY | O_NONBLOCK}), 0, mem),
              "fcntl(3, F_SETFL, O_RDONLY|O_NONBLOCK) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_fcntl, {3, F_DUPFD_CLOEXEC, 10}), 10, mem),
              "fcntl(3, F_DUPFD_CLOEXEC, 10) = 10");
    EXPECT_EQ(renderSyscall(call(SYS_ioctl, {1, TCGETS, 0x7ffd0000}), -ENOTTY, mem),
              "ioctl(1, TCGETS, 0x7ffd0000) = -1 ENOTTY (Inappropriate ioctl for device)");
    EXPECT_EQ(renderSyscall(call(SYS_dup3, {3, 4, O_CLOEXEC}), 4, mem),
              "dup3(3, 4, O_CLOEXEC) = 4");
    EXPECT_EQ(renderSyscall(call(SYS_eventfd2, {0, O_CLOEXEC | O_NONBLOCK}), 5, mem),
              "eventfd2(0, EFD_CLOEXEC|EFD_NONBLOCK) = 5");
    EXPECT_EQ(renderSyscall(call(SYS_eventfd2, {0, 1 /* EFD_SEMAPHORE */}), 5, mem),
              "eventfd2(0, EFD_SEMAPHORE) = 5");
    EXPECT_EQ(renderSyscall(call(SYS_inotify_init1, {O_NONBLOCK | O_CLOEXEC}), 5, mem),
              "inotify_init1(IN_NONBLOCK|IN_CLOEXEC) = 5");
    EXPECT_EQ(renderSyscall(call(SYS_timerfd_create, {CLOCK_MONOTONIC, O_CLOEXEC}), 5, mem),
              "timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC) = 5");
    EXPECT_EQ(renderSyscall(call(SYS_pipe2, {0, O_NONBLOCK | O_CLOEXEC}), -EFAULT, mem),
              "pipe2(NULL, O_NONBLOCK|O_CLOEXEC) = -1 EFAULT (Bad address)");
    EXPECT_EQ(renderSyscall(call(SYS_epoll_create1, {O_CLOEXEC}), 5, mem),
              "epoll_create1(EPOLL_CLOEXEC) = 5");
}

TEST(Decode, ReadWritesItsBufferAtExit)
{
    FakeMemory m;
    uint64_t buf = m.put(0x5000, std::string("hello\0\0\0\0\0\0\0\0\0\0\0", 16));
    auto mem = m.reader();
    auto e = call(SYS_read, {3, buf, 16});
    EXPECT_EQ(renderSyscallEntry(e, mem), "read(3, 0x5000, 16)");
    EXPECT_EQ(renderSyscall(e, 5, mem), "read(3, \"hello\", 16) = 5");
    EXPECT_EQ(renderSyscall(e, -EBADF, mem),
              "read(3, 0x5000, 16) = -1 EBADF (Bad file descriptor)");
    EXPECT_EQ(renderSyscall(e, 0, mem), "read(3, \"\", 16) = 0");
    // The tracer's path: arguments kept from the entry, completed at the exit.
    auto kept = renderEntryArgs(e, mem);
    ASSERT_EQ(kept.size(), 3u);
    EXPECT_EQ(kept[1], "0x5000");
    EXPECT_EQ(renderSyscallExit(e, kept, 5, mem), "read(3, \"hello\", 16) = 5");
    RenderOptions o;
    o.stringLimit = 2;
    EXPECT_EQ(renderSyscall(e, 5, mem, o), "read(3, \"he\"..., 16) = 5");

    uint64_t link = m.put(0x6000, "target-and-garbage");
    uint64_t path = m.putCString(0x7000, "/proc/self/exe");
    EXPECT_EQ(renderSyscall(call(SYS_readlink, {path, link, 4096}), 6, mem),
              "readlink(\"/proc/self/exe\", \"target\", 4096) = 6");
    uint64_t rnd = m.put(0x8000, "\x01\x02\xfe");
    EXPECT_EQ(renderSyscall(call(SYS_getrandom, {rnd, 3, 1}), 3, mem),
              "getrandom(\"\\x01\\x02\\xfe\", 3, GRND_NONBLOCK) = 3"); // all hex, as strace
    uint64_t cwd = m.putCString(0x9000, "/home/user");
    EXPECT_EQ(renderSyscall(call(SYS_getcwd, {cwd, 4096}), 11, mem),
              "getcwd(\"/home/user\", 4096) = 11");
}

TEST(Decode, StatStructs)
{
    FakeMemory m;
    struct stat st {};
    st.st_mode = S_IFREG | 0644;
    st.st_size = 1234;
    uint64_t reg = m.putValue(0x1000, st);
    struct stat dev {};
    dev.st_mode = S_IFCHR | 0666;
    dev.st_rdev = makedev(1, 3);
    uint64_t devp = m.putValue(0x2000, dev);
    uint64_t null = m.putCString(0x3000, "/dev/null");
    auto mem = m.reader();
    EXPECT_EQ(renderSyscall(call(SYS_fstat, {3, reg}), 0, mem),
              "fstat(3, {st_mode=S_IFREG|0644, st_size=1234, ...}) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_newfstatat, {neg(AT_FDCWD), null, devp, 0}), 0, mem),
              "newfstatat(AT_FDCWD, \"/dev/null\", {st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, "
              "0x3), ...}, 0) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_fstat, {99, reg}), -EBADF, mem),
              "fstat(99, 0x1000) = -1 EBADF (Bad file descriptor)");
    EXPECT_EQ(renderSyscall(call(SYS_fstat, {3, 0xdead0000}), 0, mem), "fstat(3, 0xdead0000) = 0");

    struct statx sx {};
    sx.stx_mask = STATX_BASIC_STATS | STATX_MNT_ID;
    sx.stx_mode = S_IFDIR | 0755;
    sx.stx_size = 4096;
    uint64_t sxp = m.putValue(0x4000, sx);
    uint64_t etc = m.putCString(0x5000, "/etc");
    EXPECT_EQ(
        renderSyscall(
            call(SYS_statx, {neg(AT_FDCWD), etc, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, sxp}), 0,
            mem),
        "statx(AT_FDCWD, \"/etc\", AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, "
        "{stx_mask=STATX_BASIC_STATS|"
        "STATX_MNT_ID, stx_attributes=0, stx_mode=S_IFDIR|0755, stx_size=4096, ...}) = 0");
}

TEST(Decode, FileSystemAndSystemStructs)
{
    FakeMemory m;
    struct stat st {};
    st.st_mode = S_IFDIR | S_ISVTX | 0777;
    st.st_size = 4096;
    uint64_t tmp = m.putCString(0x1000, "/tmp");
    uint64_t stp = m.putValue(0x2000, st);
    auto mem = m.reader();
    EXPECT_EQ(
        renderSyscall(call(SYS_newfstatat, {neg(AT_FDCWD), tmp, stp, 0}), 0, mem),
        "newfstatat(AT_FDCWD, \"/tmp\", {st_mode=S_IFDIR|S_ISVTX|0777, st_size=4096, ...}, 0) = 0");
    EXPECT_EQ(renderValue(ArgType::Mode, S_IFREG | S_ISUID | S_ISGID | 0755, mem),
              "S_IFREG|S_ISUID|S_ISGID|0755");
    EXPECT_EQ(renderSyscall(call(SYS_chmod, {tmp, 04755}), 0, mem), "chmod(\"/tmp\", 04755) = 0");

    struct statfs64_x86 {
        int64_t type, bsize, blocks, bfree, bavail, files, ffree;
        int32_t fsid[2];
        int64_t namelen, frsize, flags, spare[4];
    } fs = {0xef53, 4096, 100, 50, 40, 1000, 900, {0x1234, 0x5678}, 255, 4096, 0x20 | 4096, {}};
    static_assert(sizeof(fs) == sizeof(struct statfs));
    uint64_t fsp = m.putValue(0x3000, fs);
    EXPECT_EQ(
        renderSyscall(call(SYS_statfs, {tmp, fsp}), 0, mem),
        "statfs(\"/tmp\", {f_type=EXT2_SUPER_MAGIC, f_bsize=4096, f_blocks=100, f_bfree=50, "
        "f_bavail=40, "
        "f_files=1000, f_ffree=900, f_fsid={val=[0x1234, 0x5678]}, f_namelen=255, f_frsize=4096, "
        "f_flags=ST_VALID|ST_RELATIME}) = 0");
    EXPECT_EQ(renderSyscallEntry(call(SYS_fstatfs, {3, fsp}), mem), "fstatfs(3, 0x3000)");

    struct sysinfo si {};
    si.uptime = 100;
    si.loads[0] = 1;
    si.totalram = 1 << 30;
    si.procs = 12;
    si.mem_unit = 1;
    uint64_t sip = m.putValue(0x4000, si);
    EXPECT_EQ(renderSyscall(call(SYS_sysinfo, {sip}), 0, mem),
              "sysinfo({uptime=100, loads=[1, 0, 0], totalram=1073741824, freeram=0, sharedram=0, "
              "bufferram=0, "
              "totalswap=0, freeswap=0, procs=12, totalhigh=0, freehigh=0, mem_unit=1}) = 0");

    uint32_t gids[3] = {0, 4, 27};
    uint64_t gp = m.putValue(0x5000, gids);
    EXPECT_EQ(renderSyscall(call(SYS_getgroups, {3, gp}), 3, mem), "getgroups(3, [0, 4, 27]) = 3");
    EXPECT_EQ(renderSyscall(call(SYS_setgroups, {2, gp}), 0, mem), "setgroups(2, [0, 4]) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_prctl, {PR_CAPBSET_READ, 21, 0, 0, 0}), 1, mem),
              "prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN) = 1");
    EXPECT_EQ(renderSyscall(call(SYS_prctl, {PR_CAPBSET_READ, 48, 0, 0, 0}), -EINVAL, mem),
              "prctl(PR_CAPBSET_READ, 0x30 /* CAP_??? */) = -1 EINVAL (Invalid argument)");
    // The remaining time of a sleep is written only when a signal cut it short.
    struct timespec left = {0, 5};
    uint64_t lp = m.putValue(0x6000, left);
    EXPECT_EQ(renderSyscall(call(SYS_clock_nanosleep, {CLOCK_REALTIME, 0, lp, lp}), 0, mem),
              "clock_nanosleep(CLOCK_REALTIME, 0, {tv_sec=0, tv_nsec=5}, 0x6000) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_nanosleep, {lp, lp}), -EINTR, mem),
              "nanosleep({tv_sec=0, tv_nsec=5}, {tv_sec=0, tv_nsec=5}) = -1 EINTR (Interrupted "
              "system call)");
}

TEST(Decode, TerminalIoctls)
{
    FakeMemory m;
    // The kernel's struct termios begins with the four flag words; <termios.h> gives their bits.
    struct {
        uint32_t iflag, oflag, cflag, lflag;
        uint8_t line, cc[19];
    } t = {ICRNL | IXON,
           OPOST | ONLCR,
           B38400 | CS8 | CREAD,
           ISIG | ICANON | ECHO | ECHOE | ECHOK | IEXTEN | ECHOCTL | ECHOKE,
           0,
           {}};
    uint64_t tp = m.putValue(0x1000, t);
    auto mem = m.reader();
    const std::string tty = "{c_iflag=ICRNL|IXON, c_oflag=NL0|CR0|TAB0|BS0|VT0|FF0|OPOST|ONLCR, "
                            "c_cflag=B38400|CS8|CREAD, c_lflag=ISIG|ICANON|ECHO|ECHOE|ECHOK|IEXTEN|"
                            "ECHOCTL|ECHOKE, ...}";
    EXPECT_EQ(renderSyscallEntry(call(SYS_ioctl, {1, TCGETS, tp}), mem),
              "ioctl(1, TCGETS, 0x1000)");
    EXPECT_EQ(renderSyscall(call(SYS_ioctl, {1, TCGETS, tp}), 0, mem),
              "ioctl(1, TCGETS, " + tty + ") = 0");
    EXPECT_EQ(renderSyscall(call(SYS_ioctl, {1, TCGETS, tp}), -ENOTTY, mem),
              "ioctl(1, TCGETS, 0x1000) = -1 ENOTTY (Inappropriate ioctl for device)");
    EXPECT_EQ(renderSyscallEntry(call(SYS_ioctl, {0, TCSETSW, tp}), mem),
              "ioctl(0, TCSETSW, " + tty + ")");
    t.oflag = OPOST | TAB3 | CR2;
    t.cflag = B115200 | CS7 | PARENB | CLOCAL;
    t.lflag = 0;
    m.putValue(0x1000, t);
    EXPECT_EQ(renderSyscall(call(SYS_ioctl, {1, TCGETS, tp}), 0, mem),
              "ioctl(1, TCGETS, {c_iflag=ICRNL|IXON, c_oflag=NL0|CR2|TAB3|BS0|VT0|FF0|OPOST, "
              "c_cflag=B115200|CS7|PARENB|CLOCAL, c_lflag=0, ...}) = 0");
    struct winsize ws = {24, 80, 0, 0};
    uint64_t wp = m.putValue(0x2000, ws);
    EXPECT_EQ(renderSyscall(call(SYS_ioctl, {1, TIOCGWINSZ, wp}), 0, mem),
              "ioctl(1, TIOCGWINSZ, {ws_row=24, ws_col=80, ws_xpixel=0, ws_ypixel=0}) = 0");
}

TEST(Decode, TimePollIovecStructs)
{
    FakeMemory m;
    struct timespec ts = {1, 500000000};
    uint64_t tsp = m.putValue(0x1000, ts);
    auto mem = m.reader();
    EXPECT_EQ(renderSyscall(call(SYS_nanosleep, {tsp, 0}), 0, mem),
              "nanosleep({tv_sec=1, tv_nsec=500000000}, NULL) = 0");
    struct timespec now = {1700000000, 42};
    uint64_t nowp = m.putValue(0x1100, now);
    EXPECT_EQ(renderSyscallEntry(call(SYS_clock_gettime, {CLOCK_MONOTONIC, nowp}), mem),
              "clock_gettime(CLOCK_MONOTONIC, 0x1100)");
    EXPECT_EQ(renderSyscall(call(SYS_clock_gettime, {CLOCK_MONOTONIC, nowp}), 0, mem),
              "clock_gettime(CLOCK_MONOTONIC, {tv_sec=1700000000, tv_nsec=42}) = 0");

    struct pollfd fds[2] = {{3, POLLIN, POLLIN}, {4, POLLIN | POLLOUT, 0}};
    uint64_t fdsp = m.putValue(0x2000, fds);
    EXPECT_EQ(renderSyscall(call(SYS_poll, {fdsp, 2, 1000}), 1, mem),
              "poll([{fd=3, events=POLLIN}, {fd=4, events=POLLIN|POLLOUT}], 2, 1000) = 1 ([{fd=3, "
              "revents=POLLIN}])");
    EXPECT_EQ(renderSyscall(call(SYS_poll, {fdsp, 1, 0}), 0, mem),
              "poll([{fd=3, events=POLLIN}], 1, 0) = 0 (Timeout)");

    uint64_t ab = m.put(0x3000, "ab");
    uint64_t cd = m.put(0x3100, "cdef");
    struct iovec iov[2] = {{reinterpret_cast<void *>(ab), 2}, {reinterpret_cast<void *>(cd), 4}};
    uint64_t iovp = m.putValue(0x4000, iov);
    EXPECT_EQ(renderSyscall(call(SYS_writev, {1, iovp, 2}), 6, mem),
              "writev(1, [{iov_base=\"ab\", iov_len=2}, {iov_base=\"cdef\", iov_len=4}], 2) = 6");
    // readv: the data is what the call returned, spread over the buffers.
    EXPECT_EQ(renderSyscall(call(SYS_readv, {0, iovp, 2}), 3, mem),
              "readv(0, [{iov_base=\"ab\", iov_len=2}, {iov_base=\"c\", iov_len=4}], 2) = 3");

    struct timeval tv = {1, 0};
    uint64_t tvp = m.putValue(0x5000, tv);
    uint64_t set = m.putValue(0x6000, uint64_t{(1u << 0) | (1u << 3)});
    EXPECT_EQ(renderSyscallEntry(call(SYS_select, {4, set, 0, 0, tvp}), mem),
              "select(4, [0 3], NULL, NULL, {tv_sec=1, tv_usec=0})");
}

TEST(Decode, SocketAddresses)
{
    FakeMemory m;
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(80);
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    uint64_t inp = m.putValue(0x1000, in);
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(443);
    inet_pton(AF_INET6, "::1", &in6.sin6_addr);
    uint64_t in6p = m.putValue(0x2000, in6);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    strcpy(un.sun_path, "/run/x.sock");
    uint64_t unp = m.putValue(0x3000, un);
    sockaddr_un abs{};
    abs.sun_family = AF_UNIX;
    memcpy(abs.sun_path, "\0abs", 4);
    uint64_t absp = m.putValue(0x4000, abs);
    auto mem = m.reader();

    EXPECT_EQ(renderSyscall(call(SYS_connect, {3, inp, sizeof(in)}), 0, mem),
              "connect(3, {sa_family=AF_INET, sin_port=htons(80), "
              "sin_addr=inet_addr(\"127.0.0.1\")}, 16) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_connect, {3, in6p, sizeof(in6)}), -ECONNREFUSED, mem),
              "connect(3, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
              "inet_pton(AF_INET6, \"::1\", &sin6_addr), sin6_scope_id=0}, 28) = -1 ECONNREFUSED "
              "(Connection "
              "refused)");
    EXPECT_EQ(renderSyscall(call(SYS_connect, {3, unp, 2 + strlen("/run/x.sock") + 1}), 0, mem),
              "connect(3, {sa_family=AF_UNIX, sun_path=\"/run/x.sock\"}, 14) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_bind, {3, absp, 2 + 4}), 0, mem),
              "bind(3, {sa_family=AF_UNIX, sun_path=@\"abs\"}, 6) = 0");
    EXPECT_EQ(
        renderSyscall(call(SYS_socket, {AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP}), 3, mem),
        "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3");
    EXPECT_EQ(renderSyscall(call(SYS_socket, {AF_UNIX, SOCK_DGRAM, 0}), 3, mem),
              "socket(AF_UNIX, SOCK_DGRAM, 0) = 3");
    // accept's address and length are written by the kernel.
    uint32_t len = sizeof(in);
    uint64_t lenp = m.putValue(0x5000, len);
    EXPECT_EQ(renderSyscall(call(SYS_accept4, {3, inp, lenp, SOCK_CLOEXEC}), 4, mem),
              "accept4(3, {sa_family=AF_INET, sin_port=htons(80), "
              "sin_addr=inet_addr(\"127.0.0.1\")}, [16], "
              "SOCK_CLOEXEC) = 4");
    // Value-result lengths: what the caller offered, and what the kernel wrote.
    uint32_t offered = 28;
    uint64_t offp = m.putValue(0x5100, offered);
    auto recv = call(SYS_recvfrom, {3, m.put(0x5200, "pong"), 1024, 0, inp, offp});
    auto kept = renderEntryArgs(recv, mem);
    EXPECT_EQ(kept[5], "[28]");
    m.putValue(0x5100, uint32_t{16});
    EXPECT_EQ(renderSyscallExit(recv, kept, 4, mem),
              "recvfrom(3, \"pong\", 1024, 0, {sa_family=AF_INET, sin_port=htons(80), "
              "sin_addr=inet_addr(\"127.0.0.1\")}, [28 => 16]) = 4");
    int soerr = ECONNREFUSED;
    uint64_t soerrp = m.putValue(0x5300, soerr);
    uint64_t four = m.putValue(0x5400, uint32_t{4});
    EXPECT_EQ(renderSyscall(call(SYS_getsockopt, {5, SOL_SOCKET, SO_ERROR, soerrp, four}), 0, mem),
              "getsockopt(5, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0");
    uint64_t avail = m.putValue(0x5500, int{27});
    EXPECT_EQ(renderSyscallEntry(call(SYS_ioctl, {3, FIONREAD, avail}), mem),
              "ioctl(3, FIONREAD, 0x5500)");
    EXPECT_EQ(renderSyscall(call(SYS_ioctl, {3, FIONREAD, avail}), 0, mem),
              "ioctl(3, FIONREAD, [27]) = 0");
    int one = 1;
    uint64_t onep = m.putValue(0x6000, one);
    EXPECT_EQ(renderSyscall(call(SYS_setsockopt, {3, SOL_SOCKET, SO_REUSEADDR, onep, 4}), 0, mem),
              "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0");
    EXPECT_EQ(
        renderSyscall(call(SYS_sendto, {3, m.put(0x7000, "ping"), 4, MSG_NOSIGNAL, 0, 0}), 4, mem),
        "sendto(3, \"ping\", 4, MSG_NOSIGNAL, NULL, 0) = 4");
}

TEST(Decode, SignalsAndProcesses)
{
    FakeMemory m;
    uint64_t act[4] = {0x401000, 0x04000000 /* SA_RESTORER */ | SA_RESTART, 0x7f0000001000,
                       1ull << (SIGTERM - 1)};
    uint64_t actp = m.putValue(0x1000, act);
    uint64_t old[4] = {0, 0, 0, 0};
    uint64_t oldp = m.putValue(0x2000, old);
    auto mem = m.reader();
    EXPECT_EQ(renderSyscall(call(SYS_rt_sigaction, {SIGINT, actp, 0, 8}), 0, mem),
              "rt_sigaction(SIGINT, {sa_handler=0x401000, sa_mask=[TERM], "
              "sa_flags=SA_RESTORER|SA_RESTART, "
              "sa_restorer=0x7f0000001000}, NULL, 8) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_rt_sigaction, {SIGPIPE, 0, oldp, 8}), 0, mem),
              "rt_sigaction(SIGPIPE, NULL, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0");
    uint64_t ign[4] = {1, 0, 0, 0};
    EXPECT_EQ(
        renderSyscallEntry(call(SYS_rt_sigaction, {SIGCHLD, m.putValue(0x2100, ign), 0, 8}), mem),
        "rt_sigaction(SIGCHLD, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=0}, NULL, 8)");
    uint64_t block = m.putValue(0x3000, uint64_t{(1u << (SIGINT - 1)) | (1u << (SIGCHLD - 1))});
    uint64_t prev = m.putValue(0x3100, uint64_t{0});
    EXPECT_EQ(renderSyscall(call(SYS_rt_sigprocmask, {SIG_BLOCK, block, prev, 8}), 0, mem),
              "rt_sigprocmask(SIG_BLOCK, [INT CHLD], [], 8) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_kill, {1234, SIGTERM}), 0, mem), "kill(1234, SIGTERM) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_tgkill, {10, 11, SIGABRT}), 0, mem),
              "tgkill(10, 11, SIGABRT) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_kill, {neg(-1), 0}), -EPERM, mem),
              "kill(-1, 0) = -1 EPERM (Operation not permitted)");

    // execve: argv as an array, the environment counted.
    uint64_t ls = m.putCString(0x4000, "/bin/ls");
    uint64_t a0 = m.putCString(0x4100, "ls");
    uint64_t a1 = m.putCString(0x4200, "-l");
    uint64_t argv[3] = {a0, a1, 0};
    uint64_t envv[3] = {a0, a1, 0};
    uint64_t argvp = m.putValue(0x5000, argv);
    uint64_t envp = m.putValue(0x6000, envv);
    EXPECT_EQ(renderSyscallEntry(call(SYS_execve, {ls, argvp, envp}), mem),
              "execve(\"/bin/ls\", [\"ls\", \"-l\"], 0x6000 /* 2 vars */)");
    RenderOptions one;
    one.stringLimit = 1;
    EXPECT_EQ(renderSyscallEntry(call(SYS_execve, {ls, argvp, envp}), mem, one),
              "execve(\"/bin/ls\", [\"l\"..., ...], 0x6000 /* 2 vars */)");

    // wait4's status is written at exit.
    int status = 0x0100; // exited with 1
    uint64_t st = m.putValue(0x7000, status);
    EXPECT_EQ(renderSyscall(call(SYS_wait4, {neg(-1), st, 0, 0}), 42, mem),
              "wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 1}], 0, NULL) = 42");
    m.putValue(0x7000, int{SIGSEGV | 0x80});
    EXPECT_EQ(renderSyscall(call(SYS_wait4, {42, st, WNOHANG, 0}), 42, mem),
              "wait4(42, [{WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV && WCOREDUMP(s)}], WNOHANG, "
              "NULL) = 42");
    m.putValue(0x7000, int{(SIGSTOP << 8) | 0x7f});
    EXPECT_EQ(renderSyscall(call(SYS_wait4, {42, st, WUNTRACED, 0}), 42, mem),
              "wait4(42, [{WIFSTOPPED(s) && WSTOPSIG(s) == SIGSTOP}], WUNTRACED, NULL) = 42");

    siginfo_t exited{};
    exited.si_signo = SIGCHLD;
    exited.si_code = CLD_EXITED;
    exited.si_pid = 42;
    exited.si_status = 1;
    uint64_t exitedp = m.putValue(0x7100, exited);
    EXPECT_EQ(renderSyscall(call(SYS_waitid, {P_PID, 42, exitedp, WEXITED, 0}), 0, mem),
              "waitid(P_PID, 42, {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=42, si_uid=0, "
              "si_status=1, "
              "si_utime=0, si_stime=0}, WEXITED, NULL) = 0");
    stack_t alt{};
    alt.ss_sp = reinterpret_cast<void *>(0x7f0000010000);
    alt.ss_size = 8192;
    uint64_t altp = m.putValue(0x7200, alt);
    EXPECT_EQ(renderSyscall(call(SYS_sigaltstack, {altp, 0}), 0, mem),
              "sigaltstack({ss_sp=0x7f0000010000, ss_flags=0, ss_size=8192}, NULL) = 0");

    EXPECT_EQ(renderSyscall(call(SYS_clone, {CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | SIGCHLD, 0,
                                             0, 0x7f00000a10, 0}),
                            1235, mem),
              "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
              "child_tidptr=0x7f00000a10) = 1235");
    clone_args ca{};
    ca.flags = CLONE_VM | CLONE_VFORK;
    ca.exit_signal = SIGCHLD;
    ca.stack = 0x7f0000000000;
    ca.stack_size = 0x9000;
    uint64_t cap = m.putValue(0x8000, ca);
    EXPECT_EQ(renderSyscall(call(SYS_clone3, {cap, sizeof(ca)}), 77, mem),
              "clone3({flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, stack=0x7f0000000000, "
              "stack_size=0x9000}, 88) = 77");

    // A thread: clone3 writes the parent's copy of the tid.
    clone_args th{};
    th.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
               CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
    th.child_tid = 0x7f00000009d0;
    th.parent_tid = 0x7f00000009d0;
    th.pidfd = 0x7f00000009d0; // not CLONE_PIDFD: not shown
    th.stack = 0x7f0000000000;
    th.stack_size = 0x7fff80;
    th.tls = 0x7f0000000700;
    uint64_t thp = m.putValue(0x8100, th);
    m.putValue(0x7f00000009d0, int{4321});
    auto spawn = call(SYS_clone3, {thp, sizeof(th)});
    auto keptClone = renderEntryArgs(spawn, mem);
    EXPECT_EQ(
        renderSyscallExit(spawn, keptClone, 4321, mem),
        "clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|"
        "CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7f00000009d0, "
        "parent_tid=0x7f00000009d0, exit_signal=0, stack=0x7f0000000000, stack_size=0x7fff80, "
        "tls=0x7f0000000700} => {parent_tid=[4321]}, 88) = 4321");
    EXPECT_EQ(renderSyscall(call(SYS_clone, {CLONE_VM | CLONE_PARENT_SETTID | SIGCHLD,
                                             0x7f0000001000, 0x7f00000009d0, 0, 0}),
                            4321, mem),
              "clone(child_stack=0x7f0000001000, flags=CLONE_VM|CLONE_PARENT_SETTID|SIGCHLD, "
              "parent_tid=[4321]) = 4321");

    int pipefd[2] = {3, 4};
    uint64_t pp = m.putValue(0x9000, pipefd);
    EXPECT_EQ(renderSyscallEntry(call(SYS_pipe2, {pp, O_CLOEXEC}), mem),
              "pipe2(0x9000, O_CLOEXEC)");
    EXPECT_EQ(renderSyscall(call(SYS_pipe2, {pp, O_CLOEXEC}), 0, mem),
              "pipe2([3, 4], O_CLOEXEC) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_exit_group, {0}), 0, mem), "exit_group(0) = ?");
    EXPECT_EQ(renderSyscall(call(SYS_getpid, {}), 100, mem), "getpid() = 100");
}

TEST(Decode, MemoryAndMiscCalls)
{
    FakeMemory m;
    auto mem = m.reader();
    EXPECT_EQ(renderSyscall(call(SYS_mmap, {0, 8192, PROT_READ | PROT_WRITE,
                                            MAP_PRIVATE | MAP_ANONYMOUS, neg(-1), 0}),
                            0x7f0000002000, mem),
              "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = "
              "0x7f0000002000");
    EXPECT_EQ(
        renderSyscall(
            call(SYS_mmap, {0x7f0000000000, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, 3, 0x2000}),
            0x7f0000000000, mem),
        "mmap(0x7f0000000000, 4096, PROT_READ, MAP_PRIVATE|MAP_FIXED, 3, 0x2000) = 0x7f0000000000");
    EXPECT_EQ(renderSyscall(call(SYS_brk, {0}), 0x555555559000, mem), "brk(NULL) = 0x555555559000");
    EXPECT_EQ(renderSyscall(call(SYS_mprotect, {0x7f0000001000, 4096, PROT_NONE}), 0, mem),
              "mprotect(0x7f0000001000, 4096, PROT_NONE) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_munmap, {0x7f0000001000, 4096}), 0, mem),
              "munmap(0x7f0000001000, 4096) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_arch_prctl, {0x1002, 0x7f0000000740}), 0, mem),
              "arch_prctl(ARCH_SET_FS, 0x7f0000000740) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_futex, {0x1000, 0x81, 1, 0, 0, 0}), 0, mem),
              "futex(0x1000, FUTEX_WAKE_PRIVATE, 1) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_futex, {0x1000, 0x80, 2, 0, 0, 0}), -EAGAIN, mem),
              "futex(0x1000, FUTEX_WAIT_PRIVATE, 2, NULL) = -1 EAGAIN (Resource temporarily "
              "unavailable)");
    EXPECT_EQ(renderSyscall(call(SYS_futex, {0x1000, 0x189, 0, 0, 0, 0xffffffff}), 0, mem),
              "futex(0x1000, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, "
              "FUTEX_BITSET_MATCH_ANY) = 0");
    uint64_t name = m.putCString(0x2000, "worker");
    EXPECT_EQ(renderSyscall(call(SYS_prctl, {15, name, 0, 0, 0}), 0, mem),
              "prctl(PR_SET_NAME, \"worker\") = 0");
    EXPECT_EQ(renderSyscall(call(SYS_prctl, {38, 1, 0, 0, 0}), 0, mem),
              "prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_prctl, {3, 0, 0, 0, 0}), 1, mem),
              "prctl(PR_GET_DUMPABLE) = 1");
    struct rlimit64 {
        uint64_t cur, max;
    } rl = {8192 * 1024, ~0ull};
    uint64_t rlp = m.putValue(0x3000, rl);
    EXPECT_EQ(
        renderSyscall(call(SYS_prlimit64, {0, RLIMIT_STACK, 0, rlp}), 0, mem),
        "prlimit64(0, RLIMIT_STACK, NULL, {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}) = 0");
    struct utsname u {};
    strcpy(u.sysname, "Linux");
    strcpy(u.nodename, "guest");
    uint64_t up = m.putValue(0x4000, u);
    EXPECT_EQ(renderSyscall(call(SYS_uname, {up}), 0, mem),
              "uname({sysname=\"Linux\", nodename=\"guest\", ...}) = 0");
    struct epoll_event ev {};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = 7;
    uint64_t evp = m.putValue(0x5000, ev);
    EXPECT_EQ(renderSyscall(call(SYS_epoll_ctl, {5, EPOLL_CTL_ADD, 7, evp}), 0, mem),
              "epoll_ctl(5, EPOLL_CTL_ADD, 7, {events=EPOLLIN|EPOLLET, data={u32=7, u64=7}}) = 0");
    EXPECT_EQ(renderSyscall(call(SYS_epoll_wait, {5, evp, 16, neg(-1)}), 1, mem),
              "epoll_wait(5, [{events=EPOLLIN|EPOLLET, data={u32=7, u64=7}}], 16, -1) = 1");
    EXPECT_EQ(renderSyscall(call(SYS_set_tid_address, {0x7f0000000a10}), 1234, mem),
              "set_tid_address(0x7f0000000a10) = 1234");
    // Three linux_dirent64 records of 24, 32 and 24 bytes: counted by their lengths.
    uint8_t dents[80] = {};
    for (auto [off, len] : {std::pair{0, 24}, std::pair{24, 32}, std::pair{56, 24}})
        dents[off + 16] = static_cast<uint8_t>(len);
    uint64_t dentp = m.putValue(0x6000, dents);
    EXPECT_EQ(renderSyscall(call(SYS_getdents64, {3, dentp, 32768}), 80, mem),
              "getdents64(3, 0x6000 /* 3 entries */, 32768) = 80");
    EXPECT_EQ(renderSyscall(call(SYS_getdents64, {3, dentp, 32768}), 0, mem),
              "getdents64(3, 0x6000 /* 0 entries */, 32768) = 0");
    EXPECT_EQ(renderSyscallEntry(call(SYS_getdents64, {3, dentp, 32768}), mem),
              "getdents64(3, 0x6000, 32768)");
    // Unknown numbers: raw arguments.
    EXPECT_EQ(renderSyscallEntry(call(500, {1, 2, 3, 4, 5, 6}), mem),
              "syscall_500(0x1, 0x2, 0x3, 0x4, 0x5, 0x6)");
    // Without captured arguments.
    SyscallEntry bare;
    bare.nr = SYS_openat;
    EXPECT_EQ(renderSyscallEntry(bare, mem), "openat(...)");
    RenderOptions raw;
    raw.raw = true;
    EXPECT_EQ(renderSyscallEntry(call(SYS_openat, {neg(AT_FDCWD), 0x2000, O_RDONLY, 0}), mem, raw),
              "openat(0xffffffffffffff9c, 0x2000, 0, 0)");
}

TEST(Decode, EverySyscallRendersWithArbitraryArgumentsAndMemory)
{
    // Garbage everywhere must give a line, never a crash or an endless read:
    // memory that reads as pseudo-random bytes at every address, memory that
    // reads nothing, and argument values from small to huge.
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    auto next = [&] {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return seed;
    };
    size_t bytesRead = 0;
    MemoryReader noise = [&](uint64_t addr, size_t len) {
        bytesRead += len;
        std::vector<uint8_t> v(len);
        for (size_t i = 0; i < len; i++)
            v[i] = static_cast<uint8_t>((addr + i) * 0x5bd1e995u >> 13);
        return v;
    };
    MemoryReader zeros = [](uint64_t, size_t len) { return std::vector<uint8_t>(len, 0); };
    const uint64_t values[] = {0, 1, 3, 16, 4096, 0x7ffd0000, 0xffffffffull, ~0ull, 1ull << 40};
    for (const auto &s : syscallTable()) {
        SCOPED_TRACE(s.name);
        for (int round = 0; round < 12; round++) {
            SyscallEntry e;
            e.nr = s.nr;
            e.hasArgs = true;
            for (auto &a : e.args)
                a = round < 9 ? values[round] : next();
            for (const MemoryReader *mem :
                 std::initializer_list<const MemoryReader *>{&noise, &zeros, &kNoMemory}) {
                bytesRead = 0;
                std::string entry = renderSyscallEntry(e, *mem);
                EXPECT_TRUE(entry.starts_with(std::string(s.name) + "(")) << entry;
                for (int64_t ret : {int64_t{0}, int64_t{5}, int64_t{-EFAULT}, int64_t{1} << 40}) {
                    std::string line = renderSyscall(e, ret, *mem);
                    EXPECT_NE(line.find(") = "), std::string::npos) << line;
                    EXPECT_LT(line.size(), 200000u) << line.substr(0, 200);
                }
                EXPECT_LT(bytesRead, 64u << 20) << "read too much memory";
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Signals and events

Signal signalFrom(const siginfo_t &si)
{
    Signal s;
    s.signo = si.si_signo;
    s.code = si.si_code;
    s.err = si.si_errno;
    static_assert(sizeof(si) == 128);
    std::memcpy(s.siginfo.data(), &si, sizeof(si));
    return s;
}

TEST(Decode, Siginfo)
{
    siginfo_t si{};
    si.si_signo = SIGSEGV;
    si.si_code = SEGV_MAPERR;
    si.si_addr = reinterpret_cast<void *>(0x10);
    EXPECT_EQ(renderSiginfo(signalFrom(si)),
              "{si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10}");

    Event ev;
    ev.payload = signalFrom(si);
    EXPECT_EQ(renderEvent(ev, kNoMemory),
              "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10} ---");

    siginfo_t k{};
    k.si_signo = SIGSEGV;
    k.si_code = SI_KERNEL;
    EXPECT_EQ(renderSiginfo(signalFrom(k)), "{si_signo=SIGSEGV, si_code=SI_KERNEL, si_addr=NULL}");

    siginfo_t user{};
    user.si_signo = SIGTERM;
    user.si_code = SI_USER;
    user.si_pid = 1234;
    user.si_uid = 1000;
    EXPECT_EQ(renderSiginfo(signalFrom(user)),
              "{si_signo=SIGTERM, si_code=SI_USER, si_pid=1234, si_uid=1000}");
    user.si_code = SI_TKILL;
    EXPECT_EQ(renderSiginfo(signalFrom(user)),
              "{si_signo=SIGTERM, si_code=SI_TKILL, si_pid=1234, si_uid=1000}");

    siginfo_t chld{};
    chld.si_signo = SIGCHLD;
    chld.si_code = CLD_EXITED;
    chld.si_pid = 77;
    chld.si_uid = 0;
    chld.si_status = 3;
    chld.si_utime = 5;
    chld.si_stime = 6;
    EXPECT_EQ(renderSiginfo(signalFrom(chld)), "{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=77, "
                                               "si_uid=0, si_status=3, si_utime=5, si_stime=6}");
    chld.si_code = CLD_KILLED;
    chld.si_status = SIGKILL;
    EXPECT_EQ(renderSiginfo(signalFrom(chld)), "{si_signo=SIGCHLD, si_code=CLD_KILLED, si_pid=77, "
                                               "si_uid=0, si_status=SIGKILL, si_utime=5, "
                                               "si_stime=6}");

    siginfo_t trap{};
    trap.si_signo = SIGTRAP;
    trap.si_code = TRAP_BRKPT;
    trap.si_addr = reinterpret_cast<void *>(0x401000);
    EXPECT_EQ(renderSiginfo(signalFrom(trap)),
              "{si_signo=SIGTRAP, si_code=TRAP_BRKPT, si_addr=0x401000}");

    siginfo_t q{};
    q.si_signo = 40;
    q.si_code = SI_QUEUE;
    q.si_pid = 5;
    q.si_uid = 6;
    q.si_value.sival_int = 9;
    EXPECT_EQ(renderSiginfo(signalFrom(q)),
              "{si_signo=SIGRTMIN+8, si_code=SI_QUEUE, si_pid=5, si_uid=6, si_int=9, si_ptr=0x9}");
}

TEST(Decode, EveryEventKindInOneLine)
{
    auto line = [](Payload p) {
        Event e;
        e.payload = std::move(p);
        return renderEvent(e, kNoMemory);
    };
    EXPECT_EQ(line(call(SYS_close, {3})), "close(3)");
    EXPECT_EQ(line(SyscallExit{SYS_read, 5}), "<... read resumed> = 5");
    EXPECT_EQ(line(SyscallExit{SYS_openat, -ENOENT}),
              "<... openat resumed> = -1 ENOENT (No such file or directory)");
    EXPECT_EQ(line(SyscallExit{-1, -ENOSYS}),
              "<... syscall aborted at entry> = -1 ENOSYS (Function not implemented)");
    EXPECT_EQ(line(Clone{1235, 0, CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | SIGCHLD}),
              "--- clone: child 1235, CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD ---");
    EXPECT_EQ(line(Clone{1236, 4, CLONE_VM | CLONE_THREAD}),
              "--- clone: child 1236, CLONE_VM|CLONE_THREAD, followed (engine 4) ---");
    EXPECT_EQ(line(Exec{"/usr/bin/ls"}), "--- exec \"/usr/bin/ls\" ---");
    EXPECT_EQ(line(Exit{0}), "+++ exiting with 0 +++");
    EXPECT_EQ(line(Exit{3 << 8}), "+++ exiting with 3 +++");
    EXPECT_EQ(line(Exit{SIGKILL}), "+++ killed by SIGKILL +++");
    EXPECT_EQ(line(Exit{SIGSEGV | 0x80}), "+++ killed by SIGSEGV (core dumped) +++");
    EXPECT_EQ(line(Death{true, SIGCHLD}),
              "+++ dead, the last thread of its process, parent notified with SIGCHLD +++");
    EXPECT_EQ(line(Death{false, -1}), "+++ dead (thread), self-reaping +++");
    EXPECT_EQ(line(Reap{}), "+++ reaped +++");
    EXPECT_EQ(line(Quiesce{}), "--- stopped ---");
    EXPECT_EQ(line(Step{}), "--- single-step ---");
    EXPECT_EQ(line(Lost{12}), "--- 12 events lost ---");
    EXPECT_EQ(line(Lost{1}), "--- 1 event lost ---");
}

} // namespace

// ---------------------------------------------------------------------------
// A real process: decode_fixture traced with ptrace, each call rendered from
// the kernel's own structs, compared with the known lines and with strace.

namespace {

struct TraceResult {
    std::vector<std::string> lines; // from the BEGIN marker on
    int status = 0;
    std::string error;
};

TraceResult traceWithPtrace(const char *path)
{
    TraceResult r;
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
        raise(SIGSTOP);
        execl(path, path, static_cast<char *>(nullptr));
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) {
        r.error = "the child did not stop for tracing";
        return r;
    }
    if (ptrace(PTRACE_SETOPTIONS, pid, nullptr,
               PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACEEXEC) != 0) {
        r.error = std::string("PTRACE_SETOPTIONS: ") + strerror(errno);
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return r;
    }
    MemoryReader mem = [pid](uint64_t addr, size_t len) {
        std::vector<uint8_t> buf(len);
        iovec local = {buf.data(), len};
        iovec remote = {reinterpret_cast<void *>(addr), len};
        ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        buf.resize(n < 0 ? 0 : static_cast<size_t>(n));
        return buf;
    };
    SyscallEntry cur;
    std::vector<std::string> kept;
    bool pending = false, begun = false;
    int deliver = 0;
    auto add = [&](std::string line) {
        begun = begun || line.starts_with("write(-1, \"BEGIN\"");
        if (begun)
            r.lines.push_back(std::move(line));
    };
    for (;;) {
        ptrace(PTRACE_SYSCALL, pid, nullptr, deliver);
        deliver = 0;
        if (waitpid(pid, &st, 0) != pid)
            break;
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            if (pending) // exit_group has no exit stop
                add(renderSyscallExit(cur, kept, 0, mem));
            r.status = st;
            break;
        }
        if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
            if (WSTOPSIG(st) == SIGTRAP && (st >> 16) != 0)
                continue; // the exec event stop
            deliver = WSTOPSIG(st);
            siginfo_t si{};
            if (ptrace(PTRACE_GETSIGINFO, pid, nullptr, &si) == 0) {
                Event ev;
                Signal sig;
                sig.signo = si.si_signo;
                sig.code = si.si_code;
                sig.err = si.si_errno;
                std::memcpy(sig.siginfo.data(), &si, sizeof(si));
                ev.payload = sig;
                add(renderEvent(ev, mem));
            }
            continue;
        }
        __ptrace_syscall_info info{};
        if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof(info), &info) <= 0) {
            r.error = std::string("PTRACE_GET_SYSCALL_INFO: ") + strerror(errno);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
            cur = SyscallEntry{};
            cur.nr = static_cast<int64_t>(info.entry.nr);
            cur.hasArgs = true;
            for (int i = 0; i < 6; i++)
                cur.args[static_cast<size_t>(i)] = info.entry.args[i];
            kept = renderEntryArgs(cur, mem);
            pending = true;
        } else if (info.op == PTRACE_SYSCALL_INFO_EXIT && pending) {
            add(renderSyscallExit(cur, kept, info.exit.rval, mem));
            pending = false;
        }
    }
    return r;
}

// strace pads results to a column and the stack moves between runs.
std::string normalize(std::string line)
{
    static const std::regex pad(R"(\) +=)");
    static const std::regex addr("0x[0-9a-f]{8,}");
    line = std::regex_replace(line, pad, ") =");
    return std::regex_replace(line, addr, "0xADDR");
}

// Normalized lines, the fixture's pid (from its getpid line) written PID.
std::vector<std::string> withPid(const std::vector<std::string> &lines)
{
    std::string pid;
    for (const auto &l : lines)
        if (l.starts_with("getpid() "))
            pid = l.substr(l.rfind(' ') + 1);
    std::vector<std::string> out;
    for (const auto &l : lines) {
        std::string n = normalize(l);
        if (!pid.empty())
            n = std::regex_replace(n, std::regex("\\b" + pid + "\\b"), "PID");
        out.push_back(n);
    }
    return out;
}

// Line by line, so that a failure names the line that differs.
void expectSameLines(const std::vector<std::string> &ours, const std::vector<std::string> &want,
                     const std::string &what)
{
    for (size_t i = 0; i < std::max(ours.size(), want.size()); i++) {
        std::string a = i < ours.size() ? ours[i] : "(missing)";
        std::string b = i < want.size() ? want[i] : "(missing)";
        EXPECT_EQ(a, b) << "line " << i << " of " << what;
        if (a != b)
            return; // one difference shifts the rest
    }
}

std::string findInPath(const char *name)
{
    const char *path = getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    size_t pos = 0;
    while (pos <= dirs.size()) {
        size_t colon = dirs.find(':', pos);
        std::string dir =
            dirs.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
        std::string candidate = dir + "/" + name;
        if (access(candidate.c_str(), X_OK) == 0)
            return candidate;
        if (colon == std::string::npos)
            break;
        pos = colon + 1;
    }
    return {};
}

} // namespace

TEST(Decode, RealProcessRendersLikeStrace)
{
    TraceResult t = traceWithPtrace(DECODE_FIXTURE);
    if (!t.error.empty() && t.lines.empty())
        GTEST_SKIP() << "cannot ptrace here (" << t.error << "); the VM suites cover tracing";
    ASSERT_TRUE(t.error.empty()) << t.error;
    ASSERT_TRUE(WIFEXITED(t.status) && WEXITSTATUS(t.status) == 3) << "fixture status " << t.status;

    struct utsname u;
    ASSERT_EQ(uname(&u), 0);
    struct rlimit nofile;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &nofile), 0);
    auto rlim = [](rlim_t v) {
        if (v == RLIM_INFINITY)
            return std::string("RLIM64_INFINITY");
        return v % 1024 == 0 ? std::to_string(v / 1024) + "*1024" : std::to_string(v);
    };
    // The lines whose values depend on this machine, from the same calls here.
    std::string capLine =
        "prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN) = " + std::to_string(prctl(PR_CAPBSET_READ, 21));
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    long got = syscall(SYS_sched_getaffinity, 0, sizeof(cpus), &cpus);
    std::string cpuList;
    for (int i = 0; i < got * 8; i++)
        if (CPU_ISSET(i, &cpus))
            cpuList += (cpuList.empty() ? "" : " ") + std::to_string(i);
    std::string affinityLine =
        "sched_getaffinity(0, 128, [" + cpuList + "]) = " + std::to_string(got);
    mode_t mask = umask(022);
    umask(mask);
    char maskText[8];
    snprintf(maskText, sizeof(maskText), "0%02o", mask);
    std::string umaskLine = std::string("umask(022) = ") + (mask ? maskText : "000");
    const std::vector<std::string> expected = {
        R"(write(-1, "BEGIN", 5) = -1 EBADF (Bad file descriptor))",
        R"(openat(AT_FDCWD, "/nonexistent/utrace-decode", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory))",
        R"(openat(AT_FDCWD, "/dev/null", O_WRONLY|O_CLOEXEC) = 3)",
        R"(write(3, "hello\n", 6) = 6)",
        R"(fstat(3, {st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}) = 0)",
        R"(close(3) = 0)",
        R"(pipe2([3, 4], O_CLOEXEC) = 0)",
        R"(nanosleep({tv_sec=0, tv_nsec=1000}, NULL) = 0)",
        R"(rt_sigprocmask(SIG_BLOCK, [INT TERM], [], 8) = 0)",
        R"(access("/", R_OK|X_OK) = 0)",
        R"(lseek(3, 0, SEEK_CUR) = -1 ESPIPE (Illegal seek))",
        R"(chdir("/") = 0)",
        R"(getcwd("/", 4096) = 2)",
        std::string(R"(uname({sysname="Linux", nodename=")") + u.nodename + R"(", ...}) = 0)",
        R"(socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 5)",
        R"(connect(5, {sa_family=AF_UNIX, sun_path="/nonexistent/sock"}, 110) = -1 ENOENT (No such file or directory))",
        R"(socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP) = 6)",
        R"(connect(6, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, 16) = 0)",
        R"(wait4(-1, NULL, WNOHANG, NULL) = -1 ECHILD (No child processes))",
        R"(prctl(PR_SET_NAME, "decodefix") = 0)",
        R"(poll([{fd=3, events=POLLIN}], 1, 0) = 0 (Timeout))",
        R"(write(4, "x", 1) = 1)",
        R"(poll([{fd=3, events=POLLIN}], 1, 0) = 1 ([{fd=3, revents=POLLIN}]))",
        R"(readv(3, [{iov_base="x", iov_len=8}], 1) = 1)",
        R"(fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC))",
        R"(fcntl(4, F_GETFL) = 0x1 (flags O_WRONLY))",
        R"(fcntl(4, F_SETFL, O_WRONLY|O_NONBLOCK) = 0)",
        "prlimit64(0, RLIMIT_NOFILE, NULL, {rlim_cur=" + rlim(nofile.rlim_cur) +
            ", rlim_max=" + rlim(nofile.rlim_max) + "}) = 0",
        R"(mprotect(NULL, 0, PROT_READ) = 0)",
        R"(munmap(NULL, 0) = -1 EINVAL (Invalid argument))",
        R"(rt_sigaction(SIGUSR1, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=0}, NULL, 8) = 0)",
        R"(newfstatat(AT_FDCWD, "/dev/null", {st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}, AT_SYMLINK_NOFOLLOW) = 0)",
        R"(kill(0, 0) = 0)",
        R"(dup3(3, 10, O_CLOEXEC) = 10)",
        R"(futex(0xADDR, FUTEX_WAKE_PRIVATE, 1) = 0)",
        R"(fadvise64(3, 0, 0, POSIX_FADV_SEQUENTIAL) = -1 ESPIPE (Illegal seek))",
        R"(renameat2(AT_FDCWD, "/nonexistent/a", AT_FDCWD, "/nonexistent/b", RENAME_NOREPLACE) = -1 ENOENT (No such file or directory))",
        capLine,
        affinityLine,
        R"(getgroups(0, NULL) = )" + std::to_string(getgroups(0, nullptr)),
        umaskLine,
        R"(brk(NULL) = 0xADDR)",
        R"(socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [7, 8]) = 0)",
        R"(sendmsg(7, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="hi there", iov_len=8}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, MSG_NOSIGNAL) = 8)",
        R"(recvmsg(8, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="hi there", iov_len=16}], msg_iovlen=1, msg_controllen=0, msg_flags=0}, 0) = 8)",
        R"(epoll_create1(EPOLL_CLOEXEC) = 9)",
        R"(epoll_ctl(9, EPOLL_CTL_ADD, 8, {events=EPOLLIN, data={u32=7, u64=7}}) = 0)",
        R"(write(7, "x", 1) = 1)",
        R"(epoll_wait(9, [{events=EPOLLIN, data={u32=7, u64=7}}], 4, 0) = 1)",
        R"(select(9, [8], NULL, NULL, {tv_sec=0, tv_usec=0}) = 1 (in [8], left {tv_sec=0, tv_usec=0}))",
        R"(memfd_create("decode", MFD_CLOEXEC) = 11)",
        R"(ftruncate(11, 4096) = 0)",
        R"(pwrite64(11, "abc", 3, 10) = 3)",
        R"(pread64(11, "abc", 3, 10) = 3)",
        R"(mmap(NULL, 4096, PROT_READ, MAP_SHARED, 11, 0) = 0xADDR)",
        R"(munmap(0xADDR, 4096) = 0)",
        R"(getsockopt(7, SOL_SOCKET, SO_TYPE, [1], [4]) = 0)",
        R"(shutdown(7, SHUT_WR) = 0)",
        R"(writev(8, [{iov_base="hi there", iov_len=8}], 1) = 8)",
        R"(sigaltstack(NULL, {ss_sp=NULL, ss_flags=SS_DISABLE, ss_size=0}) = 0)",
        R"(waitid(P_ALL, 0, 0xADDR, WNOHANG|WEXITED, NULL) = -1 ECHILD (No child processes))",
        R"(getpid() = PID)",
        R"(kill(PID, SIGUSR1) = 0)",
        R"(--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid=PID, si_uid=)" +
            std::to_string(getuid()) + "} ---",
        R"(tgkill(PID, PID, SIGUSR1) = 0)",
        R"(--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_TKILL, si_pid=PID, si_uid=)" +
            std::to_string(getuid()) + "} ---",
        R"(exit_group(3) = ?)",
    };
    std::vector<std::string> ours = withPid(t.lines);
    expectSameLines(ours, expected, "the known lines");

    std::string strace = findInPath("strace");
    if (strace.empty()) {
        std::cout << "[ NOTE ] strace is not installed: compared with the known lines only\n";
        return;
    }
    char out[] = "/tmp/utrace-decode-strace-XXXXXX";
    int fd = mkstemp(out);
    ASSERT_GE(fd, 0);
    close(fd);
    std::string cmd = strace + " -qq -o " + out + " " + DECODE_FIXTURE;
    int rc = std::system(cmd.c_str());
    std::ifstream in(out);
    std::vector<std::string> raw;
    bool begun = false;
    for (std::string line; std::getline(in, line);) {
        begun = begun || line.starts_with("write(-1, \"BEGIN\"");
        if (begun && !line.starts_with("+++"))
            raw.push_back(line);
    }
    std::vector<std::string> theirs = withPid(raw);
    unlink(out);
    ASSERT_TRUE(WIFEXITED(rc)) << cmd;
    if (theirs.empty())
        GTEST_SKIP() << "strace could not trace here (" << cmd << ")";
    expectSameLines(ours, theirs, strace + "'s output");
}
