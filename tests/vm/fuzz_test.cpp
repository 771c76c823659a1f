// UtraceDevFuzz: random ioctls, argument structs, handles, pointers, reads and
// polls on /dev/utrace from several threads at once, against tracee
// processes that clone, fork, exec, take signals and exit while sessions
// attach to them, hold them at stop events and release them.
//
// Every call's result is checked: a bad argument pointer must fail with
// EFAULT, an unknown command with ENOTTY, a size out of range or a non-zero
// tail with EINVAL, anything else with an errno docs/utrace-dev.md lists for
// that ioctl, and a call whose struct is invalid (reserved field, unknown
// bit, handle 0) must not succeed. Afterwards every tracee must die and be
// reaped, and the core's live counters must return to zero.
//
// UTRACE_FUZZ_CALLS: calls on the device (default 1,000,000).
// UTRACE_FUZZ_SEED: the seed (default: from the clock); printed. It repeats
// each thread's sequence of calls, not their interleaving with the others.
// UTRACE_FUZZ_THREADS: fuzzing threads (default 4).
#include <linux/utrace.h>

#include "vm_util.hpp"

#include <atomic>
#include <bitset>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <mutex>
#include <poll.h>
#include <pthread.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

const int kUnbuffered = [] {
    setvbuf(stdout, nullptr, _IONBF, 0);
    return 0;
}();

const char *const kDev = "/dev/" UTRACE_DEVICE_NAME;
const char *const kExecFlag = "--fuzz-exec-tracee";

int kFuzzThreads = 4; // UTRACE_FUZZ_THREADS
constexpr int kSessions = 4;
constexpr int kTraceeProcs = 3;
constexpr int kTraceeThreads = 2;
constexpr int kSlots = 64;   // published tracee threads
constexpr int kErrMax = 160; // errno values tracked

// ---------------------------------------------------------------------------
// Randomness: splitmix64, one stream per thread.

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next()
    {
        uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
    bool chance(uint32_t percent) { return below(100) < percent; }
};

// ---------------------------------------------------------------------------
// Tracees: a farm process keeps kTraceeProcs processes alive; their threads
// publish (tgid << 32 | tid) in shared memory for the fuzzers to attach to.

struct Shared {
    std::atomic<uint64_t> slot[kSlots];
};
Shared *gShared = nullptr;

void publish(pid_t tgid, pid_t tid)
{
    uint64_t v = (static_cast<uint64_t>(tgid) << 32) | static_cast<uint32_t>(tid);
    gShared->slot[static_cast<uint32_t>(tid) % kSlots].store(v);
}

void unpublish(pid_t tgid, pid_t tid)
{
    uint64_t v = (static_cast<uint64_t>(tgid) << 32) | static_cast<uint32_t>(tid);
    gShared->slot[static_cast<uint32_t>(tid) % kSlots].compare_exchange_strong(v, 0);
}

// Memory the fuzzers read and write in the tracees: the binary is static and
// not position-independent, so it is at this address in every tracee.
alignas(4096) unsigned char gScratch[8192];

// A few harmless syscalls with an occasional pause and signal.
void traceeWork(Rng &r, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        switch (r.below(8)) {
        case 0:
            syscall(SYS_lseek, -1, 0x1234, 5);
            break;
        case 1:
            syscall(SYS_getppid);
            break;
        case 2:
            sched_yield();
            break;
        case 3:
        case 7:
            usleep(500 + r.below(1500));
            break;
        case 4:
            if (r.chance(10))
                raise(SIGUSR1); // handled: SIGNAL events
            break;
        case 5:
            if (r.chance(10))
                raise(SIGUSR2); // ignored: SIGNAL_IGN events
            break;
        default:
            syscall(SYS_gettid);
            break;
        }
    }
    gScratch[r.below(sizeof(gScratch))]++;
}

std::atomic<int> gTraceeLive{0};

void *traceeThread(void *arg)
{
    Rng r(reinterpret_cast<uintptr_t>(arg));
    pid_t tgid = getpid(), tid = gettid();
    publish(tgid, tid);
    traceeWork(r, 50 + r.below(400));
    unpublish(tgid, tid);
    gTraceeLive--;
    return nullptr;
}

// A tracee runs as uid 1000, so a syscall the fuzzers redirect (RUN_ARGS,
// SETREGS) cannot touch anything but tracees; its output goes nowhere (glibc
// aborts on syscalls the fuzzers made fail).
[[noreturn]] void traceeMain(uint64_t seed, const char *self)
{
    const gid_t gid = 1000;
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 || setgroups(1, &gid) ||
        setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
        _exit(97);
    close(null);
    prctl(PR_SET_DUMPABLE, 1);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGUSR1, [](int) {});
    signal(SIGUSR2, SIG_IGN);
    Rng r(seed);
    pid_t tgid = getpid();
    publish(tgid, tgid);
    for (;;) {
        while (gTraceeLive < kTraceeThreads) {
            pthread_t t;
            gTraceeLive++;
            if (pthread_create(&t, nullptr, traceeThread, reinterpret_cast<void *>(r.next())))
                gTraceeLive--;
            else
                pthread_detach(t);
        }
        traceeWork(r, 20);
        if (r.chance(3)) {
            // A short-lived child; sometimes it exec's a fresh image.
            pid_t c = fork();
            if (c == 0) {
                Rng cr(r.next() ^ 0x5a5a);
                traceeWork(cr, 10);
                if (cr.chance(40))
                    execl(self, self, kExecFlag, nullptr);
                _exit(0);
            }
        }
        while (waitpid(-1, nullptr, WNOHANG | __WALL) > 0) {
        }
    }
}

[[noreturn]] void farmMain(uint64_t seed, const char *self)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    Rng r(seed);
    int live = 0;
    for (;;) {
        while (live < kTraceeProcs) {
            uint64_t s = r.next();
            pid_t p = fork();
            if (p == 0)
                traceeMain(s, self);
            if (p > 0)
                live++;
        }
        if (waitpid(-1, nullptr, 0) > 0)
            live--;
    }
}

// ---------------------------------------------------------------------------
// Expected results.

using Errs = std::bitset<kErrMax>;
Errs errs(std::initializer_list<int> l)
{
    Errs e;
    for (int x : l)
        e.set(x);
    return e;
}

struct Ioc {
    unsigned long cmd;
    const char *name;
    uint32_t ksize; // the kernel's (this header's) size
    uint32_t ver0;
    Errs errs;    // documented errnos
    bool bounded; // sizes above 4096 fail (all but VERSION)
};

enum IocIdx {
    I_VERSION,
    I_ATTACH,
    I_SET_EVENTS,
    I_CONTROL,
    I_DETACH,
    I_GETREGS,
    I_SETREGS,
    I_MEM,
    I_LIST,
    I_QUEUE,
#ifdef UTRACE_IOC_BARRIER
    I_BARRIER,
#endif
#ifdef UTRACE_IOC_PROVE
    I_PROVE,
#endif
    I_COUNT
};

