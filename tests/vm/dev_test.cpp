// UtraceDev: sessions and user engines of /dev/utrace, driven from user
// space against forked fixture processes.
#include <linux/utrace.h>

#include "vm_util.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <set>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

// Progress reaches the console even if a test hangs.
const int kUnbuffered = [] {
    setvbuf(stdout, nullptr, _IONBF, 0);
    return 0;
}();

const char *const kDev = "/dev/" UTRACE_DEVICE_NAME;

// A fixture process: fork()ed, runs `fn`, reports over a pipe.
struct Child {
    pid_t pid = -1;
    int rd = -1; // the child's messages
    int wr = -1; // commands to the child

    ~Child() { kill(); }
    void kill()
    {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
            pid = -1;
        }
        if (rd >= 0)
            close(rd);
        if (wr >= 0)
            close(wr);
        rd = wr = -1;
    }
};

// The test's /dev/utrace fd, which a forked fixture must not keep open:
// the session would outlive the test's close().
int gDevFd = -1;

// In the child: the ends of the two pipes.
int gChildOut = -1;
int gChildIn = -1;

void spawn(Child &c, const std::function<void()> &fn)
{
    int up[2], down[2];
    ASSERT_EQ(pipe2(up, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(down, O_CLOEXEC), 0);
    c.pid = fork();
    ASSERT_GE(c.pid, 0);
    if (c.pid == 0) {
        if (gDevFd >= 0)
            close(gDevFd);
        close(up[0]);
        close(down[1]);
        gChildOut = up[1];
        gChildIn = down[0];
        fn();
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    c.rd = up[0];
    c.wr = down[1];
}

// Child side: send / receive one long.
void childSend(long v)
{
    if (write(gChildOut, &v, sizeof(v)) != sizeof(v))
        _exit(90);
}

long childRecv()
{
    long v = 0;
    if (read(gChildIn, &v, sizeof(v)) != sizeof(v))
        _exit(91);
    return v;
}

// Parent side, with a timeout; false if nothing came.
bool recvFrom(const Child &c, long *v, int ms = 5000)
{
    pollfd p{c.rd, POLLIN, 0};
    if (poll(&p, 1, ms) != 1)
        return false;
    return read(c.rd, v, sizeof(*v)) == sizeof(*v);
}

void sendTo(const Child &c, long v)
{
    ASSERT_EQ(write(c.wr, &v, sizeof(v)), (ssize_t)sizeof(v));
}

struct Rec {
    utrace_event h{};
    std::vector<unsigned char> payload;
    template <typename T> T as() const
    {
        T t{};
        std::memcpy(&t, payload.data(), std::min(sizeof(T), payload.size()));
        return t;
    }
};

class UtraceDev : public ::testing::Test {
protected:
    void SetUp() override
    {
        // A hung test fails the suite instead of the whole boot.
        signal(SIGALRM, [](int) {
            static const char msg[] = "UtraceDev: test timed out\n";
            if (write(2, msg, sizeof(msg) - 1) < 0) {
            }
            _exit(124);
        });
        alarm(60);
        fd_ = open(kDev, O_RDWR | O_CLOEXEC);
        ASSERT_GE(fd_, 0) << strerror(errno);
        gDevFd = fd_;
    }
    void TearDown() override
    {
        closeDev();
        for (int f : proofs_)
            close(f);
        std::string why;
        EXPECT_TRUE(vmtest::coreCountersDrain(3000, &why)) << why;
        alarm(0);
    }
    void closeDev()
    {
        if (fd_ >= 0)
            close(fd_);
        fd_ = gDevFd = -1;
    }

    int proof(pid_t pid)
    {
        int f = open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
        EXPECT_GE(f, 0) << strerror(errno);
        proofs_.push_back(f);
        return f;
    }

    int attachRaw(pid_t tid, int proofFd, __u32 flags = 0, __u32 *handle = nullptr)
    {
        utrace_attach a{};
        a.size = sizeof(a);
        a.tid = tid;
        a.proof_fd = proofFd;
        a.flags = flags;
        int r = ioctl(fd_, UTRACE_IOC_ATTACH, &a);
        if (handle)
            *handle = a.handle;
        return r < 0 ? -errno : r;
    }

    __u32 attach(pid_t tid, pid_t pid)
    {
        __u32 h = 0;
        int r = attachRaw(tid, proof(pid), 0, &h);
        EXPECT_EQ(r, 0) << strerror(-r);
        EXPECT_NE(h, 0u);
        return h;
    }

    int setEvents(__u32 h, __u64 events, __u64 stop = 0, __u32 flags = 0,
                  const std::vector<int> &syscalls = {})
    {
        utrace_set_events se{};
        unsigned long long bitmap[UTRACE_FILTER_NR / 64] = {};
        se.size = sizeof(se);
        se.handle = h;
        se.events = events;
        se.stop_events = stop;
        se.flags = flags;
        if (!syscalls.empty()) {
            for (int nr : syscalls)
                bitmap[nr / 64] |= 1ULL << (nr % 64);
            se.syscall_filter = reinterpret_cast<__u64>(bitmap);
        }
        return ioctl(fd_, UTRACE_IOC_SET_EVENTS, &se) < 0 ? -errno : 0;
    }

    int control(__u32 h, __u32 action, __u32 verdict = 0, int signo = 0, long retval = 0)
    {
        utrace_control c{};
        c.size = sizeof(c);
        c.handle = h;
        c.action = action;
        c.verdict = verdict;
        c.signo = signo;
        c.retval = retval;
        return ioctl(fd_, UTRACE_IOC_CONTROL, &c) < 0 ? -errno : 0;
    }

    int regs(__u32 h, user_regs_struct *r, bool set)
    {
        utrace_regs a{};
        a.size = sizeof(a);
        a.handle = h;
        a.regs = reinterpret_cast<__u64>(r);
        a.len = sizeof(*r);
        int ret = ioctl(fd_, set ? UTRACE_IOC_SETREGS : UTRACE_IOC_GETREGS, &a);
        if (ret == 0) {
            EXPECT_EQ(a.len, sizeof(*r));
        }
        return ret < 0 ? -errno : 0;
    }

    long mem(__u32 h, void *addr, void *buf, size_t len, bool write)
    {
        utrace_mem_iov iov{reinterpret_cast<__u64>(addr), len, reinterpret_cast<__u64>(buf)};
        utrace_mem m{};
        m.size = sizeof(m);
        m.handle = h;
        m.iov = reinterpret_cast<__u64>(&iov);
        m.count = 1;
        m.flags = write ? UTRACE_MEM_WRITE : 0;
        long r = ioctl(fd_, UTRACE_IOC_MEM, &m);
        return r < 0 ? -errno : r;
    }

    // One read() of whatever records are queued (waiting up to `ms` for the
    // first), each whole record handed to `fn`; false if none came or one
    // was malformed.
    bool readRecords(int ms, const std::function<void(const Rec &)> &fn)
    {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, ms) != 1)
            return false;
        std::vector<unsigned char> buf(1 << 16);
        ssize_t n = read(fd_, buf.data(), buf.size());
        EXPECT_GT(n, 0) << strerror(errno);
        for (ssize_t off = 0; off < n;) {
            Rec r;
            std::memcpy(&r.h, &buf[off], sizeof(r.h));
            EXPECT_GE(r.h.size, sizeof(r.h));
            EXPECT_EQ(r.h.size % 8, 0u);
            if (r.h.size < sizeof(r.h) || off + r.h.size > n)
                return false;
            r.payload.assign(&buf[off + sizeof(r.h)], &buf[off + r.h.size]);
            fn(r);
            off += r.h.size;
        }
        return n > 0;
    }

    // Reads whatever records are queued (waiting up to `ms` for the first).
    bool fill(int ms)
    {
        return readRecords(ms, [&](const Rec &r) {
            EXPECT_EQ(r.h.seq, lastSeq_ + 1) << "sequence numbers have no gaps";
            lastSeq_ = r.h.seq;
            backlog_.push_back(r);
        });
    }

    // The next record of `type` (others before it are dropped), or false.
    bool next(int type, Rec *out, int ms = 5000)
    {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        for (;;) {
            while (!backlog_.empty()) {
                Rec r = backlog_.front();
                backlog_.pop_front();
                if (r.h.type == type) {
                    *out = r;
                    return true;
                }
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !fill(static_cast<int>(left.count())))
                return false;
        }
    }

    // The first record `pred` accepts; the others stay queued for later.
    bool nextWhere(const std::function<bool(const Rec &)> &pred, Rec *out, int ms = 5000)
    {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        size_t scanned = 0;
        for (;;) {
            for (; scanned < backlog_.size(); scanned++) {
                if (pred(backlog_[scanned])) {
                    *out = backlog_[scanned];
                    backlog_.erase(backlog_.begin() + static_cast<long>(scanned));
                    return true;
                }
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !fill(static_cast<int>(left.count())))
                return false;
        }
    }

    // The next record of engine `h` (of any type, or of `type` when not 0).
    bool nextOf(__u32 h, Rec *out, int type = 0, int ms = 5000)
    {
        return nextWhere(
            [&](const Rec &r) { return r.h.handle == h && (!type || r.h.type == type); }, out, ms);
    }

    int controlArgs(__u32 h, __u32 action, __u32 verdict, const __u64 *args)
    {
        utrace_control c{};
        c.size = sizeof(c);
        c.handle = h;
        c.action = action;
        c.verdict = verdict;
        c.args = reinterpret_cast<__u64>(args);
        return ioctl(fd_, UTRACE_IOC_CONTROL, &c) < 0 ? -errno : 0;
    }

    // GETREGS/SETREGS of any register set; *len in: room, out: the kernel's.
    int regset(__u32 h, __u32 set, void *buf, __u32 *len, bool write)
    {
        utrace_regs a{};
        a.size = sizeof(a);
        a.handle = h;
        a.regs = reinterpret_cast<__u64>(buf);
        a.len = *len;
        a.regset = set;
        int ret = ioctl(fd_, write ? UTRACE_IOC_SETREGS : UTRACE_IOC_GETREGS, &a);
        *len = a.len;
        return ret < 0 ? -errno : 0;
    }

    int barrier(__u32 h, __u64 reserved = 0)
    {
        utrace_barrier b{};
        b.size = sizeof(b);
        b.handle = h;
        b.reserved = reserved;
        return ioctl(fd_, UTRACE_IOC_BARRIER, &b) < 0 ? -errno : 0;
    }

    std::vector<utrace_engine_info> list(size_t room = 4096)
    {
        std::vector<utrace_engine_info> v(room);
        utrace_list l{};
        l.size = sizeof(l);
        l.max = static_cast<__u32>(v.size());
        l.buf = reinterpret_cast<__u64>(v.data());
        int n = ioctl(fd_, UTRACE_IOC_LIST, &l);
        EXPECT_GE(n, 0) << strerror(errno);
        v.resize(n < 0 ? 0 : static_cast<size_t>(n));
        return v;
    }

    __u64 features()
    {
        utrace_version v{};
        v.size = sizeof(v);
        EXPECT_EQ(ioctl(fd_, UTRACE_IOC_VERSION, &v), 0) << strerror(errno);
        return v.features;
    }

    int fd_ = -1;
    std::vector<int> proofs_;
    std::deque<Rec> backlog_;
    __u64 lastSeq_ = 0;
};

