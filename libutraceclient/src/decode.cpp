// Decoding as data: syscall/signal/errno names and the flag tables of the
// strace-like renderer (decode_render.cpp). Values follow the x86-64 Linux uapi.
#include "decode_internal.hpp"
#include "decode_tables.hpp"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace utrace {
namespace detail {

std::string hex(uint64_t v)
{
    char b[24];
    std::snprintf(b, sizeof(b), "%#llx", static_cast<unsigned long long>(v));
    return b;
}

std::string ptr(uint64_t v)
{
    return v ? hex(v) : std::string("NULL");
}

std::string octal(uint64_t v)
{
    char b[32];
    std::snprintf(b, sizeof(b), "0%03llo", static_cast<unsigned long long>(v));
    // "0%03o" gives "0000" for 0 and "00644" for 0644: strace writes "000" and "0644".
    std::string s = b;
    while (s.size() > 3 && s[0] == '0' && s[1] == '0')
        s.erase(0, 1);
    return s;
}

const char *lookup(uint64_t v, std::span<const Named> t)
{
    for (const auto &n : t)
        if (n.value == v)
            return n.name;
    return nullptr;
}

std::string flags(uint64_t v, std::span<const Named> t, const char *zeroName)
{
    if (v == 0)
        return zeroName;
    std::string out;
    uint64_t rest = v;
    for (const auto &n : t) {
        if (n.value == 0 || (v & n.value) != n.value || (rest & n.value) == 0)
            continue;
        if (!out.empty())
            out += '|';
        out += n.name;
        rest &= ~n.value;
    }
    if (rest) {
        if (!out.empty())
            out += '|';
        out += hex(rest);
    }
    return out;
}

std::string choice(uint64_t v, std::span<const Named> t, const char *fallbackPrefix)
{
    if (const char *n = lookup(v, t))
        return n;
    if (fallbackPrefix)
        return hex(v) + " /* " + fallbackPrefix + "??? */";
    return std::to_string(static_cast<int64_t>(v));
}

namespace {

const Named kOpenFlags[] = {
    {0100, "O_CREAT"},        {0200, "O_EXCL"},        {0400, "O_NOCTTY"},
    {01000, "O_TRUNC"},       {02000, "O_APPEND"},     {04000, "O_NONBLOCK"},
    {04010000, "O_SYNC"},     {010000, "O_DSYNC"},     {040000, "O_DIRECT"},
    {0100000, "O_LARGEFILE"}, {0400000, "O_NOFOLLOW"}, {01000000, "O_NOATIME"},
    {02000000, "O_CLOEXEC"},  {010000000, "O_PATH"},   {020200000, "O_TMPFILE"},
    {0200000, "O_DIRECTORY"}, {020000, "O_ASYNC"},
};

const Named kProt[] = {
    {1, "PROT_READ"},
    {2, "PROT_WRITE"},
    {4, "PROT_EXEC"},
    {8, "PROT_SEM"},
    {0x01000000, "PROT_GROWSDOWN"},
    {0x02000000, "PROT_GROWSUP"},
};

const Named kCloneFlags[] = {
    {0x100, "CLONE_VM"},
    {0x200, "CLONE_FS"},
    {0x400, "CLONE_FILES"},
    {0x800, "CLONE_SIGHAND"},
    {0x1000, "CLONE_PIDFD"},
    {0x2000, "CLONE_PTRACE"},
    {0x4000, "CLONE_VFORK"},
    {0x8000, "CLONE_PARENT"},
    {0x10000, "CLONE_THREAD"},
    {0x20000, "CLONE_NEWNS"},
    {0x40000, "CLONE_SYSVSEM"},
    {0x80000, "CLONE_SETTLS"},
    {0x100000, "CLONE_PARENT_SETTID"},
    {0x200000, "CLONE_CHILD_CLEARTID"},
    {0x400000, "CLONE_DETACHED"},
    {0x800000, "CLONE_UNTRACED"},
    {0x1000000, "CLONE_CHILD_SETTID"},
    {0x2000000, "CLONE_NEWCGROUP"},
    {0x4000000, "CLONE_NEWUTS"},
    {0x8000000, "CLONE_NEWIPC"},
    {0x10000000, "CLONE_NEWUSER"},
    {0x20000000, "CLONE_NEWPID"},
    {0x40000000, "CLONE_NEWNET"},
    {0x80000000, "CLONE_IO"},
    {0x100000000, "CLONE_CLEAR_SIGHAND"},
    {0x200000000, "CLONE_INTO_CGROUP"},
};

const Named kAccessMode[] = {{4, "R_OK"}, {2, "W_OK"}, {1, "X_OK"}};

const Named kAtFlags[] = {
    {0x100, "AT_SYMLINK_NOFOLLOW"}, {0x200, "AT_REMOVEDIR"},   {0x400, "AT_SYMLINK_FOLLOW"},
    {0x800, "AT_NO_AUTOMOUNT"},     {0x1000, "AT_EMPTY_PATH"}, {0x2000, "AT_STATX_FORCE_SYNC"},
    {0x4000, "AT_STATX_DONT_SYNC"}, {0x8000, "AT_RECURSIVE"},
};

const Named kWhence[] = {
    {0, "SEEK_SET"}, {1, "SEEK_CUR"}, {2, "SEEK_END"}, {3, "SEEK_DATA"}, {4, "SEEK_HOLE"},
};

const Named kIoctls[] = {
    {0x5401, "TCGETS"},
    {0x5402, "TCSETS"},
    {0x5403, "TCSETSW"},
    {0x5404, "TCSETSF"},
    {0x5405, "TCGETA"},
    {0x5406, "TCSETA"},
    {0x5407, "TCSETAW"},
    {0x5408, "TCSETAF"},
    {0x5409, "TCSBRK"},
    {0x540A, "TCXONC"},
    {0x540B, "TCFLSH"},
    {0x540C, "TIOCEXCL"},
    {0x540D, "TIOCNXCL"},
    {0x540E, "TIOCSCTTY"},
    {0x540F, "TIOCGPGRP"},
    {0x5410, "TIOCSPGRP"},
    {0x5411, "TIOCOUTQ"},
    {0x5412, "TIOCSTI"},
    {0x5413, "TIOCGWINSZ"},
    {0x5414, "TIOCSWINSZ"},
    {0x5415, "TIOCMGET"},
    {0x5416, "TIOCMBIS"},
    {0x5417, "TIOCMBIC"},
    {0x5418, "TIOCMSET"},
    {0x541B, "FIONREAD"},
    {0x541C, "TIOCLINUX"},
    {0x541D, "TIOCCONS"},
    {0x5420, "TIOCPKT"},
    {0x5421, "FIONBIO"},
    {0x5422, "TIOCNOTTY"},
    {0x5423, "TIOCSETD"},
    {0x5424, "TIOCGETD"},
    {0x5427, "TIOCSBRK"},
    {0x5428, "TIOCCBRK"},
    {0x5429, "TIOCGSID"},
    {0x802c542a, "TCGETS2"},
    {0x402c542b, "TCSETS2"},
    {0x80045430, "TIOCGPTN"},
    {0x40045431, "TIOCSPTLCK"},
    {0x80045432, "TIOCGDEV"},
    {0x5441, "TIOCGPTPEER"},
    {0x5450, "FIONCLEX"},
    {0x5451, "FIOCLEX"},
    {0x5452, "FIOASYNC"},
    {0x5460, "FIOQSIZE"},
    {0x8901, "FIOSETOWN"},
    {0x8903, "FIOGETOWN"},
    {0x8910, "SIOCGIFNAME"},
    {0x8912, "SIOCGIFCONF"},
    {0x8913, "SIOCGIFFLAGS"},
    {0x8914, "SIOCSIFFLAGS"},
    {0x8915, "SIOCGIFADDR"},
    {0x8921, "SIOCGIFMTU"},
    {0x8927, "SIOCGIFHWADDR"},
    {0x8933, "SIOCGIFINDEX"},
    {0x80081272, "BLKGETSIZE64"},
    {0x1260, "BLKGETSIZE"},
    {0x80086601, "FS_IOC_GETFLAGS"},
    {0x40086602, "FS_IOC_SETFLAGS"},
    {0xc020660b, "FS_IOC_FIEMAP"},
    {0x40049409, "FICLONE"},
    {0x4020940d, "FICLONERANGE"},
    {0x80087601, "FS_IOC_GETVERSION"},
    {0x5301, "CDROMPAUSE"},
    {0x4b3a, "KDSETMODE"},
    {0x4b3b, "KDGETMODE"},
    {0x4b44, "KDGKBMODE"},
    {0x5603, "VT_GETSTATE"},
    {0x5606, "VT_ACTIVATE"},
    {0x5607, "VT_WAITACTIVE"},
    {0x8004550f, "UI_GET_VERSION"},
};

const Named kWaitOptions[] = {
    {1, "WNOHANG"},          {2, "WUNTRACED"},
    {4, "WEXITED"},          {8, "WCONTINUED"},
    {0x01000000, "WNOWAIT"}, {0x80000000, "__WCLONE"},
    {0x40000000, "__WALL"},  {0x20000000, "__WNOTHREAD"},
};

const Named kPrctl[] = {
    {1, "PR_SET_PDEATHSIG"},
    {2, "PR_GET_PDEATHSIG"},
    {3, "PR_GET_DUMPABLE"},
    {4, "PR_SET_DUMPABLE"},
    {5, "PR_GET_UNALIGN"},
    {6, "PR_SET_UNALIGN"},
    {7, "PR_GET_KEEPCAPS"},
    {8, "PR_SET_KEEPCAPS"},
    {9, "PR_GET_FPEMU"},
    {10, "PR_SET_FPEMU"},
    {11, "PR_GET_FPEXC"},
    {12, "PR_SET_FPEXC"},
    {13, "PR_GET_TIMING"},
    {14, "PR_SET_TIMING"},
    {15, "PR_SET_NAME"},
    {16, "PR_GET_NAME"},
    {19, "PR_GET_ENDIAN"},
    {20, "PR_SET_ENDIAN"},
    {21, "PR_GET_SECCOMP"},
    {22, "PR_SET_SECCOMP"},
    {23, "PR_CAPBSET_READ"},
    {24, "PR_CAPBSET_DROP"},
    {25, "PR_GET_TSC"},
    {26, "PR_SET_TSC"},
    {27, "PR_GET_SECUREBITS"},
    {28, "PR_SET_SECUREBITS"},
    {29, "PR_SET_TIMERSLACK"},
    {30, "PR_GET_TIMERSLACK"},
    {31, "PR_TASK_PERF_EVENTS_DISABLE"},
    {32, "PR_TASK_PERF_EVENTS_ENABLE"},
    {33, "PR_MCE_KILL"},
    {34, "PR_MCE_KILL_GET"},
    {35, "PR_SET_MM"},
    {36, "PR_SET_CHILD_SUBREAPER"},
    {37, "PR_GET_CHILD_SUBREAPER"},
    {38, "PR_SET_NO_NEW_PRIVS"},
    {39, "PR_GET_NO_NEW_PRIVS"},
    {40, "PR_GET_TID_ADDRESS"},
    {41, "PR_SET_THP_DISABLE"},
    {42, "PR_GET_THP_DISABLE"},
    {43, "PR_MPX_ENABLE_MANAGEMENT"},
    {44, "PR_MPX_DISABLE_MANAGEMENT"},
    {45, "PR_SET_FP_MODE"},
    {46, "PR_GET_FP_MODE"},
    {47, "PR_CAP_AMBIENT"},
    {50, "PR_SVE_SET_VL"},
    {51, "PR_SVE_GET_VL"},
    {52, "PR_GET_SPECULATION_CTRL"},
    {53, "PR_SET_SPECULATION_CTRL"},
    {54, "PR_PAC_RESET_KEYS"},
    {55, "PR_SET_TAGGED_ADDR_CTRL"},
    {56, "PR_GET_TAGGED_ADDR_CTRL"},
    {57, "PR_SET_IO_FLUSHER"},
    {58, "PR_GET_IO_FLUSHER"},
    {59, "PR_SET_SYSCALL_USER_DISPATCH"},
    {60, "PR_PAC_SET_ENABLED_KEYS"},
    {61, "PR_PAC_GET_ENABLED_KEYS"},
    {62, "PR_SCHED_CORE"},
    {63, "PR_SME_SET_VL"},
    {64, "PR_SME_GET_VL"},
    {65, "PR_SET_MDWE"},
    {66, "PR_GET_MDWE"},
    {67, "PR_SET_MEMORY_MERGE"},
    {68, "PR_GET_MEMORY_MERGE"},
    {0x53564d41, "PR_SET_VMA"},
};

const Named kSigHow[] = {{0, "SIG_BLOCK"}, {1, "SIG_UNBLOCK"}, {2, "SIG_SETMASK"}};

const Named kMremap[] = {{1, "MREMAP_MAYMOVE"}, {2, "MREMAP_FIXED"}, {4, "MREMAP_DONTUNMAP"}};

const Named kMadvise[] = {
    {0, "MADV_NORMAL"},           {1, "MADV_RANDOM"},          {2, "MADV_SEQUENTIAL"},
    {3, "MADV_WILLNEED"},         {4, "MADV_DONTNEED"},        {8, "MADV_FREE"},
    {9, "MADV_REMOVE"},           {10, "MADV_DONTFORK"},       {11, "MADV_DOFORK"},
    {12, "MADV_MERGEABLE"},       {13, "MADV_UNMERGEABLE"},    {14, "MADV_HUGEPAGE"},
    {15, "MADV_NOHUGEPAGE"},      {16, "MADV_DONTDUMP"},       {17, "MADV_DODUMP"},
    {18, "MADV_WIPEONFORK"},      {19, "MADV_KEEPONFORK"},     {20, "MADV_COLD"},
    {21, "MADV_PAGEOUT"},         {22, "MADV_POPULATE_READ"},  {23, "MADV_POPULATE_WRITE"},
    {24, "MADV_DONTNEED_LOCKED"}, {25, "MADV_COLLAPSE"},       {100, "MADV_HWPOISON"},
    {101, "MADV_SOFT_OFFLINE"},   {102, "MADV_GUARD_INSTALL"}, {103, "MADV_GUARD_REMOVE"},
};

const Named kClocks[] = {
    {0, "CLOCK_REALTIME"},          {1, "CLOCK_MONOTONIC"},     {2, "CLOCK_PROCESS_CPUTIME_ID"},
    {3, "CLOCK_THREAD_CPUTIME_ID"}, {4, "CLOCK_MONOTONIC_RAW"}, {5, "CLOCK_REALTIME_COARSE"},
    {6, "CLOCK_MONOTONIC_COARSE"},  {7, "CLOCK_BOOTTIME"},      {8, "CLOCK_REALTIME_ALARM"},
    {9, "CLOCK_BOOTTIME_ALARM"},    {11, "CLOCK_TAI"},
};

const Named kEpollCtl[] = {{1, "EPOLL_CTL_ADD"}, {2, "EPOLL_CTL_DEL"}, {3, "EPOLL_CTL_MOD"}};

const Named kRlimits[] = {
    {0, "RLIMIT_CPU"},       {1, "RLIMIT_FSIZE"}, {2, "RLIMIT_DATA"},    {3, "RLIMIT_STACK"},
    {4, "RLIMIT_CORE"},      {5, "RLIMIT_RSS"},   {6, "RLIMIT_NPROC"},   {7, "RLIMIT_NOFILE"},
    {8, "RLIMIT_MEMLOCK"},   {9, "RLIMIT_AS"},    {10, "RLIMIT_LOCKS"},  {11, "RLIMIT_SIGPENDING"},
    {12, "RLIMIT_MSGQUEUE"}, {13, "RLIMIT_NICE"}, {14, "RLIMIT_RTPRIO"}, {15, "RLIMIT_RTTIME"},
};

const Named kMsgFlags[] = {
    {1, "MSG_OOB"},
    {2, "MSG_PEEK"},
    {4, "MSG_DONTROUTE"},
    {8, "MSG_CTRUNC"},
    {0x10, "MSG_PROBE"},
    {0x20, "MSG_TRUNC"},
    {0x40, "MSG_DONTWAIT"},
    {0x80, "MSG_EOR"},
    {0x100, "MSG_WAITALL"},
    {0x200, "MSG_FIN"},
    {0x400, "MSG_SYN"},
    {0x800, "MSG_CONFIRM"},
    {0x1000, "MSG_RST"},
    {0x2000, "MSG_ERRQUEUE"},
    {0x4000, "MSG_NOSIGNAL"},
    {0x8000, "MSG_MORE"},
    {0x10000, "MSG_WAITFORONE"},
    {0x40000, "MSG_BATCH"},
    {0x4000000, "MSG_ZEROCOPY"},
    {0x20000000, "MSG_FASTOPEN"},
    {0x40000000, "MSG_CMSG_CLOEXEC"},
};

const Named kShutdown[] = {{0, "SHUT_RD"}, {1, "SHUT_WR"}, {2, "SHUT_RDWR"}};

const Named kSockLevels[] = {
    {0, "SOL_IP"},        {1, "SOL_SOCKET"},      {6, "SOL_TCP"},   {17, "SOL_UDP"},
    {41, "SOL_IPV6"},     {58, "SOL_ICMPV6"},     {255, "SOL_RAW"}, {263, "SOL_PACKET"},
    {270, "SOL_NETLINK"}, {274, "SOL_BLUETOOTH"}, {279, "SOL_ALG"}, {282, "SOL_TLS"},
};

const Named kSockOpts[] = {
    {1, "SO_DEBUG"},         {2, "SO_REUSEADDR"},      {3, "SO_TYPE"},
    {4, "SO_ERROR"},         {5, "SO_DONTROUTE"},      {6, "SO_BROADCAST"},
    {7, "SO_SNDBUF"},        {8, "SO_RCVBUF"},         {9, "SO_KEEPALIVE"},
    {10, "SO_OOBINLINE"},    {11, "SO_NO_CHECK"},      {12, "SO_PRIORITY"},
    {13, "SO_LINGER"},       {14, "SO_BSDCOMPAT"},     {15, "SO_REUSEPORT"},
    {16, "SO_PASSCRED"},     {17, "SO_PEERCRED"},      {18, "SO_RCVLOWAT"},
    {19, "SO_SNDLOWAT"},     {20, "SO_RCVTIMEO_OLD"},  {21, "SO_SNDTIMEO_OLD"},
    {25, "SO_BINDTODEVICE"}, {26, "SO_ATTACH_FILTER"}, {29, "SO_TIMESTAMP_OLD"},
    {30, "SO_ACCEPTCONN"},   {31, "SO_PEERSEC"},       {32, "SO_SNDBUFFORCE"},
    {33, "SO_RCVBUFFORCE"},  {34, "SO_PASSSEC"},       {36, "SO_MARK"},
    {38, "SO_PROTOCOL"},     {39, "SO_DOMAIN"},        {40, "SO_RXQ_OVFL"},
    {43, "SO_PEEK_OFF"},     {46, "SO_BUSY_POLL"},     {59, "SO_PEERGROUPS"},
    {66, "SO_RCVTIMEO_NEW"}, {67, "SO_SNDTIMEO_NEW"},
};

const Named kArchPrctl[] = {
    {0x1001, "ARCH_SET_GS"},
    {0x1002, "ARCH_SET_FS"},
    {0x1003, "ARCH_GET_FS"},
    {0x1004, "ARCH_GET_GS"},
    {0x1011, "ARCH_GET_CPUID"},
    {0x1012, "ARCH_SET_CPUID"},
    {0x1021, "ARCH_GET_XCOMP_SUPP"},
    {0x1022, "ARCH_GET_XCOMP_PERM"},
    {0x1023, "ARCH_REQ_XCOMP_PERM"},
    {0x1024, "ARCH_GET_XCOMP_GUEST_PERM"},
    {0x1025, "ARCH_REQ_XCOMP_GUEST_PERM"},
    {0x2001, "ARCH_MAP_VDSO_X32"},
    {0x2002, "ARCH_MAP_VDSO_32"},
    {0x2003, "ARCH_MAP_VDSO_64"},
    {0x3001, "ARCH_CET_STATUS"},
    {0x4001, "ARCH_GET_UNTAG_MASK"},
    {0x4002, "ARCH_ENABLE_TAGGED_ADDR"},
    {0x4003, "ARCH_GET_MAX_TAG_BITS"},
    {0x4004, "ARCH_FORCE_TAGGED_SVA"},
    {0x5001, "ARCH_SHSTK_ENABLE"},
    {0x5002, "ARCH_SHSTK_DISABLE"},
    {0x5003, "ARCH_SHSTK_LOCK"},
    {0x5004, "ARCH_SHSTK_UNLOCK"},
    {0x5005, "ARCH_SHSTK_STATUS"},
};

const Named kGetrandom[] = {{1, "GRND_NONBLOCK"}, {2, "GRND_RANDOM"}, {4, "GRND_INSECURE"}};

const Named kFlock[] = {
    {1, "LOCK_SH"}, {2, "LOCK_EX"}, {4, "LOCK_NB"}, {8, "LOCK_UN"}, {32, "LOCK_MAND"}};

const Named kStatxMask[] = {
    {0xfff, "STATX_ALL"},
    {0x7ff, "STATX_BASIC_STATS"},
    {1, "STATX_TYPE"},
    {2, "STATX_MODE"},
    {4, "STATX_NLINK"},
    {8, "STATX_UID"},
    {0x10, "STATX_GID"},
    {0x20, "STATX_ATIME"},
    {0x40, "STATX_MTIME"},
    {0x80, "STATX_CTIME"},
    {0x100, "STATX_INO"},
    {0x200, "STATX_SIZE"},
    {0x400, "STATX_BLOCKS"},
    {0x800, "STATX_BTIME"},
    {0x1000, "STATX_MNT_ID"},
    {0x2000, "STATX_DIOALIGN"},
    {0x4000, "STATX_MNT_ID_UNIQUE"},
    {0x8000, "STATX_SUBVOL"},
    {0x10000, "STATX_WRITE_ATOMIC"},
};

const Named kFileTypes[] = {
    {0140000, "S_IFSOCK"}, {0120000, "S_IFLNK"}, {0100000, "S_IFREG"}, {0060000, "S_IFBLK"},
    {0040000, "S_IFDIR"},  {0020000, "S_IFCHR"}, {0010000, "S_IFIFO"},
};

const Named kFutexCmds[] = {
    {0, "FUTEX_WAIT"},
    {1, "FUTEX_WAKE"},
    {2, "FUTEX_FD"},
    {3, "FUTEX_REQUEUE"},
    {4, "FUTEX_CMP_REQUEUE"},
    {5, "FUTEX_WAKE_OP"},
    {6, "FUTEX_LOCK_PI"},
    {7, "FUTEX_UNLOCK_PI"},
    {8, "FUTEX_TRYLOCK_PI"},
    {9, "FUTEX_WAIT_BITSET"},
    {10, "FUTEX_WAKE_BITSET"},
    {11, "FUTEX_WAIT_REQUEUE_PI"},
    {12, "FUTEX_CMP_REQUEUE_PI"},
    {13, "FUTEX_LOCK_PI2"},
};

const char *const kSignalNames[] = {
    nullptr,     "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",   "SIGTRAP", "SIGABRT", "SIGBUS",
    "SIGFPE",    "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2",  "SIGPIPE", "SIGALRM", "SIGTERM",
    "SIGSTKFLT", "SIGCHLD", "SIGCONT",   "SIGSTOP", "SIGTSTP",  "SIGTTIN", "SIGTTOU", "SIGURG",
    "SIGXCPU",   "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",   "SIGPWR",  "SIGSYS",
};

// The kernel's own restart codes never reach user space as errno, but a
// tracer sees them as syscall results (strace prints "= ? ERESTARTSYS ...").
const detail::ErrnoInfo kKernelErrnos[] = {
    {512, "ERESTARTSYS", "To be restarted if SA_RESTART is set"},
    {513, "ERESTARTNOINTR", "To be restarted"},
    {514, "ERESTARTNOHAND", "To be restarted if no handler"},
    {515, "ENOIOCTLCMD", "No ioctl command"},
    {516, "ERESTART_RESTARTBLOCK", "Interrupted by signal"},
    {517, "EPROBE_DEFER", "Driver requests probe retry"},
    {518, "EOPENSTALE", "Open found a stale dentry"},
    {519, "ENOPARAM", "Parameter not supported"},
    {521, "EBADHANDLE", "Illegal NFS file handle"},
    {522, "ENOTSYNC", "Update synchronization mismatch"},
    {523, "EBADCOOKIE", "Cookie is stale"},
    {524, "ENOTSUPP", "Operation is not supported"},
    {525, "ETOOSMALL", "Buffer or request is too small"},
    {526, "ESERVERFAULT", "An untranslatable error occurred"},
    {527, "EBADTYPE", "Type not supported by server"},
    {528, "EJUKEBOX", "Request initiated, but will not complete before timeout"},
    {529, "EIOCBQUEUED", "iocb queued, will get completion event"},
    {530, "ERECALLCONFLICT", "Conflict with recalled state"},
    {531, "ENOGRACE", "NFS file lock reclaim refused"},
};

const detail::ErrnoInfo *findErrno(int err)
{
    for (size_t i = 0; i < kErrnoCount; i++)
        if (kErrnos[i].nr == err)
            return &kErrnos[i];
    for (const auto &e : kKernelErrnos)
        if (e.nr == err)
            return &e;
    return nullptr;
}

bool iequals(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::optional<int> parseInt(std::string_view s)
{
    int v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size())
        return std::nullopt;
    return v;
}

} // namespace

const Named kFcntlCmds[] = {
    {0, "F_DUPFD"},          {1, "F_GETFD"},
    {2, "F_SETFD"},          {3, "F_GETFL"},
    {4, "F_SETFL"},          {5, "F_GETLK"},
    {6, "F_SETLK"},          {7, "F_SETLKW"},
    {8, "F_SETOWN"},         {9, "F_GETOWN"},
    {10, "F_SETSIG"},        {11, "F_GETSIG"},
    {15, "F_SETOWN_EX"},     {16, "F_GETOWN_EX"},
    {36, "F_OFD_GETLK"},     {37, "F_OFD_SETLK"},
    {38, "F_OFD_SETLKW"},    {1024, "F_SETLEASE"},
    {1025, "F_GETLEASE"},    {1026, "F_NOTIFY"},
    {1027, "F_DUPFD_QUERY"}, {1030, "F_DUPFD_CLOEXEC"},
    {1031, "F_SETPIPE_SZ"},  {1032, "F_GETPIPE_SZ"},
    {1033, "F_ADD_SEALS"},   {1034, "F_GET_SEALS"},
};
const size_t kFcntlCmdsCount = std::size(kFcntlCmds);

const Named kPollEvents[] = {
    {1, "POLLIN"},         {2, "POLLPRI"},        {4, "POLLOUT"},       {8, "POLLERR"},
    {0x10, "POLLHUP"},     {0x20, "POLLNVAL"},    {0x40, "POLLRDNORM"}, {0x80, "POLLRDBAND"},
    {0x100, "POLLWRNORM"}, {0x200, "POLLWRBAND"}, {0x400, "POLLMSG"},   {0x2000, "POLLRDHUP"},
};
const size_t kPollEventsCount = std::size(kPollEvents);

const Named kSaFlags[] = {
    {0x04000000, "SA_RESTORER"},  {0x08000000, "SA_ONSTACK"},   {0x10000000, "SA_RESTART"},
    {0x40000000, "SA_NODEFER"},   {0x80000000, "SA_RESETHAND"}, {4, "SA_SIGINFO"},
    {1, "SA_NOCLDSTOP"},          {2, "SA_NOCLDWAIT"},          {0x400, "SA_UNSUPPORTED"},
    {0x800, "SA_EXPOSE_TAGBITS"},
};
const size_t kSaFlagsCount = std::size(kSaFlags);

const Named kAddrFamilies[] = {
    {0, "AF_UNSPEC"},      {1, "AF_UNIX"},      {2, "AF_INET"},      {3, "AF_AX25"},
    {4, "AF_IPX"},         {5, "AF_APPLETALK"}, {6, "AF_NETROM"},    {7, "AF_BRIDGE"},
    {8, "AF_ATMPVC"},      {9, "AF_X25"},       {10, "AF_INET6"},    {11, "AF_ROSE"},
    {12, "AF_DECnet"},     {13, "AF_NETBEUI"},  {14, "AF_SECURITY"}, {15, "AF_KEY"},
    {16, "AF_NETLINK"},    {17, "AF_PACKET"},   {18, "AF_ASH"},      {19, "AF_ECONET"},
    {20, "AF_ATMSVC"},     {21, "AF_RDS"},      {22, "AF_SNA"},      {23, "AF_IRDA"},
    {24, "AF_PPPOX"},      {25, "AF_WANPIPE"},  {26, "AF_LLC"},      {27, "AF_IB"},
    {28, "AF_MPLS"},       {29, "AF_CAN"},      {30, "AF_TIPC"},     {31, "AF_BLUETOOTH"},
    {32, "AF_IUCV"},       {33, "AF_RXRPC"},    {34, "AF_ISDN"},     {35, "AF_PHONET"},
    {36, "AF_IEEE802154"}, {37, "AF_CAIF"},     {38, "AF_ALG"},      {39, "AF_NFC"},
    {40, "AF_VSOCK"},      {41, "AF_KCM"},      {42, "AF_QIPCRTR"},  {43, "AF_SMC"},
    {44, "AF_XDP"},        {45, "AF_MCTP"},
};
const size_t kAddrFamiliesCount = std::size(kAddrFamilies);

std::span<const Named> table(ArgType t)
{
    switch (t) {
    case ArgType::ProtFlags:
        return kProt;
    case ArgType::AccessMode:
        return kAccessMode;
    case ArgType::AtFlags:
        return kAtFlags;
    case ArgType::Whence:
        return kWhence;
    case ArgType::IoctlReq:
        return kIoctls;
    case ArgType::FcntlCmd:
        return {kFcntlCmds, kFcntlCmdsCount};
    case ArgType::SockDomain:
        return {kAddrFamilies, kAddrFamiliesCount};
    case ArgType::WaitOptions:
        return kWaitOptions;
    case ArgType::PrctlOp:
        return kPrctl;
    case ArgType::SigHow:
        return kSigHow;
    case ArgType::MremapFlags:
        return kMremap;
    case ArgType::Madvise:
        return kMadvise;
    case ArgType::ClockId:
        return kClocks;
    case ArgType::EpollCtlOp:
        return kEpollCtl;
    case ArgType::RlimitResource:
        return kRlimits;
    case ArgType::MsgFlags:
        return kMsgFlags;
    case ArgType::ShutdownHow:
        return kShutdown;
    case ArgType::SockLevel:
        return kSockLevels;
    case ArgType::SockOptName:
        return kSockOpts;
    case ArgType::ArchPrctlCode:
        return kArchPrctl;
    case ArgType::GetrandomFlags:
        return kGetrandom;
    case ArgType::FlockOp:
        return kFlock;
    case ArgType::StatxMask:
        return kStatxMask;
    default:
        return {};
    }
}

bool isFlagType(ArgType t)
{
    switch (t) {
    case ArgType::ProtFlags:
    case ArgType::AccessMode:
    case ArgType::AtFlags:
    case ArgType::WaitOptions:
    case ArgType::MremapFlags:
    case ArgType::MsgFlags:
    case ArgType::GetrandomFlags:
    case ArgType::FlockOp:
    case ArgType::StatxMask:
        return true;
    default:
        return false;
    }
}

std::string openFlags(uint64_t v, bool withAccessMode)
{
    std::string out;
    uint64_t rest = v;
    if (withAccessMode) {
        static const char *const modes[] = {"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"};
        out = modes[v & 3];
        rest &= ~uint64_t{3};
        if (rest == 0)
            return out;
        return out + "|" + flags(rest, kOpenFlags);
    }
    return flags(rest, kOpenFlags);
}

std::string modeStr(uint64_t mode)
{
    // A mode with a file type is a file's (stat): strace names its set-id and
    // sticky bits there. A bare permission argument stays octal: chmod(p, 04755).
    if (!(mode & 0170000))
        return octal(mode & 07777);
    std::string out;
    if (const char *type = lookup(mode & 0170000, kFileTypes))
        out = std::string(type) + "|";
    else
        out = octal(mode & 0170000) + "|";
    static const Named kSpecial[] = {{04000, "S_ISUID"}, {02000, "S_ISGID"}, {01000, "S_ISVTX"}};
    for (const auto &b : kSpecial)
        if (mode & b.value)
            out += std::string(b.name) + "|";
    return out + octal(mode & 0777);
}

std::string cloneFlags(uint64_t v)
{
    uint64_t sig = v & 0xff;
    std::string out = flags(v & ~uint64_t{0xff}, kCloneFlags, "");
    if (sig) {
        if (!out.empty())
            out += '|';
        out += signalName(static_cast<int>(sig));
    }
    return out.empty() ? "0" : out;
}

std::string signalShort(int signo)
{
    std::string n = signalName(signo);
    return n.starts_with("SIG") ? n.substr(3) : n;
}

std::string sigsetStr(uint64_t bits)
{
    // strace prints the complement of a set holding more than half the signals.
    int count = std::popcount(bits);
    bool inverted = count > 32;
    uint64_t shown = inverted ? ~bits : bits;
    std::string out = inverted ? "~[" : "[";
    bool first = true;
    for (int s = 1; s <= 64; s++) {
        if (!(shown & (uint64_t{1} << (s - 1))))
            continue;
        if (!first)
            out += ' ';
        first = false;
        out += signalShort(s);
    }
    return out + "]";
}

std::string waitStatus(int s)
{
    if ((s & 0x7f) == 0)
        return "[{WIFEXITED(s) && WEXITSTATUS(s) == " + std::to_string((s >> 8) & 0xff) + "}]";
    if (s == 0xffff)
        return "[{WIFCONTINUED(s)}]";
    if ((s & 0xff) == 0x7f) {
        std::string out = "[{WIFSTOPPED(s) && WSTOPSIG(s) == " + signalName((s >> 8) & 0xff);
        if (s >> 16)
            out += " && s >> 16 == " + hex(static_cast<uint32_t>(s) >> 16);
        return out + "}]";
    }
    std::string out = "[{WIFSIGNALED(s) && WTERMSIG(s) == " + signalName(s & 0x7f);
    if (s & 0x80)
        out += " && WCOREDUMP(s)";
    return out + "}]";
}

std::string futexOp(uint64_t v)
{
    uint64_t cmd = v & 0x7f;
    std::string out;
    if (const char *n = lookup(cmd, kFutexCmds))
        out = n;
    else
        out = hex(cmd);
    if (v & 128)
        out += "_PRIVATE";
    if (v & 256)
        out += "|FUTEX_CLOCK_REALTIME";
    if (uint64_t rest = v & ~uint64_t{0x1ff}) {
        out += '|';
        out += hex(rest);
    }
    return out;
}

} // namespace detail