const Ioc kIoc[I_COUNT] = {
    {UTRACE_IOC_VERSION, "VERSION", sizeof(utrace_version), UTRACE_VERSION_SIZE_VER0,
     errs({EINVAL, EFAULT}), false},
    {UTRACE_IOC_ATTACH, "ATTACH", sizeof(utrace_attach), UTRACE_ATTACH_SIZE_VER0,
     errs({EPERM, ESRCH, EBUSY, EEXIST, EINVAL, EFAULT, ENOMEM, EINTR}), true},
    {UTRACE_IOC_SET_EVENTS, "SET_EVENTS", sizeof(utrace_set_events), UTRACE_SET_EVENTS_SIZE_VER0,
     errs({ENOENT, EINVAL, EFAULT, ESRCH, EALREADY, EINTR, ENOMEM}), true},
    {UTRACE_IOC_CONTROL, "CONTROL", sizeof(utrace_control), UTRACE_CONTROL_SIZE_VER0,
     errs({ENOENT, EINVAL, EINPROGRESS, ESRCH, EINTR, EFAULT}), true},
    {UTRACE_IOC_DETACH, "DETACH", sizeof(utrace_detach), UTRACE_DETACH_SIZE_VER0,
     errs({ENOENT, EINVAL, EINTR, EFAULT}), true},
    {UTRACE_IOC_GETREGS, "GETREGS", sizeof(utrace_regs), UTRACE_REGS_SIZE_VER0,
     errs({ENOENT, EBUSY, EAGAIN, EPERM, ESRCH, EINVAL, EIO, EFAULT, EINTR, ENOMEM, EOPNOTSUPP}),
     true},
    {UTRACE_IOC_SETREGS, "SETREGS", sizeof(utrace_regs), UTRACE_REGS_SIZE_VER0,
     errs({ENOENT, EBUSY, EAGAIN, EPERM, ESRCH, EINVAL, EIO, EFAULT, EINTR, ENOMEM, EOPNOTSUPP}),
     true},
    {UTRACE_IOC_MEM, "MEM", sizeof(utrace_mem), UTRACE_MEM_SIZE_VER0,
     errs({ENOENT, EBUSY, EAGAIN, EPERM, ESRCH, EIO, EFAULT, EINVAL, EINTR, ENOMEM}), true},
    {UTRACE_IOC_LIST, "LIST", sizeof(utrace_list), UTRACE_LIST_SIZE_VER0,
     errs({EINVAL, EFAULT, ENOMEM}), true},
    {UTRACE_IOC_QUEUE_SIZE, "QUEUE_SIZE", sizeof(utrace_queue_size), UTRACE_QUEUE_SIZE_SIZE_VER0,
     errs({EINVAL, EBUSY, ENOMEM, EFAULT}), true},
#ifdef UTRACE_IOC_BARRIER
    {UTRACE_IOC_BARRIER, "BARRIER", sizeof(utrace_barrier), UTRACE_BARRIER_SIZE_VER0,
     errs({ENOENT, EINVAL, EFAULT, EINTR, ESRCH}), true},
#endif
#ifdef UTRACE_IOC_PROVE
    {UTRACE_IOC_PROVE, "PROVE", sizeof(utrace_prove), UTRACE_PROVE_SIZE_VER0,
     errs({ENOENT, EINVAL, EFAULT, EPERM, ESRCH}), true},
#endif
};

#ifdef UTRACE_ATTACH_F_ALL
constexpr uint32_t kAttachFlags = UTRACE_ATTACH_F_ALL;
#else
constexpr uint32_t kAttachFlags = UTRACE_ATTACH_F_EXCLUSIVE;
#endif
#ifdef UTRACE_SE_GROUP
constexpr uint32_t kSeFlags = UTRACE_SE_CAPTURE_ARGS | UTRACE_SE_GROUP;
#else
constexpr uint32_t kSeFlags = UTRACE_SE_CAPTURE_ARGS;
#endif
#ifdef UTRACE_VERDICT_HOLD
constexpr uint32_t kVerdictMax = UTRACE_VERDICT_HOLD;
#else
constexpr uint32_t kVerdictMax = UTRACE_VERDICT_IGNORE;
#endif

// Rows of the statistics: the ioctls, then read, poll, unknown commands.
enum { S_READ = I_COUNT, S_POLL, S_UNKNOWN, S_ROWS };
const char *rowName(int i)
{
    return i < I_COUNT ? kIoc[i].name : i == S_READ ? "read" : i == S_POLL ? "poll" : "unknown cmd";
}

std::atomic<uint64_t> gStats[S_ROWS][kErrMax + 1]; // [row][errno], [row][0] = success
std::atomic<uint64_t> gCalls{0};
std::atomic<uint64_t> gOtherCalls{0}; // open, close, dup2 of sessions and proofs
std::atomic<uint64_t> gViolations{0};
std::atomic<uint64_t> gTarget{1000000};
std::mutex gViolMutex;
std::vector<std::string> gViolText;

void violation(const std::string &s)
{
    gViolations++;
    std::lock_guard<std::mutex> g(gViolMutex);
    if (gViolText.size() < 30)
        gViolText.push_back(s);
}

// ---------------------------------------------------------------------------
// Memory the pointers come from.

struct Pointers {
    unsigned char *ro = nullptr;   // a read-only page holding {size = 112, zeros}
    unsigned char *none = nullptr; // PROT_NONE: unmapped for the kernel
};
Pointers gPtr;

enum PtrKind {
    P_VALID,
    P_MISALIGNED,
    P_GUARD,
    P_RO,
    P_NULL,
    P_KERNEL,
    P_KTEXT,
    P_UNMAPPED,
    P_NONCANON,
    P_MINUS1,
    P_KINDS
};

bool ptrBad(int k)
{
    return k >= P_NULL;
}

uint64_t badPtr(int k)
{
    switch (k) {
    case P_NULL:
        return 0;
    case P_KERNEL:
        return 0xffff888000000000ULL;
    case P_KTEXT:
        return 0xffffffff81000000ULL;
    case P_UNMAPPED:
        return reinterpret_cast<uint64_t>(gPtr.none);
    case P_NONCANON:
        return 0x0000800000000000ULL;
    default:
        return ~0ULL;
    }
}

// ---------------------------------------------------------------------------
// Sessions: each slot's fd number is stable; "close" replaces the open file
// with /dev/null (dup2), so an ioctl in flight on the old file finishes with
// the last reference and the session is released under it; the slot is
// then reopened the same way. `gen` is odd while that happens: a call that
// overlaps a change may have hit /dev/null and is not judged.

struct Session {
    int fd = -1;
    std::atomic<uint32_t> gen{0};
    std::mutex reopening; // one close+reopen at a time: gen is odd during it
    std::mutex m;
    std::vector<uint32_t> handles; // attached in this generation
    std::vector<uint32_t> held;    // reported HELD, not yet released by us
    std::vector<uint32_t> stale;   // of earlier generations, and detached
};
Session gSess[kSessions];
int gDevNull = -1;