// The fixture syscall: fails with EBADF, harmless, with recognisable args.
long fixtureLseek()
{
    return syscall(SYS_lseek, -1, 0x1234, 5);
}

// Waits for a command, then loops: lseek, send its result.
void lseekLoop()
{
    childRecv();
    for (;;)
        childSend(fixtureLseek());
}

} // namespace

TEST_F(UtraceDev, AttachWithProofAndList)
{
    Child c;
    spawn(c, [] { pause(); });
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL, UTRACE_EV_SYSCALL_ENTRY), 0);

    utrace_engine_info info[4];
    std::memset(info, 0xA5, sizeof(info));
    utrace_list l{};
    l.size = sizeof(l);
    l.max = 4;
    l.buf = reinterpret_cast<__u64>(info);
    ASSERT_EQ(ioctl(fd_, UTRACE_IOC_LIST, &l), 1) << strerror(errno);
    EXPECT_EQ(l.count, 1u);
    EXPECT_EQ(info[0].handle, h);
    EXPECT_EQ(info[0].tid, c.pid);
    EXPECT_EQ(info[0].events, UTRACE_EV_SYSCALL);
    EXPECT_EQ(info[0].stop_events, UTRACE_EV_SYSCALL_ENTRY);
    EXPECT_EQ(info[0].state, static_cast<__u32>(UTRACE_STATE_RUNNING));
    EXPECT_EQ(info[0].reserved, 0u);

    // EXCLUSIVE: a second engine of this session on the thread is refused.
    EXPECT_EQ(attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_EXCLUSIVE), -EEXIST);
    __u32 h2 = 0;
    EXPECT_EQ(attachRaw(c.pid, proof(c.pid), 0, &h2), 0);
    EXPECT_NE(h2, h);

    utrace_detach d{};
    d.size = sizeof(d);
    d.handle = h;
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_DETACH, &d), 0) << strerror(errno);
    errno = 0;
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_DETACH, &d), -1);
    EXPECT_EQ(errno, ENOENT);
    EXPECT_EQ(control(h2, UTRACE_CTL_DETACH), 0);
}

TEST_F(UtraceDev, AttachRefusesWithoutTheRightProof)
{
    Child a, b;
    spawn(a, [] { pause(); });
    spawn(b, [] { pause(); });
    EXPECT_EQ(attachRaw(a.pid, -1), -EPERM) << "no proof";
    EXPECT_EQ(attachRaw(a.pid, 9999), -EPERM) << "not an fd";
    EXPECT_EQ(attachRaw(a.pid, proof(b.pid)), -EPERM) << "another process's mem";
    int status = open(("/proc/" + std::to_string(a.pid) + "/status").c_str(), O_RDONLY);
    ASSERT_GE(status, 0);
    proofs_.push_back(status);
    EXPECT_EQ(attachRaw(a.pid, status), -EPERM) << "not mem";
    int wronly = open(("/proc/" + std::to_string(a.pid) + "/mem").c_str(), O_WRONLY);
    ASSERT_GE(wronly, 0);
    proofs_.push_back(wronly);
    EXPECT_EQ(attachRaw(a.pid, wronly), -EPERM) << "mem not opened for reading";
    // The per-thread mem file proves it too.
    int task =
        open(("/proc/" + std::to_string(a.pid) + "/task/" + std::to_string(a.pid) + "/mem").c_str(),
             O_RDONLY);
    ASSERT_GE(task, 0);
    proofs_.push_back(task);
    EXPECT_EQ(attachRaw(a.pid, task), 0);
    EXPECT_EQ(attachRaw(2, proof(a.pid)), -EPERM) << "kthreadd";
    EXPECT_EQ(attachRaw(0x3ffffff, proof(a.pid)), -ESRCH);
    EXPECT_EQ(attachRaw(-5, proof(a.pid)), -ESRCH);
}

TEST_F(UtraceDev, BadSizesReservedFieldsPointersAndHandles)
{
    Child c;
    spawn(c, [] { pause(); });
    int pf = proof(c.pid);
    utrace_attach a{};
    a.tid = c.pid;
    a.proof_fd = pf;
    a.size = UTRACE_ATTACH_SIZE_VER0 - 4;
    errno = 0;
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_ATTACH, &a), -1);
    EXPECT_EQ(errno, EINVAL);
    a.size = sizeof(a);
    a.reserved[1] = 1;
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_ATTACH, &a), -1);
    EXPECT_EQ(errno, EINVAL);
    a.reserved[1] = 0;
    a.flags = 0x80;
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_ATTACH, &a), -1);
    EXPECT_EQ(errno, EINVAL);
    a.flags = 0;
    // A bigger struct from a newer caller: its tail must be zero.
    struct {
        utrace_attach a;
        __u64 more;
    } big{};
    big.a = a;
    big.a.size = sizeof(big);
    big.more = 1;
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_ATTACH, &big), -1);
    EXPECT_EQ(errno, EINVAL);
    big.more = 0;
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_ATTACH, &big), 0) << strerror(errno);
    __u32 h = big.a.handle;
    EXPECT_NE(h, 0u);

    errno = 0;
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_ATTACH, nullptr), -1);
    EXPECT_EQ(errno, EFAULT);
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_ATTACH, 0xffffffff81000000UL), -1);
    EXPECT_EQ(errno, EFAULT);

    utrace_set_events se{};
    se.size = sizeof(se);
    se.handle = h;
    se.events = UTRACE_EV_SYSCALL_ENTRY;
    se.syscall_filter = 16; // unmapped
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_SET_EVENTS, &se), -1);
    EXPECT_EQ(errno, EFAULT);
    se.syscall_filter = 0;
    se.stop_events = UTRACE_EV_SYSCALL_EXIT; // not a subset of events
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_SET_EVENTS, &se), -1);
    EXPECT_EQ(errno, EINVAL);
    se.stop_events = 0;
    se.events = 1ULL << 40;
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_SET_EVENTS, &se), -1);
    EXPECT_EQ(errno, EINVAL);

    // Unknown handles are ENOENT, on every ioctl that takes one.
    EXPECT_EQ(setEvents(h + 100, UTRACE_EV_SYSCALL), -ENOENT);
    EXPECT_EQ(control(h + 100, UTRACE_CTL_STOP), -ENOENT);
    EXPECT_EQ(control(0, UTRACE_CTL_RESUME), -ENOENT);
    user_regs_struct r{};
    EXPECT_EQ(regs(h + 100, &r, false), -ENOENT);
    char b[8];
    EXPECT_EQ(mem(h + 100, b, b, sizeof(b), false), -ENOENT);
    // Examining a thread we do not hold is EBUSY.
    EXPECT_EQ(regs(h, &r, false), -EBUSY);
    EXPECT_EQ(mem(h, b, b, sizeof(b), false), -EBUSY);
    // A verdict with nothing held for it.
    EXPECT_EQ(control(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_ABORT, 0, 1), -EINVAL);
    EXPECT_EQ(control(h, 7), -EINVAL);

    // A handle of one file means nothing on another.
    int other = open(kDev, O_RDWR | O_CLOEXEC);
    ASSERT_GE(other, 0);
    utrace_control c2{};
    c2.size = sizeof(c2);
    c2.handle = h;
    c2.action = UTRACE_CTL_STOP;
    errno = 0;
    EXPECT_EQ(ioctl(other, UTRACE_IOC_CONTROL, &c2), -1);
    EXPECT_EQ(errno, ENOENT);
    close(other);

    // read(): a buffer too small for the next record.
    ASSERT_EQ(setEvents(h, UTRACE_EV_SIGNAL_ALL), 0);
    ::kill(c.pid, SIGWINCH); // default-ignored: a SIGNAL_IGN record
    pollfd p{fd_, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    char tiny[16];
    errno = 0;
    EXPECT_EQ(read(fd_, tiny, sizeof(tiny)), -1);
    EXPECT_EQ(errno, EINVAL);
    Rec rec;
    ASSERT_TRUE(next(UTRACE_REC_SIGNAL, &rec));
    EXPECT_EQ(rec.as<utrace_ev_signal>().signo, SIGWINCH);
    EXPECT_EQ(rec.as<utrace_ev_signal>().disposition, static_cast<__u32>(UTRACE_DISP_IGN));
    // Empty, non-blocking.
    int fl = fcntl(fd_, F_GETFL);
    fcntl(fd_, F_SETFL, fl | O_NONBLOCK);
    char big2[4096];
    errno = 0;
    EXPECT_EQ(read(fd_, big2, sizeof(big2)), -1);
    EXPECT_EQ(errno, EAGAIN);
}

TEST_F(UtraceDev, SyscallStreamCarriesNumbersAndArguments)
{
    Child c;
    spawn(c, lseekLoop);
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL, 0, UTRACE_SE_CAPTURE_ARGS, {SYS_lseek}), 0);
    sendTo(c, 1);
    for (int i = 0; i < 20; i++) {
        Rec e, x;
        ASSERT_TRUE(next(UTRACE_REC_SYSCALL_ENTRY, &e));
        EXPECT_EQ(e.h.tid, c.pid);
        EXPECT_EQ(e.h.tgid, c.pid);
        EXPECT_EQ(e.h.handle, h);
        EXPECT_FALSE(e.h.flags & UTRACE_REC_HELD);
        EXPECT_TRUE(e.h.flags & UTRACE_REC_ARGS);
        auto se = e.as<utrace_ev_syscall_entry>();
        EXPECT_EQ(se.nr, SYS_lseek) << "the filter lets only lseek through";
        EXPECT_EQ(static_cast<__u32>(se.args[0]), 0xffffffffu) << "fd: an unsigned int";
        EXPECT_EQ(se.args[1], 0x1234u);
        EXPECT_EQ(se.args[2], 5u);
        ASSERT_TRUE(next(UTRACE_REC_SYSCALL_EXIT, &x));
        EXPECT_EQ(x.as<utrace_ev_syscall_exit>().nr, SYS_lseek);
        EXPECT_EQ(x.as<utrace_ev_syscall_exit>().ret, -EBADF);
        EXPECT_GE(x.h.time_ns, e.h.time_ns);
    }
}

