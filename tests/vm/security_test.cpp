// UtraceDevSecurity: attaching through /dev/utrace takes exactly the right
// ptrace attach takes. Every case runs the tracer as an unprivileged uid (or
// root where root is the point), tries the whole utrace attach path (open the
// device, open /proc/PID/mem for the proof, ATTACH) and real
// ptrace(PTRACE_ATTACH) on the same target, and compares: utrace must refuse
// exactly where ptrace refuses. Where the proof cannot be opened, every other
// descriptor a caller could hand in instead must fail with EPERM.
//
// The device node is given group kUtraceGid and mode 0660 for the suite (what
// the project's udev rule installs) and restored afterwards.
//
// Yama's ptrace_scope 3 cannot be lowered again until reboot and refuses every
// /proc/PID/mem open, even root's: YamaScope3 is the last test of this file,
// and tools/vm/vmtest runs this suite last in the guest.
#include <linux/utrace.h>

#include "vm_util.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <functional>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

const int kUnbuffered = [] {
    setvbuf(stdout, nullptr, _IONBF, 0);
    return 0;
}();

const char *const kDev = "/dev/" UTRACE_DEVICE_NAME;
const char *const kFixtureFlag = "--suid-fixture";
const char *const kSuidPath = "/tmp/utrace-suid-fixture";
const char *const kScopePath = "/proc/sys/kernel/yama/ptrace_scope";
constexpr gid_t kUtraceGid = 2000; // the emulated `utrace` group
constexpr long kForgedRet = 4242;  // what a tracer would make a syscall return

struct Creds {
    uid_t uid;
    gid_t gid;
    std::vector<gid_t> groups;
};
const Creds kUser{1000, 1000, {1000, kUtraceGid}}; // in the utrace group
const Creds kOther{1001, 1001, {1001}};            // not in it
const Creds kRoot{0, 0, {0}};

// Drops to `c` for good. A credential change clears the dumpable flag; a
// plain user's process is dumpable, so set it back (as exec would).
bool dropTo(const Creds &c)
{
    if (c.uid == 0)
        return true;
    if (setgroups(c.groups.size(), c.groups.data()) || setresgid(c.gid, c.gid, c.gid) ||
        setresuid(c.uid, c.uid, c.uid))
        return false;
    return prctl(PR_SET_DUMPABLE, 1) == 0;
}

std::string errName(int e)
{
    if (e == 0)
        return "ok";
    const char *n = strerrorname_np(e);
    return n ? n : std::to_string(e);
}

bool writeLong(int fd, long v)
{
    return write(fd, &v, sizeof(v)) == sizeof(v);
}

// Reads one long within `ms`; false on timeout or EOF.
bool readLong(int fd, long *v, int ms)
{
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) != 1)
        return false;
    return read(fd, v, sizeof(*v)) == sizeof(*v);
}

// A forked process with a pipe each way; killed and reaped on destruction.
struct Proc {
    pid_t pid = -1;
    int rd = -1; // its messages
    int wr = -1; // to it
    Proc() = default;
    Proc(const Proc &) = delete;
    Proc &operator=(const Proc &) = delete;
    ~Proc() { stop(); }
    void stop()
    {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, __WALL);
        }
        if (rd >= 0)
            close(rd);
        if (wr >= 0)
            close(wr);
        pid = rd = wr = -1;
    }
};

// Forks; the child runs fn(in, out) and exits with its return value.
bool spawn(Proc &p, const std::function<int(int in, int out)> &fn)
{
    int up[2], down[2];
    if (pipe2(up, O_CLOEXEC) || pipe2(down, O_CLOEXEC))
        return false;
    p.pid = fork();
    if (p.pid < 0)
        return false;
    if (p.pid == 0) {
        close(up[0]);
        close(down[1]);
        _exit(fn(down[0], up[1]));
    }
    close(up[1]);
    close(down[0]);
    p.rd = up[0];
    p.wr = down[1];
    return true;
}

// A target: drops to `c`, runs `setup`, says 1, then serves PR_SET_PTRACER
// requests (a pid, or -1 for ANY) until killed.
bool spawnTarget(Proc &p, const Creds &c, const std::function<bool()> &setup = {})
{
    if (!spawn(p, [c, setup](int in, int out) {
            if (!dropTo(c) || (setup && !setup()))
                return 3;
            writeLong(out, 1);
            for (long v; read(in, &v, sizeof(v)) == sizeof(v);) {
                unsigned long who = v < 0 ? PR_SET_PTRACER_ANY : static_cast<unsigned long>(v);
                writeLong(out, prctl(PR_SET_PTRACER, who) == 0 ? 0 : errno);
            }
            return 0;
        }))
        return false;
    long v = 0;
    return readLong(p.rd, &v, 10000) && v == 1;
}

