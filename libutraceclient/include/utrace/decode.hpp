// utrace client library: syscalls, signals and errno as data, and an
// strace-like rendering of events.
#pragma once

#include "utrace/event.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace utrace {

// Kinds of syscall arguments the renderer knows.
enum class ArgType : uint8_t {
    Int,
    Uint,
    Hex,
    Fd,
    DirFd,
    Path,
    String,
    Buffer,
    Pointer,
    Size,
    Off,
    Pid,
    Signal,
    OpenFlags,
    Mode,
    ProtFlags,
    MmapFlags,
    CloneFlags,
    AccessMode,
    AtFlags,
    Whence,
    IoctlReq,
    FcntlCmd,
    SockDomain,
    SockType,
    Sockaddr,
    Timespec,
    Stat,
    Pollfds,
    Iovec,
    StrArray,
    SigSet,
    Sigaction,
    WaitOptions,
    FutexOp,
    PrctlOp,
    Other,
    // Additions (keep the values above stable).
    Statx,          // struct statx
    StatxMask,      // STATX_* request mask
    Timeval,        // struct timeval
    FdSet,          // fd_set, its size from argument 0 (nfds)
    SigHow,         // SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK
    MremapFlags,    // MREMAP_*
    Madvise,        // MADV_*
    ClockId,        // CLOCK_*
    EpollCtlOp,     // EPOLL_CTL_*
    EpollEvent,     // struct epoll_event (an array of return-value length when written)
    IntPair,        // int[2] written by pipe/socketpair
    Rlimit,         // struct rlimit
    RlimitResource, // RLIMIT_*
    Utsname,        // struct utsname
    MsgFlags,       // MSG_*
    Msghdr,         // struct msghdr
    ShutdownHow,    // SHUT_*
    SockLevel,      // SOL_*
    SockOptName,    // SO_* (for SOL_SOCKET)
    ArchPrctlCode,  // ARCH_*
    GetrandomFlags, // GRND_*
    WaitStatus,     // int * wait status: [{WIFEXITED(s) && WEXITSTATUS(s) == 0}]
    CloneArgs,      // struct clone_args
    Envp,           // execve's environment: "0x7ffd... /* 23 vars */"
    FlockOp,        // LOCK_*
    IntPtr,         // int * rendered as [value]
    Statfs,         // struct statfs
    Sysinfo         // struct sysinfo
};

// strace's syscall classes (-e trace=%file ...), bits of SyscallInfo::classes.
namespace SyscallClass {
enum : uint16_t {
    Desc = 1 << 0,    // takes a file descriptor
    File = 1 << 1,    // takes a file name
    Ipc = 1 << 2,     // System V IPC
    Network = 1 << 3, // sockets
    Process = 1 << 4, // process lifetime: clone, execve, exit, wait4, kill...
    Signal = 1 << 5,  // signal handling
    Memory = 1 << 6,  // memory mapping
    Creds = 1 << 7,   // user and group ids, capabilities
    Clock = 1 << 8,   // reads or sets clocks
    Pure = 1 << 9,    // no arguments, never fails (getpid...)
    Stat = 1 << 10,   // the stat variants
    Statfs = 1 << 11, // the statfs variants
};
}

struct SyscallInfo {
    int nr;
    std::string_view name;
    uint8_t argc;
    ArgType args[6];
    ArgType ret;              // Int, Fd, Hex (addresses), Pid, ...
    uint8_t outMask;          // bit i: the kernel writes argument i (rendered after the call)
    std::string_view summary; // one line for people: "open a file relative to a directory fd"
    uint16_t classes;         // SyscallClass bits
};

// The x86-64 table: every syscall number of the kernel's syscall_64.tbl
// (6.12: 0..335 and 424..462; the x32 numbers 512.. are not x86-64 calls).
const SyscallInfo *syscallInfo(int64_t nr);
std::span<const SyscallInfo> syscallTable(); // ordered by number
std::optional<int> syscallNumber(std::string_view name);
std::string syscallName(int64_t nr);         // "syscall_500" for unknown numbers
std::string_view syscallSummary(int64_t nr); // "" for unknown numbers
std::string_view argTypeName(ArgType t);     // "OpenFlags"
// The class named as strace names it ("file", "%file", "network", "%%stat"
// for Stat, "%%statfs" for Statfs); nullopt for an unknown name.
std::optional<uint16_t> syscallClass(std::string_view name);
// The numbers of the syscalls in the class, ascending.
std::vector<int> syscallsInClass(uint16_t classBits);

