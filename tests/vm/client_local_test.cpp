// ClientLocal: libutraceclient end to end on the real /dev/utrace, against
// the fixture programs in /fixtures (tests/fixtures).
#include "utrace/breakpoints.hpp"
#include "utrace/session.hpp"

#include "vm_util.hpp"

#include <csignal>
#include <cstring>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <linux/utrace.h>
#include <map>
#include <poll.h>
#include <set>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace utrace;

namespace {

const int kUnbuffered = [] {
    setvbuf(stdout, nullptr, _IONBF, 0);
    return 0;
}();

std::string fixture(const std::string &name)
{
    for (const char *dir : {"/fixtures/", "./vm-bin/fixtures/"}) {
        std::string p = dir + name;
        if (access(p.c_str(), X_OK) == 0)
            return p;
    }
    return "/fixtures/" + name;
}

// A symbol's address (or the entry point for "") in a non-PIE fixture.
uint64_t elfAddress(const std::string &path, const std::string &sym)
{
    elf_version(EV_CURRENT);
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    Elf *e = elf_begin(fd, ELF_C_READ, nullptr);
    uint64_t found = 0;
    GElf_Ehdr eh;
    if (e && gelf_getehdr(e, &eh)) {
        if (sym.empty())
            found = eh.e_entry;
        for (Elf_Scn *s = nullptr; !found && (s = elf_nextscn(e, s));) {
            GElf_Shdr sh;
            if (!gelf_getshdr(s, &sh) || sh.sh_type != SHT_SYMTAB)
                continue;
            Elf_Data *d = elf_getdata(s, nullptr);
            for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; ++i) {
                GElf_Sym st;
                if (gelf_getsym(d, int(i), &st) && sym == elf_strptr(e, sh.sh_link, st.st_name)) {
                    found = st.st_value;
                    break;
                }
            }
        }
    }
    if (e)
        elf_end(e);
    close(fd);
    return found;
}

// A process started with fork/exec outside the library (attach targets).
struct Spawned {
    pid_t pid = -1;
    // Returns once the child runs the program: a proof (/proc/PID/mem)
    // opened before its exec would prove nothing (the module says EPERM).
    explicit Spawned(std::vector<std::string> argv)
    {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            return;
        pid = fork();
        if (pid == 0) {
            std::vector<char *> a;
            for (auto &s : argv)
                a.push_back(s.data());
            a.push_back(nullptr);
            execv(a[0], a.data());
            _exit(127);
        }
        close(p[1]);
        char c;
        while (read(p[0], &c, 1) < 0 && errno == EINTR) {
        }
        close(p[0]); // EOF: the exec closed the child's end
    }
    ~Spawned()
    {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
    int threads() const
    {
        int n = 0;
        DIR *d = opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
        if (!d)
            return 0;
        while (dirent *e = readdir(d))
            n += e->d_name[0] != '.';
        closedir(d);
        return n;
    }
};

class ClientLocal : public ::testing::Test {
protected:
    void SetUp() override
    {
        signal(SIGALRM, [](int) {
            static const char msg[] = "ClientLocal: test timed out\n";
            if (write(2, msg, sizeof(msg) - 1) < 0) {
            }
            _exit(124);
        });
        alarm(90);
        s = std::make_unique<Session>(openLocal());
    }
    void TearDown() override
    {
        s.reset();
        std::string why;
        EXPECT_TRUE(vmtest::coreCountersDrain(5000, &why)) << why;
        alarm(0);
    }

    // The next event that satisfies pred, failing the test after ms.
    Event next(const std::function<bool(const Event &)> &pred, int ms = 20000)
    {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < end) {
            auto e = s->wait(200);
            if (e && pred(*e))
                return *e;
            if (e && e->held) // not the one: let it go
                s->engineOf(e->handle).resume();
        }
        ADD_FAILURE() << "no such event within " << ms << " ms";
        throw Error(ETIMEDOUT, "no event");
    }