// What one tracer got. Plain data: it crosses a pipe.
struct Probe {
    int ptraceErr = -1; // PTRACE_ATTACH: 0 or errno
    int devErr = -1;    // open("/dev/utrace")
    int memErr = -1;    // open("/proc/PID/mem")
    int attachErr = -1; // UTRACE_IOC_ATTACH with that proof (both opens worked)
    int bypasses = 0;   // other proofs that did not fail with EPERM
    int failed = 0;     // the tracer itself could not run the probe
    char note[512] = {};

    bool utraceAllowed() const { return devErr == 0 && memErr == 0 && attachErr == 0; }
    std::string utrace() const
    {
        if (devErr)
            return "open /dev/utrace " + errName(devErr);
        if (memErr)
            return "open /proc/PID/mem " + errName(memErr);
        return attachErr ? "ATTACH " + errName(attachErr) : "attached";
    }
    void addNote(const std::string &s)
    {
        size_t len = strlen(note);
        snprintf(note + len, sizeof(note) - len, "%s; ", s.c_str());
    }
};

int attachWith(int dev, pid_t tid, int proof)
{
    utrace_attach a{};
    a.size = sizeof(a);
    a.tid = tid;
    a.proof_fd = proof;
    if (ioctl(dev, UTRACE_IOC_ATTACH, &a) == 0)
        return 0;
    return errno;
}

// PTRACE_ATTACH, then wait for the attach stop and detach again.
int tryPtrace(pid_t pid)
{
    if (ptrace(PTRACE_ATTACH, pid, nullptr, nullptr) != 0)
        return errno;
    int st = 0;
    waitpid(pid, &st, __WALL);
    ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
    return 0;
}

std::string memPath(pid_t pid)
{
    return "/proc/" + std::to_string(pid) + "/mem";
}

// Runs in the tracer: real ptrace, then the utrace path. With `bypass`,
// every descriptor that is not the target's own readable mem fd is handed
// in as the proof and must be refused with EPERM. `extra` are more such
// descriptors (for instance a proof that went stale at an exec).
Probe probe(pid_t target, bool bypass, const std::vector<std::pair<std::string, int>> &extra = {})
{
    Probe p;
    p.ptraceErr = tryPtrace(target);
    int dev = open(kDev, O_RDWR | O_CLOEXEC);
    p.devErr = dev < 0 ? errno : 0;
    int mem = open(memPath(target).c_str(), O_RDONLY | O_CLOEXEC);
    p.memErr = mem < 0 ? errno : 0;
    if (dev >= 0 && mem >= 0)
        p.attachErr = attachWith(dev, target, mem);
    if (mem >= 0)
        close(mem);
    if (dev < 0 || !bypass) {
        if (dev >= 0)
            close(dev);
        return p;
    }

    // Descriptors that must never prove anything about `target`.
    std::vector<std::pair<std::string, int>> proofs = extra;
    auto add = [&](const std::string &what, int fd) {
        if (fd < 0)
            p.addNote("could not open " + what + ": " + errName(errno));
        else
            proofs.emplace_back(what, fd);
    };
    proofs.emplace_back("fd -1", -1);
    proofs.emplace_back("fd 999 (not open)", 999);
    add("/dev/null", open("/dev/null", O_RDONLY | O_CLOEXEC));
    add("the session fd itself", fcntl(dev, F_DUPFD_CLOEXEC, 0));
    add("own /proc/self/mem", open("/proc/self/mem", O_RDONLY | O_CLOEXEC));
    add("own /proc/self/task/TID/mem",
        open(("/proc/self/task/" + std::to_string(gettid()) + "/mem").c_str(),
             O_RDONLY | O_CLOEXEC));
    add("own /proc/self/environ (same mm pointer)",
        open("/proc/self/environ", O_RDONLY | O_CLOEXEC));
    add("own /proc/self/maps", open("/proc/self/maps", O_RDONLY | O_CLOEXEC));
    // O_PATH opens without the ptrace check: it must not count as a proof.
    add("O_PATH fd of the target's /proc/PID/mem",
        open(memPath(target).c_str(), O_PATH | O_CLOEXEC));
    add("O_PATH fd of the target's /proc/PID/task/TID/mem",
        open(("/proc/" + std::to_string(target) + "/task/" + std::to_string(target) + "/mem")
                 .c_str(),
             O_PATH | O_CLOEXEC));
    add("the target's /proc/PID/status (readable by all)",
        open(("/proc/" + std::to_string(target) + "/status").c_str(), O_RDONLY | O_CLOEXEC));
    // A process of our own: its proof names another mm.
    Proc own;
    if (spawn(own, [](int in, int) {
            long v;
            return static_cast<int>(read(in, &v, sizeof(v)));
        })) {
        add("a proof of our own child", open(memPath(own.pid).c_str(), O_RDONLY | O_CLOEXEC));
        // Write-only is no proof either, even of our own child.
        int wo = open(memPath(own.pid).c_str(), O_WRONLY | O_CLOEXEC);
        if (wo >= 0) {
            int e = attachWith(dev, own.pid, wo);
            if (e != EPERM) {
                p.bypasses++;
                p.addNote("write-only proof of own child: " + errName(e) + ", want EPERM");
            }
            close(wo);
        }
    }
    size_t n = proofs.size();
    for (size_t i = 0; i < n; i++) {
        int d = proofs[i].second >= 0 ? fcntl(proofs[i].second, F_DUPFD_CLOEXEC, 0) : -1;
        if (d >= 0)
            proofs.emplace_back("dup of " + proofs[i].first, d);
    }
    for (auto &[what, fd] : proofs) {
        int e = attachWith(dev, target, fd);
        if (e != EPERM) {
            p.bypasses++;
            p.addNote(what + ": " + errName(e) + ", want EPERM");
        }
        if (fd >= 0 && fd != 999)
            close(fd);
    }
    close(dev);
    return p;
}

