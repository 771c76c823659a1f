// UtraceSemantics: the behaviour cases of utrace-semantics.md section 7, run
// in the test VM against the real core through the scriptable test engine
// (kmod/tests/utrace_test_engine.c, /dev/utrace_test). Each case forks real
// fixture processes, drives them, and checks return codes, the callback log,
// /proc state and the processes' own results.
#include "utrace_test_engine.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <new>
#include <poll.h>
#include <pthread.h>
#include <sstream>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

// Single-step fixtures (x86-64): loops of instructions of known length whose
// addresses the parent knows, since a forked child has the same layout.
// uteNopLoop: 64 one-byte nops, then a two-byte jmp back to the first nop.
// uteSyscallLoop: a five-byte mov of getpid's number, a two-byte syscall at
// uteSyscallInsn, then a two-byte jmp back.
extern "C" void uteNopLoop();
extern "C" void uteSyscallLoop();
extern "C" void uteSyscallInsn();
asm(R"(
    .text
    .globl uteNopLoop
    .type uteNopLoop, @function
uteNopLoop:
    .rept 64
    nop
    .endr
    jmp uteNopLoop
    .globl uteSyscallLoop
    .type uteSyscallLoop, @function
uteSyscallLoop:
    mov $39, %eax
    .globl uteSyscallInsn
uteSyscallInsn:
    syscall
    jmp uteSyscallLoop
)");

namespace {

// The engine API's values (kmod/include/linux/utrace.h is kernel-only).
constexpr __u32 kStop = 0, kInterrupt = 1, kReport = 2, kSingleStep = 3, kBlockStep = 4,
                kResume = 5, kDetach = 6;
constexpr __u32 kResumeMask = 0x7;
constexpr __u32 kSyscallAbort = 0x10;
constexpr __u32 kSyscallResumed = 0x100;
constexpr __u64 kEvQuiesce = 1 << 0, kEvReap = 1 << 1, kEvClone = 1 << 2, kEvExec = 1 << 3,
                kEvExit = 1 << 4, kEvDeath = 1 << 5, kEvSyscallEntry = 1 << 6,
                kEvSyscallExit = 1 << 7, kEvSignal = 1 << 8, kEvSignalIgn = 1 << 9,
                kEvSignalStop = 1 << 10, kEvSignalTerm = 1 << 11, kEvSignalCore = 1 << 12;
constexpr __u64 kEvSignalAll =
    kEvSignal | kEvSignalIgn | kEvSignalStop | kEvSignalTerm | kEvSignalCore;
// enum utrace_signal_action and UTRACE_SIGNAL_HOLD.
constexpr __u32 kSigDeliver = 0x00, kSigIgn = 0x10, kSigTerm = 0x20, kSigStop = 0x40,
                kSigTstp = 0x50, kSigReport = 0x60, kSigHandler = 0x70;
constexpr __u32 kSigMask = 0xf0, kSigHold = 0x100;
constexpr __u64 kEngineStop = 1 << 14;
constexpr __u32 kMatchOps = 0x1, kMatchData = 0x2, kCreate = 0x10, kExclusive = 0x20;

const char *const kDev = "/dev/" UTE_DEVICE_NAME;
const char *const kModule = "/lib/modules/utrace_test_engine.ko";
const int kTimeoutMs = 5000;

using Clock = std::chrono::steady_clock;

bool waitFor(const std::function<bool()> &cond, int ms = kTimeoutMs)
{
    auto end = Clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
        if (cond())
            return true;
        if (Clock::now() > end)
            return false;
        usleep(5000);
    }
}

std::string readLine(const std::string &path)
{
    std::ifstream in(path);
    std::string s;
    std::getline(in, s);
    return s;
}

// The state letter of /proc/PID/stat ('t' = stopped by a tracer), or 0.
char procState(pid_t pid)
{
    std::string s = readLine("/proc/" + std::to_string(pid) + "/stat");
    auto p = s.rfind(')');
    return p == std::string::npos || p + 2 >= s.size() ? 0 : s[p + 2];
}

bool waitState(pid_t pid, char want)
{
    return waitFor([&] { return procState(pid) == want; });
}

// The value of /proc/PID/status's "Utrace:" line, or -1 without one.
long long utraceStatus(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string s;
    while (std::getline(in, s))
        if (s.rfind("Utrace:", 0) == 0)
            return std::stoll(s.substr(7), nullptr, 16);
    return -1;
}

// Exited but not reaped (waitid WNOWAIT leaves it a zombie).
bool waitZombie(pid_t pid)
{
    siginfo_t si{};
    return waitFor([&] {
        si.si_pid = 0;
        return waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
    });
}

// waitpid with a deadline; false on timeout.
bool waitExit(pid_t pid, int *status, int ms = kTimeoutMs)
{
    return waitFor([&] { return waitpid(pid, status, WNOHANG) == pid; }, ms);
}

// Reaps every child (and reparented grandchild) until none is left.
void reapAll(int ms)
{
    waitFor(
        [] {
            int st;
            pid_t p;
            while ((p = waitpid(-1, &st, WNOHANG | __WALL)) > 0) {
            }
            return p < 0 && errno == ECHILD;
        },
        ms);
}

long liveCounter(const char *name)
{
    std::string s = readLine(std::string("/sys/module/utrace/parameters/") + name);
    return s.empty() ? -1 : std::stol(s);
}

// Loads the engine module once for the suite; unloads it at the end so that
// the harness's final `rmmod utrace` succeeds.
class EngineModule : public ::testing::Environment {
public:
    void SetUp() override
    {
        // Orphaned grandchildren come to us, so every test can reap them.
        ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0) << strerror(errno);
        int fd = open(kModule, O_RDONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0) << kModule << ": " << strerror(errno);
        long r = syscall(SYS_finit_module, fd, "", 0);
        int err = errno;
        close(fd);
        ASSERT_TRUE(r == 0 || err == EEXIST) << "finit_module: " << strerror(err);
        struct stat st {};
        ASSERT_TRUE(waitFor([&] { return stat(kDev, &st) == 0; }, 2000)) << kDev;
    }
    void TearDown() override
    {
        bool gone = waitFor(
            [] {
                return syscall(SYS_delete_module, "utrace_test_engine", O_NONBLOCK) == 0 ||
                       errno == ENOENT;
            },
            kTimeoutMs);
        EXPECT_TRUE(gone) << "rmmod utrace_test_engine: " << strerror(errno)
                          << " (an engine was never released)";
    }
};

::testing::Environment *const gEngineEnv = ::testing::AddGlobalTestEnvironment(new EngineModule);

// A fixture process that obeys one-byte commands on a pipe and answers each
// with a long on another. It runs in its own process group.
struct Commander {
    pid_t pid = -1;
    int cmd = -1;
    int reply = -1;
};

enum class Reply { Value, Timeout, Eof };

const long kGrandchildRan = -7777;

// Signals the commander's handlers saw since its last 'h' command, 1 << sig.
volatile sig_atomic_t gSigMask;

void commanderHandler(int sig)
{
    gSigMask = gSigMask | (1 << sig);
}

// The commander's extra thread: answers its tid, then exits (without the
// rest of its group) once a byte arrives on its own pipe.
struct ThreadArgs {
    int wake;
    int reply;
};

void *commanderThread(void *p)
{
    auto *a = static_cast<ThreadArgs *>(p);
    long tid = syscall(SYS_gettid);
    if (write(a->reply, &tid, sizeof(tid)) != sizeof(tid))
        _exit(91);
    char c;
    if (read(a->wake, &c, 1) != 1)
        _exit(92);
    syscall(SYS_exit, 0);
    return nullptr;
}

[[noreturn]] void commanderLoop(int cmd, int reply)
{
    auto answer = [&](long v) {
        if (write(reply, &v, sizeof(v)) != sizeof(v))
            _exit(90);
    };
    // SIGUSR1/2 handlers; SA_RESTART: a handled signal does not end read().
    struct sigaction sa {};
    sa.sa_handler = commanderHandler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, nullptr);
    sigaction(SIGUSR2, &sa, nullptr);
    static ThreadArgs targs;
    int tpipe[2] = {-1, -1};
    answer(0); // ready: the parent waits for this before driving us
    for (;;) {
        char c;
        if (read(cmd, &c, 1) != 1)
            _exit(0);
        long r = 0;
        switch (c) {
        case 'g': // a syscall the tests recognise by number
            r = syscall(SYS_getppid);
            answer(r < 0 ? -errno : r);
            break;
        case 'P': // getpgid(999999): -ESRCH, unless an engine changes the argument
            r = syscall(SYS_getpgid, 999999);
            answer(r < 0 ? -errno : r);
            break;
        case 'f': { // fork; the grandchild reports it ran, then exits
            pid_t gc = fork();
            if (gc == 0) {
                answer(kGrandchildRan);
                _exit(7);
            }
            int st;
            waitpid(gc, &st, 0);
            answer(gc);
            break;
        }
        case 'F': { // fork a grandchild that just waits
            pid_t gc = fork();
            if (gc == 0) {
                for (;;)
                    pause();
            }
            answer(gc);
            break;
        }
        case 'e':
            execl("/bin/busybox", "busybox", "sleep", "30", static_cast<char *>(nullptr));
            answer(-errno);
            break;
        case 't':
            execl("/bin/busybox", "busybox", "true", static_cast<char *>(nullptr));
            answer(-errno);
            break;
        case 'E':
            execl("/nonexistent/program", "program", static_cast<char *>(nullptr));
            answer(-errno);
            break;
        case 'h': // the signals handled since the last 'h'
            answer(gSigMask);
            gSigMask = 0;
            break;
        case 'I': // SIGUSR2 ignored from now on
            signal(SIGUSR2, SIG_IGN);
            answer(0);
            break;
        case 'T': { // a second thread; it answers its own tid
            pthread_t t;
            if (pipe2(tpipe, O_CLOEXEC)) {
                answer(-errno);
                break;
            }
            targs.wake = tpipe[0];
            targs.reply = reply;
            int e = pthread_create(&t, nullptr, commanderThread, &targs);
            if (e)
                answer(-e);
            else
                pthread_detach(t);
            break;
        }
        case 'k': // the second thread exits
            answer(write(tpipe[1], "k", 1) == 1 ? 0 : -errno);
            break;
        case 'v': { // vfork a child that execs busybox sleep
            pid_t child = vfork();
            if (child == 0) {
                execl("/bin/busybox", "busybox", "sleep", "30", static_cast<char *>(nullptr));
                _exit(127);
            }
            answer(child < 0 ? -errno : child);
            break;
        }
        case 'x':
            _exit(3);
        default:
            answer(-EINVAL);
        }
    }
}

class UtraceSemantics : public ::testing::Test {
protected:
    int fd_ = -1;
    std::vector<pid_t> kids_;

    void SetUp() override
    {
        fd_ = open(kDev, O_RDWR | O_CLOEXEC);
        ASSERT_GE(fd_, 0) << kDev << ": " << strerror(errno);
    }