using namespace detail;

const SyscallInfo *syscallInfo(int64_t nr)
{
    // The table is sorted by number: 0..335 are dense, 424.. follow.
    auto *begin = kSyscalls, *end = kSyscalls + kSyscallCount;
    auto *it =
        std::lower_bound(begin, end, nr, [](const SyscallInfo &s, int64_t n) { return s.nr < n; });
    return it != end && it->nr == nr ? it : nullptr;
}

std::span<const SyscallInfo> syscallTable()
{
    return {kSyscalls, kSyscallCount};
}

std::optional<int> syscallNumber(std::string_view name)
{
    for (size_t i = 0; i < kSyscallCount; i++)
        if (kSyscalls[i].name == name)
            return kSyscalls[i].nr;
    // glibc's and strace's names for renamed calls, so filters read naturally.
    static const std::pair<std::string_view, std::string_view> aliases[] = {
        {"fstatat", "newfstatat"}, {"pread", "pread64"},     {"pwrite", "pwrite64"},
        {"fadvise", "fadvise64"},  {"prlimit", "prlimit64"}, {"sigreturn", "rt_sigreturn"},
    };
    for (const auto &[alias, real] : aliases)
        if (alias == name)
            return syscallNumber(real);
    if (name.starts_with("syscall_"))
        if (auto n = parseInt(name.substr(8)); n && *n >= 0)
            return n;
    return std::nullopt;
}