// Runs `fn` in a process with credentials `c`; `beforeGo(tracerPid)` runs in
// the parent before the tracer starts (e.g. a target names it its ptracer).
Probe runTracer(const Creds &c, const std::function<Probe()> &fn,
                const std::function<void(pid_t)> &beforeGo = {})
{
    Probe res;
    Proc t;
    if (!spawn(t, [&](int in, int out) {
            Probe p;
            long go = 0;
            if (!dropTo(c)) {
                p.failed = 1;
                p.addNote("dropping credentials: " + errName(errno));
            } else if (read(in, &go, sizeof(go)) != sizeof(go)) {
                p.failed = 1;
            } else {
                p = fn();
            }
            return write(out, &p, sizeof(p)) == sizeof(p) ? 0 : 1;
        })) {
        res.failed = 1;
        return res;
    }
    if (beforeGo)
        beforeGo(t.pid);
    writeLong(t.wr, 1);
    pollfd pf{t.rd, POLLIN, 0};
    if (poll(&pf, 1, 30000) != 1 || read(t.rd, &res, sizeof(res)) != sizeof(res)) {
        res = Probe{};
        res.failed = 1;
        res.addNote("the tracer did not answer");
    }
    return res;
}

// A descendant target for scope 1: the tracer forks it, probes it, kills it.
Probe probeChild(bool bypass)
{
    Proc d;
    if (!spawn(d, [](int in, int) {
            long v;
            return static_cast<int>(read(in, &v, sizeof(v)));
        })) {
        Probe p;
        p.failed = 1;
        return p;
    }
    return probe(d.pid, bypass);
}

std::vector<std::string> gMatrix;

int readScope()
{
    FILE *f = fopen(kScopePath, "r");
    int v = -1;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

bool writeScope(int v)
{
    FILE *f = fopen(kScopePath, "w");
    if (!f)
        return false;
    bool ok = fprintf(f, "%d\n", v) > 0;
    ok = (fclose(f) == 0) && ok;
    return ok && readScope() == v;
}

class UtraceDevSecurity : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        struct stat st {};
        ASSERT_EQ(stat(kDev, &st), 0) << kDev << ": " << strerror(errno);
        devMode_ = st.st_mode & 07777;
        devGid_ = st.st_gid;
        // What the project's udev rule does: group utrace, mode 0660.
        ASSERT_EQ(chown(kDev, 0, kUtraceGid), 0) << strerror(errno);
        ASSERT_EQ(chmod(kDev, 0660), 0) << strerror(errno);
        scope_ = readScope();
        ASSERT_GE(scope_, 0) << kScopePath << " missing: the kernel has no Yama";
        copySuidFixture();
    }
    static void TearDownTestSuite()
    {
        chown(kDev, 0, devGid_);
        chmod(kDev, devMode_);
        unlink(kSuidPath);
        if (readScope() != 3)
            writeScope(scope_);
        printf("\nUtraceDevSecurity matrix (case: utrace | ptrace):\n");
        for (auto &l : gMatrix)
            printf("  %s\n", l.c_str());
    }
    // The test binary itself, setuid root: with kFixtureFlag it is the fixture.
    static void copySuidFixture()
    {
        int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        ASSERT_GE(in, 0);
        int out = open(kSuidPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        ASSERT_GE(out, 0) << strerror(errno);
        char buf[1 << 16];
        for (ssize_t n; (n = read(in, buf, sizeof(buf))) > 0;)
            ASSERT_EQ(write(out, buf, n), n);
        close(in);
        close(out);
        ASSERT_EQ(chown(kSuidPath, 0, 0), 0);
        ASSERT_EQ(chmod(kSuidPath, 04755), 0);
    }

    void SetUp() override
    {
        signal(SIGALRM, [](int) {
            static const char msg[] = "UtraceDevSecurity: test timed out\n";
            if (write(2, msg, sizeof(msg) - 1) < 0) {
            }
            _exit(124);
        });
        alarm(120);
    }
    void TearDown() override
    {
        if (readScope() != 3) {
            EXPECT_TRUE(writeScope(scope_));
        }
        std::string why;
        EXPECT_TRUE(vmtest::coreCountersDrain(5000, &why)) << why;
        alarm(0);
    }

    void scope(int v) { ASSERT_TRUE(writeScope(v)) << "cannot set ptrace_scope " << v; }

    // Records the case and checks that utrace agrees with ptrace and with
    // the expectation, refusing with EPERM (ATTACH) or EACCES/EPERM (the
    // proof's open).
    static void judge(const std::string &name, const Probe &p, bool allowed)
    {
        ASSERT_EQ(p.failed, 0) << name << ": " << p.note;
        std::string line = name + ": " + p.utrace() + " | " + errName(p.ptraceErr);
        gMatrix.push_back(line);
        printf("[matrix] %s\n", line.c_str());
        EXPECT_EQ(p.ptraceErr == 0, allowed) << name << ": ptrace " << errName(p.ptraceErr);
        EXPECT_EQ(p.utraceAllowed(), allowed) << name << ": utrace " << p.utrace();
        EXPECT_EQ(p.utraceAllowed(), p.ptraceErr == 0) << name << ": utrace and ptrace differ";
        if (!allowed) {
            EXPECT_EQ(p.ptraceErr, EPERM) << name;
            EXPECT_EQ(p.devErr, 0) << name << ": the tracer is in the device's group";
            if (p.memErr)
                EXPECT_TRUE(p.memErr == EACCES || p.memErr == EPERM) << name << ": " << p.utrace();
            else
                EXPECT_EQ(p.attachErr, EPERM) << name;
        }
        EXPECT_EQ(p.bypasses, 0) << name << ": " << p.note;
    }

    static inline mode_t devMode_ = 0600;
    static inline gid_t devGid_ = 0;
    static inline int scope_ = -1;
};