    void TearDown() override
    {
        for (pid_t p : kids_) {
            kill(-p, SIGKILL);
            kill(p, SIGKILL);
        }
        reapAll(kTimeoutMs);
        // Closing detaches and puts every engine the test left behind.
        if (fd_ >= 0)
            close(fd_);
        reapAll(kTimeoutMs);
        const char *names[] = {"live_engines", "live_threads", "pending_works"};
        bool drained = waitFor(
            [&] {
                for (const char *n : names)
                    if (liveCounter(n) != 0)
                        return false;
                return true;
            },
            2000);
        if (!drained) {
            for (const char *n : names)
                ADD_FAILURE() << "utrace " << n << " = " << liveCounter(n)
                              << " after the test (-1: unreadable)";
        }
        EXPECT_EQ(liveCounter("entry_misses"), 0)
            << "a syscall entry report did not run before its syscall returned (in this test or "
               "an earlier one of this boot)";
    }

    // ---- fixture processes ----

    pid_t forkKid(const std::function<void()> &body)
    {
        pid_t pid = fork();
        if (pid == 0) {
            setpgid(0, 0);
            body();
            _exit(0);
        }
        if (pid > 0) {
            setpgid(pid, pid);
            kids_.push_back(pid);
        }
        return pid;
    }

    // Spins in user mode and never makes a syscall once this returns: the
    // child's own syscalls (setpgid in forkKid) are behind it by then. A
    // syscall after an attach would be an event pass, which takes a pending
    // UTRACE_REPORT as utrace's start_report() did (its report_quiesce
    // answers it), so a test's REPORT would get no event-0 report.
    pid_t spinner()
    {
        void *m = mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            ADD_FAILURE() << "mmap: " << strerror(errno);
            return -1;
        }
        auto *ready = new (m) std::atomic<int>(0);
        pid_t pid = forkKid([ready] {
            ready->store(1);
            for (;;)
                asm volatile("" ::: "memory");
        });
        EXPECT_TRUE(pid > 0 && waitFor([&] { return ready->load() == 1; }))
            << "the spinner did not start";
        munmap(m, sizeof(std::atomic<int>));
        return pid;
    }

    // Loops on getppid(): a syscall entry and exit every few hundred ns.
    pid_t looper()
    {
        return forkKid([] {
            for (;;)
                syscall(SYS_getppid);
        });
    }

    Commander commander()
    {
        int c[2], r[2];
        Commander k;
        if (pipe2(c, O_CLOEXEC) || pipe2(r, O_CLOEXEC)) {
            ADD_FAILURE() << "pipe: " << strerror(errno);
            return k;
        }
        k.pid = forkKid([&] {
            close(c[1]);
            close(r[0]);
            commanderLoop(c[0], r[1]);
        });
        close(c[0]);
        close(r[1]);
        k.cmd = c[1];
        k.reply = r[0];
        // Past its start-up syscalls and asleep in read(): no stray reports.
        long ready = -1;
        EXPECT_EQ(reply(k, &ready), Reply::Value);
        EXPECT_TRUE(waitState(k.pid, 'S')) << "commander state " << procState(k.pid);
        return k;
    }

    static void send(const Commander &k, char c)
    {
        ASSERT_EQ(write(k.cmd, &c, 1), 1) << strerror(errno);
    }

    static Reply reply(const Commander &k, long *v, int ms = kTimeoutMs)
    {
        pollfd p{k.reply, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0)
            return Reply::Timeout;
        ssize_t n = read(k.reply, v, sizeof(*v));
        return n == sizeof(*v) ? Reply::Value : Reply::Eof;
    }

    // Sends a command and returns its answer; fails the test on a timeout.
    static long ask(const Commander &k, char c)
    {
        send(k, c);
        long v = 0;
        Reply r = reply(k, &v);
        EXPECT_EQ(r, Reply::Value) << "command " << c;
        return v;
    }

    // ---- /dev/utrace_test ----

    ute_attach attach(pid_t pid, __u32 slot, __u32 flags = kCreate, __u32 ops = UTE_OPS_0,
                      __u64 data = 0, __u32 how = UTE_HOW_PID)
    {
        ute_attach a{};
        a.pid = pid;
        a.slot = slot;
        a.flags = flags;
        a.ops_id = ops;
        a.how = how;
        a.data_id = data;
        a.result = 1;
        EXPECT_EQ(ioctl(fd_, UTE_IOC_ATTACH, &a), 0) << "ATTACH: " << strerror(errno);
        return a;
    }

    int slotCmd(unsigned long cmd, __u32 slot, __u64 arg = 0)
    {
        ute_slot_cmd c{};
        c.slot = slot;
        c.arg = arg;
        c.result = 1;
        EXPECT_EQ(ioctl(fd_, cmd, &c), 0) << "slot " << slot << ": " << strerror(errno);
        return c.result;
    }

    int setEvents(__u32 slot, __u64 ev) { return slotCmd(UTE_IOC_SET_EVENTS, slot, ev); }
    int control(__u32 slot, __u64 action) { return slotCmd(UTE_IOC_CONTROL, slot, action); }
    int barrier(__u32 slot) { return slotCmd(UTE_IOC_BARRIER, slot); }
    void put(__u32 slot) { slotCmd(UTE_IOC_PUT, slot); }
    void release(__u32 slot) { slotCmd(UTE_IOC_RELEASE, slot); }

    // @value for @count calls, then @then for every later one.
    void setReturnThen(__u32 slot, __u32 cb, __u32 value, __u32 count, __u32 then)
    {
        ute_set_return r{};
        r.slot = slot;
        r.cb = cb;
        r.value = value;
        r.count = count;
        r.has_then = 1;
        r.then = then;
        EXPECT_EQ(ioctl(fd_, UTE_IOC_SET_RETURN, &r), 0) << strerror(errno);
    }

    void setReturn(__u32 slot, __u32 cb, __u32 value, __u32 count = 0, bool match = false,
                   __u64 matchEvent = 0)
    {
        ute_set_return r{};
        r.slot = slot;
        r.cb = cb;
        r.value = value;
        r.count = count;
        r.match = match;
        r.match_event = matchEvent;
        EXPECT_EQ(ioctl(fd_, UTE_IOC_SET_RETURN, &r), 0) << strerror(errno);
    }

    void script(__u32 slot, __u32 cb, __u32 op, __u64 arg = 0, __u32 argSlot = 0, __u64 data = 0,
                __u32 count = 1, bool match = false, __u64 matchEvent = 0)
    {
        ute_script s{};
        s.slot = slot;
        s.cb = cb;
        s.op = op;
        s.arg = arg;
        s.arg_slot = argSlot;
        s.data_id = data;
        s.ops_id = UTE_OPS_0;
        s.count = count;
        s.match = match;
        s.match_event = matchEvent;
        EXPECT_EQ(ioctl(fd_, UTE_IOC_SET_SCRIPT, &s), 0) << strerror(errno);
    }

    std::vector<ute_log_rec> log()
    {
        std::vector<ute_log_rec> v(UTE_LOG_SIZE);
        ute_read_log r{};
        r.buf = reinterpret_cast<__u64>(v.data());
        r.max = v.size();
        EXPECT_EQ(ioctl(fd_, UTE_IOC_READ_LOG, &r), 0) << strerror(errno);
        v.resize(r.count);
        return v;
    }

    void clearLog() { EXPECT_EQ(ioctl(fd_, UTE_IOC_CLEAR_LOG), 0) << strerror(errno); }

    // The callback log, one line per record, for failure messages.
    std::string logText()
    {
        std::string t;
        for (const auto &r : log())
            t += "\n  slot " + std::to_string(r.slot) + " cb " + std::to_string(r.cb) + " event " +
                 std::to_string(r.event) + " action " + std::to_string(r.action) + " ret " +
                 std::to_string(r.ret) + " tid " + std::to_string(r.tid);
        return t;
    }

    std::vector<ute_log_rec> logWhere(const std::function<bool(const ute_log_rec &)> &pred)
    {
        std::vector<ute_log_rec> out;
        for (const auto &r : log())
            if (pred(r))
                out.push_back(r);
        return out;
    }

    bool waitLog(const std::function<bool(const ute_log_rec &)> &pred, int ms = kTimeoutMs)
    {
        return waitFor([&] { return !logWhere(pred).empty(); }, ms);
    }

    ute_slot_info info(__u32 slot)
    {
        ute_slot_info i{};
        i.slot = slot;
        EXPECT_EQ(ioctl(fd_, UTE_IOC_SLOT_INFO, &i), 0) << strerror(errno);
        return i;
    }

    __u32 releases(__u64 data)
    {
        ute_releases r{};
        r.data_id = data;
        EXPECT_EQ(ioctl(fd_, UTE_IOC_RELEASES, &r), 0) << strerror(errno);
        return r.count;
    }

    ute_examine examine(__u32 slot, __u32 flags = 0)
    {
        ute_examine x{};
        x.slot = slot;
        x.flags = flags;
        x.prepare_rc = x.finish_rc = 1;
        EXPECT_EQ(ioctl(fd_, UTE_IOC_EXAMINE, &x), 0) << strerror(errno);
        return x;
    }

    // Stops a task through slot's engine: QUIESCE, answer STOP, control STOP.
    void stopVia(__u32 slot, pid_t pid)
    {
        ASSERT_EQ(setEvents(slot, kEvQuiesce), 0);
        setReturn(slot, UTE_CB_QUIESCE, kStop);
        int r = control(slot, kStop);
        EXPECT_TRUE(r == -EINPROGRESS || r == 0) << r;
        ASSERT_TRUE(waitState(pid, 't')) << "state " << procState(pid);
    }

    // stopVia() at an ip @want accepts: a new fixture may still be on its
    // way into its loop, so resume and retry until it is there. 0 if never.
    __u64 stopWhere(__u32 slot, pid_t pid, const std::function<bool(__u64)> &want)
    {
        for (int i = 0; i < 50; i++) {
            stopVia(slot, pid);
            if (HasFatalFailure())
                return 0;
            ute_examine x = examine(slot);
            if (x.prepare_rc == 0 && want(x.ip))
                return x.ip;
            setReturn(slot, UTE_CB_QUIESCE, kResume);
            EXPECT_EQ(control(slot, kResume), 0);
            usleep(20000);
        }
        return 0;
    }

    // Case 42's fork part, run first by its single test.
    void forkPart();
};

bool isCb(const ute_log_rec &r, __u32 slot, __u32 cb)
{
    return r.slot == slot && r.cb == cb;
}

// The records, one per line, for failure messages.
std::string dump(const std::vector<ute_log_rec> &l)
{
    std::ostringstream o;
    for (const auto &r : l)
        o << "\n  slot " << r.slot << " cb " << r.cb << " event " << r.event << " action 0x"
          << std::hex << r.action << " ret 0x" << r.ret << std::dec << " tid " << r.tid;
    return o.str();
}

// ---------------------------------------------------------------------------
// Attach and refcount

TEST_F(UtraceSemantics, Case01_CreateHasNoEventsUntilSetEvents)
{
    pid_t pid = looper();
    ASSERT_GT(pid, 0);
    ute_attach a = attach(pid, 0, kCreate, UTE_OPS_0, 0x101);
    ASSERT_EQ(a.result, 0);
    EXPECT_EQ(info(0).engine_flags, 0u);
    usleep(200000);
    EXPECT_TRUE(log().empty()) << "a callback came before set_events";
    ASSERT_EQ(setEvents(0, kEvSyscallEntry), 0);
    EXPECT_TRUE(waitLog(
        [&](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_SYSCALL_ENTRY) && r.tid == pid; }));
}