// Real-time signals count from the kernel's SIGRTMIN, 32 (glibc reserves 32
// and 33, so its SIGRTMIN is 34 = "SIGRTMIN+2" here); signal sets print the
// names without "SIG": [INT TERM RTMIN+1].
std::string signalName(int signo);                      // "SIGSEGV", "SIGRTMIN+3"; "0" for 0
std::optional<int> signalNumber(std::string_view name); // "SIGSEGV", "segv", "11", "SIGRTMAX-1"
std::string errnoName(int err);         // "ENOENT", "ERESTARTSYS"; the number when unknown
std::string_view errnoMessage(int err); // "No such file or directory"
std::optional<int> errnoNumber(std::string_view name); // "ENOENT", "enoent", "2"

// Reads the traced thread's memory while rendering (strings, structs):
// returns the bytes it could read (possibly fewer).
using MemoryReader = std::function<std::vector<uint8_t>(uint64_t addr, size_t len)>;

struct RenderOptions {
    size_t stringLimit = 32; // strace -s
    bool raw = false;        // numbers only
};

// "openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC)" (without the result).
// Arguments the kernel writes are shown as addresses (they are not filled yet).
std::string renderSyscallEntry(const SyscallEntry &e, const MemoryReader &mem,
                               const RenderOptions &o = {});
// "= 3", "= -1 ENOENT (No such file or directory)", "= 0x7f...".
std::string renderSyscallResult(int64_t nr, int64_t ret);
// The arguments of renderSyscallEntry one by one: what a tracer keeps from the
// entry stop (in-arguments read then) to finish the line at the exit stop.
std::vector<std::string> renderEntryArgs(const SyscallEntry &e, const MemoryReader &mem,
                                         const RenderOptions &o = {});
// The whole line at the exit stop from the entry's arguments: the arguments the
// kernel wrote are rendered now, the others kept as entryArgs has them.
std::string renderSyscallExit(const SyscallEntry &e, const std::vector<std::string> &entryArgs,
                              int64_t ret, const MemoryReader &mem, const RenderOptions &o = {});
// The whole strace line once the call returned, with the arguments the kernel
// wrote read from memory now: "fstat(3, {st_mode=S_IFREG|0644, st_size=42, ...}) = 0".
// mem must read the thread as it is at the syscall exit.
std::string renderSyscall(const SyscallEntry &entry, int64_t ret, const MemoryReader &mem,
                          const RenderOptions &o = {});
// One value of the given type, as it appears in an argument list:
// renderValue(ArgType::ProtFlags, 3, mem) == "PROT_READ|PROT_WRITE".
std::string renderValue(ArgType t, uint64_t v, const MemoryReader &mem,
                        const RenderOptions &o = {});
// strace's quoting of bytes: "abc\n\0"..., at most limit bytes, "..." after the
// quote when the data was longer (truncated) than what is shown.
std::string quoteString(std::string_view bytes, size_t limit, bool truncated = false);
// "{si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10}"
std::string renderSiginfo(const Signal &s);
// One line for any event, strace style, without the pid prefix:
//   syscall entry  renderSyscallEntry: "close(3)" ("close(...)" without captured args)
//   syscall exit   "<... read resumed> = 3" (an exit alone has no arguments;
//                  a tracer that kept the entry uses renderSyscallExit)
//   signal         "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10} ---"
//   clone          "--- clone: child 1235, CLONE_VM|CLONE_THREAD ---"
//   exec           "--- exec \"/usr/bin/ls\" ---"
//   exit           "+++ exiting with 0 +++", "+++ killed by SIGSEGV (core dumped) +++"
//   death, reap    "+++ dead, the last thread of its process, parent notified with SIGCHLD +++",
//                  "+++ reaped +++"
//   quiesce, step  "--- stopped ---", "--- single-step ---"
//   lost           "--- 12 events lost ---"
std::string renderEvent(const Event &e, const MemoryReader &mem, const RenderOptions &o = {});

} // namespace utrace