TEST_F(UtraceDevSecurity, DeviceNodeOpensOnlyForItsGroup)
{
    for (const Creds *c : {&kOther, &kUser}) {
        Probe p = runTracer(*c, [] {
            Probe r;
            int fd = open(kDev, O_RDWR | O_CLOEXEC);
            r.devErr = fd < 0 ? errno : 0;
            if (fd >= 0) {
                utrace_version v{};
                v.size = sizeof(v);
                r.attachErr = ioctl(fd, UTRACE_IOC_VERSION, &v) ? errno : 0;
                close(fd);
            }
            return r;
        });
        ASSERT_EQ(p.failed, 0) << p.note;
        std::string name = c == &kOther ? "open /dev/utrace, uid 1001 not in group utrace"
                                        : "open /dev/utrace, uid 1000 in group utrace";
        gMatrix.push_back(name + ": " + errName(p.devErr) + " | (no ptrace analogue)");
        if (c == &kOther) {
            EXPECT_EQ(p.devErr, EACCES);
        } else {
            EXPECT_EQ(p.devErr, 0);
            EXPECT_EQ(p.attachErr, 0) << "VERSION as a member of the group";
        }
    }
}

TEST_F(UtraceDevSecurity, SameUidAllowedUnderScope0)
{
    scope(0);
    Proc t;
    ASSERT_TRUE(spawnTarget(t, kUser));
    judge("scope 0, same uid, not a descendant",
          runTracer(kUser, [&] { return probe(t.pid, false); }), true);
}

TEST_F(UtraceDevSecurity, OtherUidRefused)
{
    scope(0);
    Proc t;
    ASSERT_TRUE(spawnTarget(t, kOther));
    judge("scope 0, another uid (1001)", runTracer(kUser, [&] { return probe(t.pid, true); }),
          false);
}

TEST_F(UtraceDevSecurity, RootProcessRefused)
{
    scope(0);
    Proc t;
    ASSERT_TRUE(spawnTarget(t, kRoot));
    judge("scope 0, a root process", runTracer(kUser, [&] { return probe(t.pid, true); }), false);
}

TEST_F(UtraceDevSecurity, SameUidNotDumpableRefused)
{
    scope(0);
    Proc t;
    ASSERT_TRUE(spawnTarget(t, kUser, [] { return prctl(PR_SET_DUMPABLE, 0) == 0; }));
    judge("scope 0, same uid, PR_SET_DUMPABLE 0",
          runTracer(kUser, [&] { return probe(t.pid, true); }), false);
}

TEST_F(UtraceDevSecurity, SameUidOtherGidRefused)
{
    scope(0);
    Proc t;
    ASSERT_TRUE(spawnTarget(t, Creds{1000, 1001, {1001}}));
    judge("scope 0, same uid, another gid", runTracer(kUser, [&] { return probe(t.pid, true); }),
          false);
}

