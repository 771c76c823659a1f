// LocalTransport: the ioctls of /dev/utrace on this machine
// (kmod/include/uapi/linux/utrace.h, docs/utrace-dev.md).
#include "local_error.hpp"
#include "utrace/transport.hpp"

#include <linux/utrace.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <memory>
#include <mutex>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace utrace {

using detail::throwAttachError;
using detail::throwEngineError;
using detail::throwOpenError;
using detail::throwSys;

namespace {

// A file descriptor closed on scope exit.
struct Fd {
    int fd = -1;
    explicit Fd(int f = -1) : fd(f) {}
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    ~Fd()
    {
        if (fd >= 0)
            ::close(fd);
    }
};

// Reads a whole small file (from /proc); empty on error.
std::string slurp(const std::string &path)
{
    Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (f.fd < 0)
        return {};
    std::string s;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(f.fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        s.append(buf, size_t(n));
    }
    return s;
}

bool isNumber(const char *s)
{
    if (!*s)
        return false;
    for (; *s; ++s)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

// Is `file` something execvp would run: a path with a slash, or a name in PATH?
// Returns 0 or the errno execvp would fail with.
int lookupExecutable(const std::string &file, const std::vector<std::string> &env)
{
    auto runnable = [](const std::string &p) {
        struct stat st;
        if (::stat(p.c_str(), &st) != 0)
            return errno;
        if (S_ISDIR(st.st_mode))
            return EACCES;
        return ::access(p.c_str(), X_OK) == 0 ? 0 : errno;
    };
    if (file.empty())
        return ENOENT;
    if (file.find('/') != std::string::npos)
        return runnable(file);
    std::string path;
    bool found = false;
    for (const auto &e : env)
        if (e.rfind("PATH=", 0) == 0) {
            path = e.substr(5);
            found = true;
        }
    if (!found) {
        const char *p = ::getenv("PATH");
        path = p ? p : "/usr/local/bin:/bin:/usr/bin";
    }
    int err = ENOENT;
    size_t start = 0;
    for (;;) {
        size_t end = path.find(':', start);
        std::string dir = path.substr(start, end == std::string::npos ? end : end - start);
        int r = runnable((dir.empty() ? std::string(".") : dir) + "/" + file);
        if (r == 0)
            return 0;
        if (r == EACCES)
            err = EACCES;
        if (end == std::string::npos)
            break;
        start = end + 1;
    }
    return err;
}

class LocalTransport final : public Transport {
public:
    explicit LocalTransport(const std::string &device) : device_(device)
    {
        fd_ = ::open(device.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (fd_ < 0)
            throwOpenError(errno, device);
        info_ = queryVersion();
    }
    // Closing the device detaches every engine. A launched program that
    // still runs dies with the session (it was started to be traced, like
    // a debugger's inferior) and is reaped: no zombie stays behind.
    ~LocalTransport() override
    {
        ::close(fd_);
        for (auto &[pid, l] : launched_) {
            if (l.goFd >= 0)
                ::close(l.goFd);
            if (l.status)
                continue;
            int st;
            if (::waitpid(pid, &st, WNOHANG) == 0) {
                ::kill(pid, SIGKILL);
                ::waitpid(pid, &st, 0);
            }
        }
    }

    DeviceInfo version() override { return info_; }

    uint32_t attach(pid_t tid, uint32_t flags) override
    {
        if (tid <= 0)
            throwAttachError(ESRCH, tid, true);
        // The proof: the kernel lets us open /proc/TID/mem only if we may
        // ptrace the thread (Yama and LSMs included).
        Fd proof(::open(("/proc/" + std::to_string(tid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
        if (proof.fd < 0)
            throwAttachError(errno, tid, true);
        utrace_attach a{};
        a.size = sizeof(a);
        a.flags = flags;
        a.tid = tid;
        a.proof_fd = proof.fd;
        if (ioctl(UTRACE_IOC_ATTACH, &a) < 0)
            throwAttachError(errno, tid, false);
        return a.handle;
    }

    void setEvents(uint32_t handle, const EngineSettings &s) override
    {
        utrace_set_events se{};
        se.size = sizeof(se);
        se.handle = handle;
        se.events = s.events;
        se.stop_events = s.stopEvents;
        se.flags = s.captureArgs ? UTRACE_SE_CAPTURE_ARGS : 0;
        uint64_t bitmap[UTRACE_FILTER_NR / 64] = {};
        if (s.syscallFilter) {
            for (size_t i = 0; i < UTRACE_FILTER_NR; ++i)
                if ((*s.syscallFilter)[i])
                    bitmap[i / 64] |= 1ull << (i % 64);
            se.syscall_filter = reinterpret_cast<uintptr_t>(bitmap);
        }
        if (ioctl(UTRACE_IOC_SET_EVENTS, &se) < 0)
            throwEngineError(errno, "set the event mask", handle);
    }

    void control(uint32_t handle, const ControlRequest &c) override
    {
        utrace_control uc{};
        uc.size = sizeof(uc);
        uc.handle = handle;
        uc.action = c.action;
        uc.verdict = c.verdict;
        uc.signo = c.signo;
        uc.retval = c.retval;
        std::array<uint64_t, 6> args{};
        if (c.args) {
#ifdef UTRACE_VERDICT_RUN_ARGS
            args = *c.args;
            uc.args = reinterpret_cast<uintptr_t>(args.data());
#else
            throwEngineError(EOPNOTSUPP, "run a syscall with changed arguments", handle);
#endif
        }
        if (ioctl(UTRACE_IOC_CONTROL, &uc) < 0) {
            // STOP on a running thread: the QUIESCE record follows. Not a failure.
            if (errno == EINPROGRESS && c.action == UTRACE_CTL_STOP)
                return;
            throwEngineError(errno, controlName(c.action), handle);
        }
    }

    void barrier(uint32_t handle) override
    {
#ifdef UTRACE_IOC_BARRIER
        utrace_barrier b{};
        b.size = sizeof(b);
        b.handle = handle;
        if (ioctl(UTRACE_IOC_BARRIER, &b) < 0)
            throwEngineError(errno, "wait for the engine's callbacks (barrier)", handle);
#else
        throwEngineError(EOPNOTSUPP, "wait for the engine's callbacks (barrier)", handle);
#endif
    }

    void prove(uint32_t handle, pid_t tid) override
    {
        // A fresh /proc/TID/mem for the image the thread runs now (after an
        // exec): the kernel opens it only if we may ptrace that image.
        Fd proof(::open(("/proc/" + std::to_string(tid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
        if (proof.fd < 0)
            throwAttachError(errno, tid, true);
        utrace_prove p{};
        p.size = sizeof(p);
        p.handle = handle;
        p.proof_fd = proof.fd;
        if (ioctl(UTRACE_IOC_PROVE, &p) < 0)
            throwEngineError(errno, "prove the right to examine the new image", handle);
    }

    void detach(uint32_t handle) override
    {
        utrace_detach d{};
        d.size = sizeof(d);
        d.handle = handle;
        if (ioctl(UTRACE_IOC_DETACH, &d) < 0)
            throwEngineError(errno, "detach", handle);
    }

    std::vector<uint8_t> getRegs(uint32_t handle, RegSet set) override
    {
        std::vector<uint8_t> buf(set == RegSet::General ? sizeof(user_regs_struct)
                                 : set == RegSet::Fp    ? sizeof(user_fpregs_struct)
                                                        : 4096);
        utrace_regs r = regsArg(handle, set, buf.data(), buf.size(), "read registers");
        if (ioctl(UTRACE_IOC_GETREGS, &r) < 0) {
            // Too small a buffer (the XSAVE area's size varies by CPU): the
            // kernel says how much it needs.
            if (errno == EINVAL && r.len > buf.size() && r.len <= (1u << 20)) {
                buf.resize(r.len);
                r = regsArg(handle, set, buf.data(), buf.size(), "read registers");
                if (ioctl(UTRACE_IOC_GETREGS, &r) == 0) {
                    buf.resize(std::min<size_t>(r.len, buf.size()));
                    return buf;
                }
            }
            throwEngineError(errno, "read registers", handle);
        }
        buf.resize(std::min<size_t>(r.len, buf.size()));
        return buf;
    }

    void setRegs(uint32_t handle, RegSet set, std::span<const uint8_t> regs) override
    {
        std::vector<uint8_t> buf(regs.begin(), regs.end());
        utrace_regs r = regsArg(handle, set, buf.data(), buf.size(), "write registers");
        if (ioctl(UTRACE_IOC_SETREGS, &r) < 0)
            throwEngineError(errno, "write registers", handle);
    }

    size_t readMemory(uint32_t handle, uint64_t addr, std::span<uint8_t> out) override
    {
        return mem(handle, addr, out.data(), out.size(), false);
    }

    size_t writeMemory(uint32_t handle, uint64_t addr, std::span<const uint8_t> in) override
    {
        return mem(handle, addr, const_cast<uint8_t *>(in.data()), in.size(), true);
    }

    std::vector<EngineInfo> list() override
    {
        std::vector<utrace_engine_info> buf(64);
        for (;;) {
            utrace_list l{};
            l.size = sizeof(l);
            l.max = uint32_t(buf.size());
            l.buf = reinterpret_cast<uintptr_t>(buf.data());
            int n = ioctl(UTRACE_IOC_LIST, &l);
            if (n < 0)
                throwSys(errno, "list the engines of the session");
            if (l.count > buf.size()) {
                buf.resize(l.count + 16);
                continue;
            }
            std::vector<EngineInfo> out;
            for (int i = 0; i < n; ++i)
                out.push_back(
                    {buf[i].handle, buf[i].tid, buf[i].events, buf[i].stop_events, buf[i].state});
            return out;
        }
    }

    uint64_t setQueueSize(uint64_t bytes) override
    {
        utrace_queue_size q{};
        q.size = sizeof(q);
        q.bytes = bytes;
        if (ioctl(UTRACE_IOC_QUEUE_SIZE, &q) < 0) {
            int err = errno;
            if (err == EINVAL)
                throw Error(err, "event queue size " + std::to_string(bytes) +
                                     " is out of range (" + std::to_string(UTRACE_QUEUE_MIN) +
                                     ".." + std::to_string(UTRACE_QUEUE_MAX) + " bytes)");
            if (err == EBUSY)
                throw Error(err, "cannot shrink the event queue to " + std::to_string(bytes) +
                                     " bytes: more than that is queued; read events first");
            throwSys(err, "set the event queue size");
        }
        return q.bytes;
    }

    int eventFd() override
    {
        return fd_;
    }

    std::vector<uint8_t> readRecords(int timeoutMs) override
    {
        timespec start{};
        clock_gettime(CLOCK_MONOTONIC, &start);
        static_assert(UTRACE_EVENT_MAX_SIZE < kReadBytes);
        // One buffer for every read, never zeroed: a streaming client reads
        // about once per millisecond, and 256 KiB of memset each time showed.
        if (!readBuf_)
            readBuf_ = std::make_unique_for_overwrite<uint8_t[]>(kReadBytes);
        for (;;) {
            ssize_t n = ::read(fd_, readBuf_.get(), kReadBytes);
            if (n > 0)
                return std::vector<uint8_t>(readBuf_.get(), readBuf_.get() + n);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                throwSys(errno, "read events from " + device_);
            int left = timeoutMs;
            if (timeoutMs >= 0) {
                timespec now{};
                clock_gettime(CLOCK_MONOTONIC, &now);
                long spent =
                    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
                if (spent >= timeoutMs)
                    return {};
                left = int(timeoutMs - spent);
            }
            pollfd p{fd_, POLLIN, 0};
            int r = ::poll(&p, 1, left);
            if (r < 0 && errno != EINTR)
                throwSys(errno, "wait for events on " + device_);
            if (r == 0)
                return {};
        }
    }

    std::vector<uint8_t> readFile(const std::string &path, uint64_t offset,
                                  uint64_t maxBytes) override
    {
        Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (f.fd < 0) {
            int err = errno;
            throw Error(err, "cannot read " + path + ": " + std::strerror(err));
        }
        std::vector<uint8_t> out;
        uint64_t pos = offset;
        while (out.size() < maxBytes) {
            size_t chunk = size_t(std::min<uint64_t>(maxBytes - out.size(), 1 << 20));
            size_t old = out.size();
            out.resize(old + chunk);
            ssize_t n = ::pread(f.fd, out.data() + old, chunk, off_t(pos));
            if (n < 0 && errno == EINTR) {
                out.resize(old);
                continue;
            }
            if (n < 0) {
                int err = errno;
                throw Error(err, "cannot read " + path + ": " + std::strerror(err));
            }
            out.resize(old + size_t(n));
            if (n == 0)
                break;
            pos += uint64_t(n);
        }
        return out;
    }

    std::vector<ProcessInfo> processes() override
    {
        std::vector<ProcessInfo> out;
        DIR *d = ::opendir("/proc");
        if (!d)
            throwSys(errno, "list the processes in /proc");
        while (dirent *e = ::readdir(d)) {
            if (!isNumber(e->d_name))
                continue;
            std::string dir = std::string("/proc/") + e->d_name;
            std::string stat = slurp(dir + "/stat");
            auto rp = stat.rfind(')');
            auto lp = stat.find('(');
            if (rp == std::string::npos || lp == std::string::npos)
                continue; // exited meanwhile
            ProcessInfo p;
            p.pid = std::atoi(e->d_name);
            p.comm = stat.substr(lp + 1, rp - lp - 1);
            char state;
            int ppid = 0;
            if (std::sscanf(stat.c_str() + rp + 1, " %c %d", &state, &ppid) == 2)
                p.ppid = ppid;
            std::string status = slurp(dir + "/status");
            auto u = status.find("\nUid:");
            if (u != std::string::npos)
                p.uid = uid_t(std::strtoul(status.c_str() + u + 5, nullptr, 10));
            std::string cmd = slurp(dir + "/cmdline");
            while (!cmd.empty() && cmd.back() == '\0')
                cmd.pop_back();
            std::replace(cmd.begin(), cmd.end(), '\0', ' ');
            p.cmdline = cmd;
            p.tids = tidsOf(p.pid);
            out.push_back(std::move(p));
        }
        ::closedir(d);
        std::sort(out.begin(), out.end(),
                  [](const ProcessInfo &a, const ProcessInfo &b) { return a.pid < b.pid; });
        return out;
    }

    pid_t launch(const LaunchSpec &spec) override
    {
        if (spec.argv.empty())
            throw Error(EINVAL, "cannot launch: no program given (argv is empty)");
        if (int err = lookupExecutable(spec.argv[0], spec.env))
            throw Error(err, "cannot launch " + spec.argv[0] + ": " +
                                 (err == ENOENT ? "no such program (not found in PATH)"
                                                : std::strerror(err)));
        if (!spec.cwd.empty()) {
            struct stat st;
            if (::stat(spec.cwd.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
                throw Error(ENOTDIR, "cannot launch " + spec.argv[0] + ": working directory " +
                                         spec.cwd + " is not a directory");
        }
        // Everything the child needs, built before fork(): after it, in a
        // possibly multi-threaded parent, the child may only make
        // async-signal-safe calls.
        std::vector<char *> argv, envp;
        for (auto &a : spec.argv)
            argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        for (auto &e : spec.env)
            envp.push_back(const_cast<char *>(e.c_str()));
        envp.push_back(nullptr);
        const char *cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
        bool useEnv = !spec.env.empty();

        int go[2];
        if (::pipe2(go, O_CLOEXEC) < 0)
            throwSys(errno, "cannot launch " + spec.argv[0] + ": pipe");
        pid_t pid = ::fork();
        if (pid < 0) {
            int err = errno;
            ::close(go[0]);
            ::close(go[1]);
            throwSys(err, "cannot launch " + spec.argv[0] + ": fork");
        }
        if (pid == 0) {
            ::close(go[1]);
            char c;
            // Blocks until release() (a byte) or the parent's death (EOF).
            ssize_t n;
            do
                n = ::read(go[0], &c, 1);
            while (n < 0 && errno == EINTR);
            if (n != 1)
                ::_exit(127);
            ::close(go[0]);
            if (cwd && ::chdir(cwd) != 0)
                ::_exit(127);
            if (useEnv)
                ::execvpe(argv[0], argv.data(), envp.data());
            else
                ::execvp(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(go[0]);
        std::lock_guard lock(launchMutex_);
        launched_[pid] = {go[1], std::nullopt};
        return pid;
    }

    void release(pid_t pid) override
    {
        std::lock_guard lock(launchMutex_);
        auto it = launched_.find(pid);
        if (it == launched_.end() || it->second.goFd < 0)
            throw Error(ESRCH, "cannot release process " + std::to_string(pid) +
                                   ": it was not launched by this session, or already released");
        char c = 1;
        ssize_t n = ::write(it->second.goFd, &c, 1);
        int err = errno;
        ::close(it->second.goFd);
        it->second.goFd = -1;
        if (n != 1)
            throw Error(err == EPIPE ? ESRCH : err, "cannot release process " +
                                                        std::to_string(pid) +
                                                        ": it died before it could exec");
    }

    std::optional<int> reap(pid_t pid, bool wait) override
    {
        std::lock_guard lock(launchMutex_);
        auto it = launched_.find(pid);
        if (it == launched_.end())
            throw Error(ECHILD, "cannot wait for process " + std::to_string(pid) +
                                    ": it was not launched by this session");
        if (it->second.status)
            return it->second.status;
        int st = 0;
        pid_t r;
        do
            r = ::waitpid(pid, &st, wait ? 0 : WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r < 0)
            throwSys(errno, "wait for process " + std::to_string(pid));
        if (r == 0)
            return std::nullopt;
        it->second.status = st;
        return st;
    }

    void kill(pid_t pid, int sig) override
    {
        if (pid <= 0)
            throw Error(EINVAL, "refusing to send a signal to pid " + std::to_string(pid) +
                                    " (a process group or every process)");
        if (::kill(pid, sig) < 0) {
            int err = errno;
            if (err == ESRCH)
                throw Error(err,
                            "cannot signal process " + std::to_string(pid) + ": it has exited");
            if (err == EPERM)
                throw Error(err, "cannot signal process " + std::to_string(pid) +
                                     ": it belongs to another user");
            throwSys(err, "signal process " + std::to_string(pid));
        }
    }

private:
    struct Launched {
        int goFd = -1;
        std::optional<int> status;
    };

    int ioctl(unsigned long req, void *arg)
    {
        int r;
        do
            r = ::ioctl(fd_, req, arg);
        while (r < 0 && errno == EINTR);
        return r;
    }

    DeviceInfo queryVersion()
    {
        utrace_version v{};
        v.size = sizeof(v);
        if (ioctl(UTRACE_IOC_VERSION, &v) < 0) {
            int err = errno;
            throw Error(err, device_ + " did not answer the VERSION request (" +
                                 std::strerror(err) + "): it is not the utrace device");
        }
        DeviceInfo d;
        d.apiVersion = v.api_version;
        d.features = v.features;
        d.kernelRelease =
            std::string(v.kernel_release, strnlen(v.kernel_release, sizeof(v.kernel_release)));
        d.moduleVersion =
            std::string(v.module_version, strnlen(v.module_version, sizeof(v.module_version)));
        if (d.apiVersion != UTRACE_DEV_API_VERSION)
            throw Error(EPROTO, device_ + " speaks utrace API version " +
                                    std::to_string(d.apiVersion) + ", this library version " +
                                    std::to_string(UTRACE_DEV_API_VERSION) +
                                    ": install a matching module and library");
        return d;
    }

    static std::string controlName(uint32_t action)
    {
        switch (action) {
        case UTRACE_CTL_STOP:
            return "stop the thread";
        case UTRACE_CTL_INTERRUPT:
            return "interrupt the thread";
        case UTRACE_CTL_REPORT:
            return "ask the thread for a report";
        case UTRACE_CTL_SINGLESTEP:
        case UTRACE_CTL_BLOCKSTEP:
            return "single-step the thread";
        case UTRACE_CTL_RESUME:
            return "resume the thread";
        case UTRACE_CTL_DETACH:
            return "detach";
        default:
            return "control the thread (action " + std::to_string(action) + ")";
        }
    }

    utrace_regs regsArg(uint32_t handle, RegSet set, void *buf, size_t len, const char *what)
    {
        utrace_regs r{};
        r.size = sizeof(r);
        r.handle = handle;
        r.regs = reinterpret_cast<uintptr_t>(buf);
        r.len = uint32_t(len);
        (void)what;
        if (set != RegSet::General) {
#ifdef UTRACE_REGSET_GENERAL
            r.regset = uint32_t(set);
#else
            throwEngineError(
                EOPNOTSUPP, std::string(what) + " (floating-point/extended register sets)", handle);
#endif
        }
        return r;
    }

    size_t mem(uint32_t handle, uint64_t addr, uint8_t *buf, size_t len, bool write)
    {
        if (len == 0)
            return 0;
        utrace_mem_iov iov{addr, len, reinterpret_cast<uintptr_t>(buf)};
        utrace_mem m{};
        m.size = sizeof(m);
        m.handle = handle;
        m.iov = reinterpret_cast<uintptr_t>(&iov);
        m.count = 1;
        m.flags = write ? UTRACE_MEM_WRITE : 0;
        if (ioctl(UTRACE_IOC_MEM, &m) < 0) {
            if (errno == EIO) // nothing mapped at addr: zero bytes moved
                return 0;
            char hex[32];
            std::snprintf(hex, sizeof(hex), "%#llx", (unsigned long long)addr);
            throwEngineError(
                errno, std::string(write ? "write memory at " : "read memory at ") + hex, handle);
        }
        return size_t(m.done);
    }

    static std::vector<pid_t> tidsOf(pid_t pid)
    {
        std::vector<pid_t> tids;
        DIR *d = ::opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
        if (!d)
            return tids;
        while (dirent *e = ::readdir(d))
            if (isNumber(e->d_name))
                tids.push_back(std::atoi(e->d_name));
        ::closedir(d);
        std::sort(tids.begin(), tids.end());
        return tids;
    }

    static constexpr size_t kReadBytes = 256 << 10;
    std::string device_;
    int fd_ = -1;
    std::unique_ptr<uint8_t[]> readBuf_;
    DeviceInfo info_;
    std::mutex launchMutex_;
    std::map<pid_t, Launched> launched_;
};

} // namespace

std::unique_ptr<Transport> openLocal(const std::string &device)
{
    return std::make_unique<LocalTransport>(device);
}

} // namespace utrace