    // Resumes held events until the launched process exited; its status.
    int runToExit(Process &p)
    {
        for (int i = 0; i < 200000; ++i) {
            if (auto st = p.exitStatus(false))
                return *st;
            auto e = s->wait(100);
            if (e && e->held)
                s->engineOf(e->handle).resume();
        }
        return -1;
    }

    std::unique_ptr<Session> s;
};

TEST_F(ClientLocal, DeviceAndErrorsOnOpen)
{
    const DeviceInfo &d = s->device();
    EXPECT_EQ(d.apiVersion, uint32_t(UTRACE_DEV_API_VERSION));
    EXPECT_TRUE(d.features & UTRACE_FEAT_DEVICE);
    EXPECT_FALSE(d.kernelRelease.empty());
    try {
        openLocal("/dev/utrace-does-not-exist");
        FAIL() << "opened a missing device";
    } catch (const Error &e) {
        EXPECT_EQ(e.errnum(), ENOENT);
        EXPECT_NE(e.sentence().find("not loaded"), std::string::npos) << e.sentence();
        EXPECT_NE(e.sentence().find("insmod"), std::string::npos) << e.sentence();
    }
    try {
        openLocal("/dev/null");
        FAIL() << "took /dev/null for the utrace device";
    } catch (const Error &e) {
        EXPECT_NE(e.sentence().find("not the utrace device"), std::string::npos) << e.sentence();
    }
    EXPECT_EQ(ev::parse("syscall-entry, signal,exec"), ev::SyscallEntry | ev::Signal | ev::Exec);
    EXPECT_EQ(ev::parse(ev::format(ev::All)), ev::All);
    EXPECT_EQ(ev::format(ev::Clone | ev::Death), "clone,death");
    EXPECT_THROW(ev::parse("syscal"), Error);
}