TEST_F(UtraceDevSecurity, SameUidWithCapabilitiesRefused)
{
    scope(0);
    Proc t;
    // uid 1000 that kept root's permitted capabilities across setresuid.
    ASSERT_TRUE(spawn(t, [](int in, int out) {
        if (prctl(PR_SET_KEEPCAPS, 1) || setgroups(1, &kUser.gid) || setresgid(1000, 1000, 1000) ||
            setresuid(1000, 1000, 1000) || prctl(PR_SET_DUMPABLE, 1))
            return 3;
        writeLong(out, 1);
        long v;
        return static_cast<int>(read(in, &v, sizeof(v)));
    }));
    long v = 0;
    ASSERT_TRUE(readLong(t.rd, &v, 10000));
    judge("scope 0, same uid holding capabilities",
          runTracer(kUser, [&] { return probe(t.pid, true); }), false);
}

TEST_F(UtraceDevSecurity, SetuidRootProcessRefusedAndStaleProofUseless)
{
    scope(0);
    // The tracer's own child, proven while it is a plain uid-1000 process,
    // then exec'ing a setuid-root image. Another uid-1000 process tries too.
    Probe p = runTracer(kUser, [] {
        Probe bad;
        bad.failed = 1;
        int up[2], down[2];
        if (pipe(up) || pipe(down))
            return bad;
        Proc c;
        if (!spawn(c, [&](int, int) {
                long go;
                if (read(down[0], &go, sizeof(go)) != sizeof(go))
                    return 3;
                std::string w = std::to_string(up[1]), r = std::to_string(down[0]);
                execl(kSuidPath, kSuidPath, kFixtureFlag, w.c_str(), r.c_str(), nullptr);
                return 4;
            }))
            return bad;
        int stale = open(memPath(c.pid).c_str(), O_RDONLY | O_CLOEXEC);
        if (stale < 0) {
            bad.addNote("proof of own child: " + errName(errno));
            return bad;
        }
        writeLong(down[1], 1);
        long euid = -1;
        if (!readLong(up[0], &euid, 10000) || euid != 0) {
            bad.addNote("the setuid fixture did not run as root: euid " + std::to_string(euid));
            return bad;
        }
        Probe r = probe(c.pid, true, {{"a proof opened before the setuid exec", stale}});
        return r;
    });
    judge("scope 0, own child after exec of a setuid-root image", p, false);
}