std::string syscallName(int64_t nr)
{
    if (const SyscallInfo *s = syscallInfo(nr))
        return std::string(s->name);
    return "syscall_" + std::to_string(nr);
}

std::string_view syscallSummary(int64_t nr)
{
    const SyscallInfo *s = syscallInfo(nr);
    return s ? s->summary : std::string_view();
}

std::string_view argTypeName(ArgType t)
{
    auto i = static_cast<size_t>(t);
    return i < kArgTypeCount ? kArgTypeNames[i] : std::string_view("?");
}

std::optional<uint16_t> syscallClass(std::string_view name)
{
    while (name.starts_with("%"))
        name.remove_prefix(1);
    static const std::pair<std::string_view, uint16_t> classes[] = {
        {"desc", SyscallClass::Desc},     {"file", SyscallClass::File},
        {"ipc", SyscallClass::Ipc},       {"network", SyscallClass::Network},
        {"net", SyscallClass::Network},   {"process", SyscallClass::Process},
        {"signal", SyscallClass::Signal}, {"memory", SyscallClass::Memory},
        {"creds", SyscallClass::Creds},   {"clock", SyscallClass::Clock},
        {"pure", SyscallClass::Pure},     {"stat", SyscallClass::Stat},
        {"statfs", SyscallClass::Statfs},
    };
    for (const auto &[n, bit] : classes)
        if (iequals(n, name))
            return bit;
    return std::nullopt;
}