TEST_F(ClientLocal, LaunchHeldAtFirstInstruction)
{
    std::string path = fixture("fx_calls");
    uint64_t entry = elfAddress(path, "");
    ASSERT_NE(entry, 0u);
    Process p = s->launch({{path, "3"}});
    Event e = next([](const Event &x) { return x.is<Exec>(); });
    EXPECT_TRUE(e.held);
    EXPECT_EQ(e.tgid, p.pid());
    EXPECT_EQ(e.get<Exec>()->path, path);
    Engine eng = p.engine(0);
    EXPECT_TRUE(eng.held());
    // Static non-PIE: the first instruction is the ELF entry point.
    EXPECT_EQ(eng.regs().rip, entry);
    // Still there: nothing ran.
    EXPECT_EQ(eng.regs().rip, entry);
    EXPECT_FALSE(p.exitStatus(false));
    p.resume();
    int st = runToExit(p);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

TEST_F(ClientLocal, LaunchErrors)
{
    try {
        s->launch({{"/fixtures/no-such-program"}});
        FAIL();
    } catch (const Error &e) {
        EXPECT_EQ(e.errnum(), ENOENT);
        EXPECT_NE(e.sentence().find("no-such-program"), std::string::npos) << e.sentence();
    }
    try {
        s->launch({{fixture("fx_calls")}, {}, "/no/such/dir"});
        FAIL();
    } catch (const Error &e) {
        EXPECT_EQ(e.errnum(), ENOTDIR);
    }
}

TEST_F(ClientLocal, SyscallEventsWithArgs)
{
    Process p = s->launch({{fixture("fx_syscall_loop"), "5"}});
    next([](const Event &x) { return x.is<Exec>(); });
    p.setEvents(ev::Syscall | ev::Exit, ev::None, true);
    p.resume();
    std::vector<SyscallEntry> entries;
    std::vector<SyscallExit> exits;
    for (;;) {
        Event e = next([](const Event &) { return true; });
        EXPECT_FALSE(e.held);
        if (auto *en = e.get<SyscallEntry>(); en && en->nr == SYS_lseek)
            entries.push_back(*en);
        if (auto *ex = e.get<SyscallExit>(); ex && ex->nr == SYS_lseek)
            exits.push_back(*ex);
        if (e.is<Exit>()) {
            EXPECT_EQ(e.get<Exit>()->code, 0);
            break;
        }
    }
    ASSERT_EQ(entries.size(), 5u);
    ASSERT_EQ(exits.size(), 5u);
    for (size_t i = 0; i < 5; ++i) {
        EXPECT_TRUE(entries[i].hasArgs);
        EXPECT_EQ(int(entries[i].args[0]), -1);
        EXPECT_EQ(entries[i].args[1], 1000 + i);
        EXPECT_EQ(entries[i].args[2], uint64_t(SEEK_CUR));
        EXPECT_EQ(exits[i].ret, -EBADF);
    }
    EXPECT_EQ(runToExit(p), 0);
}

TEST_F(ClientLocal, StopAtChosenSyscallAndAbortIt)
{
    Process p = s->launch({{fixture("fx_syscall_loop"), "3"}});
    next([](const Event &x) { return x.is<Exec>(); });
    Engine eng = p.engine(0);
    eng.setEvents(ev::Syscall, ev::SyscallEntry, true);
    eng.setSyscallFilter({"lseek"});
    EXPECT_THROW(eng.setSyscallFilter({"no_such_call"}), Error);
    ASSERT_TRUE(eng.settings().syscallFilter);
    p.resume();
    // Only lseek is reported (the kernel filters the rest), held at entry.
    Event e = next([](const Event &) { return true; });
    ASSERT_TRUE(e.is<SyscallEntry>()) << kindName(e);
    EXPECT_EQ(e.get<SyscallEntry>()->nr, SYS_lseek);
    EXPECT_TRUE(e.held);
    EXPECT_EQ(eng.regs().orig_rax, uint64_t(SYS_lseek));
    eng.abortSyscall(-42);
    Event x = next([](const Event &) { return true; });
    ASSERT_TRUE(x.is<SyscallExit>()) << kindName(x);
    EXPECT_EQ(x.get<SyscallExit>()->ret, -42);
    // The second lseek runs with other arguments: fd 2 (the suite's
    // output, a file or a pipe) instead of -1, so it no longer fails with
    // EBADF.
    bool runArgs = s->device().features & UTRACE_FEAT_RUN_ARGS;
    int entriesSeen = 1;
    for (;;) {
        auto y = s->wait(20000);
        ASSERT_TRUE(y);
        if (auto *en = y->get<SyscallEntry>()) {
            EXPECT_EQ(en->nr, SYS_lseek);
            ++entriesSeen;
            if (entriesSeen == 2 && runArgs) {
                eng.runSyscallWith({2, 0, SEEK_CUR, 0, 0, 0});
                continue;
            }
        }
        if (auto *ex = y->get<SyscallExit>()) {
            if (entriesSeen == 2 && runArgs)
                EXPECT_NE(ex->ret, -EBADF);
            else
                EXPECT_EQ(ex->ret, -EBADF);
        }
        if (y->held)
            eng.resume();
        if (entriesSeen == 3 && y->is<SyscallExit>())
            break;
    }
    EXPECT_EQ(runToExit(p), 0);
}

TEST_F(ClientLocal, StepRegistersAndMemory)
{
    Process p = s->launch({{fixture("fx_calls"), "1"}});
    next([](const Event &x) { return x.is<Exec>(); });
    Engine eng = p.engine(0);
    user_regs_struct r0 = eng.regs();
    ASSERT_TRUE(s->device().features & UTRACE_FEAT_SINGLESTEP);
    eng.step();
    Event e = next([](const Event &) { return true; });
    ASSERT_TRUE(e.is<Step>()) << kindName(e);
    EXPECT_TRUE(e.held);
    user_regs_struct r1 = eng.regs();
    EXPECT_NE(r1.rip, r0.rip);
    EXPECT_GT(r1.rip, r0.rip); // _start begins with straight-line code
    EXPECT_LT(r1.rip, r0.rip + 16);

    // Registers: a changed callee-saved register reads back.
    user_regs_struct r2 = r1;
    r2.r15 = 0x1122334455667788ull;
    eng.setRegs(r2);
    EXPECT_EQ(eng.regs().r15, 0x1122334455667788ull);
    eng.setRegs(r1);

    // Memory: the code at pc is the ELF's bytes; a stack slot round-trips.
    auto code = eng.readMemory(r0.rip, 4);
    ASSERT_EQ(code.size(), 4u);
    // glibc's x86-64 _start begins with xor %ebp,%ebp.
    EXPECT_EQ(code[0], 0x31);
    EXPECT_EQ(code[1], 0xed);
    uint64_t slot = r1.rsp - 256;
    std::vector<uint8_t> pattern{1, 2, 3, 4, 5, 6, 7, 8};
    eng.writeMemory(slot, pattern);
    EXPECT_EQ(eng.readMemory(slot, 8), pattern);
    // A hole: short read, write refused with a sentence.
    EXPECT_TRUE(eng.readMemory(8, 16).empty());
    try {
        eng.writeMemory(8, pattern);
        FAIL();
    } catch (const Error &err) {
        EXPECT_EQ(err.errnum(), EIO);
        EXPECT_NE(err.sentence().find("not mapped"), std::string::npos) << err.sentence();
    }
    if (s->device().features & UTRACE_FEAT_FPREGS) {
        auto fp = eng.fpRegs();
        ASSERT_EQ(fp.size(), sizeof(user_fpregs_struct));
        user_fpregs_struct f;
        std::memcpy(&f, fp.data(), sizeof(f));
        EXPECT_EQ(f.cwd, 0x37f); // the x87 control word of a fresh process
    }
    eng.resume();
    // Not held any more: examining is refused with the reason.
    try {
        eng.regs();
        FAIL();
    } catch (const Error &err) {
        EXPECT_TRUE(err.errnum() == EBUSY || err.errnum() == ESRCH) << err.what();
    }
    EXPECT_EQ(runToExit(p), 0);
}

TEST_F(ClientLocal, SignalsDeliverIgnoreChange)
{
    Process p = s->launch({{fixture("fx_signals")}});
    next([](const Event &x) { return x.is<Exec>(); });
    Engine eng = p.engine(0);
    eng.setEvents(ev::SignalAll, ev::SignalAll);
    p.resume();
    auto sig = [&] {
        Event e = next([](const Event &x) { return x.is<Signal>(); });
        EXPECT_TRUE(e.held);
        return e.get<Signal>()->signo;
    };
    EXPECT_EQ(sig(), SIGUSR1);
    eng.deliverSignal();
    EXPECT_EQ(sig(), SIGUSR2);
    eng.ignoreSignal();
    EXPECT_EQ(sig(), SIGUSR1);
    eng.deliverSignal(SIGUSR2); // changed: the handler sees USR2
    int st = runToExit(p);
    ASSERT_TRUE(WIFEXITED(st)) << st;
    EXPECT_EQ(WEXITSTATUS(st), 1 + 10 * 1); // usr1 once, usr2 once
}

TEST_F(ClientLocal, FollowFork)
{
    AttachOptions o;
    o.followChildren = true;
    Process p = s->launch({{fixture("fx_fork_exec"), fixture("fx_syscall_loop"), "2"}}, o);
    next([](const Event &x) { return x.is<Exec>(); });
    p.setEvents(ev::Clone | ev::Exec | ev::Exit | ev::SyscallEntry, ev::Exec, true);
    p.resume();
    pid_t child = 0;
    uint32_t childHandle = 0;
    bool childExec = false;
    int childLseeks = 0;
    std::string loopPath = fixture("fx_syscall_loop");
    for (;;) {
        Event e = next([](const Event &) { return true; });
        if (auto *c = e.get<Clone>(); c && e.tgid == p.pid()) {
            child = c->childTid;
            childHandle = c->childHandle;
        }
        if (child && e.tid == child) {
            if (e.is<Exec>()) {
                // Held at the exec of a followed child: examinable in its new
                // image (at its entry point), under a new engine.
                childExec = true;
                EXPECT_TRUE(e.held);
                EXPECT_EQ(e.get<Exec>()->path, loopPath);
                EXPECT_EQ(s->engineOf(e.handle).regs().rip, elfAddress(loopPath, ""));
                EXPECT_EQ(s->engineOf(e.handle).settings().events,
                          ev::Clone | ev::Exec | ev::Exit | ev::SyscallEntry);
            }
            if (auto *en = e.get<SyscallEntry>(); en && en->nr == SYS_lseek)
                ++childLseeks;
        }
        if (e.held)
            s->engineOf(e.handle).resume();
        if (e.is<Exit>() && e.tid == p.pid())
            break;
    }
    EXPECT_NE(child, 0);
    EXPECT_NE(childHandle, 0u);
    EXPECT_TRUE(childExec);
    EXPECT_EQ(childLseeks, 2);
    EXPECT_EQ(s->process(child).pid(), child);
    int st = runToExit(p);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

TEST_F(ClientLocal, HoldChildrenAndKillOnClose)
{
    if (!(s->device().features & UTRACE_FEAT_FOLLOW) ||
        !(s->device().features & UTRACE_FEAT_KILL_ON_CLOSE))
        GTEST_SKIP() << "the module has no FOLLOW/KILL_ON_CLOSE";
    AttachOptions o;
    o.followChildren = true;
    o.holdChildren = true;
    Process p = s->launch({{fixture("fx_fork_exec"), fixture("fx_syscall_loop"), "1"}}, o);
    next([](const Event &x) { return x.is<Exec>(); });
    p.setEvents(ev::Clone | ev::Exec, ev::None);
    p.resume();
    Event c = next([](const Event &x) { return x.is<Clone>(); });
    pid_t child = c.get<Clone>()->childTid;
    ASSERT_NE(c.get<Clone>()->childHandle, 0u);
    // The child is held before its first instruction: fork() returns 0 there.
    Event h = next([&](const Event &x) { return x.tid == child && x.held; });
    Engine ce = s->engineOf(h.handle);
    EXPECT_EQ(ce.regs().rax, 0u);
    EXPECT_EQ(vmtest::threadState(child, child), 't');
    ce.resume();
    Event x = next([&](const Event &y) { return y.tid == child && y.is<Exec>(); });
    EXPECT_FALSE(x.held);
    EXPECT_EQ(runToExit(p), 0);

    // KILL_ON_CLOSE: the session's end kills what it traced.
    Spawned loop({fixture("fx_syscall_loop"), "0", "5"});
    AttachOptions k;
    k.killOnClose = true;
    s->attach(loop.pid, k);
    s.reset();
    int st = 0;
    ASSERT_EQ(waitpid(loop.pid, &st, 0), loop.pid);
    loop.pid = -1;
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
}

TEST_F(ClientLocal, AttachRunningAndMultiThreadedProcess)
{
    Spawned t({fixture("fx_threads"), "4", "0", "2"});
    ASSERT_TRUE(vmtest::waitFor([&] { return t.threads() == 5; }, 10000));
    Process p = s->attachProcess(t.pid);
    auto engines = p.engines();
    ASSERT_EQ(engines.size(), 5u);
    std::set<pid_t> tids;
    for (auto &e : engines)
        tids.insert(e.tid());
    EXPECT_EQ(tids.size(), 5u);
    EXPECT_TRUE(tids.count(t.pid));

    // Stop every thread: the four workers (between nanosleeps) answer with
    // a QUIESCE each; the main thread sleeps in pthread_join, which a STOP
    // does not interrupt, so it stays "about to stop" -- unless a worker's
    // wake-up lets it reach user mode first, then it stops too.
    p.setEvents(ev::None, ev::None);
    p.stop();
    std::set<pid_t> stopped;
    while (stopped.size() < 4) {
        Event e = next([](const Event &x) { return x.held; });
        EXPECT_TRUE(e.is<Quiesce>()) << kindName(e);
        if (e.tid != t.pid)
            stopped.insert(e.tid);
    }
    for (auto &e : engines) {
        if (e.tid() == t.pid)
            continue;
        EXPECT_TRUE(e.held());
        EXPECT_NE(e.regs().rip, 0u);
        // Held: the thread does not run (its state stays put).
        EXPECT_EQ(vmtest::threadState(t.pid, e.tid()), 't');
    }
    p.resume();
    // Syscall events of the running threads arrive.
    p.setEvents(ev::SyscallEntry, ev::None);
    std::set<pid_t> active;
    while (active.size() < 4) {
        Event e = next([](const Event &x) { return x.is<SyscallEntry>(); });
        if (e.tid != t.pid)
            active.insert(e.tid);
    }
    p.detach();
    EXPECT_TRUE(s->engines().empty());
}

TEST_F(ClientLocal, BreakpointHitCountsStopping)
{
    std::string path = fixture("fx_calls");
    uint64_t body = elfAddress(path, "fx_loop_body");
    ASSERT_NE(body, 0u);
    Process p = s->launch({{path, "25"}});
    next([](const Event &x) { return x.is<Exec>(); });
    Breakpoints bps(*s, p.pid());
    int id = bps.add(body);
    EXPECT_TRUE(bps.info(id).inserted);
    // The int3 is in memory; reads through the engine show it.
    EXPECT_EQ(p.engine(0).readMemory(body, 1).at(0), 0xcc);
    p.resume();
    int reported = 0;
    for (;;) {
        auto e = s->wait(20000);
        ASSERT_TRUE(e);
        if (auto hit = bps.hitBy(*e)) {
            ++reported;
            EXPECT_EQ(hit->addr, body);
            EXPECT_TRUE(e->held);
            EXPECT_EQ(s->engineOf(e->handle).regs().rip, body);
            if (reported == 10) {
                // Step from the breakpoint: the one instruction runs.
                Engine eng = s->engineOf(e->handle);
                eng.step();
                auto st = s->wait(20000);
                ASSERT_TRUE(st && st->is<Step>()) << (st ? kindName(*st) : "none");
                EXPECT_NE(eng.regs().rip, body);
                EXPECT_EQ(eng.readMemory(body, 1).at(0), 0xcc); // back in
            }
            s->engineOf(e->handle).resume();
            if (reported == 25)
                break;
            continue;
        }
        ASSERT_FALSE(e->is<Signal>()) << "a SIGTRAP escaped";
        if (e->held)
            s->engineOf(e->handle).resume();
    }
    EXPECT_EQ(bps.hits(id), 25u);
    int st = runToExit(p);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

TEST_F(ClientLocal, BreakpointCountsOnThreadsDisableRemove)
{
    std::string path = fixture("fx_threads");
    uint64_t body = elfAddress(path, "fx_thread_body");
    ASSERT_NE(body, 0u);
    AttachOptions o;
    o.followChildren = true;
    Process p = s->launch({{path, "3", "40"}}, o);
    next([](const Event &x) { return x.is<Exec>(); });
    Breakpoints bps(*s, p.pid());
    int id = bps.add(body, false); // count only
    uint64_t mainAddr = elfAddress(path, "main");
    uint8_t mainByte = p.engine(0).readMemory(mainAddr, 1).at(0);
    int other = bps.add(mainAddr);
    EXPECT_EQ(p.engine(0).readMemory(mainAddr, 1).at(0), 0xcc);
    bps.disable(other);
    EXPECT_FALSE(bps.info(other).inserted);
    EXPECT_EQ(p.engine(0).readMemory(mainAddr, 1).at(0), mainByte);
    bps.remove(other);
    EXPECT_THROW(bps.info(other), Error);
    p.resume();
    int st = runToExit(p);
    // The fixture checks every thread made all its calls (exit 0), and the
    // breakpoint saw each of them.
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
    EXPECT_EQ(bps.hits(id), 3u * 40u);
}

TEST_F(ClientLocal, EventFdInterruptBarrier)
{
    // A thread asleep in a 5 s nanosleep between lseeks.
    Spawned y({fixture("fx_syscall_loop"), "0", "5000"});
    ASSERT_TRUE(vmtest::waitFor([&] { return vmtest::threadState(y.pid, y.pid) == 'S'; }, 5000));
    Engine e = s->attach(y.pid);
    e.setEvents(ev::SyscallEntry, ev::None);
    if (s->device().features & UTRACE_FEAT_BARRIER)
        e.barrier(); // the new mask governs every later callback
    // Nothing to read while it sleeps: the fd is not readable.
    pollfd pf{s->fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&pf, 1, 300), 0);
    EXPECT_TRUE(s->poll().empty());
    // INTERRUPT breaks the sleep: the kernel restarts it with restart_syscall.
    e.interrupt();
    ASSERT_EQ(::poll(&pf, 1, 3000), 1) << "no event within 3 s of the interrupt";
    auto evs = s->poll();
    ASSERT_FALSE(evs.empty());
    ASSERT_TRUE(evs[0].is<SyscallEntry>()) << kindName(evs[0]);
    EXPECT_EQ(evs[0].get<SyscallEntry>()->nr, SYS_restart_syscall);
    EXPECT_FALSE(evs[0].held);
    e.detach();
}

// poll() hands over a bounded batch (about 1 MiB of records) and leaves the
// fd readable for the rest: against a thread that reports faster than the
// client parses, draining until empty would never return.
TEST_F(ClientLocal, PollHandsOverABoundedBatch)
{
    s->transport().setQueueSize(8 << 20);
    Spawned y({fixture("fx_syscall_loop"), "0"});
    Engine e = s->attach(y.pid);
    e.setEvents(ev::Syscall, ev::None, false);
    // Fill the queue well past one batch, then stop the producer.
    pollfd pf{s->fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&pf, 1, 3000), 1);
    usleep(1500 * 1000);
    ASSERT_EQ(kill(y.pid, SIGSTOP), 0);
    ASSERT_TRUE(vmtest::waitFor([&] { return vmtest::threadState(y.pid, y.pid) == 'T'; }, 5000));
    auto first = s->poll();
    // Every record is at least a header: 4 reads of 256 KiB hold at most this many.
    const size_t bound = 4 * (256u << 10) / sizeof(utrace_event);
    EXPECT_GT(first.size(), 0u);
    EXPECT_LE(first.size(), bound);
    EXPECT_EQ(::poll(&pf, 1, 0), 1) << "the rest must keep the fd readable";
    size_t rest = 0;
    for (auto more = s->poll(); !more.empty(); more = s->poll())
        rest += more.size();
    EXPECT_GT(rest, 0u) << "the queue held no more than one batch: the producer was too slow";
    EXPECT_EQ(::poll(&pf, 1, 0), 0);
    e.detach();
}

TEST_F(ClientLocal, ErrorsSayWhatHappened)
{
    pid_t gone;
    {
        Spawned x({fixture("fx_syscall_loop"), "0", "5"});
        gone = x.pid;
    }
    try {
        s->attach(gone);
        FAIL() << "attached to a reaped process";
    } catch (const Error &e) {
        EXPECT_EQ(e.errnum(), ESRCH);
        EXPECT_NE(e.sentence().find("exited"), std::string::npos) << e.sentence();
    }
    Spawned y({fixture("fx_syscall_loop"), "0", "5"});
    Engine e = s->attach(y.pid);
    try {
        e.regs();
        FAIL() << "read registers of a running thread";
    } catch (const Error &err) {
        EXPECT_EQ(err.errnum(), EBUSY);
        EXPECT_NE(err.sentence().find("not held"), std::string::npos) << err.sentence();
    }
    e.setEvents(ev::Death, ev::None);
    kill(y.pid, SIGKILL);
    next([](const Event &x) { return x.is<Death>(); });
    try {
        e.stop();
        FAIL() << "stopped a dead thread";
    } catch (const Error &err) {
        EXPECT_EQ(err.errnum(), ESRCH);
        EXPECT_NE(err.sentence().find("exited"), std::string::npos) << err.sentence();
    }
    EXPECT_THROW(s->engineOf(9999), Error);
}

} // namespace