// A thread traced through /dev/utrace exec's a setuid-root image. Under
// ptrace the kernel runs such an exec without the privilege (the tracer
// keeps a process it could trace anyway). A utrace engine must not keep
// control of a process that did gain privilege: no HELD record after the
// exec, no verdict applied to its syscalls.
TEST_F(UtraceDevSecurity, TracedSetuidExecGivesNoControl)
{
    scope(0);
    Probe p = runTracer(kUser, [] {
        Probe r;
        int up[2], down[2];
        int dev = open(kDev, O_RDWR | O_CLOEXEC);
        if (dev < 0 || pipe(up) || pipe(down)) {
            r.failed = 1;
            return r;
        }
        Proc c;
        if (!spawn(c, [&](int, int) {
                long go;
                if (read(down[0], &go, sizeof(go)) != sizeof(go))
                    return 3;
                std::string w = std::to_string(up[1]), rd = std::to_string(down[0]);
                execl(kSuidPath, kSuidPath, kFixtureFlag, w.c_str(), rd.c_str(), nullptr);
                return 4;
            })) {
            r.failed = 1;
            return r;
        }
        int proof = open(memPath(c.pid).c_str(), O_RDONLY | O_CLOEXEC);
        utrace_attach a{};
        a.size = sizeof(a);
        a.tid = c.pid;
        a.proof_fd = proof;
        r.attachErr = ioctl(dev, UTRACE_IOC_ATTACH, &a) ? errno : 0;
        r.devErr = r.memErr = 0;
        unsigned long long bitmap[UTRACE_FILTER_NR / 64] = {};
        bitmap[SYS_geteuid / 64] |= 1ULL << (SYS_geteuid % 64);
        utrace_set_events se{};
        se.size = sizeof(se);
        se.handle = a.handle;
        se.events = UTRACE_EV_EXEC | UTRACE_EV_SYSCALL_ENTRY;
        se.stop_events = UTRACE_EV_SYSCALL_ENTRY;
        se.syscall_filter = reinterpret_cast<__u64>(bitmap);
        if (r.attachErr || ioctl(dev, UTRACE_IOC_SET_EVENTS, &se)) {
            r.failed = 1;
            r.addNote("attach/set_events on own child: " + errName(errno));
            return r;
        }
        writeLong(down[1], 1);
        bool execSeen = false;
        int heldAfter = 0, forged = 0;
        long euid = -1;
        for (int round = 0; round < 500 && euid == -1; round++) {
            pollfd pf[2] = {{dev, POLLIN, 0}, {up[0], POLLIN, 0}};
            if (poll(pf, 2, 20) < 0)
                break;
            if (pf[1].revents & POLLIN)
                readLong(up[0], &euid, 0);
            if (!(pf[0].revents & POLLIN))
                continue;
            alignas(8) unsigned char buf[16384];
            ssize_t n = read(dev, buf, sizeof(buf));
            for (ssize_t off = 0; off + (ssize_t)sizeof(utrace_event) <= n;) {
                utrace_event h;
                memcpy(&h, buf + off, sizeof(h));
                if (h.size < sizeof(h))
                    break;
                if (h.type == UTRACE_REC_EXEC)
                    execSeen = true;
                if ((h.flags & UTRACE_REC_HELD) && execSeen) {
                    heldAfter++;
                    // What an attacker would do: forge the syscall's result.
                    utrace_control ctl{};
                    ctl.size = sizeof(ctl);
                    ctl.handle = h.handle;
                    ctl.action = UTRACE_CTL_RESUME;
                    if (h.type == UTRACE_REC_SYSCALL_ENTRY) {
                        ctl.verdict = UTRACE_VERDICT_ABORT;
                        ctl.retval = kForgedRet;
                    }
                    if (ioctl(dev, UTRACE_IOC_CONTROL, &ctl) == 0)
                        forged++;
                } else if (h.flags & UTRACE_REC_HELD) {
                    utrace_control ctl{};
                    ctl.size = sizeof(ctl);
                    ctl.handle = h.handle;
                    ctl.action = UTRACE_CTL_RESUME;
                    ioctl(dev, UTRACE_IOC_CONTROL, &ctl);
                }
                off += h.size;
            }
        }
        r.ptraceErr = 0;
        r.attachErr = (euid == 0 && heldAfter == 0) ? EPERM : 0;
        r.addNote("exec record " + std::string(execSeen ? "seen" : "not seen") +
                  ", HELD records after the exec " + std::to_string(heldAfter) +
                  ", verdicts accepted " + std::to_string(forged) + ", the image saw euid " +
                  std::to_string(euid));
        if (euid == -1)
            r.failed = 1;
        close(dev);
        return r;
    });
    ASSERT_EQ(p.failed, 0) << p.note;
    // The same under ptrace: the exec runs without the privilege.
    Probe q = runTracer(kUser, [] {
        Probe r;
        int up[2], down[2];
        if (pipe(up) || pipe(down)) {
            r.failed = 1;
            return r;
        }
        Proc c;
        if (!spawn(c, [&](int, int) {
                long go;
                if (read(down[0], &go, sizeof(go)) != sizeof(go))
                    return 3;
                std::string w = std::to_string(up[1]), rd = std::to_string(down[0]);
                execl(kSuidPath, kSuidPath, kFixtureFlag, w.c_str(), rd.c_str(), nullptr);
                return 4;
            })) {
            r.failed = 1;
            return r;
        }
        int st = 0;
        if (ptrace(PTRACE_ATTACH, c.pid, nullptr, nullptr) ||
            waitpid(c.pid, &st, __WALL) != c.pid || ptrace(PTRACE_CONT, c.pid, nullptr, nullptr)) {
            r.failed = 1;
            r.addNote("ptrace of own child: " + errName(errno));
            return r;
        }
        writeLong(down[1], 1);
        // The exec's SIGTRAP stop; then let it run free.
        if (waitpid(c.pid, &st, __WALL) == c.pid && WIFSTOPPED(st))
            ptrace(PTRACE_DETACH, c.pid, nullptr, nullptr);
        long euid = -1;
        readLong(up[0], &euid, 10000);
        r.ptraceErr = euid;
        return r;
    });
    ASSERT_EQ(q.failed, 0) << q.note;
    std::string line = "scope 0, own traced child execs a setuid-root image: utrace " +
                       std::string(p.attachErr == EPERM ? "no control of the privileged image"
                                                        : "CONTROLS the privileged image") +
                       " (" + p.note + ") | ptrace: the image runs without privilege (euid " +
                       std::to_string(q.ptraceErr) + ")";
    gMatrix.push_back(line);
    printf("[matrix] %s\n", line.c_str());
    EXPECT_EQ(q.ptraceErr, 1000) << "under ptrace the setuid exec runs unprivileged";
    EXPECT_EQ(p.attachErr, EPERM) << p.note;
}