// Requests from another thread (REPORT, here) queue their own task_work:
// one in flight must never make the thread's own entry report wait past the
// syscall's return (the skipped syscall would then run with the skip
// sentinel for a number). Every getppid keeps its answer, none is missed.
TEST_F(UtraceDev, RequestsFromAnotherThreadNeverDelayAnEntryReport)
{
    Child c;
    spawn(c, [] {
        childRecv();
        long pp = getppid(), wrong = 0, calls = 0;
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
        while (std::chrono::steady_clock::now() < end)
            for (int i = 0; i < 1000; i++, calls++)
                wrong += syscall(SYS_getppid) != pp;
        childSend(wrong);
        childSend(calls);
        for (;;)
            pause();
    });
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL_ENTRY, 0, 0, {SYS_getppid}), 0);
    long misses0 = vmtest::coreCounter("entry_misses");
    sendTo(c, 1);
    long wrong = -1;
    unsigned long requests = 0, entries = 0;
    alarm(120);
    while (!recvFrom(c, &wrong, 0)) {
        for (int i = 0; i < 64; i++) {
            ASSERT_EQ(control(h, UTRACE_CTL_REPORT), 0);
            requests++;
        }
        readRecords(0, [&](const Rec &r) { entries += r.h.type == UTRACE_REC_SYSCALL_ENTRY; });
    }
    long calls = 0;
    ASSERT_TRUE(recvFrom(c, &calls));
    EXPECT_EQ(wrong, 0) << "getppid answered something else while traced";
    EXPECT_EQ(vmtest::coreCounter("entry_misses"), misses0)
        << "entry reports missed during " << requests << " requests";
    EXPECT_GT(entries, 0u);
    printf("UtraceDev: %lu REPORT requests while %ld getppid calls ran, %lu entry records "
           "read\n",
           requests, calls, entries);
}

// An exec kills the other threads with a SIGKILL that zap_other_threads()
// sets under siglock. A thread in the middle of its signal report must
// neither report that SIGKILL nor turn it into a group exit that kills the
// exec'ing thread too: the exec must win, every time. Each round forks a
// process whose threads keep reporting (ignored) signals to the engine
// FOLLOW gave them while its leader execs.
TEST_F(UtraceDev, AnExecDuringSignalReportsKillsOnlyTheOtherThreads)
{
    constexpr int kRounds = 150, kThreads = 4;
    Child c;
    spawn(c, [] {
        childRecv();
        long killed = 0, other = 0;
        for (int round = 0; round < kRounds; round++) {
            pid_t g = fork();
            if (g == 0) {
                static std::atomic<long> sent{0};
                for (int t = 0; t < kThreads; t++) {
                    pthread_t th;
                    pthread_create(
                        &th, nullptr,
                        [](void *) -> void * {
                            pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
                            for (;;) {
                                // Default-ignored: queued and reported only
                                // because the thread is traced.
                                syscall(SYS_tgkill, getpid(), self, SIGWINCH);
                                sent++;
                            }
                        },
                        nullptr);
                }
                while (sent.load() < 40 * kThreads)
                    sched_yield();
                execl("/bin/busybox", "true", static_cast<char *>(nullptr));
                _exit(127);
            }
            int st = 0;
            if (g < 0 || waitpid(g, &st, 0) != g)
                _exit(92);
            if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
                killed++;
            else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                other++;
        }
        childSend(killed);
        childSend(other);
        for (;;)
            pause();
    });
    __u32 h = 0;
    ASSERT_EQ(attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_FOLLOW, &h), 0);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SIGNAL_ALL | UTRACE_EV_CLONE), 0);
    sendTo(c, 1);
    alarm(300);
    long killed = -1, other = -1;
    unsigned long signals = 0, sigkills = 0;
    while (!recvFrom(c, &killed, 0)) {
        readRecords(100, [&](const Rec &r) {
            if (r.h.type != UTRACE_REC_SIGNAL)
                return;
            signals++;
            sigkills += r.as<utrace_ev_signal>().signo == SIGKILL;
        });
    }
    ASSERT_TRUE(recvFrom(c, &other));
    EXPECT_EQ(killed, 0) << "of " << kRounds
                         << " execs, these died of SIGKILL: a thread's signal report turned the "
                            "exec's zap into a group exit";
    EXPECT_EQ(other, 0) << "execs that failed otherwise";
    EXPECT_EQ(sigkills, 0u) << "SIGKILL was reported (of " << signals << " signal records)";
    EXPECT_GT(signals, 0u);
    printf("UtraceDev: %d execs while %d threads each reported signals: %lu signal records\n",
           kRounds, kThreads, signals);
}

// A probe on sys_enter/sys_exit sends every thread of the system down the
// slow syscall path: the module has them on only while it traces a thread,
// and turns them on again for the next attach.
TEST_F(UtraceDev, SyscallProbesAreOnOnlyWhileSomethingIsTraced)
{
    std::ifstream lazy("/sys/module/utrace/parameters/lazy_probes");
    std::string on;
    lazy >> on;
    if (on != "Y")
        GTEST_SKIP() << "the module is loaded with lazy_probes=0: its probes stay on while "
                        "it is loaded";
    auto probes = [] { return vmtest::coreCounter("syscall_probes"); };
    ASSERT_TRUE(vmtest::waitFor([&] { return probes() == 0; }, 5000))
        << "syscall_probes=" << probes() << " with nothing traced";
    for (int round = 0; round < 2; round++) {
        Child c;
        spawn(c, lseekLoop);
        __u32 h = attach(c.pid, c.pid);
        EXPECT_EQ(probes(), 1) << "on from the first attach (round " << round << ")";
        ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL_ENTRY, 0, 0, {SYS_lseek}), 0);
        sendTo(c, 1);
        Rec e;
        ASSERT_TRUE(next(UTRACE_REC_SYSCALL_ENTRY, &e)) << "round " << round;
        EXPECT_EQ(e.as<utrace_ev_syscall_entry>().nr, SYS_lseek);
        c.kill();
        closeDev();
        EXPECT_TRUE(vmtest::waitFor([&] { return probes() == 0; }, 5000))
            << "still on 5 s after the last traced thread was reaped (round " << round << ")";
        fd_ = gDevFd = open(kDev, O_RDWR | O_CLOEXEC);
        ASSERT_GE(fd_, 0) << strerror(errno);
        backlog_.clear();
        lastSeq_ = 0;
    }
}

// read() copies records straight from the queue: a buffer it cannot write
// fails with EFAULT and takes nothing off it.
TEST_F(UtraceDev, ReadIntoABadBufferLosesNoRecord)
{
    Child c;
    spawn(c, lseekLoop);
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL_ENTRY, 0, 0, {SYS_lseek}), 0);
    sendTo(c, 1);
    pollfd p{fd_, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
    void *bad = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(bad, MAP_FAILED);
    errno = 0;
    EXPECT_EQ(read(fd_, bad, 4096), -1);
    EXPECT_EQ(errno, EFAULT);
    munmap(bad, 4096);
    Rec r;
    ASSERT_TRUE(next(UTRACE_REC_SYSCALL_ENTRY, &r));
    EXPECT_EQ(r.h.seq, 1u) << "the records the bad read saw are read again";
    EXPECT_EQ(r.as<utrace_ev_syscall_entry>().nr, SYS_lseek);
}

// A held thread killed while its registers are read: its kernel stack,
// where they live, is freed when it exits. Reads racing the kill get the
// registers or an error, never a kernel oops (the harness checks the log).
TEST_F(UtraceDev, RegistersReadWhileTheHeldThreadIsKilled)
{
    for (int round = 0; round < 40; round++) {
        Child c;
        spawn(c, lseekLoop);
        __u32 h = attach(c.pid, c.pid);
        ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL_ENTRY, UTRACE_EV_SYSCALL_ENTRY, 0, {SYS_lseek}),
                  0);
        sendTo(c, 1);
        Rec e;
        ASSERT_TRUE(next(UTRACE_REC_SYSCALL_ENTRY, &e));
        std::atomic<bool> go{false};
        std::atomic<int> bad{0}, ok{0};
        std::thread reader([&] {
            while (!go.load()) {
            }
            for (int i = 0; i < 200; i++) {
                user_regs_struct r{};
                int ret = regs(h, &r, false);
                if (ret == 0)
                    ok++;
                else if (ret != -ESRCH && ret != -EBUSY && ret != -EAGAIN)
                    bad++;
            }
        });
        go = true;
        usleep(round * 25);
        kill(c.pid, SIGKILL);
        reader.join();
        EXPECT_EQ(bad.load(), 0) << "round " << round;
        c.kill();
        backlog_.clear();
    }
}

TEST_F(UtraceDev, HeldAtSyscallEntryThenAborted)
{
    Child c;
    spawn(c, lseekLoop);
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL_ENTRY, UTRACE_EV_SYSCALL_ENTRY, 0, {SYS_lseek}), 0);
    sendTo(c, 1);
    Rec e;
    ASSERT_TRUE(next(UTRACE_REC_SYSCALL_ENTRY, &e));
    EXPECT_TRUE(e.h.flags & UTRACE_REC_HELD);
    user_regs_struct r{};
    ASSERT_EQ(regs(h, &r, false), 0);
    EXPECT_EQ(r.orig_rax, static_cast<unsigned long long>(SYS_lseek));
    EXPECT_EQ(r.rsi, 0x1234u);
    EXPECT_EQ(vmtest::threadState(c.pid, c.pid), 't');
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_ABORT, 0, 4242), 0);
    long v = 0;
    ASSERT_TRUE(recvFrom(c, &v));
    EXPECT_EQ(v, 4242) << "the aborted syscall returns the verdict's value";
    // The next one is held again; run it this time.
    ASSERT_TRUE(next(UTRACE_REC_SYSCALL_ENTRY, &e));
    EXPECT_TRUE(e.h.flags & UTRACE_REC_HELD);
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_RUN), 0);
    ASSERT_TRUE(recvFrom(c, &v));
    EXPECT_EQ(v, -1) << "run: lseek(-1) fails";
}

TEST_F(UtraceDev, HeldAtSyscallExitSetRegsChangesTheResult)
{
    Child c;
    spawn(c, lseekLoop);
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL_EXIT, UTRACE_EV_SYSCALL_EXIT, 0, {SYS_lseek}), 0);
    sendTo(c, 1);
    Rec x;
    ASSERT_TRUE(next(UTRACE_REC_SYSCALL_EXIT, &x));
    EXPECT_TRUE(x.h.flags & UTRACE_REC_HELD);
    user_regs_struct r{};
    ASSERT_EQ(regs(h, &r, false), 0);
    EXPECT_EQ(static_cast<long>(r.rax), -EBADF);
    r.rax = 777;
    ASSERT_EQ(regs(h, &r, true), 0);
    ASSERT_EQ(setEvents(h, 0), 0);
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME), 0);
    long v = 0;
    ASSERT_TRUE(recvFrom(c, &v));
    EXPECT_EQ(v, 777);
}

std::atomic<int> gSigSeen{0};

