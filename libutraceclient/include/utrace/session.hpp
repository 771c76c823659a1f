// utrace client library: Session, Engine, Thread, Process.
//
//   auto s = utrace::Session::open("local");          // or tcp://host:port, exec:ssh …
//   auto p = s->launch({{"/bin/ls", "/"}});            // held at its first instruction
//   p.engine(0).setEvents(utrace::ev::Syscall, utrace::ev::None);
//   p.resume();
//   while (auto e = s->wait(1000)) { ... }             // or poll s->fd()
//
// Threading: a Session is used from one thread at a time; fd() may be watched
// by any event loop, then call poll() from the owning thread.
//
// Debugging: UTRACE_CLIENT_DEBUG=1 in the environment prints every event
// record (and each breakpoint step-over) on stderr as it arrives.
#pragma once

#include "utrace/error.hpp"
#include "utrace/event.hpp"
#include "utrace/transport.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct user_regs_struct;

namespace utrace {

// Event masks (the UTRACE_EV_* bits) with readable names.
namespace ev {
constexpr uint64_t None = 0;
constexpr uint64_t Quiesce = 1ull << 0;
constexpr uint64_t Reap = 1ull << 1;
constexpr uint64_t Clone = 1ull << 2;
constexpr uint64_t Exec = 1ull << 3;
constexpr uint64_t Exit = 1ull << 4;
constexpr uint64_t Death = 1ull << 5;
constexpr uint64_t SyscallEntry = 1ull << 6;
constexpr uint64_t SyscallExit = 1ull << 7;
constexpr uint64_t Signal = 1ull << 8;
constexpr uint64_t SignalIgn = 1ull << 9;
constexpr uint64_t SignalStop = 1ull << 10;
constexpr uint64_t SignalTerm = 1ull << 11;
constexpr uint64_t SignalCore = 1ull << 12;
constexpr uint64_t SignalAll = Signal | SignalIgn | SignalStop | SignalTerm | SignalCore;
constexpr uint64_t Syscall = SyscallEntry | SyscallExit;
constexpr uint64_t All = Quiesce | Reap | Clone | Exec | Exit | Death | Syscall | SignalAll;
// "syscall-entry,signal,exec" <-> bits; throws Error(EINVAL) naming the bad word.
uint64_t parse(const std::string &names);
std::string format(uint64_t bits);
} // namespace ev

class Session;

// Internal extension point of a Session (the Breakpoints use it): sees every
// event before the caller does and every release of a held thread.
class SessionHook {
public:
    virtual ~SessionHook() = default;
    enum class Verdict {
        Pass,    // on to the next hook, then the caller's event masks
        Consume, // the caller never sees it (the hook released the thread, if held)
        Deliver  // the caller sees it, whatever its masks say
    };
    virtual Verdict onEvent(Event &e) = 0;
    // A resume/step/verdict call for a held thread; true: the hook issued it
    // (or a replacement) itself. c may be changed before it is issued.
    virtual bool onRelease(uint32_t handle, ControlRequest &c) = 0;
    // Events (reported and holding) the hook needs on the engines of process
    // tgid, on top of what the caller asked for; events the caller did not ask
    // for are resumed and swallowed unless the hook consumes them.
    virtual uint64_t requiredStops(pid_t tgid) const = 0;
};

struct AttachOptions {
    bool exclusive = false;
    bool followChildren = false; // children get an engine with the same settings
    bool holdChildren = false;   // ... held stopped before their first instruction
    bool killOnClose = false;    // like PTRACE_O_EXITKILL
};

// One engine on one thread. Cheap value handle; the engine lives in the
// session until detach() (or the session's end).
class Engine {
public:
    Engine() = default;
    Engine(Session *s, uint32_t handle, pid_t tid) : s_(s), handle_(handle), tid_(tid) {}
    uint32_t handle() const { return handle_; }
    pid_t tid() const { return tid_; }
    bool valid() const { return s_ && handle_; }

    // events: what is reported; stop: the subset that holds the thread.
    void setEvents(uint64_t events, uint64_t stop, bool captureArgs = true);
    // Syscall filter by name ("openat", "read", ...); empty: every syscall.
    // Throws Error(EINVAL) naming an unknown syscall.
    void setSyscallFilter(const std::vector<std::string> &names);
    // The same by x86-64 syscall number (0..511); empty: every syscall.
    void setSyscallFilterNumbers(const std::vector<int> &numbers);
    const EngineSettings &settings() const;