// The calling process's io_uring worker thread ("iou-wrk-PID"), after an
// async read on `fd` was queued; 0 if none showed up. The ring stays open.
pid_t startIoWorker(int fd, void *buf)
{
    io_uring_params par{};
    int ring = static_cast<int>(syscall(__NR_io_uring_setup, 4, &par));
    if (ring < 0)
        return 0;
    size_t sqLen = par.sq_off.array + par.sq_entries * sizeof(__u32);
    auto *sq =
        static_cast<unsigned char *>(mmap(nullptr, sqLen, PROT_READ | PROT_WRITE,
                                          MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING));
    auto *sqes = static_cast<io_uring_sqe *>(mmap(nullptr, par.sq_entries * sizeof(io_uring_sqe),
                                                  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                                                  ring, IORING_OFF_SQES));
    if (sq == MAP_FAILED || sqes == MAP_FAILED)
        return 0;
    io_uring_sqe &e = sqes[0];
    memset(&e, 0, sizeof(e));
    e.opcode = IORING_OP_READ;
    e.fd = fd;
    e.addr = reinterpret_cast<__u64>(buf);
    e.len = 8;
    e.flags = IOSQE_ASYNC; // to a worker thread
    auto *tail = reinterpret_cast<std::atomic<__u32> *>(sq + par.sq_off.tail);
    auto *mask = reinterpret_cast<__u32 *>(sq + par.sq_off.ring_mask);
    auto *array = reinterpret_cast<__u32 *>(sq + par.sq_off.array);
    __u32 t = tail->load();
    array[t & *mask] = 0;
    tail->store(t + 1);
    if (syscall(__NR_io_uring_enter, ring, 1, 0, 0, nullptr, 0) != 1)
        return 0;
    for (int i = 0; i < 2000; i++) {
        DIR *d = opendir("/proc/self/task");
        pid_t found = 0;
        while (dirent *de = d ? readdir(d) : nullptr) {
            std::string comm;
            FILE *f = fopen(("/proc/self/task/" + std::string(de->d_name) + "/comm").c_str(), "r");
            char line[64] = {};
            if (f) {
                if (fgets(line, sizeof(line), f))
                    comm = line;
                fclose(f);
            }
            if (comm.rfind("iou-wrk", 0) == 0)
                found = atoi(de->d_name);
        }
        if (d)
            closedir(d);
        if (found)
            return found;
        usleep(1000);
    }
    return 0;
}

// An io_uring worker is a thread of the user's process that never returns
// to user space. Tracing it must be allowed exactly as ptrace allows it,
// and an engine on it (stop events, STOP, INTERRUPT) must neither hang the
// worker, the session's close, nor the process's death.
TEST_F(UtraceDevSecurity, IoUringWorkerThread)
{
    scope(0);
    Probe p = runTracer(kUser, [] {
        Probe r;
        int data[2];
        if (pipe(data)) {
            r.failed = 1;
            return r;
        }
        Proc c;
        if (!spawn(c, [&](int in, int out) {
                static char buf[8];
                pid_t w = startIoWorker(data[0], buf);
                writeLong(out, w);
                long v;
                return static_cast<int>(read(in, &v, sizeof(v)));
            })) {
            r.failed = 1;
            return r;
        }
        long worker = 0;
        bool got = readLong(c.rd, &worker, 10000);
        fprintf(stderr, "io_uring: worker %ld\n", worker);
        if (!got || worker <= 0) {
            r.failed = 1;
            r.addNote("no io_uring worker thread appeared");
            return r;
        }
        int dev = open(kDev, O_RDWR | O_CLOEXEC);
        int mem = open(memPath(c.pid).c_str(), O_RDONLY | O_CLOEXEC);
        r.devErr = dev < 0 ? errno : 0;
        r.memErr = mem < 0 ? errno : 0;
        utrace_attach a{};
        a.size = sizeof(a);
        a.tid = static_cast<pid_t>(worker);
        a.proof_fd = mem;
        r.attachErr = ioctl(dev, UTRACE_IOC_ATTACH, &a) ? errno : 0;
        fprintf(stderr, "io_uring: attach %s\n", errName(r.attachErr).c_str());
        if (!r.attachErr) {
            utrace_set_events se{};
            se.size = sizeof(se);
            se.handle = a.handle;
            se.events = UTRACE_EV_ALL;
            se.stop_events = UTRACE_EV_STOPPABLE;
            if (ioctl(dev, UTRACE_IOC_SET_EVENTS, &se))
                r.addNote("SET_EVENTS: " + errName(errno));
            for (__u32 action : {UTRACE_CTL_STOP, UTRACE_CTL_INTERRUPT, UTRACE_CTL_STOP}) {
                utrace_control ctl{};
                ctl.size = sizeof(ctl);
                ctl.handle = a.handle;
                ctl.action = action;
                if (ioctl(dev, UTRACE_IOC_CONTROL, &ctl) && errno != EINPROGRESS)
                    r.addNote("CONTROL " + std::to_string(action) + ": " + errName(errno));
            }
        }
        // The worker's read completes while the engine is on it.
        if (write(data[1], "12345678", 8) != 8)
            r.addNote("pipe write failed");
        fprintf(stderr, "io_uring: controls done (%s)\n", r.note);
        usleep(100000);
        close(dev);
        close(mem);
        fprintf(stderr, "io_uring: session closed\n");
        // ptrace, after the session is gone: PTRACE_SEIZE (PTRACE_ATTACH's
        // stop would never come from a worker), in a process of its own
        // whose exit detaches: a traced thread waits for its tracer to
        // reap it.
        pid_t sub = fork();
        if (sub == 0)
            _exit(ptrace(PTRACE_SEIZE, static_cast<pid_t>(worker), nullptr, nullptr) ? errno : 0);
        int st = 0;
        r.ptraceErr =
            sub > 0 && waitpid(sub, &st, 0) == sub && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        fprintf(stderr, "io_uring: ptrace %s\n", errName(r.ptraceErr).c_str());
        // The process dies and is reaped with its worker.
        kill(c.pid, SIGKILL);
        bool reaped = vmtest::waitFor(
            [&] { return waitpid(c.pid, nullptr, WNOHANG | __WALL) == c.pid; }, 10000);
        if (!reaped) {
            r.failed = 1;
            r.addNote("the process with the traced worker was not reaped within 10 s");
        } else {
            c.pid = -1;
        }
        return r;
    });
    ASSERT_EQ(p.failed, 0) << p.note;
    std::string line = "scope 0, same uid, an io_uring worker thread of the target: " + p.utrace() +
                       (p.note[0] ? std::string(" (") + p.note + ")" : "") + " | " +
                       errName(p.ptraceErr);
    gMatrix.push_back(line);
    printf("[matrix] %s\n", line.c_str());
    EXPECT_EQ(p.utraceAllowed(), p.ptraceErr == 0) << line;
}