TEST_F(UtraceSemantics, Case02_LookupMissThenHitAddsAReference)
{
    pid_t pid = spinner();
    EXPECT_EQ(attach(pid, 0, kMatchOps).result, -ENOENT);
    EXPECT_EQ(attach(pid, 0, 0).result, -ENOENT);
    ASSERT_EQ(attach(pid, 0, kCreate, UTE_OPS_0, 0x201).result, 0);
    __u32 before = info(0).refcount;
    ute_attach l = attach(pid, 1, kMatchOps, UTE_OPS_0);
    ASSERT_EQ(l.result, 0);
    EXPECT_EQ(l.same_as, 0);
    EXPECT_EQ(info(0).refcount, before + 1);
    ute_attach any = attach(pid, 2, 0, UTE_OPS_1);
    EXPECT_EQ(any.result, 0) << "no MATCH bits matches any engine";
    EXPECT_EQ(any.same_as, 0);
    EXPECT_EQ(attach(pid, 3, kMatchOps, UTE_OPS_1).result, -ENOENT);
    put(1);
    put(2);
    EXPECT_EQ(info(0).refcount, before);
}

TEST_F(UtraceSemantics, Case03_ExclusiveMatchOps)
{
    pid_t pid = spinner();
    const __u32 f = kCreate | kExclusive | kMatchOps;
    EXPECT_EQ(attach(pid, 0, f, UTE_OPS_0).result, 0);
    EXPECT_EQ(attach(pid, 1, f, UTE_OPS_0).result, -EEXIST);
    EXPECT_EQ(attach(pid, 1, f, UTE_OPS_1).result, 0);
}

TEST_F(UtraceSemantics, Case04_ExclusiveWithoutMatchAndMatchData)
{
    pid_t pid = spinner();
    ASSERT_EQ(attach(pid, 0, kCreate, UTE_OPS_0, 0x401).result, 0);
    EXPECT_EQ(attach(pid, 1, kCreate | kExclusive, UTE_OPS_1, 0x4ff).result, -EEXIST);
    ASSERT_EQ(attach(pid, 1, kCreate, UTE_OPS_0, 0x402).result, 0);
    ute_attach l = attach(pid, 2, kMatchOps | kMatchData, UTE_OPS_0, 0x402);
    ASSERT_EQ(l.result, 0);
    EXPECT_EQ(l.same_as, 1);
    l = attach(pid, 3, kMatchData, UTE_OPS_1, 0x401);
    ASSERT_EQ(l.result, 0);
    EXPECT_EQ(l.same_as, 0);
    const __u32 f = kCreate | kExclusive | kMatchOps | kMatchData;
    EXPECT_EQ(attach(pid, 4, f, UTE_OPS_0, 0x401).result, -EEXIST);
    EXPECT_EQ(attach(pid, 4, f, UTE_OPS_0, 0x403).result, 0);
}

TEST_F(UtraceSemantics, Case05_AttachErrors)
{
    // pid 2 is kthreadd in every kernel of interest.
    ASSERT_NE(readLine("/proc/2/stat").find("(kthreadd)"), std::string::npos);
    EXPECT_EQ(attach(2, 0, kCreate).result, -EPERM);
    EXPECT_EQ(attach(2, 0, kCreate, UTE_OPS_0, 0, UTE_HOW_TASK).result, -EPERM);

    pid_t pid = spinner();
    EXPECT_EQ(attach(pid, 0, kCreate, UTE_OPS_NULL).result, -EINVAL);

    // A struct pid that outlives its task.
    Commander k = commander();
    ute_pin_pid pin{};
    pin.pid = k.pid;
    ASSERT_EQ(ioctl(fd_, UTE_IOC_PIN_PID, &pin), 0);
    ASSERT_EQ(pin.result, 0);
    send(k, 'x');
    int st;
    ASSERT_TRUE(waitExit(k.pid, &st));
    EXPECT_EQ(attach(0, 0, kCreate, UTE_OPS_0, 0, UTE_HOW_PINNED).result, -ESRCH);
    pin.pid = 0;
    EXPECT_EQ(ioctl(fd_, UTE_IOC_PIN_PID, &pin), 0);
}

TEST_F(UtraceSemantics, Case06_ReleaseOnlyAfterTheLastPut)
{
    const __u64 data = 0x601;
    pid_t pid = looper();
    ASSERT_EQ(attach(pid, 0, kCreate, UTE_OPS_0, data).result, 0);
    EXPECT_EQ(control(0, kDetach), 0);
    usleep(200000);
    EXPECT_EQ(releases(data), 0u) << "release ran while we still hold a reference";
    put(0);
    EXPECT_TRUE(waitFor([&] { return releases(data) == 1; }));
    usleep(200000);
    EXPECT_EQ(releases(data), 1u);
}

TEST_F(UtraceSemantics, Case07_EngineAttachedInSyscallEntryWaitsForTheNextEntry)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0, kCreate, UTE_OPS_0, 0x701).result, 0);
    script(0, UTE_CB_SYSCALL_ENTRY, UTE_OP_ATTACH_CURRENT, kEvSyscallEntry, 1, 0x702, 1, true,
           SYS_getppid);
    ASSERT_EQ(setEvents(0, kEvSyscallEntry), 0);
    for (int i = 0; i < 3; i++)
        ask(k, 'g');
    ute_slot_info b = info(1);
    ASSERT_EQ(b.in_use, 1u);
    EXPECT_EQ(b.attach_rc, 0);
    EXPECT_EQ(b.set_events_rc, 0);
    auto e = logWhere([](const ute_log_rec &r) {
        return r.cb == UTE_CB_SYSCALL_ENTRY && r.event == SYS_getppid;
    });
    // First getppid: A only. Then B before A (reverse attach order).
    ASSERT_EQ(e.size(), 5u);
    const __u32 want[] = {0, 1, 0, 1, 0};
    for (size_t i = 0; i < e.size(); i++)
        EXPECT_EQ(e[i].slot, want[i]) << "record " << i;
}

TEST_F(UtraceSemantics, Case08_CloneAttachStopKeepsChildOutOfUserMode)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0, kCreate, UTE_OPS_0, 0x801).result, 0);
    setReturn(1, UTE_CB_QUIESCE, kStop);
    script(0, UTE_CB_CLONE, UTE_OP_ATTACH_CHILD_STOP, kEvQuiesce, 1, 0x802);
    ASSERT_EQ(setEvents(0, kEvClone), 0);
    send(k, 'f');
    ASSERT_TRUE(waitFor([&] { return info(1).in_use == 1; }));
    ute_slot_info c = info(1);
    EXPECT_EQ(c.attach_rc, 0);
    EXPECT_EQ(c.set_events_rc, 0);
    pid_t gc = c.tid;
    ASSERT_GT(gc, 0);
    EXPECT_TRUE(waitState(gc, 't')) << "state " << procState(gc);
    EXPECT_TRUE(
        waitLog([&](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_QUIESCE) && r.tid == gc; }));
    long v = 0;
    EXPECT_EQ(reply(k, &v, 300), Reply::Timeout) << "the child ran user code: " << v;
    ute_examine x = examine(1);
    EXPECT_EQ(x.prepare_rc, 0);
    EXPECT_EQ(x.finish_rc, 0);

    setReturn(1, UTE_CB_QUIESCE, kResume);
    EXPECT_EQ(control(1, kResume), 0);
    ASSERT_EQ(reply(k, &v), Reply::Value);
    EXPECT_EQ(v, kGrandchildRan);
    ASSERT_EQ(reply(k, &v), Reply::Value);
    EXPECT_EQ(v, gc);
}

// ---------------------------------------------------------------------------
// set_events

TEST_F(UtraceSemantics, Case09_ClearingDuringCallbackIsInProgressUntilBarrier)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0, kCreate, UTE_OPS_0, 0x901).result, 0);
    script(0, UTE_CB_SYSCALL_ENTRY, UTE_OP_BLOCK, 0, 0, 0, 1, true, SYS_getppid);
    ASSERT_EQ(setEvents(0, kEvSyscallEntry), 0);
    send(k, 'g');
    ASSERT_TRUE(waitFor([&] { return info(0).blocked == 1; }));
    EXPECT_EQ(setEvents(0, kEvSyscallEntry | kEvSyscallExit), 0)
        << "only adding bits is never -EINPROGRESS";
    EXPECT_EQ(setEvents(0, 0), -EINPROGRESS);
    release(0);
    EXPECT_EQ(barrier(0), 0);
    long v;
    ASSERT_EQ(reply(k, &v), Reply::Value);
    for (int i = 0; i < 3; i++)
        ask(k, 'g');
    // Only the blocked call itself: not its syscall exit, nor anything later.
    EXPECT_EQ(logWhere([](const ute_log_rec &r) { return r.slot == 0; }).size(), 1u);
}

TEST_F(UtraceSemantics, Case10_DeathEventsOnAZombieOrDuringReportDeathAreEalready)
{
    // A zombie: newly enabling DEATH or QUIESCE fails and changes nothing.
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0, kCreate, UTE_OPS_0, 0x1001).result, 0);
    ASSERT_EQ(setEvents(0, kEvReap), 0);
    send(k, 'x');
    ASSERT_TRUE(waitZombie(k.pid));
    EXPECT_EQ(setEvents(0, kEvReap | kEvDeath), -EALREADY);
    EXPECT_EQ(setEvents(0, kEvReap | kEvQuiesce), -EALREADY);
    EXPECT_EQ(info(0).engine_flags, kEvReap) << "changed although -EALREADY";
    int st;
    ASSERT_TRUE(waitExit(k.pid, &st));
    EXPECT_TRUE(waitLog([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_REAP); }));
    EXPECT_TRUE(logWhere([](const ute_log_rec &r) {
                    return r.slot == 0 && (r.cb == UTE_CB_DEATH || r.cb == UTE_CB_QUIESCE);
                }).empty())
        << "a death report for events that were refused";

    // Clearing DEATH while report_death runs (blocked in it).
    Commander k2 = commander();
    ASSERT_EQ(attach(k2.pid, 1, kCreate, UTE_OPS_0, 0x1002).result, 0);
    script(1, UTE_CB_DEATH, UTE_OP_BLOCK);
    ASSERT_EQ(setEvents(1, kEvDeath | kEvReap), 0);
    send(k2, 'x');
    ASSERT_TRUE(waitFor([&] { return info(1).blocked == 1; })) << "no report_death";
    EXPECT_EQ(setEvents(1, kEvReap), -EALREADY);
    EXPECT_EQ(info(1).engine_flags & kEvDeath, kEvDeath) << "DEATH cleared anyway";
    release(1);
    ASSERT_TRUE(waitExit(k2.pid, &st));
    EXPECT_TRUE(waitLog([](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_REAP); }));
}

TEST_F(UtraceSemantics, Case11_SetEventsAfterDetachOrReapIsEsrch)
{
    pid_t pid = spinner();
    ASSERT_EQ(attach(pid, 0).result, 0);
    EXPECT_EQ(control(0, kDetach), 0);
    EXPECT_EQ(setEvents(0, kEvQuiesce), -ESRCH);

    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 1).result, 0);
    ASSERT_EQ(setEvents(1, kEvReap), 0);
    send(k, 'x');
    int st;
    ASSERT_TRUE(waitExit(k.pid, &st));
    EXPECT_TRUE(waitLog([](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_REAP); }));
    EXPECT_TRUE(waitFor([&] { return setEvents(1, kEvSyscallEntry) == -ESRCH; }));
}

