// Sentences for the errors of /dev/utrace (docs/utrace-dev.md, ERRORS).
#include "local_error.hpp"

#include <cerrno>
#include <cstring>

namespace utrace::detail {

void throwSys(int err, const std::string &what)
{
    throw Error(err, what + ": " + std::strerror(err));
}

void throwOpenError(int err, const std::string &path)
{
    switch (err) {
    case ENOENT:
    case ENXIO:
    case ENODEV:
        throw Error(err, path + " does not exist: the utrace module is not loaded: run `sudo "
                                "insmod utrace.ko` or use the demo VM (tools/vm/vmtest shell)");
    case EACCES:
    case EPERM:
        throw Error(err, "no permission to open " + path +
                             ": the device is mode 0600 root:root; run as root, or give your "
                             "group read/write access (e.g. a udev rule with GROUP and "
                             "MODE=\"0660\")");
    default:
        throw Error(err, "cannot open " + path + ": " + std::strerror(err));
    }
}

void throwAttachError(int err, pid_t tid, bool openingProof)
{
    std::string t = "attach to thread " + std::to_string(tid);
    switch (err) {
    case ENOENT:
    case ESRCH:
        throw Error(ESRCH, t + " failed: no such thread (the target exited or the id is wrong)");
    case EACCES:
    case EPERM:
        if (openingProof)
            throw Error(EPERM, t + " refused: you may not trace it; run as the same user as the "
                                   "target, lower kernel.yama.ptrace_scope "
                                   "(/proc/sys/kernel/yama/ptrace_scope), or hold "
                                   "CAP_SYS_PTRACE");
        throw Error(EPERM, t + " refused by the module: it is a kernel thread, or it exec'd a "
                               "program you may not trace; run as the same user as the target "
                               "or hold CAP_SYS_PTRACE");
    case EBUSY:
        throw Error(EBUSY, t + " refused: it is being ptraced (by a debugger or strace); detach "
                               "that tracer first");
    case EEXIST:
        throw Error(EEXIST, t + " refused: this session already has an engine on it (exclusive "
                                "attach)");
    case EOPNOTSUPP:
        throw Error(EOPNOTSUPP,
                    t + " failed: the running utrace module does not support the attach flags "
                        "asked for; update the module");
    default:
        throw Error(err, t + " failed: " + std::strerror(err));
    }
}

void throwEngineError(int err, const std::string &what, uint32_t handle)
{
    std::string e = "cannot " + what + " (engine " + std::to_string(handle) + ")";
    switch (err) {
    case ENOENT:
        throw Error(err, e + ": no such engine in this session (it was detached)");
    case ESRCH:
        throw Error(err, e + ": the thread has exited");
    case EBUSY:
        throw Error(err, e + ": the thread is not held stopped by this engine; wait for an "
                             "event with held=true (or stop() it) first");
    case EAGAIN:
        throw Error(err, e + ": the thread ran meanwhile (it was killed or did not get off its "
                             "CPU); try again");
    case EPERM:
        throw Error(err, e + ": the thread exec'd another program since the attach; attach "
                             "again to examine the new program");
    case EIO:
        throw Error(err, e + ": the address is not mapped in the thread, or the kernel refused "
                             "the value");
    case EINVAL:
        throw Error(err, e + ": the request is not valid in the thread's state (e.g. a verdict "
                             "for a syscall while held at a signal) or a value is out of range");
    case EOPNOTSUPP:
        throw Error(err, e + ": the running utrace module or kernel does not support this; see "
                             "Session::device().features");
    case EALREADY:
        throw Error(err, e + ": the thread is exiting");
    default:
        throw Error(err, e + ": " + std::strerror(err));
    }
}

} // namespace utrace::detail
