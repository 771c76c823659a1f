// utrace client library: syscalls, signals and errno as data, and an
// strace-like rendering of events.
#pragma once

#include "utrace/event.hpp"

#include <cstdint>
#include <functional>
#include <optional>
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
    Other
};

struct SyscallInfo {
    int nr;
    std::string_view name;
    uint8_t argc;
    ArgType args[6];
    ArgType ret; // Int, Fd, Hex (addresses), Pid, ...
};

// The x86-64 table: every syscall number of the kernel's syscall_64.tbl.
const SyscallInfo *syscallInfo(int64_t nr);
std::optional<int> syscallNumber(std::string_view name);
std::string syscallName(int64_t nr); // "syscall_451" for unknown numbers

std::string signalName(int signo);                      // "SIGSEGV", "SIGRTMIN+3"
std::optional<int> signalNumber(std::string_view name); // "SIGSEGV", "segv", "11"
std::string errnoName(int err);                         // "ENOENT"

// Reads the traced thread's memory while rendering (strings, structs):
// returns the bytes it could read (possibly fewer).
using MemoryReader = std::function<std::vector<uint8_t>(uint64_t addr, size_t len)>;

struct RenderOptions {
    size_t stringLimit = 32; // strace -s
    bool raw = false;        // numbers only
};

// "openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC)" (without the result)
std::string renderSyscallEntry(const SyscallEntry &e, const MemoryReader &mem,
                               const RenderOptions &o = {});
// "= 3", "= -1 ENOENT (No such file or directory)", "= 0x7f...".
std::string renderSyscallResult(int64_t nr, int64_t ret);
// One line for any event, strace style, without the pid prefix.
std::string renderEvent(const Event &e, const MemoryReader &mem, const RenderOptions &o = {});

} // namespace utrace
