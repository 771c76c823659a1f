// utrace side by side with strace, ptrace and seccomp, in one boot
// (issue 7; bench/run). Prints one JSON object with every figure; the keys
// bench/run puts into build/bench/results-<series>.json.
//
// Method: every figure is the median of `rounds` repeats. Per-call costs are
// timed inside the traced child around a raw getppid() loop, so the tracer's
// set-up is not counted. Whole-program figures (dd) are wall times from the
// release of a child blocked before its exec to its exit.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/utrace.h>
#include <utrace/error.hpp>
#include <utrace/event.hpp>
#include <utrace/session.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <functional>
#include <poll.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

double nowNs()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string &what)
{
    std::fprintf(stderr, "utrace_bench: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

long envLong(const char *name, long def)
{
    const char *s = getenv(name);
    return s && std::atol(s) > 0 ? std::atol(s) : def;
}

// A child blocked until go(); it then runs body() and _exit()s with its
// result, which it can also send back as a double through the result pipe.
struct Child {
    pid_t pid = -1;
    int goFd = -1, resFd = -1;

    static Child spawn(const std::function<void(int resFd)> &body)
    {
        int go[2], res[2];
        if (pipe2(go, O_CLOEXEC) || pipe2(res, O_CLOEXEC))
            die("pipe");
        Child c;
        c.pid = fork();
        if (c.pid < 0)
            die("fork");
        if (c.pid == 0) {
            close(go[1]);
            close(res[0]);
            char b;
            if (read(go[0], &b, 1) != 1)
                _exit(120);
            body(res[1]);
            _exit(0);
        }
        close(go[0]);
        close(res[1]);
        c.goFd = go[1];
        c.resFd = res[0];
        return c;
    }
    void go() const
    {
        if (write(goFd, "g", 1) != 1)
            die("release child");
    }
    double result() const
    {
        double v = -1;
        if (read(resFd, &v, sizeof(v)) != sizeof(v))
            die("child result");
        return v;
    }
    int wait()
    {
        int st = 0;
        if (waitpid(pid, &st, 0) != pid)
            die("waitpid");
        close(goFd);
        close(resFd);
        return st;
    }
};

void sendResult(int fd, double v)
{
    if (write(fd, &v, sizeof(v)) != sizeof(v))
        _exit(121);
}

// The timed loop every per-call figure uses.
void getppidLoop(int resFd, long calls)
{
    double t0 = nowNs();
    for (long i = 0; i < calls; i++)
        syscall(SYS_getppid);
    sendResult(resFd, (nowNs() - t0) / calls);
}

// ---------------------------------------------------------------------------
// /dev/utrace, through the uapi.

struct Dev {
    int fd = -1;
    Dev()
    {
        fd = open("/dev/utrace", O_RDWR | O_CLOEXEC);
        if (fd < 0)
            die("open /dev/utrace");
    }
    ~Dev() { close(fd); }
    Dev(const Dev &) = delete;

    __u32 attach(pid_t tid)
    {
        std::string mem = "/proc/" + std::to_string(tid) + "/mem";
        int proof = open(mem.c_str(), O_RDONLY | O_CLOEXEC);
        if (proof < 0)
            die("open " + mem);
        utrace_attach a{};
        a.size = sizeof(a);
        a.tid = tid;
        a.proof_fd = proof;
        if (ioctl(fd, UTRACE_IOC_ATTACH, &a))
            die("UTRACE_IOC_ATTACH");
        close(proof);
        return a.handle;
    }
    void setEvents(__u32 h, __u64 events, __u64 stop, const unsigned long *filter = nullptr,
                   bool args = false)
    {
        utrace_set_events se{};
        se.size = sizeof(se);
        se.handle = h;
        se.events = events;
        se.stop_events = stop;
        se.flags = args ? UTRACE_SE_CAPTURE_ARGS : 0;
        se.syscall_filter = reinterpret_cast<__u64>(filter);
        if (ioctl(fd, UTRACE_IOC_SET_EVENTS, &se))
            die("UTRACE_IOC_SET_EVENTS");
    }
    int control(__u32 h, __u32 action)
    {
        utrace_control c{};
        c.size = sizeof(c);
        c.handle = h;
        c.action = action;
        return ioctl(fd, UTRACE_IOC_CONTROL, &c) ? -errno : 0;
    }
    void queueSize(__u64 bytes)
    {
        utrace_queue_size q{};
        q.size = sizeof(q);
        q.bytes = bytes;
        if (ioctl(fd, UTRACE_IOC_QUEUE_SIZE, &q))
            die("UTRACE_IOC_QUEUE_SIZE");
    }
};

// Walks the records in buf; returns how many; adds LOST counts to *lost.
template <class F> size_t forRecords(const char *buf, ssize_t n, F &&f)
{
    size_t count = 0;
    for (ssize_t off = 0; off < n;) {
        const auto *h = reinterpret_cast<const utrace_event *>(buf + off);
        f(*h);
        count++;
        off += h->size;
    }
    return count;
}

// ---------------------------------------------------------------------------
// B0 and P1: the getppid loop untraced, filtered out of 1 and 4 engines, and
// under an allow-all seccomp filter.

double loopUntraced(long calls)
{
    Child c = Child::spawn([&](int res) { getppidLoop(res, calls); });
    c.go();
    double ns = c.result();
    c.wait();
    return ns;
}

double loopFiltered(long calls, int engines)
{
    // Every syscall but getppid is reported: the loop's calls are filtered
    // out by the in-kernel bitmap, the engines stay attached with syscall
    // events on.
    unsigned long filter[UTRACE_FILTER_NR / 64];
    std::fill(std::begin(filter), std::end(filter), ~0UL);
    filter[SYS_getppid / 64] &= ~(1UL << (SYS_getppid % 64));
    Dev d;
    Child c = Child::spawn([&](int res) { getppidLoop(res, calls); });
    for (int i = 0; i < engines; i++)
        d.setEvents(d.attach(c.pid), UTRACE_EV_SYSCALL, 0, filter);
    c.go();
    double ns = c.result();
    c.wait();
    return ns;
}

// The loop in an untraced process while another one is traced: what every
// thread of the system pays while the sys_enter/sys_exit probes are on
// (the kernel's slow syscall path), before any per-thread filtering.
double loopProbesOn(long calls)
{
    Dev d;
    Child other = Child::spawn([&](int res) { getppidLoop(res, 1); });
    d.setEvents(d.attach(other.pid), UTRACE_EV_SYSCALL, 0, nullptr);
    Child c = Child::spawn([&](int res) { getppidLoop(res, calls); });
    c.go();
    double ns = c.result();
    c.wait();
    other.go();
    other.result();
    other.wait();
    return ns;
}

double loopSeccompAllow(long calls)
{
    Child c = Child::spawn([&](int res) {
        sock_filter insn[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
        sock_fprog prog{1, insn};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
            _exit(122);
        getppidLoop(res, calls);
    });
    c.go();
    double ns = c.result();
    if (c.wait())
        die("seccomp child failed");
    return ns;
}

// ---------------------------------------------------------------------------
// P2: dd bs=1, untraced, with every syscall reported (not stopped) and
// streamed to a client that drains it, and under strace.

std::vector<std::string> ddArgv(long count)
{
    return {"/bin/busybox", "dd",   "if=/dev/zero",
            "of=/dev/null", "bs=1", "count=" + std::to_string(count)};
}

[[noreturn]] void execArgv(const std::vector<std::string> &argv)
{
    std::vector<char *> a;
    for (const auto &s : argv)
        a.push_back(const_cast<char *>(s.c_str()));
    a.push_back(nullptr);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    dup2(null, 2);
    execv(a[0], a.data());
    _exit(127);
}

// Wall time of argv from release to exit, in seconds.
double runWall(const std::vector<std::string> &argv)
{
    Child c = Child::spawn([&](int) { execArgv(argv); });
    double t0 = nowNs();
    c.go();
    int st = c.wait();
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        die("'" + argv[0] + " " + (argv.size() > 1 ? argv[1] : "") + "' failed");
    return (nowNs() - t0) / 1e9;
}

struct StreamResult {
    double seconds = 0;
    unsigned long long records = 0, lost = 0;
};

// dd with one report-only engine on every syscall entry (with arguments) and
// exit; the client reads every record and throws it away.
StreamResult runReported(const std::vector<std::string> &argv)
{
    Dev d;
    d.queueSize(4u << 20);
    Child c = Child::spawn([&](int) { execArgv(argv); });
    d.setEvents(d.attach(c.pid), UTRACE_EV_SYSCALL | UTRACE_EV_EXIT, 0, nullptr, true);
    StreamResult r;
    std::vector<char> buf(1 << 20);
    double t0 = nowNs();
    c.go();
    bool exited = false;
    int st = 0;
    for (;;) {
        pollfd p{d.fd, POLLIN, 0};
        ssize_t n = poll(&p, 1, exited ? 0 : 50) == 1 ? read(d.fd, buf.data(), buf.size()) : 0;
        if (n > 0)
            r.records += forRecords(buf.data(), n, [&](const utrace_event &h) {
                if (h.type == UTRACE_REC_LOST)
                    r.lost += reinterpret_cast<const utrace_ev_lost *>(&h + 1)->count;
            });
        if (exited && n <= 0)
            break;
        if (!exited && waitpid(c.pid, &st, WNOHANG) == c.pid) {
            exited = true;
            r.seconds = (nowNs() - t0) / 1e9;
            fcntl(d.fd, F_SETFL, O_NONBLOCK);
        }
    }
    close(c.goFd);
    close(c.resFd);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        die("reported dd failed");
    return r;
}

// The same dd through the client library (libutraceclient), as a program
// using it would: launched held at its first instruction, syscall events
// with arguments, every record parsed into an Event and thrown away.
StreamResult runReportedLib(const std::vector<std::string> &argv)
{
    auto s = utrace::Session::open("local");
    utrace::Process p = [&] {
        // dd's summary on stderr would land in the bench's progress log.
        int saved = dup(2), null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        close(null);
        utrace::Process lp = s->launch(utrace::LaunchSpec(argv));
        dup2(saved, 2);
        close(saved);
        return lp;
    }();
    p.setEvents(utrace::ev::Syscall | utrace::ev::Exit, utrace::ev::None, true);
    StreamResult r;
    double t0 = nowNs();
    p.resume();
    for (bool exited = false; !exited;) {
        pollfd pf{s->fd(), POLLIN, 0};
        ::poll(&pf, 1, 50);
        for (const utrace::Event &e : s->poll()) {
            r.records++;
            if (const auto *l = e.get<utrace::Lost>())
                r.lost += l->count;
            if (e.is<utrace::Exit>() && e.tid == p.pid()) {
                r.seconds = (nowNs() - t0) / 1e9;
                exited = true;
            }
        }
    }
    std::optional<int> st = p.exitStatus(true);
    if (!st || !WIFEXITED(*st) || WEXITSTATUS(*st))
        die("dd under the library failed");
    return r;
}

// ---------------------------------------------------------------------------
// P3: a stop and a resume at every syscall entry and exit, against a minimal
// PTRACE_SYSCALL tracer. Both stop twice per getppid.

double loopStopResume(long calls)
{
    Dev d;
    Child c = Child::spawn([&](int res) { getppidLoop(res, calls); });
    __u32 h = d.attach(c.pid);
    unsigned long filter[UTRACE_FILTER_NR / 64] = {};
    filter[SYS_getppid / 64] |= 1UL << (SYS_getppid % 64);
    d.setEvents(h, UTRACE_EV_SYSCALL, UTRACE_EV_SYSCALL, filter);
    c.go();
    std::vector<char> buf(64 << 10);
    long stops = 0;
    while (stops < 2 * calls) {
        ssize_t n = read(d.fd, buf.data(), buf.size());
        if (n <= 0)
            die("read records");
        forRecords(buf.data(), n, [&](const utrace_event &e) {
            if (e.flags & UTRACE_REC_HELD) {
                stops++;
                if (d.control(e.handle, UTRACE_CTL_RESUME))
                    die("resume");
            }
        });
    }
    double ns = c.result();
    d.control(h, UTRACE_CTL_DETACH);
    c.wait();
    return ns;
}

// The same loop through the client library: Engine::setEvents with the
// syscall filter, Session::wait, Engine::resume.
double loopStopResumeLib(long calls)
{
    Child c = Child::spawn([&](int res) { getppidLoop(res, calls); });
    auto s = utrace::Session::open("local");
    utrace::Engine e = s->attach(c.pid);
    e.setSyscallFilterNumbers({SYS_getppid});
    e.setEvents(utrace::ev::Syscall, utrace::ev::Syscall, false);
    c.go();
    long stops = 0;
    while (stops < 2 * calls) {
        std::optional<utrace::Event> ev = s->wait(-1);
        if (ev && ev->held) {
            stops++;
            s->engineOf(ev->handle).resume();
        }
    }
    double ns = c.result();
    e.detach();
    c.wait();
    return ns;
}

double loopPtraceSyscall(long calls)
{
    Child c = Child::spawn([&](int res) {
        ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
        raise(SIGSTOP);
        getppidLoop(res, calls);
    });
    c.go();
    int st;
    if (waitpid(c.pid, &st, 0) != c.pid || !WIFSTOPPED(st))
        die("ptrace child did not stop");
    ptrace(PTRACE_SETOPTIONS, c.pid, nullptr, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL);
    double ns = -1;
    for (;;) {
        if (ptrace(PTRACE_SYSCALL, c.pid, nullptr, nullptr))
            die("PTRACE_SYSCALL");
        if (waitpid(c.pid, &st, 0) != c.pid)
            die("waitpid");
        if (WIFEXITED(st) || WIFSIGNALED(st))
            break;
        if (ns < 0) {
            pollfd p{c.resFd, POLLIN, 0};
            if (poll(&p, 1, 0) == 1)
                ns = c.result();
        }
    }
    if (ns < 0)
        ns = c.result();
    close(c.goFd);
    close(c.resFd);
    return ns;
}

// ---------------------------------------------------------------------------
// P4: single steps per second.

[[noreturn]] void spin(int)
{
    for (unsigned long i = 0;; i++)
        asm volatile("" : "+r"(i)); // a loop the compiler keeps
}

double stepsUtrace(double seconds)
{
    Dev d;
    Child c = Child::spawn(spin);
    __u32 h = d.attach(c.pid);
    d.setEvents(h, UTRACE_EV_QUIESCE, 0);
    c.go();
    usleep(20000);
    if (int r = d.control(h, UTRACE_CTL_STOP); r && r != -EINPROGRESS)
        die("stop");
    std::vector<char> buf(4096);
    auto waitHeld = [&] {
        for (;;) {
            ssize_t n = read(d.fd, buf.data(), buf.size());
            if (n <= 0)
                die("read");
            bool held = false;
            forRecords(buf.data(), n,
                       [&](const utrace_event &e) { held |= (e.flags & UTRACE_REC_HELD) != 0; });
            if (held)
                return;
        }
    };
    waitHeld();
    long steps = 0;
    double t0 = nowNs(), end = t0 + seconds * 1e9, t = t0;
    while (t < end) {
        if (d.control(h, UTRACE_CTL_SINGLESTEP))
            die("singlestep");
        waitHeld();
        steps++;
        if (steps % 64 == 0)
            t = nowNs();
    }
    t = nowNs();
    kill(c.pid, SIGKILL);
    c.wait();
    return steps / ((t - t0) / 1e9);
}

double stepsPtrace(double seconds)
{
    Child c = Child::spawn([](int r) {
        ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
        raise(SIGSTOP);
        spin(r);
    });
    c.go();
    int st;
    if (waitpid(c.pid, &st, 0) != c.pid || !WIFSTOPPED(st))
        die("ptrace child did not stop");
    long steps = 0;
    double t0 = nowNs(), end = t0 + seconds * 1e9, t = t0;
    while (t < end) {
        if (ptrace(PTRACE_SINGLESTEP, c.pid, nullptr, nullptr))
            die("PTRACE_SINGLESTEP");
        if (waitpid(c.pid, &st, 0) != c.pid || !WIFSTOPPED(st))
            die("singlestep wait");
        steps++;
        if (steps % 64 == 0)
            t = nowNs();
    }
    t = nowNs();
    kill(c.pid, SIGKILL);
    c.wait();
    return steps / ((t - t0) / 1e9);
}

// ---------------------------------------------------------------------------
// P5: sustained records per second, kernel to client: a getppid loop with
// report-only entry and exit events, drained in large reads.

StreamResult stream(double seconds)
{
    Dev d;
    d.queueSize(16u << 20);
    Child c = Child::spawn([&](int) {
        double end = nowNs() + seconds * 1e9;
        while (nowNs() < end)
            for (int i = 0; i < 256; i++)
                syscall(SYS_getppid);
    });
    unsigned long filter[UTRACE_FILTER_NR / 64] = {};
    filter[SYS_getppid / 64] |= 1UL << (SYS_getppid % 64);
    d.setEvents(d.attach(c.pid), UTRACE_EV_SYSCALL, 0, filter);
    std::vector<char> buf(4 << 20);
    StreamResult r;
    double t0 = nowNs();
    c.go();
    fcntl(d.fd, F_SETFL, O_NONBLOCK);
    for (;;) {
        pollfd p{d.fd, POLLIN, 0};
        ssize_t n = poll(&p, 1, 20) == 1 ? read(d.fd, buf.data(), buf.size()) : 0;
        if (n > 0)
            r.records += forRecords(buf.data(), n, [&](const utrace_event &h) {
                if (h.type == UTRACE_REC_LOST)
                    r.lost += reinterpret_cast<const utrace_ev_lost *>(&h + 1)->count;
            });
        else if (waitpid(c.pid, nullptr, WNOHANG) == c.pid)
            break;
    }
    r.seconds = (nowNs() - t0) / 1e9;
    close(c.goFd);
    close(c.resFd);
    return r;
}

template <class F> double repeat(int rounds, F &&f)
{
    std::vector<double> v;
    for (int i = 0; i < rounds; i++)
        v.push_back(f());
    return median(v);
}

} // namespace

int main()
{
    const long calls = envLong("UTRACE_BENCH_CALLS", 200000);
    const long stopCalls = envLong("UTRACE_BENCH_STOP_CALLS", 5000);
    const long ddCount = envLong("UTRACE_BENCH_DD_COUNT", 500000);
    // strace costs tens of microseconds per syscall; under TCG a 500k dd
    // would take many minutes, so its ratio is taken on a shorter dd (same
    // ratio definition: traced over untraced wall time of the same dd).
    const long straceCount = envLong("UTRACE_BENCH_STRACE_DD_COUNT", 20000);
    const int rounds = static_cast<int>(envLong("UTRACE_BENCH_ROUNDS", 5));
    const char *strace = "/tools/strace";  // Debian's, with its libraries (vmtest bench)
    const char *cliPath = "/tools/utrace"; // our CLI, statically linked

    std::string json = "{";
    auto put = [&](const char *k, double v) {
        char b[128];
        std::snprintf(b, sizeof(b), "%s\"%s\": %.6g", json.size() > 1 ? ", " : "", k, v);
        json += b;
        std::fprintf(stderr, "utrace_bench: %s = %.6g\n", k, v);
    };
    utsname u{};
    uname(&u);
    json += std::string("\"kernel\": \"") + u.release + "\"";

    // Profiling (vmtest bench with UTRACE_BENCH_PROFILE, under perf record):
    // only the named workload, so the samples are its own.
    if (const char *prof = getenv("UTRACE_BENCH_PROFILE")) {
        std::string w = prof;
        if (w == "p1")
            put("filtered_ns", repeat(rounds, [&] { return loopFiltered(calls, 1); }));
        else if (w == "p2")
            put("report_all_dd_s",
                repeat(rounds, [&] { return runReported(ddArgv(ddCount)).seconds; }));
        else if (w == "p3")
            put("stop_resume_ns", repeat(rounds, [&] { return loopStopResume(stopCalls); }));
        else if (w == "p3lib")
            put("stop_resume_lib_ns", repeat(rounds, [&] { return loopStopResumeLib(stopCalls); }));
        else if (w == "stress") {
            // The traced phase's sessions back to back, to shake out hangs
            // that need one workload's leftovers (vmtest's watchdog names them).
            long n = envLong("UTRACE_BENCH_STRESS", 20);
            for (long i = 0; i < n; i++) {
                std::fprintf(stderr, "utrace_bench: stress round %ld of %ld\n", i + 1, n);
                loopFiltered(calls / 4, 4);
                runReported(ddArgv(ddCount / 4));
                loopStopResume(stopCalls);
                stepsUtrace(0.2);
                stream(0.3);
            }
            put("stress_rounds", static_cast<double>(n));
        } else
            die("UTRACE_BENCH_PROFILE: p1, p2, p3, p3lib or stress");
        json += "}";
        std::printf("%s\n", json.c_str());
        return 0;
    }

    // Two phases in one boot (vmtest bench): the baselines with the module
    // not loaded yet, nothing of ours on any path; then utrace's figures with
    // it loaded with lazy_probes=0 (its syscall probes registered at load,
    // while the guest is idle, and never toggled under a timed loop).
    const std::string phase = getenv("UTRACE_BENCH_PHASE") ? getenv("UTRACE_BENCH_PHASE") : "";
    if (phase != "baseline" && phase != "traced")
        die("UTRACE_BENCH_PHASE: baseline (module not loaded) or traced");

    if (phase == "baseline") {
        std::fprintf(stderr, "utrace_bench: B0 getppid loops, seccomp...\n");
        put("untraced_ns", repeat(rounds, [&] { return loopUntraced(calls); }));
        put("seccomp_allow_ns", repeat(rounds, [&] { return loopSeccompAllow(calls); }));
        std::fprintf(stderr, "utrace_bench: B0 dd, strace...\n");
        put("dd_untraced_s", repeat(rounds, [&] { return runWall(ddArgv(ddCount)); }));
        put("dd_count", static_cast<double>(ddCount));
        if (access(strace, X_OK) != 0) {
            std::fprintf(stderr, "utrace_bench: no %s in the guest: no strace figures\n", strace);
        } else {
            int sr = std::max(1, rounds / 2);
            double ddSmall = repeat(sr, [&] { return runWall(ddArgv(straceCount)); });
            std::vector<std::string> a = {strace, "-f", "-o", "/dev/null"};
            for (auto &s : ddArgv(straceCount))
                a.push_back(s);
            double st = repeat(sr, [&] { return runWall(a); });
            a = {strace, "-f", "--seccomp-bpf", "-e", "trace=getppid", "-o", "/dev/null"};
            for (auto &s : ddArgv(straceCount))
                a.push_back(s);
            double sb = repeat(sr, [&] { return runWall(a); });
            put("dd_small_untraced_s", ddSmall);
            put("strace_dd_count", static_cast<double>(straceCount));
            put("strace_dd_ratio", st / ddSmall);
            put("strace_seccomp_dd_ratio", sb / ddSmall);
        }
        std::fprintf(stderr, "utrace_bench: ptrace stop+resume, single-step...\n");
        put("ptrace_roundtrip_ns", repeat(rounds, [&] { return loopPtraceSyscall(stopCalls); }));
        put("ptrace_singlestep_per_s", repeat(3, [&] { return stepsPtrace(1.0); }));
    } else {
        // P1
        std::fprintf(stderr, "utrace_bench: P1 getppid loops...\n");
        put("probes_on_untraced_ns", repeat(rounds, [&] { return loopProbesOn(calls); }));
        put("filtered_ns", repeat(rounds, [&] { return loopFiltered(calls, 1); }));
        put("filtered4_ns", repeat(rounds, [&] { return loopFiltered(calls, 4); }));

        // P2 (its ratio: vmtest divides by the baseline's dd_untraced_s)
        std::fprintf(stderr, "utrace_bench: P2 dd...\n");
        StreamResult last;
        put("report_all_dd_s", repeat(rounds, [&] {
                last = runReported(ddArgv(ddCount));
                return last.seconds;
            }));
        put("report_all_dd_records", static_cast<double>(last.records));
        put("report_all_dd_lost", static_cast<double>(last.lost));
        // ... through the client library, and with the CLI: report-only
        // (--no-stop) on the same dd, and strace-like (holding where it
        // reads strings from memory) on strace's shorter dd.
        std::fprintf(stderr, "utrace_bench: P2 dd, library and CLI...\n");
        put("report_all_dd_lib_s", repeat(rounds, [&] {
                last = runReportedLib(ddArgv(ddCount));
                return last.seconds;
            }));
        put("report_all_dd_lib_lost", static_cast<double>(last.lost));
        std::vector<std::string> cli = {cliPath, "-f", "--no-stop", "-o", "/dev/null", "--"};
        for (auto &a : ddArgv(ddCount))
            cli.push_back(a);
        put("cli_dd_s", repeat(rounds, [&] { return runWall(cli); }));
        cli = {cliPath, "-f", "-o", "/dev/null", "--"};
        for (auto &a : ddArgv(straceCount))
            cli.push_back(a);
        put("cli_decode_dd_s", repeat(std::max(1, rounds / 2), [&] { return runWall(cli); }));

        // P3
        std::fprintf(stderr, "utrace_bench: P3 stop+resume...\n");
        put("stop_resume_ns", repeat(rounds, [&] { return loopStopResume(stopCalls); }));
        put("stop_resume_lib_ns", repeat(rounds, [&] { return loopStopResumeLib(stopCalls); }));

        // P4
        std::fprintf(stderr, "utrace_bench: P4 single-step...\n");
        put("singlestep_per_s", repeat(3, [&] { return stepsUtrace(1.0); }));

        // P5
        std::fprintf(stderr, "utrace_bench: P5 stream...\n");
        StreamResult s = stream(2.0);
        put("events_per_s", s.records / s.seconds);
        put("lost", static_cast<double>(s.lost));
    }

    json += "}";
    std::printf("%s\n", json.c_str());
    return 0;
}