TEST_F(UtraceSemantics, Case12_PassingTheStopBitKeepsTheStop)
{
    pid_t pid = spinner();
    ASSERT_EQ(attach(pid, 0).result, 0);
    stopVia(0, pid);
    __u64 flags = info(0).engine_flags;
    EXPECT_TRUE(flags & kEngineStop) << std::hex << flags;
    EXPECT_EQ(setEvents(0, flags | kEvSyscallEntry), 0);
    usleep(300000);
    EXPECT_EQ(procState(pid), 't');
    EXPECT_TRUE(info(0).engine_flags & kEngineStop);
    EXPECT_EQ(examine(0).prepare_rc, 0) << "the engine no longer holds the stop";
    setReturn(0, UTE_CB_QUIESCE, kResume);
    EXPECT_EQ(control(0, kResume), 0);
    EXPECT_TRUE(waitFor([&] { return procState(pid) != 't'; }));
}

TEST_F(UtraceSemantics, Case13_EventEnabledInReportQuiesceIsReportedAtOnce)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0, kCreate, UTE_OPS_0, 0x1301).result, 0);
    ASSERT_EQ(attach(k.pid, 1, kCreate, UTE_OPS_1, 0x1302).result, 0);
    // In report_quiesce(SYSCALL_EXIT), engine A adds SYSCALL_EXIT.
    script(0, UTE_CB_QUIESCE, UTE_OP_SET_EVENTS_SELF, kEvQuiesce | kEvSyscallExit, 0, 0, 1, true,
           kEvSyscallExit);
    ASSERT_EQ(setEvents(0, kEvQuiesce), 0);
    ASSERT_EQ(setEvents(1, kEvSyscallExit), 0); // B makes the exit reports happen
    clearLog();
    ask(k, 'g');
    EXPECT_EQ(info(0).set_events_rc, 0);
    auto l = log();
    size_t i = 0;
    while (i < l.size() && !(isCb(l[i], 0, UTE_CB_QUIESCE) && l[i].event == kEvSyscallExit))
        i++;
    ASSERT_LT(i + 2, l.size()) << "no report_quiesce(SYSCALL_EXIT) with two records after it";
    EXPECT_TRUE(isCb(l[i + 1], 0, UTE_CB_SYSCALL_EXIT))
        << "A did not get the exit report of the same syscall (cb " << l[i + 1].cb << ", slot "
        << l[i + 1].slot << ")";
    EXPECT_TRUE(isCb(l[i + 2], 1, UTE_CB_SYSCALL_EXIT));
    EXPECT_EQ(l[i + 1].event, l[i + 2].event) << "not the same syscall";
}

// Our extension (utrace_engine_ops.quiesce_in_event, /dev/utrace's engines
// use it): an engine whose event callbacks answer as its report_quiesce
// would gets no report_quiesce before an event it reports itself; it still
// gets one before an event only another engine reports, and at resume
// points. Engines without the flag keep utrace's rule.
TEST_F(UtraceSemantics, QuiesceInEventEnginesGetNoReportQuiesceBeforeTheirOwnEvents)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0, kCreate, UTE_OPS_QIE, 0x5101).result, 0);
    ASSERT_EQ(attach(k.pid, 1, kCreate, UTE_OPS_0, 0x5102).result, 0);
    ASSERT_EQ(setEvents(0, kEvQuiesce | kEvSyscallEntry), 0);
    ASSERT_EQ(setEvents(1, kEvQuiesce | kEvSyscallExit), 0);
    clearLog();
    ask(k, 'g');
    auto l = log();
    auto count = [&](__u32 slot, __u32 cb, __u64 event) {
        return std::count_if(l.begin(), l.end(), [&](const ute_log_rec &r) {
            return isCb(r, slot, cb) && r.tid == k.pid && r.event == event;
        });
    };
    EXPECT_GT(count(0, UTE_CB_SYSCALL_ENTRY, SYS_getppid), 0) << "no entry report";
    EXPECT_EQ(count(0, UTE_CB_QUIESCE, kEvSyscallEntry), 0)
        << "report_quiesce before the engine's own entry report";
    EXPECT_GT(count(0, UTE_CB_QUIESCE, kEvSyscallExit), 0)
        << "no report_quiesce before an exit report only the other engine makes";
    EXPECT_GT(count(1, UTE_CB_QUIESCE, kEvSyscallEntry), 0)
        << "the plain engine lost utrace's rule before another engine's event";
    EXPECT_GT(count(1, UTE_CB_QUIESCE, kEvSyscallExit), 0)
        << "the plain engine lost utrace's rule before its own event";
    // Resume points still call it (event 0): a thread that makes no syscall
    // has no event pass to satisfy UTRACE_REPORT with.
    pid_t pid = spinner();
    ASSERT_EQ(attach(pid, 2, kCreate, UTE_OPS_QIE, 0x5103).result, 0);
    ASSERT_EQ(setEvents(2, kEvQuiesce | kEvSyscallEntry), 0);
    clearLog();
    ASSERT_EQ(control(2, kReport), 0);
    EXPECT_TRUE(waitLog([&](const ute_log_rec &r) {
        return isCb(r, 2, UTE_CB_QUIESCE) && r.tid == pid && r.event == 0;
    })) << "no resume report after UTRACE_REPORT";
}

// ---------------------------------------------------------------------------
// control

TEST_F(UtraceSemantics, Case14_StopASpinningTask)
{
    pid_t pid = spinner();
    ASSERT_EQ(attach(pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvQuiesce), 0);
    setReturn(0, UTE_CB_QUIESCE, kStop);
    EXPECT_EQ(control(0, kStop), -EINPROGRESS);
    EXPECT_TRUE(
        waitLog([&](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_QUIESCE) && r.tid == pid; }));
    EXPECT_TRUE(waitState(pid, 't')) << "state " << procState(pid);
    EXPECT_EQ(control(0, kStop), 0);
    usleep(200000);
    EXPECT_EQ(procState(pid), 't');
    setReturn(0, UTE_CB_QUIESCE, kResume);
    EXPECT_EQ(control(0, kResume), 0);
    EXPECT_TRUE(waitState(pid, 'R')) << "state " << procState(pid);
}

TEST_F(UtraceSemantics, Case15_EveryStopperMustResume)
{
    pid_t pid = spinner();
    ASSERT_EQ(attach(pid, 0).result, 0);
    ASSERT_EQ(attach(pid, 1, kCreate, UTE_OPS_1).result, 0);
    for (__u32 s : {0u, 1u}) {
        ASSERT_EQ(setEvents(s, kEvQuiesce), 0);
        setReturn(s, UTE_CB_QUIESCE, kStop);
    }
    EXPECT_EQ(control(0, kStop), -EINPROGRESS);
    int r = control(1, kStop);
    EXPECT_TRUE(r == 0 || r == -EINPROGRESS) << r;
    ASSERT_TRUE(waitState(pid, 't'));
    EXPECT_EQ(control(1, kStop), 0) << "already stopped";
    for (__u32 s : {0u, 1u})
        setReturn(s, UTE_CB_QUIESCE, kResume);
    EXPECT_EQ(control(0, kResume), 0);
    usleep(300000);
    EXPECT_EQ(procState(pid), 't') << "B still holds the stop";
    EXPECT_EQ(control(1, kResume), 0);
    EXPECT_TRUE(waitState(pid, 'R'));
}

TEST_F(UtraceSemantics, Case16_ReportAndStepNeedQuiesceInterruptDoesNot)
{
    pid_t pid = spinner();
    ASSERT_EQ(attach(pid, 0).result, 0);
    EXPECT_EQ(control(0, kReport), -EINVAL);
    EXPECT_EQ(control(0, kSingleStep), -EINVAL);
    EXPECT_EQ(control(0, kBlockStep), -EINVAL);
    EXPECT_EQ(control(0, kInterrupt), 0);
    ASSERT_EQ(setEvents(0, kEvQuiesce), 0);
    clearLog();
    EXPECT_EQ(control(0, kReport), 0);
    // The resume report: report_quiesce(0), or report_signal(REPORT) if the
    // earlier INTERRUPT is still being delivered.
    EXPECT_TRUE(waitLog([&](const ute_log_rec &r) {
        return r.slot == 0 && r.tid == pid &&
               ((r.cb == UTE_CB_QUIESCE && r.event == 0) || r.cb == UTE_CB_SIGNAL);
    }));
}

TEST_F(UtraceSemantics, Case17_ActionOutOfRangeIsEinval)
{
    pid_t pid = spinner();
    ASSERT_EQ(attach(pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvQuiesce), 0);
    EXPECT_EQ(control(0, 7), -EINVAL);
    EXPECT_EQ(control(0, 100), -EINVAL);
}

TEST_F(UtraceSemantics, Case18_StopWaitsForABlockingReadInterruptBreaksIt)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvQuiesce), 0);
    setReturn(0, UTE_CB_QUIESCE, kStop);
    setReturn(0, UTE_CB_SIGNAL, kStop);
    clearLog();
    // STOP does not break the read: nothing until it returns.
    EXPECT_EQ(control(0, kStop), -EINPROGRESS);
    usleep(300000);
    EXPECT_TRUE(log().empty()) << "a callback while blocked in read()";
    EXPECT_EQ(procState(k.pid), 'S');
    send(k, 'g');
    ASSERT_TRUE(waitState(k.pid, 't')) << "state " << procState(k.pid);
    long v;
    EXPECT_EQ(reply(k, &v, 300), Reply::Timeout) << "user code ran: " << v;
    EXPECT_FALSE(
        logWhere([&](const ute_log_rec &r) { return r.slot == 0 && r.tid == k.pid; }).empty());
    setReturn(0, UTE_CB_QUIESCE, kResume);
    setReturn(0, UTE_CB_SIGNAL, kResume);
    EXPECT_EQ(control(0, kResume), 0);
    ASSERT_EQ(reply(k, &v), Reply::Value);
    EXPECT_EQ(v, getpid());
    ASSERT_TRUE(waitState(k.pid, 'S'));

    // INTERRUPT breaks it: report_signal(REPORT), no real signal.
    setReturn(0, UTE_CB_QUIESCE, kStop);
    setReturn(0, UTE_CB_SIGNAL, kStop);
    clearLog();
    EXPECT_EQ(control(0, kInterrupt), 0);
    ASSERT_TRUE(waitState(k.pid, 't')) << "state " << procState(k.pid);
    auto s = logWhere([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_SIGNAL); });
    ASSERT_FALSE(s.empty()) << "no report_signal";
    EXPECT_EQ(s[0].action & kSigMask, kSigReport);
    EXPECT_EQ(s[0].event, 0u) << "a real signal was reported";
    EXPECT_EQ(s[0].tid, k.pid);
    usleep(300000);
    EXPECT_EQ(procState(k.pid), 't') << "returning STOP did not hold it";
    setReturn(0, UTE_CB_QUIESCE, kResume);
    setReturn(0, UTE_CB_SIGNAL, kResume);
    EXPECT_EQ(control(0, kResume), 0);
    // Restarted transparently: back in read() (EINTR would end the commander).
    EXPECT_TRUE(waitState(k.pid, 'S')) << "state " << procState(k.pid);
    EXPECT_EQ(ask(k, 'g'), getpid());
}