    void stop();                       // UTRACE_STOP: hold at the next safe point (QUIESCE record)
    void interrupt();                  // UTRACE_INTERRUPT: also breaks a blocking syscall
    void resume();                     // RESUME with the default verdict
    void step();                       // one instruction, then a Step record (held)
    void abortSyscall(int64_t retval); // held at syscall entry
    void runSyscallWith(const std::array<uint64_t, 6> &args); // held at syscall entry
    void deliverSignal(int signo = 0);                        // held at a signal; 0: as is
    void ignoreSignal();
    void detach();
    void barrier();
    // Whether the last event of this engine held the thread and no resume
    // call released it since.
    bool held() const;

    user_regs_struct regs() const; // the thread must be held by this engine
    void setRegs(const user_regs_struct &r);
    std::vector<uint8_t> fpRegs() const; // struct user_fpregs_struct bytes
    std::vector<uint8_t> readMemory(uint64_t addr, size_t len) const; // short at a hole
    void writeMemory(uint64_t addr, std::span<const uint8_t> bytes);

private:
    Session *s_ = nullptr;
    uint32_t handle_ = 0;
    pid_t tid_ = 0;
};

// All engines this session has on one process's threads.
class Process {
public:
    pid_t pid() const { return pid_; }
    std::vector<Engine> engines() const; // one per live thread
    Engine engine(pid_t tid) const;      // tid 0: the leader's
    void setEvents(uint64_t events, uint64_t stop, bool captureArgs = true);
    void stop();
    void resume();
    void detach();
    void kill(int sig = 9);
    // Launched processes: their wait status once they exited.
    std::optional<int> exitStatus(bool wait = false);

private:
    friend class Session;
    Session *s_ = nullptr;
    pid_t pid_ = 0;
};

class Session {
public:
    // where: "local" (or "" / a device path), "tcp://host:port", "exec:COMMAND".
    static std::unique_ptr<Session> open(const std::string &where = "local");
    explicit Session(std::unique_ptr<Transport> t);
    ~Session(); // detaches everything; held threads run again
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    const DeviceInfo &device() const;
    Transport &transport();

    Engine attach(pid_t tid, const AttachOptions &o = {});
    // Every thread of pid, no clone escaping (children followed).
    Process attachProcess(pid_t pid, const AttachOptions &o = {});
    // Exec: a thread held at an exec (EXEC in its stop events) gets a new
    // engine proven for the new program, with the same settings, so that it
    // can be examined; the Exec event carries the new handle (an Engine
    // value of the old one is stale). Without the hold, or when the new
    // program may not be traced (setuid), the engine stays and examining
    // fails with EPERM.
    //
    // Starts argv held at its first instruction (an Exec record, held; the
    // engine has no events until the caller sets them). A launched program
    // that still runs when the session ends is killed.
    Process launch(const LaunchSpec &spec, const AttachOptions &o = {});

    // Readable when events are waiting; for poll/epoll/QSocketNotifier.
    int fd();
    // Events already read, without blocking; reads what the fd has, up to
    // about 1 MiB per call (the fd stays readable while more is queued).
    std::vector<Event> poll();
    // Next event, waiting up to timeout (-1 ms: forever); nullopt on timeout.
    std::optional<Event> wait(int timeoutMs);

    std::vector<EngineInfo> engines();
    Engine engineOf(uint32_t handle) const;
    // A process this session has engines on (attached, launched, or a
    // followed child); Error(ESRCH) if none.
    Process process(pid_t pid);

    // Hooks (Breakpoints). The hook must outlive its registration.
    void addHook(SessionHook *h);
    void removeHook(SessionHook *h);
    // Re-applies every engine's settings of process tgid (after a hook's
    // requiredStops() changed).
    void refreshEvents(pid_t tgid);
    // Makes sure the thread is held by its engine, stopping it if needed
    // (waiting up to timeoutMs; events read meanwhile are kept for the
    // caller). Returns true when this call stopped it (release it with
    // releaseHold()), false when it was already held by an event.
    // parkIfBlocked: also return (true) once the thread sleeps in the kernel
    // with the stop pending: it cannot run a user instruction before it
    // stops, but it cannot be examined either.
    bool holdThread(uint32_t handle, int timeoutMs = 5000, bool parkIfBlocked = false);
    void releaseHold(uint32_t handle);
    // CONTROL without the hooks (for the hooks themselves), keeping the
    // session's idea of which threads are held right.
    void controlDirect(uint32_t handle, const ControlRequest &c);

private:
    friend class Engine;
    friend class Process;
    struct Impl;
    std::unique_ptr<Impl> d_;
};

} // namespace utrace