TEST_F(UtraceDev, SignalHeldThenDeliveredAsAnother)
{
    Child c;
    spawn(c, [] {
        struct sigaction sa {};
        sa.sa_handler = [](int sig) { gSigSeen = sig; };
        sigaction(SIGUSR1, &sa, nullptr);
        sigaction(SIGUSR2, &sa, nullptr);
        childSend(0);
        while (!gSigSeen)
            pause();
        childSend(gSigSeen);
        pause();
    });
    long v;
    ASSERT_TRUE(recvFrom(c, &v));
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SIGNAL_ALL, UTRACE_EV_SIGNAL), 0);
    ASSERT_EQ(::kill(c.pid, SIGUSR1), 0);
    Rec s;
    ASSERT_TRUE(next(UTRACE_REC_SIGNAL, &s));
    EXPECT_TRUE(s.h.flags & UTRACE_REC_HELD);
    auto ev = s.as<utrace_ev_signal>();
    EXPECT_EQ(ev.signo, SIGUSR1);
    EXPECT_EQ(ev.disposition, static_cast<__u32>(UTRACE_DISP_DELIVER));
    siginfo_t si;
    std::memcpy(&si, ev.siginfo, sizeof(si));
    EXPECT_EQ(si.si_signo, SIGUSR1);
    EXPECT_EQ(si.si_pid, getpid());
    EXPECT_EQ(control(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_ABORT), -EINVAL)
        << "a syscall verdict for a signal";
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_DELIVER_OTHER, SIGUSR2), 0);
    ASSERT_TRUE(recvFrom(c, &v));
    EXPECT_EQ(v, SIGUSR2);
}

std::atomic<long> gSpin{0};
volatile int gGo = 0;
char gBuf[64] = "hello, utrace";

TEST_F(UtraceDev, StopASpinningThreadThenSingleStep)
{
    Child c;
    spawn(c, [] {
        childSend(0);
        for (;;)
            gSpin.fetch_add(1, std::memory_order_relaxed);
    });
    long v;
    ASSERT_TRUE(recvFrom(c, &v));
    __u32 h = attach(c.pid, c.pid);
    int r = control(h, UTRACE_CTL_STOP);
    EXPECT_TRUE(r == -EINPROGRESS || r == 0) << strerror(-r);
    Rec q;
    ASSERT_TRUE(next(UTRACE_REC_QUIESCE, &q));
    EXPECT_TRUE(q.h.flags & UTRACE_REC_HELD);
    EXPECT_EQ(control(h, UTRACE_CTL_STOP), 0) << "already held";
    user_regs_struct before{}, after{};
    ASSERT_EQ(regs(h, &before, false), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(control(h, UTRACE_CTL_SINGLESTEP), 0);
        Rec st;
        ASSERT_TRUE(next(UTRACE_REC_STEP, &st));
        EXPECT_TRUE(st.h.flags & UTRACE_REC_HELD);
        ASSERT_EQ(regs(h, &after, false), 0);
        EXPECT_NE(after.rip, before.rip) << "the step moved the thread";
        before = after;
    }
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME), 0);
}

TEST_F(UtraceDev, MemoryReadAndWriteRoundTrip)
{
    Child c;
    spawn(c, [] {
        childSend(0);
        while (!gGo)
            gSpin.fetch_add(1, std::memory_order_relaxed);
        childSend(std::strcmp(gBuf, "written by utrace") == 0 ? 1 : 2);
        pause();
    });
    long v;
    ASSERT_TRUE(recvFrom(c, &v));
    __u32 h = attach(c.pid, c.pid);
    control(h, UTRACE_CTL_STOP);
    Rec q;
    ASSERT_TRUE(next(UTRACE_REC_QUIESCE, &q));
    char got[sizeof(gBuf)] = {};
    ASSERT_EQ(mem(h, gBuf, got, sizeof(got), false), (long)sizeof(got));
    EXPECT_STREQ(got, "hello, utrace");
    char put[sizeof(gBuf)] = "written by utrace";
    ASSERT_EQ(mem(h, gBuf, put, sizeof(put), true), (long)sizeof(put));
    int one = 1;
    ASSERT_EQ(mem(h, const_cast<int *>(&gGo), &one, sizeof(one), true), (long)sizeof(one));
    // A piece that runs into unmapped memory reports how far it got.
    void *page = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(page, MAP_FAILED);
    munmap(page, 8192);
    std::vector<char> sink(8192);
    EXPECT_EQ(mem(h, page, sink.data(), sink.size(), false), -EIO)
        << "unmapped in the fixture too (same layout after fork)";
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME), 0);
    ASSERT_TRUE(recvFrom(c, &v));
    EXPECT_EQ(v, 1);
}

TEST_F(UtraceDev, CloneExecExitDeathReapRecords)
{
    Child c;
    spawn(c, [] {
        childRecv();
        pid_t g = fork();
        if (g == 0)
            _exit(0);
        waitpid(g, nullptr, 0);
        execl("/bin/busybox", "true", static_cast<char *>(nullptr));
        _exit(3);
    });
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_CLONE | UTRACE_EV_EXEC | UTRACE_EV_EXIT | UTRACE_EV_DEATH |
                               UTRACE_EV_REAP),
              0);
    sendTo(c, 1);
    Rec r;
    ASSERT_TRUE(next(UTRACE_REC_CLONE, &r));
    EXPECT_GT(r.as<utrace_ev_clone>().child_tid, 0);
    EXPECT_EQ(r.as<utrace_ev_clone>().clone_flags & 0xff, static_cast<__u64>(SIGCHLD));
    EXPECT_EQ(r.as<utrace_ev_clone>().child_handle, 0u) << "not followed";
    ASSERT_TRUE(next(UTRACE_REC_EXEC, &r));
    auto ex = r.as<utrace_ev_exec>();
    ASSERT_GT(ex.path_len, 0u);
    std::string path(reinterpret_cast<const char *>(r.payload.data()) + sizeof(ex), ex.path_len);
    EXPECT_EQ(path, "/bin/busybox");
    EXPECT_EQ(r.payload[sizeof(ex) + ex.path_len], 0) << "NUL-ended";
    ASSERT_TRUE(next(UTRACE_REC_EXIT, &r));
    EXPECT_EQ(r.as<utrace_ev_exit>().code, 0);
    ASSERT_TRUE(next(UTRACE_REC_DEATH, &r));
    EXPECT_EQ(r.as<utrace_ev_death>().group_dead, 1u);
    EXPECT_EQ(r.as<utrace_ev_death>().signal, SIGCHLD);
    int st = 0;
    ASSERT_EQ(waitpid(c.pid, &st, 0), c.pid);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    c.pid = -1;
    ASSERT_TRUE(next(UTRACE_REC_REAP, &r));
    EXPECT_EQ(r.h.handle, h);

    utrace_engine_info info{};
    utrace_list l{};
    l.size = sizeof(l);
    l.max = 1;
    l.buf = reinterpret_cast<__u64>(&info);
    ASSERT_EQ(ioctl(fd_, UTRACE_IOC_LIST, &l), 1);
    EXPECT_EQ(info.state, static_cast<__u32>(UTRACE_STATE_DEAD));
    EXPECT_EQ(control(h, UTRACE_CTL_STOP), -ESRCH);
}

TEST_F(UtraceDev, AFullQueueDropsReportOnlyRecordsAndSaysSo)
{
    utrace_queue_size q{};
    q.size = sizeof(q);
    q.bytes = 100;
    errno = 0;
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_QUEUE_SIZE, &q), -1);
    EXPECT_EQ(errno, EINVAL);
    q.bytes = UTRACE_QUEUE_MIN;
    ASSERT_EQ(ioctl(fd_, UTRACE_IOC_QUEUE_SIZE, &q), 0) << strerror(errno);
    EXPECT_EQ(q.bytes, UTRACE_QUEUE_MIN);

    Child c;
    spawn(c, [] {
        childRecv();
        for (int i = 0; i < 5000; i++)
            fixtureLseek();
        childSend(0);
        pause();
    });
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL, 0, UTRACE_SE_CAPTURE_ARGS, {SYS_lseek}), 0);
    sendTo(c, 1);
    long v;
    ASSERT_TRUE(recvFrom(c, &v, 20000)) << "a report-only engine never blocks the thread";
    __u64 records = 0, lost = 0;
    while (fill(200)) {
        while (!backlog_.empty()) {
            Rec r = backlog_.front();
            backlog_.pop_front();
            if (r.h.type == UTRACE_REC_LOST)
                lost += r.as<utrace_ev_lost>().count;
            else
                records++;
        }
    }
    EXPECT_GT(lost, 0u);
    EXPECT_EQ(records + lost, 10000u) << "every event is a record or counted as lost";
}

TEST_F(UtraceDev, ClosingReleasesTenHeldThreadsWithinASecond)
{
    constexpr int kThreads = 10;
    auto *counters = static_cast<std::atomic<long> *>(
        mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(counters, MAP_FAILED);
    Child c;
    spawn(c, [counters] {
        static std::atomic<long> *ctr;
        ctr = counters;
        for (long i = 0; i < kThreads; i++) {
            pthread_t t;
            pthread_create(
                &t, nullptr,
                [](void *arg) -> void * {
                    long n = reinterpret_cast<long>(arg);
                    childSend(syscall(SYS_gettid));
                    while (ctr[kThreads].load() == 0)
                        usleep(1000);
                    for (;;) {
                        fixtureLseek();
                        ctr[n]++;
                    }
                    return nullptr;
                },
                reinterpret_cast<void *>(i));
        }
        pause();
    });
    std::vector<__u32> handles;
    for (int i = 0; i < kThreads; i++) {
        long tid;
        ASSERT_TRUE(recvFrom(c, &tid));
        __u32 h = attach(static_cast<pid_t>(tid), c.pid);
        ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL_ENTRY, UTRACE_EV_SYSCALL_ENTRY, 0, {SYS_lseek}),
                  0);
        handles.push_back(h);
    }
    counters[kThreads] = 1;
    for (int i = 0; i < kThreads; i++) {
        Rec e;
        ASSERT_TRUE(next(UTRACE_REC_SYSCALL_ENTRY, &e));
        EXPECT_TRUE(e.h.flags & UTRACE_REC_HELD);
    }
    std::vector<long> snap(kThreads);
    for (int i = 0; i < kThreads; i++)
        snap[i] = counters[i];
    usleep(100 * 1000);
    for (int i = 0; i < kThreads; i++)
        EXPECT_EQ(counters[i].load(), snap[i]) << "thread " << i << " is held";
    closeDev();
    EXPECT_TRUE(vmtest::waitFor(
        [&] {
            for (int i = 0; i < kThreads; i++)
                if (counters[i].load() == snap[i])
                    return false;
            return true;
        },
        1000))
        << "every held thread runs again within 1 s of the close";
    c.kill();
    munmap(counters, 4096);
}

TEST_F(UtraceDev, AttachToAPtracedThreadIsEbusy)
{
    Child c;
    spawn(c, [] { pause(); });
    ASSERT_EQ(ptrace(PTRACE_SEIZE, c.pid, nullptr, nullptr), 0) << strerror(errno);
    EXPECT_EQ(attachRaw(c.pid, proof(c.pid)), -EBUSY);
    // Once ptrace lets go (a stopped tracee can be detached), utrace may attach.
    ASSERT_EQ(ptrace(PTRACE_INTERRUPT, c.pid, nullptr, nullptr), 0) << strerror(errno);
    int st = 0;
    ASSERT_EQ(waitpid(c.pid, &st, 0), c.pid);
    ASSERT_EQ(ptrace(PTRACE_DETACH, c.pid, nullptr, nullptr), 0) << strerror(errno);
    EXPECT_EQ(attachRaw(c.pid, proof(c.pid)), 0);
}