// Where one instruction of the nop loop leads.
__u64 nextNop(__u64 ip)
{
    const __u64 first = reinterpret_cast<uintptr_t>(&uteNopLoop);
    return ip == first + 64 ? first : ip + 1;
}

bool inNopLoop(__u64 ip)
{
    const __u64 first = reinterpret_cast<uintptr_t>(&uteNopLoop);
    return ip >= first && ip <= first + 64;
}

TEST_F(UtraceSemantics, Case19_SingleStepRunsExactlyOneInstruction)
{
    pid_t pid = forkKid([] { uteNopLoop(); });
    ASSERT_GT(pid, 0);
    ASSERT_EQ(attach(pid, 0).result, 0);
    __u64 ip = stopWhere(0, pid, inNopLoop);
    ASSERT_NE(ip, 0u) << "never stopped inside the nop loop";
    ute_examine x;
    // 66 steps pass the jmp at least once.
    for (int i = 0; i < 66; i++) {
        clearLog();
        // The report before the step keeps it; the one after it stops.
        setReturnThen(0, UTE_CB_QUIESCE, kResume, 1, kStop);
        ASSERT_EQ(control(0, kSingleStep), 0) << "step " << i;
        ASSERT_TRUE(waitLog([](const ute_log_rec &r) {
            return isCb(r, 0, UTE_CB_QUIESCE) && r.event == 0 && r.ret == kStop;
        })) << "no resume report after step "
            << i;
        ASSERT_TRUE(waitState(pid, 't')) << "step " << i;
        x = examine(0);
        ASSERT_EQ(x.prepare_rc, 0) << "step " << i;
        ASSERT_EQ(x.ip, nextNop(ip)) << "step " << i << std::hex << " from " << ip;
        ip = x.ip;
    }

    // Stepping over a syscall instruction ends right after it.
    const __u64 mov = reinterpret_cast<uintptr_t>(&uteSyscallLoop);
    const __u64 sc = reinterpret_cast<uintptr_t>(&uteSyscallInsn);
    auto next = [&](__u64 at) { return at == mov ? sc : at == sc ? sc + 2 : mov; };
    pid_t p2 = forkKid([] { uteSyscallLoop(); });
    ASSERT_GT(p2, 0);
    ASSERT_EQ(attach(p2, 1).result, 0);
    ip = stopWhere(1, p2, [&](__u64 at) { return at == mov || at == sc || at == sc + 2; });
    ASSERT_NE(ip, 0u) << "never stopped inside the syscall loop";
    bool stepped = false;
    for (int i = 0; i < 4 && !stepped; i++) {
        stepped = ip == sc;
        clearLog();
        setReturnThen(1, UTE_CB_QUIESCE, kResume, 1, kStop);
        ASSERT_EQ(control(1, kSingleStep), 0);
        ASSERT_TRUE(waitLog([](const ute_log_rec &r) {
            return isCb(r, 1, UTE_CB_QUIESCE) && r.event == 0 && r.ret == kStop;
        })) << "no resume report after step "
            << i;
        ASSERT_TRUE(waitState(p2, 't'));
        x = examine(1);
        ASSERT_EQ(x.prepare_rc, 0);
        ASSERT_EQ(x.ip, next(ip)) << "step " << i << std::hex << " from " << ip;
        ip = x.ip;
    }
    EXPECT_TRUE(stepped) << "never stepped the syscall instruction";
}

TEST_F(UtraceSemantics, Case20_DetachTheOnlyEngineOfAStoppedTask)
{
    pid_t pid = looper();
    ASSERT_EQ(attach(pid, 0).result, 0);
    setReturn(0, UTE_CB_SYSCALL_ENTRY, kStop, 1);
    ASSERT_EQ(setEvents(0, kEvSyscallEntry), 0);
    ASSERT_TRUE(waitState(pid, 't'));
    EXPECT_EQ(control(0, kDetach), 0);
    EXPECT_TRUE(waitFor([&] { return procState(pid) == 'R'; }));
    clearLog();
    usleep(300000);
    EXPECT_TRUE(log().empty()) << "a callback after DETACH";
    EXPECT_EQ(control(0, kResume), -ESRCH);
    EXPECT_EQ(control(0, kDetach), -ESRCH);
    EXPECT_EQ(barrier(0), -ESRCH);
}

TEST_F(UtraceSemantics, Case21_DetachDuringACallbackThenBarrier)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    script(0, UTE_CB_SYSCALL_ENTRY, UTE_OP_BLOCK, 0, 0, 0, 1, true, SYS_getppid);
    ASSERT_EQ(setEvents(0, kEvSyscallEntry), 0);
    send(k, 'g');
    ASSERT_TRUE(waitFor([&] { return info(0).blocked == 1; }));
    EXPECT_EQ(control(0, kDetach), -EINPROGRESS);

    std::atomic<bool> done{false};
    int barrierRc = 1;
    std::thread t([&] {
        barrierRc = barrier(0);
        done = true;
    });
    usleep(300000);
    EXPECT_FALSE(done) << "barrier returned while the callback was still running";
    release(0);
    t.join();
    EXPECT_TRUE(barrierRc == 0 || barrierRc == -ESRCH) << barrierRc;
    long v;
    ASSERT_EQ(reply(k, &v), Reply::Value);
    for (int i = 0; i < 3; i++)
        ask(k, 'g');
    EXPECT_EQ(logWhere([](const ute_log_rec &r) { return r.slot == 0; }).size(), 1u)
        << "a callback after the detach completed";
}

TEST_F(UtraceSemantics, Case22_ControlOnADeadTask)
{
    // A zombie after its death report: DETACH is 0, anything else -ESRCH.
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0, kCreate, UTE_OPS_0, 0x2201).result, 0);
    ASSERT_EQ(attach(k.pid, 1, kCreate, UTE_OPS_0, 0x2202).result, 0);
    ASSERT_EQ(setEvents(0, kEvReap), 0);
    ASSERT_EQ(setEvents(1, kEvReap), 0);
    send(k, 'x');
    ASSERT_TRUE(waitZombie(k.pid));
    for (__u32 a : {kStop, kInterrupt, kResume})
        EXPECT_EQ(control(0, a), -ESRCH) << "action " << a;
    EXPECT_EQ(control(0, kDetach), 0);
    int st;
    ASSERT_TRUE(waitExit(k.pid, &st));
    EXPECT_TRUE(waitLog([](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_REAP); }));
    EXPECT_TRUE(logWhere([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_REAP); }).empty())
        << "report_reap after DETACH";
    EXPECT_EQ(control(1, kDetach), -ESRCH) << "after reap";
    EXPECT_EQ(control(1, kResume), -ESRCH) << "after reap";

    // During report_death: -EALREADY, and report_death/report_reap still come.
    Commander k2 = commander();
    ASSERT_EQ(attach(k2.pid, 2, kCreate, UTE_OPS_0, 0x2203).result, 0);
    script(2, UTE_CB_DEATH, UTE_OP_BLOCK);
    ASSERT_EQ(setEvents(2, kEvDeath | kEvReap), 0);
    send(k2, 'x');
    ASSERT_TRUE(waitFor([&] { return info(2).blocked == 1; })) << "no report_death";
    EXPECT_EQ(control(2, kDetach), -EALREADY);
    EXPECT_EQ(control(2, kStop), -ESRCH);
    release(2);
    ASSERT_TRUE(waitExit(k2.pid, &st));
    EXPECT_TRUE(waitLog([](const ute_log_rec &r) { return isCb(r, 2, UTE_CB_REAP); }))
        << "no report_reap after DETACH returned -EALREADY";
    EXPECT_EQ(logWhere([](const ute_log_rec &r) { return isCb(r, 2, UTE_CB_DEATH); }).size(), 1u);
    EXPECT_EQ(control(2, kDetach), -ESRCH);
}

TEST_F(UtraceSemantics, Case23_ReturningDetachEndsCallbacksReleaseAfterPut)
{
    const __u64 data = 0x2301;
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0, kCreate, UTE_OPS_0, data).result, 0);
    setReturn(0, UTE_CB_SYSCALL_ENTRY, kDetach, 1);
    ASSERT_EQ(setEvents(0, kEvSyscallEntry), 0);
    for (int i = 0; i < 4; i++)
        ask(k, 'g');
    EXPECT_EQ(logWhere([](const ute_log_rec &r) { return r.slot == 0; }).size(), 1u);
    EXPECT_EQ(releases(data), 0u);
    put(0);
    EXPECT_TRUE(waitFor([&] { return releases(data) == 1; }));
}

// ---------------------------------------------------------------------------
// Ordering and combination

TEST_F(UtraceSemantics, Case24_AttachOrderForExecReverseForSyscallEntry)
{
    Commander k = commander();
    for (__u32 s = 0; s < 3; s++)
        ASSERT_EQ(attach(k.pid, s, kCreate, UTE_OPS_0, 0x2400 + s).result, 0);
    for (__u32 s = 0; s < 3; s++)
        ASSERT_EQ(setEvents(s, kEvQuiesce | kEvSyscallEntry), 0);
    clearLog();
    ask(k, 'g');
    // The getppid pass: from its first report_quiesce(SYSCALL_ENTRY) on.
    auto l = log();
    size_t first = 0;
    while (first < l.size() && l[first].cb != UTE_CB_QUIESCE)
        first++;
    l.erase(l.begin(), l.begin() + first);
    ASSERT_GE(l.size(), 6u);
    const __u32 entrySlots[] = {2, 2, 1, 1, 0, 0};
    for (size_t i = 0; i < 6; i++) {
        EXPECT_EQ(l[i].slot, entrySlots[i]) << "record " << i;
        EXPECT_EQ(l[i].cb, i % 2 ? UTE_CB_SYSCALL_ENTRY : UTE_CB_QUIESCE) << "record " << i;
        EXPECT_EQ(l[i].event, i % 2 ? SYS_getppid : kEvSyscallEntry) << "record " << i;
    }

    for (__u32 s = 0; s < 3; s++)
        ASSERT_EQ(setEvents(s, kEvQuiesce | kEvExec), 0);
    clearLog();
    send(k, 't');
    int st;
    ASSERT_TRUE(waitExit(k.pid, &st));
    // Only the exec pass; QUIESCE engines may also see other events' quiesce
    // reports (the execve syscall, the death of busybox true).
    l = logWhere([](const ute_log_rec &r) {
        return r.cb == UTE_CB_EXEC || (r.cb == UTE_CB_QUIESCE && r.event == kEvExec);
    });
    ASSERT_EQ(l.size(), 6u);
    for (size_t i = 0; i < 6; i++) {
        EXPECT_EQ(l[i].slot, i / 2) << "record " << i;
        EXPECT_EQ(l[i].cb, i % 2 ? UTE_CB_EXEC : UTE_CB_QUIESCE) << "record " << i;
        if (!(i % 2)) {
            EXPECT_EQ(l[i].event, kEvExec) << "record " << i;
        }
    }
}

