// utrace client library: the Transport, the seam between a Session and a
// machine's /dev/utrace.
//
// LocalTransport issues the ioctls of kmod/include/uapi/linux/utrace.h on this
// machine; RemoteTransport sends the same requests to a utrace-agent over a
// stream (TCP, or a command's stdio such as `ssh host utrace-agent --stdio`),
// and the agent runs them on a LocalTransport there. Everything a Session
// needs from the traced machine goes through here: ioctls, event records,
// and the files and process lists the symbolizer and the process picker read.
//
// Every method throws utrace::Error on failure (errno + one sentence).
// A Transport is used by one thread at a time, except eventFd()/readRecords(),
// which one reader thread may call while another thread issues requests.
#pragma once

#include "utrace/error.hpp"

#include <cerrno>

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <sys/types.h>
#include <vector>

namespace utrace {

struct DeviceInfo {
    uint32_t apiVersion = 0;
    uint64_t features = 0; // UTRACE_FEAT_*
    std::string kernelRelease;
    std::string moduleVersion;
};

// UTRACE_IOC_SET_EVENTS as values.
struct EngineSettings {
    uint64_t events = 0;     // UTRACE_EV_*
    uint64_t stopEvents = 0; // subset of events that hold the thread
    bool captureArgs = false;
    std::optional<std::bitset<512>> syscallFilter; // nullopt: every syscall
};

// UTRACE_IOC_CONTROL as values.
struct ControlRequest {
    uint32_t action = 0;  // UTRACE_CTL_*
    uint32_t verdict = 0; // UTRACE_VERDICT_*
    int signo = 0;
    int64_t retval = 0;
    std::optional<std::array<uint64_t, 6>> args; // run with changed arguments
};

struct EngineInfo {
    uint32_t handle = 0;
    pid_t tid = 0;
    uint64_t events = 0;
    uint64_t stopEvents = 0;
    uint32_t state = 0; // UTRACE_STATE_*
};

struct ProcessInfo {
    pid_t pid = 0;
    pid_t ppid = 0;
    uid_t uid = 0;
    std::string comm;
    std::string cmdline; // arguments joined by spaces
    std::vector<pid_t> tids;
};

struct LaunchSpec {
    LaunchSpec() = default;
    // So that launch({{"ls", "/"}}) names the arguments only.
    LaunchSpec(std::vector<std::string> a, std::vector<std::string> e = {}, std::string c = {})
        : argv(std::move(a)), env(std::move(e)), cwd(std::move(c))
    {
    }
    std::vector<std::string> argv; // argv[0] is looked up in PATH
    std::vector<std::string> env;  // empty: inherit
    std::string cwd;               // empty: inherit
};

// Register sets for getRegs/setRegs (the ELF note types).
enum class RegSet : uint32_t {
    General = 1 /* NT_PRSTATUS */,
    Fp = 2 /* NT_PRFPREG */,
    XState = 0x202 /* NT_X86_XSTATE */
};

class Transport {
public:
    virtual ~Transport() = default;

    virtual DeviceInfo version() = 0;
    // Attaches an engine to tid. The transport proves the right to trace on
    // its side (it opens /proc/PID/mem there). flags: UTRACE_ATTACH_F_*.
    virtual uint32_t attach(pid_t tid, uint32_t flags) = 0;
    virtual void setEvents(uint32_t handle, const EngineSettings &s) = 0;
    virtual void control(uint32_t handle, const ControlRequest &c) = 0;
    virtual void barrier(uint32_t handle) = 0;
    // After the thread exec'd, examining it needs a new proof of the right
    // to trace the new image (UTRACE_IOC_PROVE); the transport makes it on
    // its side. Throws Error (EPERM when the new image may not be traced,
    // EOPNOTSUPP where the transport cannot).
    virtual void prove(uint32_t handle, pid_t tid)
    {
        (void)tid;
        throw Error(EOPNOTSUPP, "this connection cannot renew the proof for engine " +
                                    std::to_string(handle) + " after an exec");
    }
    virtual void detach(uint32_t handle) = 0;
    virtual std::vector<uint8_t> getRegs(uint32_t handle, RegSet set) = 0;
    virtual void setRegs(uint32_t handle, RegSet set, std::span<const uint8_t> regs) = 0;
    // Bytes transferred, up to the first unreadable/unwritable byte.
    virtual size_t readMemory(uint32_t handle, uint64_t addr, std::span<uint8_t> out) = 0;
    virtual size_t writeMemory(uint32_t handle, uint64_t addr, std::span<const uint8_t> in) = 0;
    virtual std::vector<EngineInfo> list() = 0;
    virtual uint64_t setQueueSize(uint64_t bytes) = 0; // 0: just query

    // Event records. eventFd() is readable (poll/epoll/QSocketNotifier) when
    // readRecords() has something; readRecords() returns whole records,
    // concatenated, or an empty vector when timeoutMs passed (-1: wait).
    virtual int eventFd() = 0;
    virtual std::vector<uint8_t> readRecords(int timeoutMs) = 0;

    // The traced machine's files and processes.
    virtual std::vector<uint8_t> readFile(const std::string &path, uint64_t offset,
                                          uint64_t maxBytes) = 0;
    virtual std::vector<ProcessInfo> processes() = 0;
    // Starts a program blocked before its execve; release() lets it exec.
    // Attach to it in between to hold it at its first instruction.
    virtual pid_t launch(const LaunchSpec &spec) = 0;
    virtual void release(pid_t pid) = 0;
    // Wait status of a launched program once it exited, nullopt while it runs
    // (wait == false) or blocks until it exits (wait == true).
    virtual std::optional<int> reap(pid_t pid, bool wait) = 0;
    virtual void kill(pid_t pid, int sig) = 0;
};

// /dev/utrace on this machine (path overridable for tests).
std::unique_ptr<Transport> openLocal(const std::string &device = "/dev/utrace");
// A utrace-agent: "tcp://host:port", or "exec:COMMAND" (run with /bin/sh -c,
// speaking the protocol on its stdio, e.g. "exec:ssh host utrace-agent --stdio").
std::unique_ptr<Transport> openRemote(const std::string &url);
// Either of the above: "local" / "" / a /dev path, tcp://…, exec:….
std::unique_ptr<Transport> openTransport(const std::string &where);

} // namespace utrace