TEST_F(UtraceDev, SigkillAlwaysWinsOverAHold)
{
    Child c;
    spawn(c, lseekLoop);
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL_ENTRY | UTRACE_EV_DEATH, UTRACE_EV_SYSCALL_ENTRY, 0,
                        {SYS_lseek}),
              0);
    sendTo(c, 1);
    Rec e;
    ASSERT_TRUE(next(UTRACE_REC_SYSCALL_ENTRY, &e));
    ASSERT_TRUE(e.h.flags & UTRACE_REC_HELD);
    ASSERT_EQ(::kill(c.pid, SIGKILL), 0);
    int st = 0;
    EXPECT_TRUE(vmtest::waitFor([&] { return waitpid(c.pid, &st, WNOHANG) == c.pid; }, 1000))
        << "a held thread dies at once on SIGKILL";
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    c.pid = -1;
    ASSERT_TRUE(next(UTRACE_REC_DEATH, &e));
}

TEST_F(UtraceDev, AHeldRecordWaitsForRoomAndCloseReleasesIt)
{
    auto *ctr = static_cast<std::atomic<long> *>(
        mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(ctr, MAP_FAILED);
    utrace_queue_size q{};
    q.size = sizeof(q);
    q.bytes = UTRACE_QUEUE_MIN;
    ASSERT_EQ(ioctl(fd_, UTRACE_IOC_QUEUE_SIZE, &q), 0);
    Child c;
    spawn(c, [ctr] {
        childRecv();
        for (;;) {
            fixtureLseek();
            (*ctr)++;
        }
    });
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL_EXIT, 0, 0, {SYS_lseek}), 0);
    sendTo(c, 1);
    // Report-only records fill the queue; the thread keeps running.
    long before = ctr->load();
    ASSERT_TRUE(vmtest::waitFor([&] { return ctr->load() > before + 2000; }, 10000));
    // Now every entry holds the thread: its record must wait for room.
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL, UTRACE_EV_SYSCALL_ENTRY, 0, {SYS_lseek}), 0);
    usleep(100 * 1000);
    long stuck = ctr->load();
    usleep(100 * 1000);
    EXPECT_LE(ctr->load(), stuck + 1) << "waiting for room, not dropping a held record";
    // Draining makes room: the HELD record arrives after the LOST one.
    Rec r;
    ASSERT_TRUE(next(UTRACE_REC_LOST, &r));
    EXPECT_GT(r.as<utrace_ev_lost>().count, 0u);
    ASSERT_TRUE(next(UTRACE_REC_SYSCALL_ENTRY, &r, 5000));
    EXPECT_TRUE(r.h.flags & UTRACE_REC_HELD);
    // Fill it again behind the held thread's back, then close: it runs.
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME), 0);
    usleep(50 * 1000);
    closeDev();
    long at = ctr->load();
    EXPECT_TRUE(vmtest::waitFor([&] { return ctr->load() > at + 100; }, 1000));
    c.kill();
    munmap(ctr, 4096);
}

TEST_F(UtraceDev, DeathOfTheClientReleasesItsHeldThreads)
{
    auto *ctr = static_cast<std::atomic<long> *>(
        mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(ctr, MAP_FAILED);
    Child fixture;
    spawn(fixture, [ctr] {
        childRecv();
        for (;;) {
            fixtureLseek();
            (*ctr)++;
        }
    });
    pid_t target = fixture.pid;
    // The client: its own session, holds the fixture, then waits to die.
    Child client;
    spawn(client, [target] {
        int fd = open(kDev, O_RDWR | O_CLOEXEC);
        int pf = open(("/proc/" + std::to_string(target) + "/mem").c_str(), O_RDONLY);
        utrace_attach a{};
        a.size = sizeof(a);
        a.tid = target;
        a.proof_fd = pf;
        if (ioctl(fd, UTRACE_IOC_ATTACH, &a))
            _exit(10);
        utrace_set_events se{};
        se.size = sizeof(se);
        se.handle = a.handle;
        se.events = se.stop_events = UTRACE_EV_SYSCALL_ENTRY;
        if (ioctl(fd, UTRACE_IOC_SET_EVENTS, &se))
            _exit(11);
        childSend(1);
        utrace_event h{};
        char buf[4096];
        if (read(fd, buf, sizeof(buf)) < static_cast<ssize_t>(sizeof(h)))
            _exit(12);
        std::memcpy(&h, buf, sizeof(h));
        childSend(h.flags & UTRACE_REC_HELD ? 2 : 3);
        pause();
    });
    long v = 0;
    ASSERT_TRUE(recvFrom(client, &v));
    sendTo(fixture, 1);
    ASSERT_TRUE(recvFrom(client, &v));
    ASSERT_EQ(v, 2);
    long held = ctr->load();
    usleep(100 * 1000);
    EXPECT_EQ(ctr->load(), held);
    client.kill();
    EXPECT_TRUE(vmtest::waitFor([&] { return ctr->load() > held + 100; }, 1000))
        << "the client's death resumed the held thread";
    fixture.kill();
    munmap(ctr, 4096);
}

// The thread ids of a process, from /proc.
std::set<pid_t> taskTids(pid_t pid)
{
    std::set<pid_t> tids;
    DIR *d = opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
    if (!d)
        return tids;
    while (dirent *e = readdir(d))
        if (e->d_name[0] != '.')
            tids.insert(static_cast<pid_t>(std::atol(e->d_name)));
    closedir(d);
    return tids;
}

TEST_F(UtraceDev, FeatureBitsForTheNewInterfaces)
{
    __u64 f = features();
    for (__u64 bit : {UTRACE_FEAT_FOLLOW, UTRACE_FEAT_KILL_ON_CLOSE, UTRACE_FEAT_ALL_THREADS,
                      UTRACE_FEAT_BARRIER, UTRACE_FEAT_RUN_ARGS, UTRACE_FEAT_SIGNAL_HOLD,
                      UTRACE_FEAT_FPREGS, UTRACE_FEAT_SE_GROUP})
        EXPECT_TRUE(f & bit) << "feature 0x" << std::hex << bit;
}

TEST_F(UtraceDev, AttachFlagsThatDoNotGoTogether)
{
    Child c;
    spawn(c, [] { pause(); });
    EXPECT_EQ(attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_HOLD_CHILDREN), -EINVAL)
        << "HOLD_CHILDREN without FOLLOW";
    EXPECT_EQ(attachRaw(c.pid, proof(c.pid), 0x20), -EINVAL) << "an unknown flag";
    __u32 h = 0;
    ASSERT_EQ(attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_ALL_THREADS, &h), 0);
    EXPECT_NE(h, 0u);
    EXPECT_EQ(
        attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_ALL_THREADS | UTRACE_ATTACH_F_EXCLUSIVE),
        -EEXIST);
    EXPECT_EQ(attachRaw(c.pid, -1, UTRACE_ATTACH_F_ALL_THREADS), -EPERM) << "no proof";
}

TEST_F(UtraceDev, FollowForkHoldsEachNewChildBeforeItsFirstInstruction)
{
    Child c;
    spawn(c, [] {
        childRecv();
        pid_t k = fork();
        if (k == 0) {
            fixtureLseek();
            pid_t g = fork();
            if (g == 0) {
                fixtureLseek();
                _exit(5);
            }
            int st = 0;
            waitpid(g, &st, 0);
            _exit(WIFEXITED(st) ? WEXITSTATUS(st) + 10 : 99);
        }
        int st = 0;
        waitpid(k, &st, 0);
        childSend(WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        pause();
    });
    __u32 h = 0;
    ASSERT_EQ(
        attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_FOLLOW | UTRACE_ATTACH_F_HOLD_CHILDREN, &h),
        0);
    ASSERT_EQ(setEvents(h, UTRACE_EV_CLONE | UTRACE_EV_SYSCALL_ENTRY | UTRACE_EV_EXIT,
                        UTRACE_EV_CLONE, 0, {SYS_lseek}),
              0);
    sendTo(c, 1);
    Rec cl;
    ASSERT_TRUE(nextOf(h, &cl, UTRACE_REC_CLONE));
    EXPECT_TRUE(cl.h.flags & UTRACE_REC_HELD);
    auto ev = cl.as<utrace_ev_clone>();
    const __u32 ch = ev.child_handle;
    ASSERT_NE(ch, 0u) << "the CLONE record names the followed child";
    EXPECT_NE(ch, h);
    EXPECT_EQ(ev.clone_flags & (CLONE_VM | CLONE_THREAD), 0u);
    user_regs_struct pr{}, cr{};
    ASSERT_EQ(regs(h, &pr, false), 0);
    EXPECT_EQ(static_cast<pid_t>(pr.rax), ev.child_tid) << "fork returns the child in the parent";

    // The child's first record says it is held, before any user instruction.
    Rec first;
    ASSERT_TRUE(nextOf(ch, &first));
    EXPECT_TRUE(first.h.flags & UTRACE_REC_HELD) << "record type " << first.h.type;
    EXPECT_EQ(first.h.tid, ev.child_tid);
    EXPECT_EQ(first.h.tgid, ev.child_tid);
    ASSERT_EQ(regs(ch, &cr, false), 0);
    EXPECT_EQ(cr.rax, 0u) << "fork returns 0 in the child";
    EXPECT_EQ(cr.rip, pr.rip) << "held at the parent's return address: its first instruction";
    EXPECT_EQ(cr.rsp, pr.rsp);
    EXPECT_EQ(vmtest::threadState(ev.child_tid, ev.child_tid), 't');
    bool listed = false;
    for (auto &e : list())
        if (e.handle == ch) {
            listed = true;
            EXPECT_EQ(e.tid, ev.child_tid);
            EXPECT_EQ(e.state, static_cast<__u32>(UTRACE_STATE_HELD));
            EXPECT_EQ(e.events, UTRACE_EV_CLONE | UTRACE_EV_SYSCALL_ENTRY | UTRACE_EV_EXIT)
                << "the parent's settings";
            EXPECT_EQ(e.stop_events, UTRACE_EV_CLONE);
        }
    EXPECT_TRUE(listed);

    ASSERT_EQ(control(ch, UTRACE_CTL_RESUME), 0);
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME), 0);
    Rec e;
    ASSERT_TRUE(nextOf(ch, &e, UTRACE_REC_SYSCALL_ENTRY)) << "the child's events arrive";
    EXPECT_EQ(e.h.tid, ev.child_tid);
    EXPECT_EQ(e.as<utrace_ev_syscall_entry>().nr, SYS_lseek) << "with the parent's filter";

    // Recursive: the child's own fork is followed and held too.
    Rec gcl;
    ASSERT_TRUE(nextOf(ch, &gcl, UTRACE_REC_CLONE));
    EXPECT_TRUE(gcl.h.flags & UTRACE_REC_HELD) << "the child stops at CLONE like its parent";
    const __u32 gh = gcl.as<utrace_ev_clone>().child_handle;
    ASSERT_NE(gh, 0u);
    Rec gfirst;
    ASSERT_TRUE(nextOf(gh, &gfirst));
    EXPECT_TRUE(gfirst.h.flags & UTRACE_REC_HELD);
    EXPECT_EQ(gfirst.h.tid, gcl.as<utrace_ev_clone>().child_tid);
    ASSERT_EQ(control(gh, UTRACE_CTL_RESUME), 0);
    ASSERT_EQ(control(ch, UTRACE_CTL_RESUME), 0);
    ASSERT_TRUE(nextOf(gh, &e, UTRACE_REC_SYSCALL_ENTRY));
    ASSERT_TRUE(nextOf(gh, &e, UTRACE_REC_EXIT));
    EXPECT_EQ(e.as<utrace_ev_exit>().code, 5 << 8);
    ASSERT_TRUE(nextOf(ch, &e, UTRACE_REC_EXIT));
    EXPECT_EQ(e.as<utrace_ev_exit>().code, 15 << 8);
    long v = 0;
    ASSERT_TRUE(recvFrom(c, &v));
    EXPECT_EQ(v, 15);
}