std::vector<int> syscallsInClass(uint16_t classBits)
{
    std::vector<int> out;
    for (size_t i = 0; i < kSyscallCount; i++)
        if (kSyscalls[i].classes & classBits)
            out.push_back(kSyscalls[i].nr);
    return out;
}

std::string signalName(int signo)
{
    if (signo > 0 && signo < 32)
        return kSignalNames[signo];
    if (signo == 32)
        return "SIGRTMIN";
    if (signo > 32 && signo <= 64)
        return "SIGRTMIN+" + std::to_string(signo - 32);
    return std::to_string(signo);
}

std::optional<int> signalNumber(std::string_view name)
{
    if (auto n = parseInt(name))
        return *n > 0 && *n <= 64 ? n : std::nullopt;
    std::string up;
    for (char c : name)
        up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!up.starts_with("SIG"))
        up = "SIG" + up;
    for (int s = 1; s < 32; s++)
        if (up == kSignalNames[s])
            return s;
    static const std::pair<std::string_view, int> aliases[] = {
        {"SIGIOT", 6},     {"SIGCLD", 17},   {"SIGPOLL", 29},
        {"SIGUNUSED", 31}, {"SIGRTMIN", 32}, {"SIGRTMAX", 64},
    };
    for (const auto &[alias, nr] : aliases)
        if (up == alias)
            return nr;
    auto rel = [&](std::string_view prefix, int base, int sign) -> std::optional<int> {
        if (!std::string_view(up).starts_with(prefix))
            return std::nullopt;
        auto n = parseInt(std::string_view(up).substr(prefix.size()));
        if (!n)
            return std::nullopt;
        int s = base + sign * *n;
        return s >= 32 && s <= 64 ? std::optional<int>(s) : std::nullopt;
    };
    if (auto s = rel("SIGRTMIN+", 32, 1))
        return s;
    if (auto s = rel("SIGRTMAX-", 64, -1))
        return s;
    if (auto s = rel("SIGRT_", 32, 1))
        return s;
    return std::nullopt;
}

std::string errnoName(int err)
{
    if (const auto *e = findErrno(err))
        return std::string(e->name);
    return std::to_string(err);
}

std::string_view errnoMessage(int err)
{
    if (const auto *e = findErrno(err))
        return e->message;
    return "Unknown error";
}

std::optional<int> errnoNumber(std::string_view name)
{
    if (auto n = parseInt(name))
        return *n > 0 && *n < 4096 ? n : std::nullopt;
    for (size_t i = 0; i < kErrnoCount; i++)
        if (iequals(kErrnos[i].name, name))
            return kErrnos[i].nr;
    for (const auto &e : kKernelErrnos)
        if (iequals(e.name, name))
            return e.nr;
    static const std::pair<std::string_view, int> aliases[] = {
        {"EWOULDBLOCK", 11}, {"EDEADLOCK", 35}, {"ENOTSUP", 95}};
    for (const auto &[alias, nr] : aliases)
        if (iequals(alias, name))
            return nr;
    return std::nullopt;
}

} // namespace utrace