TEST_F(UtraceSemantics, Case25_AStopIsSeenByLaterEnginesAndWins)
{
    Commander k = commander();
    for (__u32 s = 0; s < 3; s++)
        ASSERT_EQ(attach(k.pid, s).result, 0);
    // Syscall entry runs C (slot 2) first.
    setReturn(2, UTE_CB_SYSCALL_ENTRY, kStop, 1, true, SYS_getppid);
    for (__u32 s = 0; s < 3; s++)
        ASSERT_EQ(setEvents(s, kEvSyscallEntry), 0);
    send(k, 'g');
    ASSERT_TRUE(waitState(k.pid, 't'));
    long v;
    EXPECT_EQ(reply(k, &v, 300), Reply::Timeout);
    auto e = logWhere([](const ute_log_rec &r) {
        return r.cb == UTE_CB_SYSCALL_ENTRY && r.event == SYS_getppid;
    });
    ASSERT_EQ(e.size(), 3u);
    EXPECT_EQ(e[0].slot, 2u);
    EXPECT_EQ(e[0].action & kResumeMask, kResume);
    EXPECT_EQ(e[1].slot, 1u);
    EXPECT_EQ(e[1].action & kResumeMask, kStop);
    EXPECT_EQ(e[2].slot, 0u);
    EXPECT_EQ(e[2].action & kResumeMask, kStop);
    EXPECT_EQ(control(2, kResume), 0);
    ASSERT_EQ(reply(k, &v), Reply::Value);
    EXPECT_EQ(v, getpid());
}

TEST_F(UtraceSemantics, Case26_StopWinsAndTheStepHappensAfterTheResume)
{
    pid_t pid = forkKid([] { uteNopLoop(); });
    ASSERT_GT(pid, 0);
    ASSERT_EQ(attach(pid, 0).result, 0);
    // Into the loop first (it then never leaves it); running again.
    ASSERT_NE(stopWhere(0, pid, inNopLoop), 0u) << "never stopped inside the nop loop";
    setReturn(0, UTE_CB_QUIESCE, kResume);
    ASSERT_EQ(control(0, kResume), 0);
    ASSERT_TRUE(waitState(pid, 'R'));
    ASSERT_EQ(attach(pid, 1, kCreate, UTE_OPS_1).result, 0);
    ASSERT_EQ(setEvents(1, kEvQuiesce), 0);
    clearLog();
    setReturn(0, UTE_CB_QUIESCE, kStop);
    // B: a step in the stopping pass, then STOP at the report after the step.
    setReturnThen(1, UTE_CB_QUIESCE, kSingleStep, 1, kStop);
    EXPECT_EQ(control(0, kStop), -EINPROGRESS);
    ASSERT_TRUE(waitState(pid, 't'));
    ute_examine x = examine(0);
    ASSERT_EQ(x.prepare_rc, 0);
    ASSERT_TRUE(inNopLoop(x.ip)) << std::hex << x.ip;
    auto b = logWhere([](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_QUIESCE); });
    ASSERT_EQ(b.size(), 1u) << logText();
    EXPECT_EQ(b[0].action & kResumeMask, kStop) << "B did not see A's stop";
    usleep(300000);
    EXPECT_EQ(procState(pid), 't') << "B's SINGLESTEP overrode A's STOP";
    EXPECT_EQ(examine(0).ip, x.ip) << "ran while A held the stop";

    clearLog();
    setReturn(0, UTE_CB_QUIESCE, kResume);
    EXPECT_EQ(control(0, kResume), 0);
    ASSERT_TRUE(waitLog([](const ute_log_rec &r) {
        return isCb(r, 1, UTE_CB_QUIESCE) && r.event == 0 && r.ret == kStop;
    })) << "no report after the step";
    ASSERT_TRUE(waitState(pid, 't'));
    ute_examine y = examine(1);
    ASSERT_EQ(y.prepare_rc, 0);
    EXPECT_EQ(y.ip, nextNop(x.ip)) << std::hex << "from " << x.ip;
}

TEST_F(UtraceSemantics, Case27_QuiesceBeforeEachEventAlsoForQuiesceOnlyEngines)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    ASSERT_EQ(attach(k.pid, 1).result, 0);
    ASSERT_EQ(setEvents(0, kEvQuiesce), 0);
    ASSERT_EQ(setEvents(1, kEvQuiesce | kEvSyscallExit), 0);
    clearLog();
    ask(k, 'g');
    auto l = log();
    size_t i = 0;
    while (i < l.size() && !(isCb(l[i], 1, UTE_CB_SYSCALL_EXIT) && l[i].event == SYS_getppid))
        i++;
    ASSERT_LT(i, l.size()) << "no syscall exit report for getppid";
    ASSERT_GE(i, 2u);
    EXPECT_TRUE(isCb(l[i - 2], 0, UTE_CB_QUIESCE));
    EXPECT_EQ(l[i - 2].event, kEvSyscallExit);
    EXPECT_TRUE(isCb(l[i - 1], 1, UTE_CB_QUIESCE));
    EXPECT_EQ(l[i - 1].event, kEvSyscallExit);
}

TEST_F(UtraceSemantics, Case28_StopFromExecGetsAResumeReportFirst)
{
    // STOP again from the resume report: stopped.
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvQuiesce | kEvExec), 0);
    setReturn(0, UTE_CB_EXEC, kStop);
    setReturn(0, UTE_CB_QUIESCE, kStop, 0, true, 0);
    clearLog();
    send(k, 'e');
    ASSERT_TRUE(waitState(k.pid, 't')) << "state " << procState(k.pid);
    auto l = logWhere([](const ute_log_rec &r) { return r.slot == 0; });
    size_t i = 0;
    while (i < l.size() && l[i].cb != UTE_CB_EXEC)
        i++;
    ASSERT_LT(i, l.size()) << "no report_exec";
    ASSERT_LT(i + 1, l.size()) << "no report after report_exec";
    EXPECT_EQ(l[i + 1].cb, static_cast<__u32>(UTE_CB_QUIESCE));
    EXPECT_EQ(l[i + 1].event, 0u) << "not the resume report";
    EXPECT_EQ(l[i + 1].ret, kStop);
    EXPECT_EQ(examine(0).prepare_rc, 0);
    setReturn(0, UTE_CB_QUIESCE, kResume);
    EXPECT_EQ(control(0, kResume), 0);
    EXPECT_TRUE(waitState(k.pid, 'S'));

    // RESUME from the resume report cancels the stop.
    Commander k2 = commander();
    ASSERT_EQ(attach(k2.pid, 1).result, 0);
    ASSERT_EQ(setEvents(1, kEvQuiesce | kEvExec), 0);
    setReturn(1, UTE_CB_EXEC, kStop);
    send(k2, 'e');
    ASSERT_TRUE(waitLog([](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_EXEC); }));
    EXPECT_TRUE(waitFor([&] {
        return procState(k2.pid) == 'S' &&
               readLine("/proc/" + std::to_string(k2.pid) + "/cmdline").rfind("busybox", 0) == 0;
    })) << "state "
        << procState(k2.pid);
    auto q =
        logWhere([](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_QUIESCE) && r.event == 0; });
    EXPECT_FALSE(q.empty()) << "no resume report after report_exec";
    EXPECT_FALSE(info(1).engine_flags & kEngineStop);
}

// ---------------------------------------------------------------------------
// Syscalls

TEST_F(UtraceSemantics, Case29_AbortSkipsTheSyscallExitStillReported)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    setReturn(0, UTE_CB_SYSCALL_ENTRY, kSyscallAbort | kResume, 1, true, SYS_getppid);
    ASSERT_EQ(setEvents(0, kEvSyscallEntry | kEvSyscallExit), 0);
    clearLog();
    EXPECT_EQ(ask(k, 'g'), -ENOSYS);
    auto l = log();
    size_t i = 0;
    while (i < l.size() && !(isCb(l[i], 0, UTE_CB_SYSCALL_ENTRY) && l[i].event == SYS_getppid))
        i++;
    ASSERT_LT(i, l.size());
    ASSERT_LT(i + 1, l.size());
    EXPECT_TRUE(isCb(l[i + 1], 0, UTE_CB_SYSCALL_EXIT)) << "no exit report after the abort";
    EXPECT_EQ(ask(k, 'g'), getpid()) << "the abort was applied only once";
}

TEST_F(UtraceSemantics, Case30_StopBeforeSyscallChangeArgumentsResumedReport)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    setReturn(0, UTE_CB_SYSCALL_ENTRY, kStop, 1, true, SYS_getpgid);
    ASSERT_EQ(setEvents(0, kEvQuiesce | kEvSyscallEntry), 0);
    send(k, 'P');
    ASSERT_TRUE(waitState(k.pid, 't'));
    long v;
    EXPECT_EQ(reply(k, &v, 300), Reply::Timeout) << "the syscall ran: " << v;
    ute_examine x = examine(0);
    EXPECT_EQ(x.prepare_rc, 0);
    EXPECT_EQ(x.orig_ax, static_cast<__u64>(SYS_getpgid));
    // While stopped: the repeated entry report rewrites the argument.
    script(0, UTE_CB_SYSCALL_ENTRY, UTE_OP_SET_SYSCALL_ARG0, 0, 0, 0, 1, true, SYS_getpgid);
    EXPECT_EQ(control(0, kReport), 0);
    ASSERT_EQ(reply(k, &v), Reply::Value);
    EXPECT_EQ(v, k.pid) << "getpgid did not run with the new argument";
    auto e = logWhere([](const ute_log_rec &r) {
        return isCb(r, 0, UTE_CB_SYSCALL_ENTRY) && r.event == SYS_getpgid;
    });
    ASSERT_EQ(e.size(), 2u);
    EXPECT_FALSE(e[0].action & kSyscallResumed);
    EXPECT_TRUE(e[1].action & kSyscallResumed);
}

TEST_F(UtraceSemantics, Case31_SigkillAtEntryStopOnlyDeathReportsFollow)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    // The commander answers with write(): stop at its entry.
    setReturn(0, UTE_CB_SYSCALL_ENTRY, kStop, 1, true, SYS_write);
    ASSERT_EQ(setEvents(0, kEvQuiesce | kEvSyscallEntry | kEvSyscallExit | kEvSignalAll | kEvDeath |
                               kEvReap),
              0);
    send(k, 'g');
    ASSERT_TRUE(waitState(k.pid, 't'));
    auto before = log();
    ASSERT_FALSE(before.empty());
    EXPECT_TRUE(isCb(before.back(), 0, UTE_CB_SYSCALL_ENTRY));
    EXPECT_EQ(before.back().event, static_cast<__u64>(SYS_write));
    ASSERT_EQ(kill(k.pid, SIGKILL), 0);
    int st = 0;
    ASSERT_TRUE(waitExit(k.pid, &st));
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
    long v;
    EXPECT_EQ(reply(k, &v), Reply::Eof) << "the write ran: " << v;
    ASSERT_TRUE(waitLog([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_REAP); }));
    auto l = log();
    l.erase(l.begin(), l.begin() + before.size());
    ASSERT_EQ(l.size(), 3u) << "first extra record: cb " << l[0].cb << " event " << l[0].event;
    EXPECT_TRUE(isCb(l[0], 0, UTE_CB_QUIESCE));
    EXPECT_EQ(l[0].event, kEvDeath);
    EXPECT_TRUE(isCb(l[1], 0, UTE_CB_DEATH));
    EXPECT_TRUE(isCb(l[2], 0, UTE_CB_REAP));
}