TEST_F(UtraceDev, FollowVforkReportsTheChildOnceTheParentRuns)
{
    Child c;
    spawn(c, [] {
        childRecv();
        pid_t k = vfork();
        if (k == 0) {
            execl("/bin/busybox", "sleep", "1", static_cast<char *>(nullptr));
            _exit(127);
        }
        int st = 0;
        waitpid(k, &st, 0);
        childSend(WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        pause();
    });
    __u32 h = 0;
    ASSERT_EQ(
        attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_FOLLOW | UTRACE_ATTACH_F_HOLD_CHILDREN, &h),
        0);
    ASSERT_EQ(setEvents(h, UTRACE_EV_CLONE | UTRACE_EV_EXIT), 0);
    sendTo(c, 1);
    Rec cl;
    ASSERT_TRUE(nextOf(h, &cl, UTRACE_REC_CLONE));
    auto ev = cl.as<utrace_ev_clone>();
    EXPECT_TRUE(ev.clone_flags & CLONE_VFORK);
    const __u32 ch = ev.child_handle;
    ASSERT_NE(ch, 0u);
    Rec first;
    ASSERT_TRUE(nextOf(ch, &first));
    EXPECT_EQ(first.h.type, UTRACE_REC_QUIESCE);
    EXPECT_TRUE(first.h.flags & UTRACE_REC_HELD) << "HOLD_CHILDREN stops it where it is";
    EXPECT_EQ(first.h.tid, ev.child_tid);
    user_regs_struct r{};
    EXPECT_EQ(regs(ch, &r, false), -EPERM) << "it exec'd: the proof does not cover the new image";
    ASSERT_EQ(control(ch, UTRACE_CTL_RESUME), 0);
    Rec x;
    ASSERT_TRUE(nextOf(ch, &x, UTRACE_REC_EXIT, 10000)) << "the child's events arrive";
    EXPECT_EQ(x.as<utrace_ev_exit>().code, 0);
    long v = -2;
    ASSERT_TRUE(recvFrom(c, &v, 10000));
    EXPECT_EQ(v, 0);
}

TEST_F(UtraceDev, FollowCloneThreadHoldsTheNewThread)
{
    Child c;
    spawn(c, [] {
        childRecv();
        pthread_t t;
        pthread_create(
            &t, nullptr,
            [](void *) -> void * {
                fixtureLseek();
                return nullptr;
            },
            nullptr);
        pthread_join(t, nullptr);
        childSend(1);
        pause();
    });
    __u32 h = 0;
    ASSERT_EQ(
        attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_FOLLOW | UTRACE_ATTACH_F_HOLD_CHILDREN, &h),
        0);
    ASSERT_EQ(setEvents(h, UTRACE_EV_CLONE | UTRACE_EV_SYSCALL_ENTRY | UTRACE_EV_EXIT,
                        UTRACE_EV_CLONE, 0, {SYS_lseek}),
              0);
    sendTo(c, 1);
    Rec cl;
    ASSERT_TRUE(nextOf(h, &cl, UTRACE_REC_CLONE));
    EXPECT_TRUE(cl.h.flags & UTRACE_REC_HELD);
    auto ev = cl.as<utrace_ev_clone>();
    EXPECT_TRUE(ev.clone_flags & CLONE_THREAD);
    const __u32 th = ev.child_handle;
    ASSERT_NE(th, 0u);
    user_regs_struct pr{}, tr{};
    ASSERT_EQ(regs(h, &pr, false), 0);
    Rec first;
    ASSERT_TRUE(nextOf(th, &first));
    EXPECT_TRUE(first.h.flags & UTRACE_REC_HELD);
    EXPECT_EQ(first.h.tid, ev.child_tid);
    EXPECT_EQ(first.h.tgid, c.pid);
    ASSERT_EQ(regs(th, &tr, false), 0) << "same mm: the proof covers the thread";
    EXPECT_EQ(tr.rax, 0u) << "clone returns 0 in the new thread";
    EXPECT_EQ(tr.rip, pr.rip) << "held at the clone's return: its first instruction";
    EXPECT_NE(tr.rsp, pr.rsp) << "on its own stack";
    ASSERT_EQ(control(th, UTRACE_CTL_RESUME), 0);
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME), 0);
    Rec e;
    ASSERT_TRUE(nextOf(th, &e, UTRACE_REC_SYSCALL_ENTRY));
    EXPECT_EQ(e.h.tid, ev.child_tid);
    ASSERT_TRUE(nextOf(th, &e, UTRACE_REC_EXIT));
    long v = 0;
    ASSERT_TRUE(recvFrom(c, &v));
    EXPECT_EQ(v, 1);
}

TEST_F(UtraceDev, AllThreadsOfAProcessThatKeepsCloning)
{
    constexpr int kSpawners = 8;
    Child c;
    spawn(c, [] {
        for (int i = 0; i < kSpawners; i++) {
            pthread_t t;
            pthread_create(
                &t, nullptr,
                [](void *) -> void * {
                    for (;;) {
                        pthread_t w;
                        if (pthread_create(
                                &w, nullptr,
                                [](void *) -> void * {
                                    fixtureLseek();
                                    return nullptr;
                                },
                                nullptr) == 0)
                            pthread_join(w, nullptr);
                    }
                    return nullptr;
                },
                nullptr);
        }
        childSend(0);
        pause();
    });
    long v;
    ASSERT_TRUE(recvFrom(c, &v));
    usleep(50 * 1000);
    __u32 h = 0;
    ASSERT_EQ(attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_ALL_THREADS, &h), 0);
    auto engines = list(65536);
    bool mine = false;
    for (auto &e : engines)
        mine = mine || (e.handle == h && e.tid == c.pid);
    EXPECT_TRUE(mine) << "the handle returned is the tid's engine";
    EXPECT_GT(engines.size(), static_cast<size_t>(kSpawners));
    // Events for all of them at once; threads created meanwhile inherit the
    // settings their creator has, so every live engine has them afterwards.
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL_ENTRY, 0, UTRACE_SE_GROUP, {SYS_lseek}), 0);
    for (auto &e : list(65536)) {
        if (e.state != UTRACE_STATE_DEAD) {
            EXPECT_EQ(e.events, UTRACE_EV_SYSCALL_ENTRY) << "engine " << e.handle;
        }
    }
    EXPECT_EQ(setEvents(h, UTRACE_EV_SYSCALL_ENTRY, 0, 0x4), -EINVAL) << "an unknown flag";
    // Any thread seen in /proc has an engine, or is gone, by a LIST soon after.
    int checked = 0;
    for (int round = 0; round < 10; round++) {
        for (pid_t t : taskTids(c.pid)) {
            std::string dir = "/proc/" + std::to_string(c.pid) + "/task/" + std::to_string(t);
            bool ok = vmtest::waitFor(
                [&] {
                    for (auto &e : list(65536))
                        if (e.tid == t && e.state != UTRACE_STATE_DEAD)
                            return true;
                    return access(dir.c_str(), F_OK) != 0;
                },
                2000);
            EXPECT_TRUE(ok) << "thread " << t << " escaped ALL_THREADS";
            checked++;
        }
        usleep(20 * 1000);
    }
    EXPECT_GT(checked, 10 * kSpawners);
    // Records come from the workers the spawners keep creating.
    std::set<pid_t> from;
    Rec e;
    while (from.size() < 2 * kSpawners && next(UTRACE_REC_SYSCALL_ENTRY, &e, 5000))
        from.insert(e.h.tid);
    EXPECT_GE(from.size(), static_cast<size_t>(2 * kSpawners));
    EXPECT_EQ(from.count(c.pid), 0u) << "the main thread only pauses";
}

TEST_F(UtraceDev, ExecFromANonLeaderThread)
{
    Child c;
    spawn(c, [] {
        childRecv();
        pthread_t t;
        pthread_create(
            &t, nullptr,
            [](void *) -> void * {
                execl("/bin/busybox", "sleep", "1", static_cast<char *>(nullptr));
                _exit(127);
            },
            nullptr);
        pause();
    });
    __u32 h = 0;
    ASSERT_EQ(attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_ALL_THREADS, &h), 0);
    ASSERT_EQ(setEvents(h, UTRACE_EV_CLONE | UTRACE_EV_EXEC | UTRACE_EV_EXIT | UTRACE_EV_DEATH |
                               UTRACE_EV_REAP),
              0);
    sendTo(c, 1);
    Rec cl;
    ASSERT_TRUE(nextOf(h, &cl, UTRACE_REC_CLONE));
    const __u32 th = cl.as<utrace_ev_clone>().child_handle;
    const pid_t ttid = cl.as<utrace_ev_clone>().child_tid;
    ASSERT_NE(th, 0u) << "ALL_THREADS follows new threads";
    ASSERT_NE(ttid, c.pid);
    Rec ex;
    ASSERT_TRUE(nextOf(th, &ex, UTRACE_REC_EXEC));
    EXPECT_EQ(ex.h.tid, c.pid) << "the exec'ing thread takes the leader's tid";
    EXPECT_EQ(ex.h.tgid, c.pid);
    auto exh = ex.as<utrace_ev_exec>();
    EXPECT_EQ(
        std::string(reinterpret_cast<const char *>(ex.payload.data()) + sizeof(exh), exh.path_len),
        "/bin/busybox");
    Rec d;
    ASSERT_TRUE(nextOf(h, &d, UTRACE_REC_DEATH)) << "the old leader died in the exec";
    EXPECT_EQ(d.h.tid, c.pid);
    bool seenT = false, seenL = false;
    for (auto &e : list()) {
        if (e.handle == th) {
            seenT = true;
            EXPECT_EQ(e.tid, c.pid) << "the engine follows the thread to its new tid";
            EXPECT_EQ(e.state, static_cast<__u32>(UTRACE_STATE_RUNNING));
        }
        if (e.handle == h) {
            seenL = true;
            EXPECT_EQ(e.state, static_cast<__u32>(UTRACE_STATE_DEAD));
        }
    }
    EXPECT_TRUE(seenT && seenL);
    EXPECT_EQ(vmtest::threadState(c.pid, ttid), 0) << "the old tid is gone";
    Rec x;
    ASSERT_TRUE(nextOf(th, &x, UTRACE_REC_EXIT, 10000)) << "the engine lives on in the new image";
    EXPECT_EQ(x.h.tid, c.pid);
    EXPECT_EQ(x.as<utrace_ev_exit>().code, 0);
}