bool openSession(int *fd)
{
    *fd = open(kDev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    gOtherCalls++;
    return *fd >= 0;
}

void reopen(Session &s)
{
    std::unique_lock<std::mutex> one(s.reopening, std::try_to_lock);
    if (!one.owns_lock())
        return;
    s.gen++; // odd: changing
    dup2(gDevNull, s.fd);
    int nfd = -1;
    if (openSession(&nfd)) {
        dup2(nfd, s.fd);
        close(nfd);
        gOtherCalls += 3;
    } else {
        violation(std::string("reopening a session: ") + strerror(errno));
    }
    {
        std::lock_guard<std::mutex> g(s.m);
        for (uint32_t h : s.handles)
            if (s.stale.size() < 256)
                s.stale.push_back(h);
        s.handles.clear();
        s.held.clear();
    }
    s.gen++;
}

uint32_t pickFrom(std::vector<uint32_t> &v, Rng &r)
{
    return v.empty() ? 0 : v[r.below(v.size())];
}

// A handle for session `s`: one of its own, another session's, a stale one,
// 0 or garbage. *unknown says it cannot be valid in any session.
uint32_t pickHandleImpl(Session &s, Rng &r, bool *unknown)
{
    *unknown = false;
    uint32_t k = r.below(100);
    if (k < 55) {
        std::lock_guard<std::mutex> g(s.m);
        uint32_t h = k < 25 ? pickFrom(s.held, r) : pickFrom(s.handles, r);
        if (h)
            return h;
    } else if (k < 70) {
        Session &o = gSess[r.below(kSessions)];
        std::lock_guard<std::mutex> g(o.m);
        if (uint32_t h = pickFrom(o.handles, r))
            return h;
    } else if (k < 80) {
        std::lock_guard<std::mutex> g(s.m);
        if (uint32_t h = pickFrom(s.stale, r))
            return h;
    }
    switch (r.below(4)) {
    case 0:
        *unknown = true;
        return 0;
    case 1:
        *unknown = true;
        return 0x80000000u | static_cast<uint32_t>(r.next()); // above xa_limit_31b
    case 2:
        return 1 + r.below(64);
    default:
        return static_cast<uint32_t>(r.next());
    }
}

thread_local uint32_t tLastHandle;

uint32_t pickHandle(Session &s, Rng &r, bool *unknown)
{
    uint32_t h = pickHandleImpl(s, r, unknown);
    tLastHandle = h;
    return h;
}

void forget(Session &s, uint32_t h, bool fromHandles)
{
    std::lock_guard<std::mutex> g(s.m);
    auto drop = [h](std::vector<uint32_t> &v) {
        for (size_t i = 0; i < v.size(); i++)
            if (v[i] == h) {
                v[i] = v.back();
                v.pop_back();
                return;
            }
    };
    drop(s.held);
    if (fromHandles) {
        drop(s.handles);
        if (s.stale.size() < 256)
            s.stale.push_back(h);
    }
}

// ---------------------------------------------------------------------------
// Operation classes and their weights (per 10,000): cheap calls that test
// validation dominate; the deep paths still run tens of thousands of times.

enum OpIdx {
    O_UNKNOWN,
    O_KNOWN,
    O_ATTACH,
    O_SET_EVENTS,
    O_CONTROL,
    O_EXAMINE,
    O_LIST,
    O_READ,
    O_POLL,
    O_DETACH,
    O_QUEUE,
    O_VERSION,
    O_REOPEN,
    O_COUNT
};
struct OpClass {
    const char *name;
    uint32_t weight;
};
const OpClass kOps[O_COUNT] = {
    {"random command", 3500},
    {"fuzzed struct", 2800},
    {"attach with proof", 150},
    {"set events", 100},
    {"control", 400},
    {"examine held", 150},
    {"list", 40},
    {"read", 1800},
    {"poll", 1200},
    {"detach/barrier", 80},
    {"queue size", 5},
    {"version", 100},
    {"close+reopen", 2},
};
std::atomic<uint64_t> gOpStats[O_COUNT][2]; // ops, nanoseconds

// ---------------------------------------------------------------------------
// One fuzzing thread.

struct Fuzzer {
    Rng r;
    int idx;
    alignas(64) unsigned char buf[3 * 4096]; // argument structs
    alignas(64) unsigned char data[8192];    // buffers the structs point to
    alignas(8) unsigned char rec[65536];     // records

    // A writable page of this thread's own, followed by an unmapped one:
    // structs placed at its end make the kernel's reads run off it.
    unsigned char *guard = nullptr;

    Fuzzer(uint64_t seed, int i) : r(seed), idx(i)
    {
        void *g =
            mmap(nullptr, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (g != MAP_FAILED && mprotect(static_cast<unsigned char *>(g) + 4096, 4096, PROT_NONE))
            g = MAP_FAILED;
        guard = g == MAP_FAILED ? nullptr : static_cast<unsigned char *>(g);
    }
    ~Fuzzer()
    {
        if (guard)
            munmap(guard, 2 * 4096);
    }

    // A pointer of kind k into our memory; `len` bytes are wanted there.
    uint64_t ptr(int k, unsigned char *base)
    {
        switch (k) {
        case P_VALID:
            return reinterpret_cast<uint64_t>(base);
        case P_MISALIGNED:
            return reinterpret_cast<uint64_t>(base + 1 + r.below(7));
        case P_GUARD:
            return reinterpret_cast<uint64_t>(guard + 4096 - 8 * (1 + r.below(16)));
        case P_RO:
            return reinterpret_cast<uint64_t>(gPtr.ro);
        default:
            return badPtr(k);
        }
    }
    int ptrKind()
    {
        // Mostly valid memory, so calls get past the copy.
        uint32_t k = r.below(100);
        if (k < 70)
            return P_VALID;
        if (k < 78)
            return P_MISALIGNED;
        if (k < 80)
            return P_GUARD;
        if (k < 83)
            return P_RO;
        return P_NULL + r.below(P_KINDS - P_NULL);
    }
    uint64_t dataPtr()
    {
        int k = r.chance(85) ? P_VALID : ptrKind();
        return ptr(k, data);
    }

    void record(int row, long ret, int err)
    {
        gCalls++;
        gStats[row][ret >= 0 ? 0 : (err > 0 && err < kErrMax ? err : kErrMax)]++;
    }

    // Judges one call. `exact`: the only errno allowed (0: none singled out).
    void judge(int row, long ret, int err, uint32_t gen0, Session &s, int exact, const Errs &ok,
               bool mayPass, const char *what)
    {
        record(row, ret, err);
        uint32_t gen1 = s.gen.load();
        if (gen0 != gen1 || (gen0 & 1))
            return; // overlapped a close: may have been /dev/null
        char msg[256];
        if (ret >= 0 && (!mayPass || exact)) {
            struct stat st {};
            fstat(s.fd, &st);
            snprintf(msg, sizeof(msg),
                     "%s (%s): succeeded (%ld), want %s [last handle %u, fd %d rdev %lx gen %u]",
                     rowName(row), what, ret, exact ? strerrorname_np(exact) : "a failure",
                     tLastHandle, s.fd, static_cast<unsigned long>(st.st_rdev), gen0);
            violation(msg);
        } else if (ret < 0 && (exact ? err != exact : (err >= kErrMax || !ok.test(err)))) {
            snprintf(msg, sizeof(msg), "%s (%s): %s, want %s", rowName(row), what,
                     strerrorname_np(err) ?: "?",
                     exact ? strerrorname_np(exact) : "an errno of its documented list");
            violation(msg);
        }
    }

    // ---- random commands: ENOTTY --------------------------------------

    void unknownCmd(Session &s)
    {
        unsigned long cmd;
        for (;;) {
            if (r.chance(50)) {
                // Ours, with another direction, size or number.
                const Ioc &io = kIoc[r.below(I_COUNT)];
                unsigned dir = _IOC_DIR(io.cmd), nr = _IOC_NR(io.cmd), sz = _IOC_SIZE(io.cmd);
                switch (r.below(3)) {
                case 0:
                    dir = r.below(4);
                    break;
                case 1:
                    sz = r.below(1 << 14);
                    break;
                default:
                    nr = r.below(256);
                    break;
                }
                cmd = _IOC(dir, UTRACE_IOC_MAGIC, nr, sz);
            } else {
                cmd = static_cast<uint32_t>(r.next());
            }
            // The VFS answers some types itself (FIONBIO, FIOCLEX, FIFREEZE,
            // FICLONE, FIGETBSZ, FS_IOC_*): not ours to judge.
            unsigned type = _IOC_TYPE(cmd);
            if (type == 0 || type == 'T' || type == 'X' || type == 'f' || type == 0x94 ||
                type == 0x15)
                continue;
            bool known = false;
            for (const Ioc &io : kIoc)
                known = known || io.cmd == cmd;
            if (!known)
                break;
        }
        int k = ptrKind();
        uint64_t arg = ptr(k, buf);
        if (!ptrBad(k))
            memset(buf, static_cast<int>(r.next()), 512);
        uint32_t gen = s.gen.load();
        long ret = ioctl(s.fd, cmd, arg);
        judge(S_UNKNOWN, ret, errno, gen, s, ENOTTY, Errs(), false, "random command");
    }

    // ---- a known ioctl with a fuzzed struct ---------------------------

    // Fills the fields of ioctl `i` in `a`; returns true if the struct is
    // invalid by a documented rule (so the call must fail).
    bool fields(int i, unsigned char *a, Session &s)
    {
        bool bad = false, unknown = false;
        auto rnd32 = [&] { return static_cast<uint32_t>(r.next()); };
        switch (i) {
        case I_VERSION:
            break;
        case I_ATTACH: {
            auto *x = reinterpret_cast<utrace_attach *>(a);
            x->flags = r.chance(70) ? (rnd32() & kAttachFlags) : rnd32();
            bad |= (x->flags & ~kAttachFlags) != 0;
            uint64_t t = gShared->slot[r.below(kSlots)].load();
            x->tid = r.chance(60) ? static_cast<int32_t>(t) : static_cast<int32_t>(rnd32());
            x->proof_fd = r.chance(50) ? -1 : static_cast<int32_t>(r.below(64));
            if (r.chance(5)) {
                x->handle = rnd32() | 1;
                bad = true;
            }
            if (r.chance(5)) {
                x->reserved0 = rnd32() | 1;
                bad = true;
            }
            if (r.chance(5)) {
                x->reserved[r.below(2)] = r.next() | 1;
                bad = true;
            }
            if (x->tid == 0)
                bad = true;
            break;
        }
        case I_SET_EVENTS: {
            auto *x = reinterpret_cast<utrace_set_events *>(a);
            x->handle = pickHandle(s, r, &unknown);
            x->events = r.chance(80) ? (r.next() & UTRACE_EV_ALL) : r.next();
            bad |= (x->events & ~UTRACE_EV_ALL) != 0;
            x->stop_events = r.chance(80) ? (r.next() & x->events & UTRACE_EV_STOPPABLE) : r.next();
            bad |= (x->stop_events & ~x->events) || (x->stop_events & ~UTRACE_EV_STOPPABLE);
            x->flags = r.chance(80) ? (rnd32() & kSeFlags) : rnd32();
            bad |= (x->flags & ~kSeFlags) != 0;
            if (r.chance(40)) {
                int k = ptrKind();
                x->syscall_filter = ptr(k, data);
                if (!ptrBad(k) && k != P_RO && k != P_GUARD)
                    for (int j = 0; j < 64; j++)
                        data[j] = static_cast<unsigned char>(r.next());
                bad |= ptrBad(k) && x->syscall_filter != 0;
            }
            if (r.chance(5)) {
                x->reserved0 = 1;
                bad = true;
            }
            if (r.chance(5)) {
                x->reserved[r.below(2)] = r.next() | 1;
                bad = true;
            }
            break;
        }
        case I_CONTROL: {
            auto *x = reinterpret_cast<utrace_control *>(a);
            x->handle = pickHandle(s, r, &unknown);
            x->action = r.chance(90) ? r.below(UTRACE_CTL_DETACH + 1) : rnd32();
            bad |= x->action > UTRACE_CTL_DETACH;
            x->verdict = r.chance(70) ? 0 : r.chance(90) ? r.below(kVerdictMax + 1) : rnd32();
            bad |= x->verdict > kVerdictMax;
            if (x->verdict == UTRACE_VERDICT_DELIVER_OTHER || r.chance(5))
                x->signo = r.chance(90) ? 1 + static_cast<int32_t>(r.below(64))
                                        : static_cast<int32_t>(rnd32());
            bad |= x->verdict == UTRACE_VERDICT_DELIVER_OTHER ? (x->signo <= 0 || x->signo > 64)
                                                              : x->signo != 0;
            if (x->verdict == UTRACE_VERDICT_ABORT || r.chance(5))
                x->retval = static_cast<int64_t>(r.next()) >> r.below(64);
            bad |= x->retval != 0 && x->verdict != UTRACE_VERDICT_ABORT;
            bad |=
                x->verdict != 0 && (x->action == UTRACE_CTL_STOP || x->action == UTRACE_CTL_DETACH);
#ifdef UTRACE_VERDICT_RUN_ARGS
            if (x->verdict == UTRACE_VERDICT_RUN_ARGS || r.chance(5)) {
                int k = ptrKind();
                x->args = ptr(k, data);
                bad |= ptrBad(k) && x->args != 0;
            }
            bad |= (x->args != 0) != (x->verdict == UTRACE_VERDICT_RUN_ARGS);
            if (r.chance(5)) {
                x->reserved = r.next() | 1;
                bad = true;
            }
#else
            if (r.chance(5)) {
                x->reserved[r.below(2)] = r.next() | 1;
                bad = true;
            }
#endif
            if (r.chance(5)) {
                x->reserved0 = 1;
                bad = true;
            }
            break;
        }
        case I_DETACH: {
            auto *x = reinterpret_cast<utrace_detach *>(a);
            x->handle = pickHandle(s, r, &unknown);
            if (r.chance(10)) {
                x->reserved = r.next() | 1;
                bad = true;
            }
            break;
        }
        case I_GETREGS:
        case I_SETREGS: {
            auto *x = reinterpret_cast<utrace_regs *>(a);
            x->handle = pickHandle(s, r, &unknown);
            x->regs = dataPtr();
            static const uint32_t lens[] = {0, 215, 216, 512, 4096, 8192};
            x->len = r.chance(90) ? lens[r.below(6)] : rnd32();
#ifdef UTRACE_REGSET_XSTATE
            static const uint32_t sets[] = {0, UTRACE_REGSET_GENERAL, UTRACE_REGSET_FP,
                                            UTRACE_REGSET_XSTATE};
            x->regset = r.chance(90) ? sets[r.below(4)] : rnd32();
            bad |= x->regset != 0 && x->regset != UTRACE_REGSET_GENERAL &&
                   x->regset != UTRACE_REGSET_FP && x->regset != UTRACE_REGSET_XSTATE;
#else
            if (r.chance(5)) {
                x->reserved0 = 1;
                bad = true;
            }
#endif
            if (i == I_SETREGS) {
                // The general registers are written one by one up to the
                // first refused one (as ptrace does): garbage there would
                // only crash tracees. Garbage FP/XSTATE is validated whole.
                bool general = true;
#ifdef UTRACE_REGSET_XSTATE
                general = x->regset == 0 || x->regset == UTRACE_REGSET_GENERAL;
#endif
                if (general && x->len >= sizeof(user_regs_struct))
                    x->regs = badPtr(P_NULL + r.below(P_KINDS - P_NULL));
                for (int j = 0; j < 1024; j++)
                    data[j] = static_cast<unsigned char>(r.next());
            }
            if (r.chance(5)) {
                x->reserved = r.next() | 1;
                bad = true;
            }
            break;
        }
        case I_MEM: {
            auto *x = reinterpret_cast<utrace_mem *>(a);
            x->handle = pickHandle(s, r, &unknown);
            static const uint32_t counts[] = {0, 1, 2, 3, 1024, 1025};
            x->count = r.chance(90) ? counts[r.below(6)] : rnd32();
            bad |= x->count > UTRACE_MEM_IOV_MAX;
            x->flags = r.chance(90) ? r.below(2) : rnd32();
            bad |= (x->flags & ~UTRACE_MEM_WRITE) != 0;
            int k = ptrKind();
            x->iov = ptr(k, data);
            if (!ptrBad(k) && k != P_RO && k != P_GUARD) {
                auto *iov = reinterpret_cast<utrace_mem_iov *>(data);
                for (int j = 0; j < 3; j++) {
                    iov[j].addr = r.chance(50) ? r.next() : (r.next() & 0x7fffffffffffULL);
                    iov[j].len = r.chance(80) ? r.below(4096) : r.next();
                    iov[j].buf = reinterpret_cast<uint64_t>(data + 1024);
                    if (r.chance(20))
                        iov[j].buf = ptr(ptrKind(), data + 1024);
                }
            }
            if (r.chance(5)) {
                x->done = r.next() | 1;
                bad = true;
            }
            if (r.chance(5)) {
                x->reserved[r.below(2)] = r.next() | 1;
                bad = true;
            }
            break;
        }
        case I_LIST: {
            auto *x = reinterpret_cast<utrace_list *>(a);
            static const uint32_t maxes[] = {0, 1, 4, 64, 65536, 0xffffffffu};
            x->max = maxes[r.chance(95) ? r.below(4) : 4 + r.below(2)];
            x->buf = ptr(ptrKind(), data);
            if (r.chance(5)) {
                x->count = rnd32() | 1;
                bad = true;
            }
            if (r.chance(5)) {
                x->reserved0 = 1;
                bad = true;
            }
            if (r.chance(5)) {
                x->reserved = r.next() | 1;
                bad = true;
            }
            break;
        }
        case I_QUEUE: {
            auto *x = reinterpret_cast<utrace_queue_size *>(a);
            static const uint64_t sizes[] = {0,
                                             1,
                                             UTRACE_QUEUE_MIN - 1,
                                             UTRACE_QUEUE_MIN,
                                             UTRACE_QUEUE_MIN + 3,
                                             1 << 20,
                                             UTRACE_QUEUE_MAX + 1,
                                             ~0ULL};
            x->bytes = sizes[r.below(8)];
            bad |= x->bytes != 0 && (x->bytes < UTRACE_QUEUE_MIN || x->bytes > UTRACE_QUEUE_MAX);
            if (r.chance(10)) {
                x->reserved0 = 1;
                bad = true;
            }
            break;
        }
#ifdef UTRACE_IOC_BARRIER
        case I_BARRIER: {
            auto *x = reinterpret_cast<utrace_barrier *>(a);
            x->handle = pickHandle(s, r, &unknown);
            if (r.chance(10)) {
                x->reserved = r.next() | 1;
                bad = true;
            }
            break;
        }
#endif
#ifdef UTRACE_IOC_PROVE
        case I_PROVE: {
            // Random descriptors: mostly not a proof (EPERM); the session's
            // own fd, stdin, or -1 now and then.
            auto *x = reinterpret_cast<utrace_prove *>(a);
            x->handle = pickHandle(s, r, &unknown);
            x->proof_fd = r.chance(3) ? s.fd : r.chance(3) ? -1 : static_cast<int>(r.next() % 64);
            if (r.chance(10)) {
                x->reserved = r.next() | 1;
                bad = true;
            }
            break;
        }
#endif
        }
        return bad || unknown;
    }

    void knownCmd(Session &s)
    {
        int i = r.below(I_COUNT);
        const Ioc &io = kIoc[i];
        int k = ptrKind();
        unsigned char *a = buf;
        uint64_t arg;
        int exact = 0;
        bool bad = false;
        if (k == P_VALID || k == P_MISALIGNED) {
            a = k == P_VALID ? buf : buf + 1 + r.below(7);
            memset(a, 0, 4200);
            uint32_t size;
            switch (r.below(10)) {
            case 0:
                size = 0;
                break;
            case 1:
                size = io.ver0 - 1 - r.below(io.ver0);
                break;
            case 2:
                size = io.ver0;
                break;
            case 3:
                size = io.ksize + 8 * (1 + r.below(64));
                break;
            case 4:
                size = 4096 + 1 + r.below(8);
                break;
            case 5:
                size = 0xffffffffu;
                break;
            default:
                size = io.ksize;
                break;
            }
            memcpy(a, &size, 4);
            bad = fields(i, a, s);
            bool tail = size > io.ksize && size <= 4096 && r.chance(50);
            if (tail)
                a[io.ksize + r.below(size - io.ksize)] =
                    static_cast<unsigned char>(1 + r.below(255));
            if (size < io.ver0 || (io.bounded && size > 4096))
                exact = EINVAL;
            else if (tail && i != I_VERSION) // VERSION only writes
                exact = EINVAL;
            arg = reinterpret_cast<uint64_t>(a);
        } else if (k == P_GUARD) {
            // The struct ends where an unmapped page starts: a size that
            // reaches past it faults.
            a = guard + 4096 - io.ksize;
            memset(a, 0, io.ksize);
            uint32_t size = r.chance(50) ? io.ksize : io.ksize + 8 * (1 + r.below(4));
            memcpy(a, &size, 4);
            bad = fields(i, a, s);
            arg = reinterpret_cast<uint64_t>(a);
            if (size > io.ksize && i != I_VERSION)
                exact = EFAULT;
        } else if (k == P_RO) {
            arg = reinterpret_cast<uint64_t>(gPtr.ro);
            bad = true; // every ioctl writes back or needs a handle
            if (i == I_VERSION)
                exact = EFAULT;
        } else {
            arg = badPtr(k);
            exact = EFAULT;
        }
        uint32_t gen = s.gen.load();
        long ret = ioctl(s.fd, io.cmd, arg);
        int err = errno;
        judge(i, ret, err, gen, s, exact, io.errs, !bad, "fuzzed struct");
        if (ret >= 0 && i == I_ATTACH && !exact && k != P_RO) {
            auto *x = reinterpret_cast<utrace_attach *>(a);
            keepHandle(s, gen, x->handle);
        }
    }

    void keepHandle(Session &s, uint32_t gen, uint32_t h)
    {
        std::lock_guard<std::mutex> g(s.m);
        if (s.gen.load() == gen && h && s.handles.size() < 512)
            s.handles.push_back(h);
    }

    // ---- well-formed operations: the deep paths -----------------------

    void attach(Session &s)
    {
        uint64_t t = gShared->slot[r.below(kSlots)].load();
        if (!t)
            return;
        pid_t tgid = static_cast<pid_t>(t >> 32), tid = static_cast<pid_t>(t);
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/mem", r.chance(90) ? tgid : tid);
        int proof = open(path, O_RDONLY | O_CLOEXEC);
        gOtherCalls++;
        if (proof < 0)
            return; // gone
        utrace_attach a{};
        a.size = sizeof(a);
        a.tid = tid;
        a.proof_fd = proof;
        a.flags = r.chance(60) ? 0 : (static_cast<uint32_t>(r.next()) & kAttachFlags);
        uint32_t gen = s.gen.load();
        long ret = ioctl(s.fd, UTRACE_IOC_ATTACH, &a);
        judge(I_ATTACH, ret, errno, gen, s, 0, kIoc[I_ATTACH].errs, true, "with proof");
        close(proof);
        gOtherCalls++;
        if (ret >= 0)
            keepHandle(s, gen, a.handle);
    }

    void setEvents(Session &s)
    {
        bool unknown;
        utrace_set_events se{};
        se.size = sizeof(se);
        se.handle = pickHandle(s, r, &unknown);
        se.events = r.next() & UTRACE_EV_ALL;
        // Stops are what holds threads: ask for them often.
        se.stop_events = r.chance(60) ? (r.next() & se.events & UTRACE_EV_STOPPABLE) : 0;
        se.flags = static_cast<uint32_t>(r.next()) & kSeFlags;
        uint64_t bitmap[UTRACE_FILTER_NR / 64];
        if (r.chance(30)) {
            for (auto &b : bitmap)
                b = r.next() & r.next();
            se.syscall_filter = reinterpret_cast<uint64_t>(bitmap);
        }
        uint32_t gen = s.gen.load();
        long ret = ioctl(s.fd, UTRACE_IOC_SET_EVENTS, &se);
        judge(I_SET_EVENTS, ret, errno, gen, s, unknown ? ENOENT : 0, kIoc[I_SET_EVENTS].errs,
              !unknown, "well-formed");
    }

    // Releases (or steps, or stops) a thread, with a verdict now and then.
    void control(Session &s, uint32_t h, bool release, bool verdicts = true)
    {
        utrace_control c{};
        c.size = sizeof(c);
        c.handle = h;
        static const uint32_t rel[] = {UTRACE_CTL_RESUME,     UTRACE_CTL_RESUME,
                                       UTRACE_CTL_REPORT,     UTRACE_CTL_INTERRUPT,
                                       UTRACE_CTL_SINGLESTEP, UTRACE_CTL_BLOCKSTEP};
        c.action = release ? rel[r.below(6)] : r.below(UTRACE_CTL_DETACH + 1);
        if (verdicts && c.action != UTRACE_CTL_STOP && c.action != UTRACE_CTL_DETACH &&
            r.chance(30)) {
            c.verdict = 1 + r.below(UTRACE_VERDICT_IGNORE);
            if (c.verdict == UTRACE_VERDICT_ABORT)
                c.retval = -static_cast<int64_t>(r.below(200));
            if (c.verdict == UTRACE_VERDICT_DELIVER_OTHER)
                c.signo = r.chance(50) ? SIGUSR1 : SIGUSR2;
        }
        uint32_t gen = s.gen.load();
        long ret = ioctl(s.fd, UTRACE_IOC_CONTROL, &c);
        int err = errno;
        judge(I_CONTROL, ret, err, gen, s, 0, kIoc[I_CONTROL].errs, true, "well-formed");
        if (c.action == UTRACE_CTL_DETACH && ret == 0)
            forget(s, h, true);
        else if (c.action != UTRACE_CTL_STOP && (ret == 0 || err == ESRCH || err == ENOENT))
            forget(s, h, err == ENOENT);
    }

    void examine(Session &s)
    {
        uint32_t h;
        {
            std::lock_guard<std::mutex> g(s.m);
            h = pickFrom(s.held, r);
        }
        if (!h)
            return;
        user_regs_struct regs{};
        utrace_regs a{};
        a.size = sizeof(a);
        a.handle = h;
        a.regs = reinterpret_cast<uint64_t>(&regs);
        a.len = sizeof(regs);
        uint32_t gen = s.gen.load();
        long ret = ioctl(s.fd, UTRACE_IOC_GETREGS, &a);
        judge(I_GETREGS, ret, errno, gen, s, 0, kIoc[I_GETREGS].errs, true, "held thread");
        if (ret != 0)
            return;
        uint32_t what = r.below(4);
        if (what == 0) {
            // Its stack, read.
            unsigned char stack[256];
            utrace_mem_iov iov{regs.rsp, sizeof(stack), reinterpret_cast<uint64_t>(stack)};
            utrace_mem m{};
            m.size = sizeof(m);
            m.handle = h;
            m.iov = reinterpret_cast<uint64_t>(&iov);
            m.count = 1;
            gen = s.gen.load();
            ret = ioctl(s.fd, UTRACE_IOC_MEM, &m);
            judge(I_MEM, ret, errno, gen, s, 0, kIoc[I_MEM].errs, true, "held thread's stack");
        } else if (what == 1) {
            // Its scratch memory: random pieces read or written.
            utrace_mem_iov iov[3];
            for (auto &v : iov) {
                uint32_t off = r.below(sizeof(gScratch));
                v.addr = reinterpret_cast<uint64_t>(gScratch) + off;
                v.len = r.below(static_cast<uint32_t>(sizeof(gScratch)) - off + 1);
                v.buf = reinterpret_cast<uint64_t>(data);
            }
            utrace_mem m{};
            m.size = sizeof(m);
            m.handle = h;
            m.iov = reinterpret_cast<uint64_t>(iov);
            m.count = 1 + r.below(3);
            m.flags = r.below(2) ? UTRACE_MEM_WRITE : 0;
            gen = s.gen.load();
            ret = ioctl(s.fd, UTRACE_IOC_MEM, &m);
            judge(I_MEM, ret, errno, gen, s, 0, kIoc[I_MEM].errs, true, "held thread's scratch");
        } else if (what == 2) {
            gen = s.gen.load();
            ret = ioctl(s.fd, UTRACE_IOC_SETREGS, &a);
            judge(I_SETREGS, ret, errno, gen, s, 0, kIoc[I_SETREGS].errs, true, "unchanged");
        } else {
            // A code segment selector with RPL 0: refused, like ptrace.
            regs.cs = (regs.cs & ~3ULL) | 8;
            gen = s.gen.load();
            ret = ioctl(s.fd, UTRACE_IOC_SETREGS, &a);
            int err = errno;
            // EBUSY/ESRCH/EAGAIN: the thread left the hold meanwhile; ENOENT:
            // another fuzzer thread detached the handle since GETREGS.
            if (ret == 0 ||
                (err != EBUSY && err != ESRCH && err != EAGAIN && err != EPERM && err != ENOENT))
                judge(I_SETREGS, ret, err, gen, s, EIO, Errs(), false, "cs with RPL 0");
            else
                record(I_SETREGS, ret, err);
        }
    }

    void list(Session &s)
    {
        utrace_engine_info info[64];
        utrace_list l{};
        l.size = sizeof(l);
        l.max = 64;
        l.buf = reinterpret_cast<uint64_t>(info);
        uint32_t gen = s.gen.load();
        long ret = ioctl(s.fd, UTRACE_IOC_LIST, &l);
        judge(I_LIST, ret, errno, gen, s, 0, kIoc[I_LIST].errs, true, "well-formed");
        for (long j = 0; j < ret && j < 64; j++) {
            if (info[j].reserved != 0 || info[j].state > UTRACE_STATE_DEAD || info[j].handle == 0) {
                char msg[160];
                snprintf(msg, sizeof(msg),
                         "LIST: element %ld of %ld: handle %u state %u reserved %u", j, ret,
                         info[j].handle, info[j].state, info[j].reserved);
                violation(msg);
                break;
            }
            // Engines the kernel made (followed children) become ours too,
            // and held threads whose record went to another reader.
            if (r.chance(10))
                keepHandle(s, gen, info[j].handle);
            if (info[j].state == UTRACE_STATE_HELD && r.chance(50)) {
                std::lock_guard<std::mutex> g(s.m);
                if (s.gen.load() == gen && s.held.size() < 512)
                    s.held.push_back(info[j].handle);
            }
        }
    }

    // Reads records with a random buffer; releases most HELD ones at once.
    void readRecords(Session &s)
    {
        static const size_t sizes[] = {0, 1, 7, 8, 39, 40, 47, 48, 63, 64, 100, 200, 4096, 65536};
        size_t len = r.chance(90) ? sizes[r.below(14)] : r.below(sizeof(rec));
        int k = r.chance(90) ? P_VALID : ptrKind();
        unsigned char *dst = k == P_VALID ? rec : reinterpret_cast<unsigned char *>(ptr(k, rec));
        if (k == P_GUARD || k == P_RO || k == P_MISALIGNED)
            len = std::min<size_t>(len, 64);
        uint32_t gen = s.gen.load();
        ssize_t n = read(s.fd, dst, len);
        int err = errno;
        static const Errs readErrs = errs({EAGAIN, EINVAL, EFAULT, EINTR});
        judge(S_READ, n, err, gen, s, 0, readErrs, true, "records");
        if (n == 0 && s.gen.load() == gen && !(gen & 1))
            violation("read returned 0 (never documented)");
        if (n <= 0 || k != P_VALID)
            return;
        uint64_t seq = 0;
        for (ssize_t off = 0; off < n;) {
            utrace_event h;
            if (n - off < static_cast<ssize_t>(sizeof(h))) {
                violation("read: a partial record header");
                return;
            }
            memcpy(&h, rec + off, sizeof(h));
            if (h.size < sizeof(h) || h.size % 8 || off + static_cast<ssize_t>(h.size) > n ||
                h.type < UTRACE_REC_SYSCALL_ENTRY || h.type > UTRACE_REC_LOST || h.reserved) {
                char msg[160];
                snprintf(msg, sizeof(msg), "read: bad record size %u type %u reserved %u", h.size,
                         h.type, h.reserved);
                violation(msg);
                return;
            }
            if (seq && h.seq != seq + 1) {
                char msg[160];
                snprintf(msg, sizeof(msg), "read: seq %llu after %llu (gap)",
                         static_cast<unsigned long long>(h.seq),
                         static_cast<unsigned long long>(seq));
                violation(msg);
            }
            seq = h.seq;
            if (h.flags & UTRACE_REC_HELD) {
                if (r.chance(70)) {
                    // No verdict on rt_sigreturn: skipping it would run
                    // the bytes after the signal trampoline.
                    utrace_ev_syscall_entry e{};
                    if (h.type == UTRACE_REC_SYSCALL_ENTRY && h.size >= sizeof(h) + sizeof(e))
                        memcpy(&e, rec + off + sizeof(h), sizeof(e));
                    control(s, h.handle, true,
                            h.type != UTRACE_REC_SYSCALL_ENTRY || e.nr != SYS_rt_sigreturn);
                } else {
                    std::lock_guard<std::mutex> g(s.m);
                    if (s.gen.load() == gen && s.held.size() < 512)
                        s.held.push_back(h.handle);
                }
            }
            off += h.size;
        }
    }

    void pollOne(Session &s)
    {
        pollfd p{s.fd, static_cast<short>(POLLIN | (r.chance(20) ? POLLOUT : 0)), 0};
        uint32_t gen = s.gen.load();
        int ret = poll(&p, 1, 0);
        int err = errno;
        judge(S_POLL, ret, err, gen, s, 0, errs({EINTR}), true, "timeout 0");
        if (ret > 0 && s.gen.load() == gen && !(gen & 1) && (p.revents & ~(POLLIN | POLLRDNORM)))
            violation("poll: events other than POLLIN");
    }

    void detachOrBarrier(Session &s)
    {
        bool unknown;
        uint32_t h = pickHandle(s, r, &unknown);
        uint32_t gen = s.gen.load();
#ifdef UTRACE_IOC_BARRIER
        if (r.chance(50)) {
            utrace_barrier b{};
            b.size = sizeof(b);
            b.handle = h;
            long ret = ioctl(s.fd, UTRACE_IOC_BARRIER, &b);
            judge(I_BARRIER, ret, errno, gen, s, unknown ? ENOENT : 0, kIoc[I_BARRIER].errs,
                  !unknown, "well-formed");
            return;
        }
#endif
        utrace_detach d{};
        d.size = sizeof(d);
        d.handle = h;
        long ret = ioctl(s.fd, UTRACE_IOC_DETACH, &d);
        judge(I_DETACH, ret, errno, gen, s, unknown ? ENOENT : 0, kIoc[I_DETACH].errs, !unknown,
              "well-formed");
        if (ret == 0)
            forget(s, h, true);
    }

    void queueSize(Session &s)
    {
        utrace_queue_size q{};
        q.size = sizeof(q);
        q.bytes = r.chance(30) ? 0 : UTRACE_QUEUE_MIN << r.below(7);
        uint32_t gen = s.gen.load();
        long ret = ioctl(s.fd, UTRACE_IOC_QUEUE_SIZE, &q);
        judge(I_QUEUE, ret, errno, gen, s, 0, kIoc[I_QUEUE].errs, true, "in range");
    }

    void version(Session &s)
    {
        utrace_version v{};
        v.size = sizeof(v);
        uint32_t gen = s.gen.load();
        long ret = ioctl(s.fd, UTRACE_IOC_VERSION, &v);
        judge(I_VERSION, ret, errno, gen, s, 0, kIoc[I_VERSION].errs, true, "well-formed");
        if (ret == 0 && s.gen.load() == gen && !(gen & 1) &&
            (v.api_version != UTRACE_DEV_API_VERSION || v.size != sizeof(v)))
            violation("VERSION: wrong api_version or size");
    }

    // One operation of class `op` (weights in kOps).
    void runOp(int op, Session &s)
    {
        switch (op) {
        case O_UNKNOWN:
            unknownCmd(s);
            break;
        case O_KNOWN:
            knownCmd(s);
            break;
        case O_ATTACH:
            attach(s);
            break;
        case O_SET_EVENTS:
            setEvents(s);
            break;
        case O_CONTROL: {
            bool unknown;
            uint32_t h;
            {
                std::lock_guard<std::mutex> g(s.m);
                h = pickFrom(s.held, r);
            }
            control(s, h ? h : pickHandle(s, r, &unknown), h != 0 || r.chance(50));
            break;
        }
        case O_EXAMINE:
            examine(s);
            break;
        case O_LIST:
            list(s);
            break;
        case O_READ:
            readRecords(s);
            break;
        case O_POLL:
            pollOne(s);
            break;
        case O_DETACH:
            detachOrBarrier(s);
            break;
        case O_QUEUE:
            queueSize(s);
            break;
        case O_VERSION:
            version(s);
            break;
        default:
            reopen(s);
            break;
        }
    }

    void run()
    {
        const uint64_t target = gTarget.load();
        uint32_t total = 0;
        for (const OpClass &o : kOps)
            total += o.weight;
        while (gCalls.load(std::memory_order_relaxed) < target) {
            Session &s = gSess[r.below(kSessions)];
            uint32_t w = r.below(total);
            int op = 0;
            while (w >= kOps[op].weight)
                w -= kOps[op++].weight;
            auto t0 = std::chrono::steady_clock::now();
            runOp(op, s);
            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
            gOpStats[op][0]++;
            gOpStats[op][1] += static_cast<uint64_t>(ns);
        }
    }
};

uint64_t envU64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, nullptr, 0) : dflt;
}

