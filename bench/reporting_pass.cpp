// The cost of utrace's reporting pass, in the test VM: a getppid() loop
// untraced, with one engine whose SYSCALL_ENTRY callback returns
// UTRACE_RESUME (reported at the return to user mode, and in the sys_enter
// probe itself), and with getppid filtered out of 1 and 4 engines; and what
// one clock read costs.
// Prints one JSON object; medians of several rounds, ns per call.
#include "utrace_bench_engine.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/syscall.h>
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

[[noreturn]] void die(const char *what)
{
    std::fprintf(stderr, "reporting_pass: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

// The traced child: waits for "go", times `calls` getppid() syscalls.
double childLoop(int cmd, int res, long calls)
{
    char c;
    if (read(cmd, &c, 1) != 1)
        _exit(1);
    double t0 = nowNs();
    for (long i = 0; i < calls; i++)
        syscall(SYS_getppid);
    double ns = (nowNs() - t0) / calls;
    if (write(res, &ns, sizeof(ns)) != sizeof(ns))
        _exit(1);
    if (read(cmd, &c, 1) != 1)
        _exit(1);
    _exit(0);
}

struct Mode {
    const char *key;
    __u32 mode;    // 0: untraced
    __u32 engines; // engines attached
};

double measure(int dev, const Mode &m, long calls, unsigned long long *callbacks)
{
    int cmd[2], res[2];
    if (pipe(cmd) || pipe(res))
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(cmd[1]);
        close(res[0]);
        childLoop(cmd[0], res[1], calls);
    }
    close(cmd[0]);
    close(res[1]);
    ube_stats before{}, after{};
    if (m.mode) {
        ube_attach a{};
        a.tid = static_cast<__u32>(pid);
        a.mode = m.mode;
        a.engines = m.engines;
        a.filtered_nr = SYS_getppid;
        if (ioctl(dev, UBE_IOC_ATTACH, &a))
            die("attach");
    }
    ioctl(dev, UBE_IOC_STATS, &before);
    double ns = 0;
    if (write(cmd[1], "g", 1) != 1 || read(res[0], &ns, sizeof(ns)) != sizeof(ns))
        die("child");
    ioctl(dev, UBE_IOC_STATS, &after);
    *callbacks = after.callbacks - before.callbacks;
    if (ioctl(dev, UBE_IOC_DETACH_ALL))
        die("detach");
    if (write(cmd[1], "q", 1) != 1)
        die("quit");
    int st;
    waitpid(pid, &st, 0);
    close(cmd[1]);
    close(res[0]);
    return ns;
}

} // namespace

int main(int argc, char **argv)
{
    long calls = argc > 1 ? std::atol(argv[1]) : 100000;
    int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
    if (system("insmod /lib/modules/utrace_bench_engine.ko 2>/dev/null") == -1)
        die("insmod");
    int dev = open("/dev/utrace_bench", O_RDWR | O_CLOEXEC);
    if (dev < 0)
        die("open /dev/utrace_bench");

    const Mode modes[] = {
        {"untraced_ns", 0, 0},
        {"entry_resume_ns", UBE_ENTRY_ALL, 1},
        {"filtered_ns", UBE_ENTRY_FILTERED, 1},
        {"filtered4_ns", UBE_ENTRY_FILTERED, 4},
        {"atomic_entry_ns", UBE_ENTRY_ATOMIC, 1},
    };
    utsname u{};
    uname(&u);
    std::string out = std::string("{\"kernel\": \"") + u.release +
                      "\", \"calls\": " + std::to_string(calls) +
                      ", \"rounds\": " + std::to_string(rounds);
    for (const Mode &m : modes) {
        std::vector<double> v;
        unsigned long long cbs = 0, expect = m.mode == UBE_ENTRY_FILTERED || !m.mode ? 0 : calls;
        for (int r = 0; r < rounds; r++) {
            v.push_back(measure(dev, m, calls, &cbs));
            // The engine must really have seen (or not seen) every call.
            if (m.mode && (cbs < expect || (!expect && cbs > 16ull * m.engines))) {
                std::fprintf(stderr, "reporting_pass: %s: %llu callbacks for %ld calls\n", m.key,
                             cbs, calls);
                return 1;
            }
        }
        std::sort(v.begin(), v.end());
        char buf[96];
        std::snprintf(buf, sizeof(buf), ", \"%s\": %.1f", m.key, v[v.size() / 2]);
        out += buf;
    }
    // What one clock read costs in the kernel (every record is stamped with
    // ktime_get_ns()), and in user space through the vDSO, for comparison.
    {
        std::vector<double> kt, mf, lc, vd;
        for (int r = 0; r < rounds; r++) {
            ube_clocks c{};
            c.reads = static_cast<__u32>(calls);
            if (ioctl(dev, UBE_IOC_CLOCKS, &c))
                die("clocks");
            kt.push_back(c.ktime_get_ps / 1000.0);
            mf.push_back(c.mono_fast_ps / 1000.0);
            lc.push_back(c.local_clock_ps / 1000.0);
            double t0 = nowNs();
            for (long i = 0; i < calls; i++)
                nowNs();
            vd.push_back((nowNs() - t0) / calls);
        }
        for (auto *v : {&kt, &mf, &lc, &vd})
            std::sort(v->begin(), v->end());
        char buf[192];
        std::snprintf(buf, sizeof(buf),
                      ", \"ktime_get_ns\": %.1f, \"mono_fast_ns\": %.1f, \"local_clock_ns\": %.1f, "
                      "\"vdso_clock_ns\": %.1f",
                      kt[kt.size() / 2], mf[mf.size() / 2], lc[lc.size() / 2], vd[vd.size() / 2]);
        out += buf;
    }
    out += "}";
    std::printf("%s\n", out.c_str());
    close(dev);
    system("rmmod utrace_bench_engine 2>/dev/null");
    return 0;
}