TEST_F(UtraceDev, TheClientKilledWhileAHundredThreadsAreHeld)
{
    constexpr int kThreads = 100;
    auto *ctr = static_cast<std::atomic<long> *>(
        mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(ctr, MAP_FAILED);
    Child fixture;
    spawn(fixture, [ctr] {
        static std::atomic<long> *g;
        g = ctr;
        for (long i = 0; i < kThreads; i++) {
            pthread_t t;
            pthread_attr_t at;
            pthread_attr_init(&at);
            pthread_attr_setstacksize(&at, 64 << 10);
            if (pthread_create(
                    &t, &at,
                    [](void *arg) -> void * {
                        long n = reinterpret_cast<long>(arg);
                        // Quiet until all exist: 100 spinners starve the creator.
                        while (g[kThreads].load() == 0)
                            usleep(1000);
                        for (;;) {
                            fixtureLseek();
                            g[n]++;
                        }
                        return nullptr;
                    },
                    reinterpret_cast<void *>(i)))
                _exit(20);
        }
        childSend(0);
        pause();
    });
    long v = 0;
    ASSERT_TRUE(recvFrom(fixture, &v, 20000));
    ctr[kThreads] = 1;
    pid_t target = fixture.pid;
    Child client;
    spawn(client, [target] {
        int fd = open(kDev, O_RDWR | O_CLOEXEC);
        int pf = open(("/proc/" + std::to_string(target) + "/mem").c_str(), O_RDONLY);
        utrace_attach a{};
        a.size = sizeof(a);
        a.tid = target;
        a.proof_fd = pf;
        a.flags = UTRACE_ATTACH_F_ALL_THREADS;
        if (ioctl(fd, UTRACE_IOC_ATTACH, &a))
            _exit(10);
        std::vector<utrace_engine_info> info(1024);
        utrace_list l{};
        l.size = sizeof(l);
        l.max = static_cast<__u32>(info.size());
        l.buf = reinterpret_cast<__u64>(info.data());
        int n = ioctl(fd, UTRACE_IOC_LIST, &l);
        if (n != kThreads + 1)
            _exit(11);
        unsigned long long bitmap[UTRACE_FILTER_NR / 64] = {};
        bitmap[SYS_lseek / 64] |= 1ULL << (SYS_lseek % 64);
        for (int i = 0; i < n; i++) {
            utrace_set_events se{};
            se.size = sizeof(se);
            se.handle = info[i].handle;
            se.events = se.stop_events = UTRACE_EV_SYSCALL_ENTRY;
            se.syscall_filter = reinterpret_cast<__u64>(bitmap);
            if (ioctl(fd, UTRACE_IOC_SET_EVENTS, &se))
                _exit(12);
        }
        std::set<pid_t> held;
        std::vector<char> buf(1 << 16);
        while (held.size() < kThreads) {
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, 20000) != 1)
                _exit(13);
            ssize_t got = read(fd, buf.data(), buf.size());
            for (ssize_t off = 0; off < got;) {
                utrace_event h{};
                std::memcpy(&h, &buf[off], sizeof(h));
                if (h.type == UTRACE_REC_SYSCALL_ENTRY && (h.flags & UTRACE_REC_HELD))
                    held.insert(h.tid);
                off += h.size;
            }
        }
        childSend(2);
        pause();
    });
    ASSERT_TRUE(recvFrom(client, &v, 30000));
    ASSERT_EQ(v, 2);
    std::vector<long> snap(kThreads);
    for (int i = 0; i < kThreads; i++)
        snap[i] = ctr[i];
    usleep(100 * 1000);
    for (int i = 0; i < kThreads; i++)
        EXPECT_EQ(ctr[i].load(), snap[i]) << "thread " << i << " is held";
    client.kill();
    EXPECT_TRUE(vmtest::waitFor(
        [&] {
            for (int i = 0; i < kThreads; i++)
                if (ctr[i].load() == snap[i])
                    return false;
            return true;
        },
        1000))
        << "all 100 held threads run again within 1 s of the client's death";
    fixture.kill();
    munmap(ctr, 4096);
}

TEST_F(UtraceDev, KillOnCloseKillsTheTracees)
{
    Child c;
    spawn(c, [] {
        childRecv();
        pid_t k = fork();
        if (k == 0) {
            childSend(getpid());
            for (;;)
                pause();
        }
        for (;;) // spins: STOP holds it at once
            gSpin.fetch_add(1, std::memory_order_relaxed);
    });
    __u32 h = 0;
    ASSERT_EQ(
        attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_FOLLOW | UTRACE_ATTACH_F_KILL_ON_CLOSE, &h),
        0);
    ASSERT_EQ(setEvents(h, UTRACE_EV_CLONE), 0);
    sendTo(c, 1);
    Rec cl;
    ASSERT_TRUE(nextOf(h, &cl, UTRACE_REC_CLONE));
    ASSERT_NE(cl.as<utrace_ev_clone>().child_handle, 0u);
    long kid = 0;
    ASSERT_TRUE(recvFrom(c, &kid));
    // The parent held, the child running: both die at the close.
    int r = control(h, UTRACE_CTL_STOP);
    EXPECT_TRUE(r == 0 || r == -EINPROGRESS) << strerror(-r);
    Rec q;
    ASSERT_TRUE(nextOf(h, &q, UTRACE_REC_QUIESCE));
    closeDev();
    int st = 0;
    EXPECT_TRUE(vmtest::waitFor([&] { return waitpid(c.pid, &st, WNOHANG) == c.pid; }, 1000));
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << "status " << st;
    c.pid = -1;
    EXPECT_TRUE(vmtest::waitFor(
        [&] {
            char s = vmtest::threadState(static_cast<pid_t>(kid), static_cast<pid_t>(kid));
            return s == 0 || s == 'Z' || s == 'X';
        },
        1000))
        << "the followed child is killed too";
}

TEST_F(UtraceDev, KillOnCloseIsPerEngine)
{
    Child c;
    spawn(c, lseekLoop);
    attach(c.pid, c.pid);
    closeDev();
    usleep(50 * 1000);
    EXPECT_EQ(waitpid(c.pid, nullptr, WNOHANG), 0) << "without the flag the tracee lives on";
}

TEST_F(UtraceDev, BarrierWaitsForTheEnginesCallbacks)
{
    Child c;
    spawn(c, lseekLoop);
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL | UTRACE_EV_REAP, 0, 0, {SYS_lseek}), 0);
    sendTo(c, 1);
    Rec e;
    ASSERT_TRUE(next(UTRACE_REC_SYSCALL_ENTRY, &e));
    EXPECT_EQ(barrier(h), 0);
    EXPECT_EQ(barrier(h + 100), -ENOENT);
    EXPECT_EQ(barrier(h, 1), -EINVAL) << "reserved must be 0";
    utrace_barrier b{};
    b.size = UTRACE_BARRIER_SIZE_VER0 - 8;
    b.handle = h;
    errno = 0;
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_BARRIER, &b), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(ioctl(fd_, UTRACE_IOC_BARRIER, nullptr), -1);
    EXPECT_EQ(errno, EFAULT);
    // Once the events are off and the barrier passed, nothing more comes.
    ASSERT_EQ(setEvents(h, UTRACE_EV_REAP), 0);
    ASSERT_EQ(barrier(h), 0);
    while (fill(100))
        backlog_.clear();
    EXPECT_FALSE(fill(300)) << "a record after the barrier";
    // A reaped thread's engine has nothing left to wait for.
    c.kill();
    ASSERT_TRUE(next(UTRACE_REC_REAP, &e));
    EXPECT_TRUE(vmtest::waitFor([&] { return barrier(h) == -ESRCH; }, 2000));
}

// Spins until xmm0 is not zero (the tracer writes it), then returns it.
// *flag says the thread is in the loop, with xmm0 cleared.
unsigned long spinUntilXmm0(volatile int *flag)
{
    unsigned long v;
    asm volatile("pxor %%xmm0, %%xmm0\n\t"
                 "movl $1, (%1)\n\t"
                 "1: movq %%xmm0, %0\n\t"
                 "test %0, %0\n\t"
                 "jz 1b"
                 : "=&r"(v)
                 : "r"(flag)
                 : "xmm0", "memory", "cc");
    return v;
}