TEST_F(UtraceSemantics, Case32_SyscallExitChangesTheReturnValue)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    script(0, UTE_CB_SYSCALL_EXIT, UTE_OP_SET_SYSCALL_RETURN, 4242, 0, 0, 1, true, SYS_getppid);
    ASSERT_EQ(setEvents(0, kEvSyscallExit), 0);
    EXPECT_EQ(ask(k, 'g'), 4242);
    EXPECT_EQ(ask(k, 'g'), getpid());
}

// ---------------------------------------------------------------------------
// Signals

TEST_F(UtraceSemantics, Case33_HandledSignalIgnoreChangeHold)
{
    const int usr1 = 1 << SIGUSR1, usr2 = 1 << SIGUSR2;
    auto reports = [&](int sig) {
        return logWhere([sig](const ute_log_rec &r) {
            return isCb(r, 0, UTE_CB_SIGNAL) && r.event == static_cast<__u64>(sig);
        });
    };
    Commander k = commander();
    // The handlers run after the report, on the way back to user mode: the
    // signals handled once `want` arrived (or 2 s passed), all of them.
    auto handled = [&](int want) {
        int seen = 0;
        waitFor(
            [&] {
                seen |= static_cast<int>(ask(k, 'h'));
                return (seen & want) == want;
            },
            2000);
        return seen;
    };
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvSignal), 0);

    // Reported with DELIVER and orig_ka (a logged si_signo), then delivered.
    clearLog();
    ASSERT_EQ(kill(k.pid, SIGUSR1), 0);
    // This signal's own report (not a handler report left from before).
    ASSERT_TRUE(waitFor([&] { return !reports(SIGUSR1).empty(); }, 5000)) << dump(log());
    auto got = reports(SIGUSR1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].action & kSigMask, kSigDeliver);
    EXPECT_EQ(got[0].tid, k.pid);
    EXPECT_EQ(handled(usr1), usr1);

    // IGN: the handler never runs.
    clearLog();
    setReturn(0, UTE_CB_SIGNAL, kSigIgn | kResume, 1);
    ASSERT_EQ(kill(k.pid, SIGUSR1), 0);
    // This signal's own report (not a handler report left from before).
    ASSERT_TRUE(waitFor([&] { return !reports(SIGUSR1).empty(); }, 5000)) << dump(log());
    EXPECT_EQ(ask(k, 'h'), 0);
    EXPECT_EQ(reports(SIGUSR1).size(), 1u);

    // A changed si_signo: SIGUSR2 is delivered instead.
    clearLog();
    script(0, UTE_CB_SIGNAL, UTE_OP_SET_SIGNO, SIGUSR2);
    ASSERT_EQ(kill(k.pid, SIGUSR1), 0);
    // This signal's own report (not a handler report left from before).
    ASSERT_TRUE(waitFor([&] { return !reports(SIGUSR1).empty(); }, 5000)) << dump(log());
    EXPECT_EQ(handled(usr2), usr2) << dump(log());

    // HOLD: back on the queue, so reported again (then delivered).
    clearLog();
    setReturn(0, UTE_CB_SIGNAL, kSigIgn | kSigHold | kResume, 1);
    ASSERT_EQ(kill(k.pid, SIGUSR1), 0);
    // This signal's own report (not a handler report left from before).
    ASSERT_TRUE(waitFor([&] { return !reports(SIGUSR1).empty(); }, 5000)) << dump(log());
    EXPECT_TRUE(waitFor([&] { return reports(SIGUSR1).size() >= 2; }, 1000))
        << "a held signal was not reported again" << dump(log());
    EXPECT_EQ(handled(usr1), usr1);
    got = reports(SIGUSR1);
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got[0].ret, kSigIgn | kSigHold | kResume);
}

TEST_F(UtraceSemantics, Case34_DefaultTermIsSignalTermIgnoredSurvivesSigkillUnreported)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvSignalTerm), 0);
    setReturn(0, UTE_CB_SIGNAL, kSigIgn | kResume);
    ASSERT_EQ(kill(k.pid, SIGTERM), 0);
    EXPECT_TRUE(waitLog([](const ute_log_rec &r) {
        return isCb(r, 0, UTE_CB_SIGNAL) && r.event == SIGTERM;
    })) << "SIGTERM not reported";
    auto got = logWhere([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_SIGNAL); });
    if (!got.empty()) {
        EXPECT_EQ(got[0].action & kSigMask, kSigTerm);
    }
    int st = 0;
    if (waitpid(k.pid, &st, WNOHANG) == k.pid)
        FAIL() << "SIGTERM killed it despite IGN: status " << st;
    EXPECT_EQ(ask(k, 'g'), getpid()) << "did not survive SIGTERM";

    clearLog();
    ASSERT_EQ(kill(k.pid, SIGKILL), 0);
    ASSERT_TRUE(waitExit(k.pid, &st));
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
    EXPECT_TRUE(logWhere([](const ute_log_rec &r) { return r.cb == UTE_CB_SIGNAL; }).empty())
        << "SIGKILL was reported";
}

TEST_F(UtraceSemantics, Case35_IgnoredSignalsAreReportedNotDropped)
{
    Commander k = commander();
    ASSERT_EQ(ask(k, 'I'), 0); // SIGUSR2: SIG_IGN
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    auto reported = [&](int sig) {
        return waitLog(
            [sig](const ute_log_rec &r) {
                return isCb(r, 0, UTE_CB_SIGNAL) && r.event == static_cast<__u64>(sig) &&
                       (r.action & kSigMask) == kSigIgn;
            },
            2000);
    };
    // Sent at once, while the target still sleeps in read().
    ASSERT_EQ(setEvents(0, kEvSignalIgn), 0);
    ASSERT_EQ(kill(k.pid, SIGUSR2), 0);
    EXPECT_TRUE(reported(SIGUSR2)) << "SIG_IGN signal sent right after set_events was dropped";
    // After the target has been through the kernel once.
    EXPECT_EQ(ask(k, 'g'), getpid());
    clearLog();
    ASSERT_EQ(kill(k.pid, SIGUSR2), 0);
    EXPECT_TRUE(reported(SIGUSR2)) << "SIG_IGN signal not reported";
    // A default-ignore signal.
    clearLog();
    ASSERT_EQ(kill(k.pid, SIGWINCH), 0);
    EXPECT_TRUE(reported(SIGWINCH)) << "default-ignore signal not reported";
    EXPECT_EQ(ask(k, 'h'), 0) << "an ignored signal reached a handler";
    EXPECT_EQ(ask(k, 'g'), getpid());
}

TEST_F(UtraceSemantics, Case36_DeliverAndStepReportsAtTheHandler)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvQuiesce | kEvSignal), 0);
    // The signal: DELIVER|SINGLESTEP; the next report_signal: STOP.
    setReturnThen(0, UTE_CB_SIGNAL, kSigDeliver | kSingleStep, 1, kStop);
    clearLog();
    ASSERT_EQ(kill(k.pid, SIGUSR1), 0);
    ASSERT_TRUE(waitState(k.pid, 't')) << "state " << procState(k.pid);
    auto s = logWhere([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_SIGNAL); });
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].event, static_cast<__u64>(SIGUSR1));
    EXPECT_EQ(s[0].action & kSigMask, kSigDeliver);
    EXPECT_EQ(s[1].event, 0u) << "orig_ka must be NULL";
    EXPECT_EQ(s[1].action & kSigMask, kSigHandler);
    ute_examine x = examine(0);
    ASSERT_EQ(x.prepare_rc, 0);
    EXPECT_EQ(x.ip, reinterpret_cast<uintptr_t>(&commanderHandler))
        << std::hex << "not at the handler's first instruction";
    setReturn(0, UTE_CB_SIGNAL, kResume);
    EXPECT_EQ(control(0, kResume), 0);
    EXPECT_EQ(ask(k, 'h'), 1 << SIGUSR1);
}

TEST_F(UtraceSemantics, Case37_SigstopIsStopSigtstpIsTstp)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvSignalStop), 0);
    const std::pair<int, __u32> cases[] = {{SIGSTOP, kSigStop}, {SIGTSTP, kSigTstp}};
    for (auto [sig, action] : cases) {
        clearLog();
        ASSERT_EQ(kill(k.pid, sig), 0);
        EXPECT_TRUE(waitLog([sig](const ute_log_rec &r) {
            return isCb(r, 0, UTE_CB_SIGNAL) && r.event == static_cast<__u64>(sig);
        })) << "signal "
            << sig << " not reported";
        auto got = logWhere([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_SIGNAL); });
        if (!got.empty()) {
            EXPECT_EQ(got[0].action & kSigMask, action) << "signal " << sig;
        }
        EXPECT_TRUE(waitState(k.pid, 'T')) << "signal " << sig << ": state " << procState(k.pid);
        ASSERT_EQ(kill(k.pid, SIGCONT), 0);
        EXPECT_TRUE(waitState(k.pid, 'S'));
    }
    EXPECT_EQ(ask(k, 'g'), getpid());
}

// ---------------------------------------------------------------------------
// Exit, death, reap, exec, clone

TEST_F(UtraceSemantics, Case38_ExitCodeChangedAndStopInReportExit)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    script(0, UTE_CB_EXIT, UTE_OP_SET_EXIT_CODE, 9 << 8);
    ASSERT_EQ(setEvents(0, kEvExit), 0);
    send(k, 'x');
    int st = 0;
    ASSERT_TRUE(waitExit(k.pid, &st));
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 9) << "status " << std::hex << st;
    auto e = logWhere([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_EXIT); });
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].event, 3u << 8) << "orig_code";
    EXPECT_EQ(e[0].tid, k.pid);

    // STOP: held with its address space; after RESUME it dies.
    Commander k2 = commander();
    ASSERT_EQ(attach(k2.pid, 1).result, 0);
    setReturn(1, UTE_CB_EXIT, kStop, 1);
    ASSERT_EQ(setEvents(1, kEvExit | kEvDeath), 0);
    send(k2, 'x');
    ASSERT_TRUE(waitState(k2.pid, 't')) << "state " << procState(k2.pid);
    std::ifstream maps("/proc/" + std::to_string(k2.pid) + "/maps");
    std::string line;
    int lines = 0;
    while (std::getline(maps, line))
        lines++;
    EXPECT_GT(lines, 2) << "/proc/PID/maps unreadable while held in report_exit";
    usleep(200000);
    EXPECT_EQ(procState(k2.pid), 't');
    EXPECT_TRUE(logWhere([](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_DEATH); }).empty());
    EXPECT_EQ(control(1, kResume), 0);
    ASSERT_TRUE(waitExit(k2.pid, &st));
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 3) << st;
    auto l = logWhere([](const ute_log_rec &r) { return r.slot == 1; });
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[0].cb, static_cast<__u32>(UTE_CB_EXIT));
    EXPECT_EQ(l[1].cb, static_cast<__u32>(UTE_CB_DEATH));
}