TEST_F(UtraceDevSecurity, YamaScope1)
{
    scope(1);
    {
        Proc t;
        ASSERT_TRUE(spawnTarget(t, kUser));
        judge("scope 1, same uid, not a descendant",
              runTracer(kUser, [&] { return probe(t.pid, true); }), false);
    }
    judge("scope 1, same uid, own child", runTracer(kUser, [] { return probeChild(false); }), true);
    {
        Proc t;
        ASSERT_TRUE(spawnTarget(t, kUser));
        judge("scope 1, same uid, target did PR_SET_PTRACER(tracer)",
              runTracer(
                  kUser, [&] { return probe(t.pid, false); },
                  [&](pid_t tracer) {
                      long ack = -1;
                      ASSERT_TRUE(writeLong(t.wr, tracer));
                      ASSERT_TRUE(readLong(t.rd, &ack, 5000));
                      ASSERT_EQ(ack, 0) << "PR_SET_PTRACER: " << errName(ack);
                  }),
              true);
    }
    {
        Proc t;
        ASSERT_TRUE(spawnTarget(t, kUser));
        judge("scope 1, same uid, target did PR_SET_PTRACER_ANY",
              runTracer(
                  kUser, [&] { return probe(t.pid, false); },
                  [&](pid_t) {
                      long ack = -1;
                      ASSERT_TRUE(writeLong(t.wr, -1));
                      ASSERT_TRUE(readLong(t.rd, &ack, 5000));
                      ASSERT_EQ(ack, 0);
                  }),
              true);
    }
    {
        Proc t;
        ASSERT_TRUE(spawnTarget(t, kOther));
        judge("scope 1, another uid, target did PR_SET_PTRACER(tracer)",
              runTracer(
                  kUser, [&] { return probe(t.pid, true); },
                  [&](pid_t tracer) {
                      long ack = -1;
                      ASSERT_TRUE(writeLong(t.wr, tracer));
                      ASSERT_TRUE(readLong(t.rd, &ack, 5000));
                  }),
              false);
    }
    {
        Proc t;
        ASSERT_TRUE(spawnTarget(t, kOther));
        judge("scope 1, root (CAP_SYS_PTRACE), not a descendant",
              runTracer(kRoot, [&] { return probe(t.pid, false); }), true);
    }
}

TEST_F(UtraceDevSecurity, YamaScope2)
{
    scope(2);
    judge("scope 2, same uid, own child", runTracer(kUser, [] { return probeChild(true); }), false);
    Proc t;
    ASSERT_TRUE(spawnTarget(t, kOther));
    judge("scope 2, root (CAP_SYS_PTRACE)", runTracer(kRoot, [&] { return probe(t.pid, false); }),
          true);
}

// Must stay the last test: scope 3 holds until reboot.
TEST_F(UtraceDevSecurity, YamaScope3IsLast)
{
    scope(3);
    judge("scope 3, same uid, own child", runTracer(kUser, [] { return probeChild(true); }), false);
    Proc t;
    ASSERT_TRUE(spawnTarget(t, kOther));
    judge("scope 3, root", runTracer(kRoot, [&] { return probe(t.pid, false); }), false);
    EXPECT_FALSE(writeScope(0)) << "scope 3 cannot be lowered";
}

// The setuid-root fixture: says its euid, then answers each command with
// geteuid() again, until its pipe closes.
int fixtureMain(int wfd, int rfd)
{
    long euid = syscall(SYS_geteuid);
    if (!writeLong(wfd, euid))
        return 1;
    for (long v; read(rfd, &v, sizeof(v)) == sizeof(v);)
        writeLong(wfd, syscall(SYS_geteuid));
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc == 4 && std::strcmp(argv[1], kFixtureFlag) == 0)
        return fixtureMain(std::atoi(argv[2]), std::atoi(argv[3]));
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