TEST_F(UtraceDev, FpAndXstateRegistersRoundTrip)
{
    const __u64 f = features();
    auto *flag = static_cast<volatile int *>(
        mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(flag, MAP_FAILED);
    Child c;
    spawn(c, [flag] {
        for (;;) {
            childRecv();
            childSend(static_cast<long>(spinUntilXmm0(flag)));
        }
    });
    __u32 h = attach(c.pid, c.pid);
    auto holdInLoop = [&] {
        *flag = 0;
        sendTo(c, 1);
        ASSERT_TRUE(vmtest::waitFor([&] { return *flag == 1; }, 5000));
        int r = control(h, UTRACE_CTL_STOP);
        ASSERT_TRUE(r == 0 || r == -EINPROGRESS) << strerror(-r);
        Rec q;
        ASSERT_TRUE(next(UTRACE_REC_QUIESCE, &q));
    };

    // FP: struct user_fpregs_struct (FXSAVE layout), xmm0 at xmm_space[0].
    holdInLoop();
    user_fpregs_struct fp{};
    __u32 len = sizeof(fp);
    ASSERT_EQ(regset(h, UTRACE_REGSET_FP, &fp, &len, false), 0);
    EXPECT_EQ(len, sizeof(fp));
    EXPECT_EQ(fp.xmm_space[0] | fp.xmm_space[1], 0u) << "the loop cleared xmm0";
    const __u64 magic1 = 0x1122334455667788ULL;
    std::memcpy(&fp.xmm_space[0], &magic1, sizeof(magic1));
    ASSERT_EQ(regset(h, UTRACE_REGSET_FP, &fp, &len, true), 0);
    user_fpregs_struct back{};
    len = sizeof(back);
    ASSERT_EQ(regset(h, UTRACE_REGSET_FP, &back, &len, false), 0);
    EXPECT_EQ(std::memcmp(&back.xmm_space[0], &magic1, sizeof(magic1)), 0);
    __u32 small = 16;
    EXPECT_EQ(regset(h, UTRACE_REGSET_FP, &back, &small, false), -EINVAL);
    EXPECT_EQ(small, sizeof(fp)) << "the size needed comes back";
    __u32 l3 = sizeof(back);
    EXPECT_EQ(regset(h, 3, &back, &l3, false), -EINVAL) << "no such register set";
    // General registers, by number too.
    user_regs_struct gr{};
    __u32 gl = sizeof(gr);
    EXPECT_EQ(regset(h, UTRACE_REGSET_GENERAL, &gr, &gl, false), 0);
    EXPECT_EQ(gl, sizeof(gr));
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME), 0);
    long v = 0;
    ASSERT_TRUE(recvFrom(c, &v));
    EXPECT_EQ(static_cast<__u64>(v), magic1) << "the tracee sees the xmm0 we wrote";

    // XSTATE: the XSAVE area, whose first 512 bytes are the FXSAVE layout.
    holdInLoop();
    __u32 xl = 0;
    if (!(f & UTRACE_FEAT_XSTATE)) {
        EXPECT_EQ(regset(h, UTRACE_REGSET_XSTATE, nullptr, &xl, false), -EOPNOTSUPP);
        ASSERT_EQ(control(h, UTRACE_CTL_RESUME), 0);
        GTEST_SKIP() << "no XSAVE on this CPU: UTRACE_FEAT_XSTATE is clear";
    }
    EXPECT_EQ(regset(h, UTRACE_REGSET_XSTATE, nullptr, &xl, false), -EINVAL);
    ASSERT_GE(xl, 576u) << "legacy area and XSAVE header at least";
    std::vector<unsigned char> xs(xl);
    ASSERT_EQ(regset(h, UTRACE_REGSET_XSTATE, xs.data(), &xl, false), 0);
    __u64 x0 = 1;
    std::memcpy(&x0, &xs[160], sizeof(x0));
    EXPECT_EQ(x0, 0u) << "xmm0 cleared again";
    const __u64 magic2 = 0x0badcafe12345678ULL;
    std::memcpy(&xs[160], &magic2, sizeof(magic2));
    ASSERT_EQ(regset(h, UTRACE_REGSET_XSTATE, xs.data(), &xl, true), 0);
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME), 0);
    ASSERT_TRUE(recvFrom(c, &v));
    EXPECT_EQ(static_cast<__u64>(v), magic2);
    munmap(const_cast<int *>(flag), 4096);
}

TEST_F(UtraceDev, RunArgsChangesWhatTheSyscallDoes)
{
    Child c;
    spawn(c, [] {
        childSend(gChildOut);
        childRecv();
        static const char msg[8] = {'R', 'U', 'N', 'A', 'R', 'G', 'S', '!'};
        iovec iov{const_cast<char *>(msg), sizeof(msg)};
        long r = syscall(SYS_writev, 999, &iov, 1);
        childSend(r);
        pause();
    });
    long outFd = -1;
    ASSERT_TRUE(recvFrom(c, &outFd));
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SYSCALL_ENTRY, UTRACE_EV_SYSCALL_ENTRY, UTRACE_SE_CAPTURE_ARGS,
                        {SYS_writev}),
              0);
    sendTo(c, 1);
    Rec e;
    ASSERT_TRUE(next(UTRACE_REC_SYSCALL_ENTRY, &e));
    ASSERT_TRUE(e.h.flags & UTRACE_REC_HELD);
    auto se = e.as<utrace_ev_syscall_entry>();
    EXPECT_EQ(se.args[0], 999u);
    __u64 args[6] = {static_cast<__u64>(outFd), se.args[1], 1, 0, 0, 0};
    EXPECT_EQ(controlArgs(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_RUN_ARGS, nullptr), -EINVAL)
        << "RUN_ARGS needs the arguments";
    EXPECT_EQ(controlArgs(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_RUN, args), -EINVAL)
        << "arguments with another verdict";
    EXPECT_EQ(controlArgs(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_RUN_ARGS,
                          reinterpret_cast<const __u64 *>(16)),
              -EFAULT);
    EXPECT_EQ(controlArgs(h, UTRACE_CTL_STOP, UTRACE_VERDICT_RUN_ARGS, args), -EINVAL)
        << "a verdict with STOP";
    ASSERT_EQ(controlArgs(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_RUN_ARGS, args), 0);
    long got = 0;
    ASSERT_TRUE(recvFrom(c, &got)) << "the writev went to the pipe, not to fd 999";
    EXPECT_EQ(std::memcmp(&got, "RUNARGS!", 8), 0);
    long r = 0;
    ASSERT_TRUE(recvFrom(c, &r));
    EXPECT_EQ(r, 8);
    EXPECT_EQ(controlArgs(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_RUN_ARGS, args), -EINVAL)
        << "nothing held at a syscall entry";
}

TEST_F(UtraceDev, SignalHeldThenDeliveredLater)
{
    Child c;
    spawn(c, [] {
        struct sigaction sa {};
        sa.sa_handler = [](int sig) { gSigSeen = sig; };
        sigaction(SIGUSR1, &sa, nullptr);
        childSend(0);
        while (!gSigSeen)
            pause();
        childSend(gSigSeen);
        pause();
    });
    long v;
    ASSERT_TRUE(recvFrom(c, &v));
    __u32 h = attach(c.pid, c.pid);
    ASSERT_EQ(setEvents(h, UTRACE_EV_SIGNAL_ALL, UTRACE_EV_SIGNAL), 0);
    EXPECT_EQ(control(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_HOLD), -EINVAL) << "no signal held yet";
    ASSERT_EQ(::kill(c.pid, SIGUSR1), 0);
    Rec s1;
    ASSERT_TRUE(next(UTRACE_REC_SIGNAL, &s1));
    EXPECT_TRUE(s1.h.flags & UTRACE_REC_HELD);
    EXPECT_EQ(s1.as<utrace_ev_signal>().signo, SIGUSR1);
    // Hold it: the signal comes back as a new stop, not delivered.
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_HOLD), 0);
    Rec s2;
    ASSERT_TRUE(next(UTRACE_REC_SIGNAL, &s2));
    EXPECT_TRUE(s2.h.flags & UTRACE_REC_HELD);
    EXPECT_EQ(s2.as<utrace_ev_signal>().signo, SIGUSR1);
    EXPECT_GT(s2.h.seq, s1.h.seq);
    EXPECT_FALSE(recvFrom(c, &v, 200)) << "the handler has not run";
    // Again, then deliver.
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_HOLD), 0);
    ASSERT_TRUE(next(UTRACE_REC_SIGNAL, &s2));
    EXPECT_TRUE(s2.h.flags & UTRACE_REC_HELD);
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME, UTRACE_VERDICT_DELIVER), 0);
    ASSERT_TRUE(recvFrom(c, &v));
    EXPECT_EQ(v, SIGUSR1);
}

TEST_F(UtraceDev, AllThreadsRefusesAProcessWithAPtracedThreadAndLeavesNothing)
{
    Child c;
    spawn(c, [] {
        pthread_t t;
        pthread_create(
            &t, nullptr,
            [](void *) -> void * {
                childSend(syscall(SYS_gettid));
                for (;;)
                    pause();
            },
            nullptr);
        for (;;)
            pause();
    });
    long tid = 0;
    ASSERT_TRUE(recvFrom(c, &tid));
    ASSERT_EQ(ptrace(PTRACE_SEIZE, static_cast<pid_t>(tid), nullptr, nullptr), 0)
        << strerror(errno);
    EXPECT_EQ(attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_ALL_THREADS), -EBUSY);
    EXPECT_EQ(list().size(), 0u) << "the leader's engine is detached again";
    ASSERT_EQ(ptrace(PTRACE_INTERRUPT, static_cast<pid_t>(tid), nullptr, nullptr), 0);
    int st = 0;
    ASSERT_EQ(waitpid(static_cast<pid_t>(tid), &st, __WALL), tid);
    ASSERT_EQ(ptrace(PTRACE_DETACH, static_cast<pid_t>(tid), nullptr, nullptr), 0);
    __u32 h = 0;
    ASSERT_EQ(attachRaw(c.pid, proof(c.pid), UTRACE_ATTACH_F_ALL_THREADS, &h), 0);
    auto l = list();
    ASSERT_EQ(l.size(), 2u);
    std::set<pid_t> tids;
    for (auto &e : l)
        tids.insert(e.tid);
    EXPECT_EQ(tids, (std::set<pid_t>{c.pid, static_cast<pid_t>(tid)}));
}

TEST_F(UtraceDev, ProveAfterAnExecAllowsExaminingTheNewImage)
{
    Child c;
    spawn(c, [] {
        childRecv();
        execl("/bin/busybox", "sleep", "30", static_cast<char *>(nullptr));
        _exit(127);
    });
    int stale = proof(c.pid);
    __u32 h = 0;
    ASSERT_EQ(attachRaw(c.pid, stale, 0, &h), 0);
    ASSERT_EQ(setEvents(h, UTRACE_EV_EXEC, UTRACE_EV_EXEC), 0);
    sendTo(c, 1);
    Rec ex;
    ASSERT_TRUE(nextOf(h, &ex, UTRACE_REC_EXEC));
    ASSERT_TRUE(ex.h.flags & UTRACE_REC_HELD);
    user_regs_struct r{};
    EXPECT_EQ(regs(h, &r, false), -EPERM) << "the proof covered the image before the exec";

    auto prove = [&](__u32 handle, int fd, __u32 reserved = 0) {
        utrace_prove p{};
        p.size = sizeof(p);
        p.handle = handle;
        p.proof_fd = fd;
        p.reserved = reserved;
        return ioctl(fd_, UTRACE_IOC_PROVE, &p) ? -errno : 0;
    };
    EXPECT_EQ(prove(h, stale), -EPERM) << "a proof from before the exec proves nothing";
    EXPECT_EQ(prove(h, -1), -EPERM);
    int fresh = proof(c.pid);
    EXPECT_EQ(prove(h, fresh, 1), -EINVAL) << "reserved must be 0";
    EXPECT_EQ(prove(h + 1000, fresh), -ENOENT) << "unknown handle";
    EXPECT_EQ(regs(h, &r, false), -EPERM) << "failed calls changed nothing";
    ASSERT_EQ(prove(h, fresh), 0);
    ASSERT_EQ(regs(h, &r, false), 0);
    EXPECT_NE(r.rip, 0u);
    unsigned char insn[16] = {};
    EXPECT_EQ(mem(h, reinterpret_cast<void *>(r.rip), insn, sizeof(insn), false),
              static_cast<long>(sizeof(insn)))
        << "memory of the new image reads again";
    utrace_version v{};
    v.size = sizeof(v);
    ASSERT_EQ(ioctl(fd_, UTRACE_IOC_VERSION, &v), 0);
    EXPECT_TRUE(v.features & UTRACE_FEAT_PROVE);
    ASSERT_EQ(control(h, UTRACE_CTL_RESUME), 0);
}