std::string procState(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return "gone";
    char line[512] = {};
    if (!fgets(line, sizeof(line), f))
        line[0] = 0;
    fclose(f);
    const char *p = strrchr(line, ')');
    return p && p[1] && p[2] ? std::string(1, p[2]) : "?";
}

const char *gSelf = nullptr;

// x86's debug.exception-trace: the kernel logs each user-mode fault a
// process does not handle ("traps: X[pid] general protection fault ...").
// Tracees whose registers, memory and syscall results the fuzzers change do
// fault; those lines are about user space, yet read like the kernel's own
// oopses to a log scan. Off while fuzzing; kernel faults are logged as ever.
const char *const kExceptionTrace = "/proc/sys/debug/exception-trace";

int readExceptionTrace()
{
    FILE *f = fopen(kExceptionTrace, "r");
    int v = -1;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

bool writeExceptionTrace(int v)
{
    FILE *f = fopen(kExceptionTrace, "w");
    if (!f)
        return false;
    bool ok = fprintf(f, "%d\n", v) > 0;
    return fclose(f) == 0 && ok;
}

TEST(UtraceDevFuzz, RandomCallsFromThreadsWhileTraceesCloneAndExit)
{
    alarm(900);
    const uint64_t seed =
        envU64("UTRACE_FUZZ_SEED",
               static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    gTarget = envU64("UTRACE_FUZZ_CALLS", 1000000);
    kFuzzThreads = static_cast<int>(std::max<uint64_t>(1, envU64("UTRACE_FUZZ_THREADS", 4)));
    const int exceptionTrace = readExceptionTrace();
    ASSERT_GE(exceptionTrace, 0) << kExceptionTrace;
    ASSERT_TRUE(writeExceptionTrace(0));
    printf("UtraceDevFuzz: seed %llu (UTRACE_FUZZ_SEED=%llu repeats every thread's calls; the "
           "interleaving varies), %llu calls, %d threads\n",
           static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed),
           static_cast<unsigned long long>(gTarget.load()), kFuzzThreads);

    // Memory for the pointers.
    auto *ro = static_cast<unsigned char *>(
        mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    auto *g = static_cast<unsigned char *>(
        mmap(nullptr, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(ro, MAP_FAILED);
    ASSERT_NE(g, MAP_FAILED);
    uint32_t roSize = UTRACE_VERSION_SIZE_VER0;
    memcpy(ro, &roSize, 4);
    ASSERT_EQ(mprotect(ro, 4096, PROT_READ), 0);
    ASSERT_EQ(mprotect(g + 4096, 4096, PROT_NONE), 0);
    gPtr.ro = ro;
    gPtr.none = g + 4096;

    void *sh =
        mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(sh, MAP_FAILED);
    gShared = new (sh) Shared();

    // Orphaned tracees come back to us to be reaped.
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    pid_t farm = fork();
    ASSERT_GE(farm, 0);
    if (farm == 0) {
        setpgid(0, 0);
        farmMain(seed ^ 0xfa57, gSelf);
    }
    setpgid(farm, farm);
    ASSERT_TRUE(vmtest::waitFor(
        [] {
            int n = 0;
            for (auto &s : gShared->slot)
                n += s.load() != 0;
            return n >= kTraceeProcs;
        },
        10000))
        << "the tracees did not start";

    gDevNull = open("/dev/null", O_RDWR | O_CLOEXEC);
    ASSERT_GE(gDevNull, 0);
    for (auto &s : gSess)
        ASSERT_TRUE(openSession(&s.fd)) << kDev << ": " << strerror(errno);

    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<Fuzzer>> fuzzers;
    for (int i = 0; i < kFuzzThreads; i++) {
        fuzzers.push_back(std::make_unique<Fuzzer>(seed * 1000003 + i, i));
        ASSERT_NE(fuzzers.back()->guard, nullptr) << "guard pages: " << strerror(errno);
        threads.emplace_back([f = fuzzers.back().get()] { f->run(); });
    }
    for (auto &t : threads)
        t.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    uint64_t calls = gCalls.load();
    printf("UtraceDevFuzz: %llu calls on the device in %.1f s (%.0f calls/s), %llu other "
           "calls (open/close/dup2)\n",
           static_cast<unsigned long long>(calls), secs, calls / secs,
           static_cast<unsigned long long>(gOtherCalls.load()));
    for (int row = 0; row < S_ROWS; row++) {
        std::string line = std::string("  ") + rowName(row) + ":";
        uint64_t total = 0;
        for (int e = 0; e <= kErrMax; e++) {
            uint64_t n = gStats[row][e].load();
            total += n;
            if (!n)
                continue;
            const char *name = e == 0 ? "ok" : e == kErrMax ? "other" : strerrorname_np(e);
            line += ' ';
            line += name ? name : "?";
            line += ' ';
            line += std::to_string(n);
        }
        printf("%s (total %llu)\n", line.c_str(), static_cast<unsigned long long>(total));
    }
    for (int op = 0; op < O_COUNT; op++) {
        uint64_t n = gOpStats[op][0].load(), ns = gOpStats[op][1].load();
        printf("  op %-18s %8llu ops, %6.1f s thread time, %7.1f us/op\n", kOps[op].name,
               static_cast<unsigned long long>(n), ns / 1e9, n ? ns / 1e3 / n : 0.0);
    }
    uint64_t sum = 0;
    for (auto &row : gStats)
        for (auto &c : row)
            sum += c.load();
    EXPECT_EQ(sum, calls) << "every counted call has a recorded result";
    EXPECT_GE(calls, gTarget.load());

    // Close every session: held threads run again.
    for (auto &s : gSess) {
        close(s.fd);
        s.fd = -1;
    }
    close(gDevNull);

    // Every tracee dies and is reaped: none stays stuck in a hold.
    kill(-farm, SIGKILL);
    std::vector<pid_t> reaped;
    bool allGone = vmtest::waitFor(
        [] {
            for (;;) {
                pid_t p = waitpid(-1, nullptr, WNOHANG | __WALL);
                if (p > 0)
                    continue;
                return p < 0 && errno == ECHILD;
            }
        },
        15000);
    if (!allGone) {
        std::string left;
        for (auto &s : gShared->slot) {
            pid_t tgid = static_cast<pid_t>(s.load() >> 32);
            if (tgid > 0)
                left += " " + std::to_string(tgid) + ":" + procState(tgid);
        }
        ADD_FAILURE() << "tracees not reaped within 15 s after SIGKILL; published left:" << left;
    }

    std::string why;
    EXPECT_TRUE(vmtest::coreCountersDrain(5000, &why)) << why;
    EXPECT_TRUE(writeExceptionTrace(exceptionTrace));
    for (auto &v : gViolText)
        ADD_FAILURE() << v;
    EXPECT_EQ(gViolations.load(), 0u) << "unexpected results (first ones above)";
    alarm(0);
}

// A tracee that exec'd itself: a few syscalls, then exit.
int execTraceeMain()
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (int i = 0; i < 20; i++)
        syscall(SYS_getppid);
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc == 2 && std::strcmp(argv[1], kExecFlag) == 0)
        return execTraceeMain();
    static std::string self = "/proc/self/exe";
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n > 0) {
        path[n] = 0;
        self = path;
    }
    gSelf = self.c_str();
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