TEST_F(UtraceSemantics, Case39_DeathThenReapNoReapAfterDetachFromDeath)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0, kCreate, UTE_OPS_0, 0x3901).result, 0);
    ASSERT_EQ(setEvents(0, kEvDeath | kEvReap), 0);
    send(k, 'x');
    int st = 0;
    ASSERT_TRUE(waitExit(k.pid, &st));
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 3) << st;
    ASSERT_TRUE(waitLog([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_REAP); }));
    auto l = logWhere([](const ute_log_rec &r) { return r.slot == 0; });
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[0].cb, static_cast<__u32>(UTE_CB_DEATH));
    EXPECT_EQ(l[0].tid, k.pid);
    EXPECT_EQ(static_cast<__s64>(l[0].event), SIGCHLD);
    EXPECT_EQ(l[1].cb, static_cast<__u32>(UTE_CB_REAP));
    EXPECT_EQ(l[1].tid, k.pid);
    EXPECT_EQ(setEvents(0, kEvDeath), -ESRCH);
    EXPECT_EQ(control(0, kResume), -ESRCH);
    EXPECT_EQ(control(0, kDetach), -ESRCH);

    Commander k2 = commander();
    ASSERT_EQ(attach(k2.pid, 1, kCreate, UTE_OPS_0, 0x3902).result, 0);
    setReturn(1, UTE_CB_DEATH, kDetach);
    ASSERT_EQ(setEvents(1, kEvDeath | kEvReap), 0);
    send(k2, 'x');
    ASSERT_TRUE(waitExit(k2.pid, &st));
    ASSERT_TRUE(waitLog([](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_DEATH); }));
    usleep(300000);
    EXPECT_TRUE(logWhere([](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_REAP); }).empty())
        << "report_reap after report_death returned DETACH";
}

TEST_F(UtraceSemantics, Case40_ReapRunsInTheReapersContext)
{
    Commander k = commander();
    pid_t tid = ask(k, 'T');
    ASSERT_GT(tid, 0);
    ASSERT_NE(tid, k.pid);
    ASSERT_EQ(attach(tid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvDeath | kEvReap), 0);
    EXPECT_EQ(ask(k, 'k'), 0);
    ASSERT_TRUE(waitLog([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_REAP); }));
    auto got = logWhere([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_REAP); });
    EXPECT_EQ(got[0].tid, tid);
    EXPECT_EQ(static_cast<pid_t>(got[0].event), tid)
        << "a self-reaping thread: not reaped by itself";
    auto d = logWhere([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_DEATH); });
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(static_cast<__s64>(d[0].event), -1) << "autoreap: signal -1";

    // The leader: reaped by its parent, us, in wait().
    ASSERT_EQ(attach(k.pid, 1).result, 0);
    ASSERT_EQ(setEvents(1, kEvReap), 0);
    send(k, 'x');
    ASSERT_TRUE(waitZombie(k.pid));
    usleep(100000);
    EXPECT_TRUE(logWhere([](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_REAP); }).empty())
        << "reaped before wait()";
    int st;
    ASSERT_TRUE(waitExit(k.pid, &st));
    ASSERT_TRUE(waitLog([](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_REAP); }));
    got = logWhere([](const ute_log_rec &r) { return isCb(r, 1, UTE_CB_REAP); });
    EXPECT_EQ(got[0].tid, k.pid);
    EXPECT_EQ(static_cast<pid_t>(got[0].event), static_cast<pid_t>(syscall(SYS_gettid)))
        << "not reaped in the parent's wait()";
}

TEST_F(UtraceSemantics, Case41_ExecReportedEngineStaysFailedExecSilent)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvExec), 0);
    EXPECT_EQ(ask(k, 'E'), -ENOENT);
    usleep(100000);
    EXPECT_TRUE(logWhere([](const ute_log_rec &r) { return r.cb == UTE_CB_EXEC; }).empty());
    send(k, 'e');
    EXPECT_TRUE(
        waitLog([&](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_EXEC) && r.tid == k.pid; }));
    ASSERT_TRUE(waitFor([&] {
        return readLine("/proc/" + std::to_string(k.pid) + "/cmdline").rfind("busybox", 0) == 0;
    }));
    ute_attach l = attach(k.pid, 1, kMatchOps, UTE_OPS_0);
    EXPECT_EQ(l.result, 0) << "the engine was detached by exec";
    EXPECT_EQ(l.same_as, 0);
    EXPECT_EQ(setEvents(0, kEvExec | kEvDeath), 0);
}

// Case 42, fork part: a forked child has no engine unless one is attached to
// it in report_clone.
void UtraceSemantics::forkPart()
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvClone), 0);
    pid_t gc = ask(k, 'F');
    ASSERT_GT(gc, 0);
    EXPECT_TRUE(waitLog([&](const ute_log_rec &r) {
        return isCb(r, 0, UTE_CB_CLONE) && r.event == static_cast<__u64>(gc) && r.tid == k.pid;
    }));
    EXPECT_EQ(attach(gc, 1, 0).result, -ENOENT);
    EXPECT_EQ(attach(gc, 1, kMatchOps, UTE_OPS_0).result, -ENOENT);
    kill(gc, SIGKILL);
    EXPECT_EQ(control(0, kDetach), 0);
    put(0); // the vfork part reuses the slot
}

// One test for the whole case: the fork part, then the vfork part.
TEST_F(UtraceSemantics, Case42_ForkAndVforkReportClone)
{
    forkPart();
    if (HasFatalFailure() || HasNonfatalFailure())
        return;
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvClone), 0);
    clearLog();
    pid_t c = ask(k, 'v');
    ASSERT_GT(c, 0);
    kids_.push_back(c);
    auto cl = logWhere([](const ute_log_rec &r) { return isCb(r, 0, UTE_CB_CLONE); });
    ASSERT_EQ(cl.size(), 1u);
    EXPECT_EQ(cl[0].event, static_cast<__u64>(c)) << "not the vfork child's tid";
    EXPECT_EQ(cl[0].tid, k.pid) << "not reported in the parent";
    EXPECT_EQ(attach(c, 1, 0).result, -ENOENT) << "the vfork child has an engine";
    kill(c, SIGKILL);
    if (HasFailure())
        return;
    GTEST_SKIP() << "vfork: report_clone returning STOP cannot stop the parent before it "
                    "blocks on the vfork completion on 6.1/6.12: the only hook is the atomic "
                    "sched_process_fork tracepoint, and the parent then waits in "
                    "wait_for_vfork_done() (TASK_KILLABLE) with no hook before the wait";
}

TEST_F(UtraceSemantics, Case43_SigkillKillsAStoppedTaskAtOnce)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    setReturn(0, UTE_CB_SYSCALL_ENTRY, kStop, 0, true, SYS_getppid);
    ASSERT_EQ(setEvents(0, kEvSyscallEntry), 0);
    send(k, 'g');
    ASSERT_TRUE(waitState(k.pid, 't'));
    ASSERT_EQ(kill(k.pid, SIGKILL), 0);
    int st = 0;
    ASSERT_TRUE(waitExit(k.pid, &st)) << "a SIGKILLed stopped task did not die";
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
    long v;
    EXPECT_EQ(reply(k, &v), Reply::Eof) << "user code ran after SIGKILL: " << v;
    int r = control(0, kDetach);
    EXPECT_TRUE(r == -ESRCH || r == -EALREADY) << r;
}

TEST_F(UtraceSemantics, Case44_ExamineStoppedUnstoppedKilledDead)
{
    pid_t pid = spinner();
    ASSERT_EQ(attach(pid, 0).result, 0);
    ASSERT_EQ(attach(pid, 1, kCreate, UTE_OPS_1).result, 0);
    stopVia(0, pid);
    ute_examine x = examine(0);
    EXPECT_EQ(x.prepare_rc, 0);
    EXPECT_EQ(x.finish_rc, 0);
    EXPECT_NE(x.ip, 0u);
    EXPECT_LT(x.ip, 0x800000000000u) << "not a user address";
    ute_examine again = examine(0);
    EXPECT_EQ(again.ip, x.ip) << "registers moved while stopped";

    EXPECT_EQ(examine(1).prepare_rc, -EINVAL) << "engine 1 does not hold a stop";

    x = examine(0, UTE_EXAMINE_KILL);
    EXPECT_EQ(x.prepare_rc, 0);
    EXPECT_EQ(x.finish_rc, -EAGAIN);

    // A zombie: reported as exited but not yet reaped.
    siginfo_t si{};
    ASSERT_TRUE(waitFor([&] {
        si.si_pid = 0;
        return waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
    }));
    EXPECT_EQ(examine(0).prepare_rc, -ESRCH);
    int st;
    EXPECT_TRUE(waitExit(pid, &st));
}

TEST_F(UtraceSemantics, Case45_JobStoppedTaskStopsAtOnceAndSigcontDoesNotRunIt)
{
    Commander k = commander();
    ASSERT_EQ(attach(k.pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvQuiesce), 0);
    setReturn(0, UTE_CB_QUIESCE, kStop);
    ASSERT_EQ(kill(k.pid, SIGSTOP), 0);
    ASSERT_TRUE(waitState(k.pid, 'T'));
    EXPECT_EQ(control(0, kStop), 0) << "a job-control stop counts as stopped";
    ASSERT_EQ(kill(k.pid, SIGCONT), 0);
    EXPECT_TRUE(waitState(k.pid, 't')) << "state " << procState(k.pid);
    send(k, 'g');
    long v;
    EXPECT_EQ(reply(k, &v, 300), Reply::Timeout) << "ran user code after SIGCONT: " << v;
    EXPECT_EQ(procState(k.pid), 't');
    setReturn(0, UTE_CB_QUIESCE, kResume);
    EXPECT_EQ(control(0, kResume), 0);
    ASSERT_EQ(reply(k, &v), Reply::Value);
    EXPECT_EQ(v, getpid());
}

TEST_F(UtraceSemantics, Case46_ProcStatusShowsUtraceFlags)
{
    pid_t pid = spinner();
    ASSERT_GT(pid, 0);
    ASSERT_EQ(attach(pid, 0).result, 0);
    ASSERT_EQ(setEvents(0, kEvQuiesce | kEvExec), 0);
    long long f = utraceStatus(pid);
    ASSERT_GE(f, 0) << "no Utrace: line in /proc/" << pid << "/status";
    EXPECT_EQ(f & (kEvQuiesce | kEvExec), static_cast<long long>(kEvQuiesce | kEvExec))
        << std::hex << f;
    ASSERT_EQ(attach(pid, 1, kCreate, UTE_OPS_1).result, 0);
    ASSERT_EQ(setEvents(1, kEvSyscallExit), 0);
    EXPECT_TRUE(utraceStatus(pid) & kEvSyscallExit);
    // The spinner is running: a pass it makes for the first detach may be
    // at the second engine right now (-EINPROGRESS, the detach still holds).
    for (__u32 s = 0; s < 2; s++) {
        int r = control(s, kDetach);
        EXPECT_TRUE(r == 0 || r == -EINPROGRESS) << "slot " << s << ": " << r;
    }
    EXPECT_TRUE(waitFor([&] { return utraceStatus(pid) == 0; }))
        << "Utrace: " << std::hex << utraceStatus(pid) << " after the last detach";
}

} // namespace
