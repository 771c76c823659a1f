// ClientRemote: the client library's RemoteTransport through the real
// utrace-agent (vm-bin/tools, /tools in the guest) on the real /dev/utrace:
// over the agent's stdio ("exec:", a socket pair) and over TCP loopback
// ("tcp://127.0.0.1:PORT", agent --listen --once). Attach, events, stop,
// registers, memory, detach, launch/release/reap, file reads; the same
// errors as the local transport; a disconnect releases held threads.
#include "utrace/breakpoints.hpp"
#include "utrace/error.hpp"
#include "utrace/event.hpp"
#include "utrace/session.hpp"
#include "utrace/transport.hpp"
#include "vm_util.hpp"

#include <linux/utrace.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <fstream>
#include <gelf.h>
#include <gtest/gtest.h>
#include <new>
#include <poll.h>
#include <sstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace utrace;

namespace {

const int kUnbuffered = [] {
    setvbuf(stdout, nullptr, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}();

// The agent binary: $UTRACE_AGENT_BIN, /tools (the guest), or vm-bin/tools
// next to this binary's vm-bin/tests.
std::string agentPath()
{
    if (const char *e = getenv("UTRACE_AGENT_BIN"))
        return e;
    char self[4096] = {};
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    std::string dir = n > 0 ? std::string(self, size_t(n)) : "";
    dir = dir.substr(0, dir.rfind('/'));
    for (std::string p : {std::string("/tools/utrace-agent"), dir + "/../tools/utrace-agent"})
        if (access(p.c_str(), X_OK) == 0)
            return p;
    return "";
}

// Memory shared with the fixture (mapped before fork, same address there).
struct Shared {
    std::atomic<uint64_t> counter;
    uint64_t poke;
};

// A fixture that counts and calls getppid() in a loop.
struct Spinner {
    Shared *shm = nullptr;
    pid_t pid = -1;

    Spinner()
    {
        void *p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        EXPECT_NE(p, MAP_FAILED);
        shm = new (p) Shared{};
        pid = fork();
        if (pid == 0) {
            for (;;) {
                shm->counter.fetch_add(1);
                syscall(SYS_getppid);
            }
        }
    }
    ~Spinner()
    {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
        munmap(shm, 4096);
    }
    // True if the counter moves within ms.
    bool runs(int ms) const
    {
        uint64_t c = shm->counter.load();
        return vmtest::waitFor([&] { return shm->counter.load() != c; }, ms);
    }
};

// A utrace-agent --listen --once on loopback, its port read from its log.
struct TcpAgent {
    pid_t pid = -1;
    int port = 0;
    std::string log = "/tmp/client-remote-agent.log";

    explicit TcpAgent(bool once = true)
    {
        std::string agent = agentPath();
        unlink(log.c_str());
        pid = fork();
        if (pid == 0) {
            int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(fd, 2);
            execl(agent.c_str(), agent.c_str(), "--listen", "127.0.0.1:0",
                  once ? "--once" : "--quiet", static_cast<char *>(nullptr));
            _exit(127);
        }
        vmtest::waitFor(
            [&] {
                std::ifstream in(log);
                std::string line;
                while (std::getline(in, line)) {
                    auto at = line.find("listening on 127.0.0.1:");
                    if (at != std::string::npos) {
                        port = std::atoi(line.c_str() + at + 23);
                        return true;
                    }
                }
                return false;
            },
            10000);
    }
    std::string text() const
    {
        std::ifstream in(log);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
    // The agent's exit status, once it exited (-1: still running after ms).
    int exitStatus(int ms)
    {
        int st = -1;
        if (pid > 0 && vmtest::waitFor([&] { return waitpid(pid, &st, WNOHANG) == pid; }, ms)) {
            pid = -1;
            return st;
        }
        return -1;
    }
    ~TcpAgent()
    {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
};

enum class Via { Exec, Tcp };

struct Remote {
    std::unique_ptr<TcpAgent> agent;
    std::unique_ptr<Transport> t;
    std::deque<Event> queued;

    explicit Remote(Via via)
    {
        std::string path = agentPath();
        if (path.empty()) {
            ADD_FAILURE() << "no utrace-agent in /tools or vm-bin/tools";
            return;
        }
        if (via == Via::Exec) {
            t = openRemote("exec:" + path + " --stdio");
        } else {
            agent = std::make_unique<TcpAgent>();
            if (!agent->port) {
                ADD_FAILURE() << "the agent did not listen; its log:\n" << agent->text();
                return;
            }
            t = openRemote("tcp://127.0.0.1:" + std::to_string(agent->port));
        }
    }

    // The next event, waiting up to ms on eventFd() as an event loop would.
    std::optional<Event> next(int ms)
    {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (queued.empty()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            end - std::chrono::steady_clock::now())
                            .count();
            if (left <= 0)
                return std::nullopt;
            pollfd p{t->eventFd(), POLLIN, 0};
            if (poll(&p, 1, int(left)) != 1)
                continue;
            for (auto &e : parseRecords(t->readRecords(0)))
                queued.push_back(std::move(e));
        }
        Event e = std::move(queued.front());
        queued.pop_front();
        return e;
    }
};

EngineSettings stopAtGetppid()
{
    EngineSettings s;
    s.events = UTRACE_EV_SYSCALL_ENTRY;
    s.stopEvents = UTRACE_EV_SYSCALL_ENTRY;
    s.captureArgs = true;
    s.syscallFilter.emplace();
    s.syscallFilter->set(SYS_getppid);
    return s;
}

ControlRequest action(uint32_t a)
{
    ControlRequest c;
    c.action = a;
    return c;
}

void attachEventsStopRegsMemoryDetach(Via via)
{
    Spinner sp;
    ASSERT_TRUE(sp.runs(5000));
    Remote r(via);
    ASSERT_TRUE(r.t);
    Transport &t = *r.t;
    uint32_t h = t.attach(sp.pid, 0);
    ASSERT_NE(h, 0u);
    t.setEvents(h, stopAtGetppid());

    auto e = r.next(20000);
    ASSERT_TRUE(e) << "no event through the agent";
    const SyscallEntry *se = e->get<SyscallEntry>();
    ASSERT_TRUE(se) << kindName(*e);
    EXPECT_EQ(se->nr, SYS_getppid);
    EXPECT_TRUE(se->hasArgs);
    EXPECT_EQ(e->tid, sp.pid);
    EXPECT_EQ(e->handle, h);
    EXPECT_TRUE(e->held);
    EXPECT_FALSE(sp.runs(300)) << "the thread runs although the agent's engine holds it";

    auto engines = t.list();
    ASSERT_EQ(engines.size(), 1u);
    EXPECT_EQ(engines[0].tid, sp.pid);
    EXPECT_EQ(engines[0].state, uint32_t(UTRACE_STATE_HELD));

    // Registers: held at getppid's entry.
    auto regs = t.getRegs(h, RegSet::General);
    ASSERT_GE(regs.size(), sizeof(user_regs_struct));
    user_regs_struct u;
    std::memcpy(&u, regs.data(), sizeof(u));
    EXPECT_EQ(u.orig_rax, uint64_t(SYS_getppid));
    EXPECT_NE(u.rip, 0u);
    t.setRegs(h, RegSet::General, regs); // unchanged, accepted

    // Memory: the counter as the held thread sees it, and a write.
    uint64_t seen = 0;
    ASSERT_EQ(t.readMemory(h, reinterpret_cast<uint64_t>(&sp.shm->counter),
                           {reinterpret_cast<uint8_t *>(&seen), 8}),
              8u);
    EXPECT_EQ(seen, sp.shm->counter.load());
    uint64_t magic = 0x7574726163652121ull;
    EXPECT_EQ(t.writeMemory(h, reinterpret_cast<uint64_t>(&sp.shm->poke),
                            {reinterpret_cast<const uint8_t *>(&magic), 8}),
              8u);
    EXPECT_EQ(sp.shm->poke, magic);
    std::vector<uint8_t> hole(64);
    EXPECT_EQ(t.readMemory(h, 8, hole), 0u); // page 0: nothing readable

    // Resume: one more iteration, held again at the next getppid.
    uint64_t before = sp.shm->counter.load();
    t.control(h, action(UTRACE_CTL_RESUME));
    e = r.next(20000);
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->is<SyscallEntry>());
    EXPECT_TRUE(e->held);
    EXPECT_GT(e->seq, 0u);
    EXPECT_EQ(sp.shm->counter.load(), before + 1);

    // Stop while running: a QUIESCE record once it is held.
    t.setEvents(h, EngineSettings{UTRACE_EV_QUIESCE, 0, false, std::nullopt});
    t.control(h, action(UTRACE_CTL_RESUME));
    ASSERT_TRUE(sp.runs(5000));
    t.control(h, action(UTRACE_CTL_STOP));
    bool quiesced = false;
    while (auto q = r.next(20000)) {
        if (q->is<Quiesce>()) {
            quiesced = true;
            break;
        }
    }
    EXPECT_TRUE(quiesced);
    t.barrier(h);
    EXPECT_FALSE(sp.runs(300));

    t.detach(h);
    EXPECT_TRUE(sp.runs(5000)) << "detached, the thread should run again";
    EXPECT_TRUE(t.list().empty());
}

void disconnectReleasesHeldThread(Via via)
{
    Spinner sp;
    Remote r(via);
    ASSERT_TRUE(r.t);
    uint32_t h = r.t->attach(sp.pid, 0);
    r.t->setEvents(h, stopAtGetppid());
    auto e = r.next(20000);
    ASSERT_TRUE(e);
    ASSERT_TRUE(e->held);
    EXPECT_FALSE(sp.runs(300));
    r.t.reset(); // the connection closes; the agent closes its session
    EXPECT_TRUE(sp.runs(10000)) << "the held thread did not run after the disconnect";
    if (r.agent) {
        int st = r.agent->exitStatus(10000);
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
            << "agent --once status " << st << "; log:\n"
            << r.agent->text();
        EXPECT_NE(r.agent->text().find("session closed"), std::string::npos) << r.agent->text();
    }
}

void sameAnswersAsLocal(Via via)
{
    Remote r(via);
    ASSERT_TRUE(r.t);
    auto local = openLocal();
    DeviceInfo a = local->version(), b = r.t->version();
    EXPECT_EQ(a.apiVersion, b.apiVersion);
    EXPECT_EQ(a.features, b.features);
    EXPECT_EQ(a.kernelRelease, b.kernelRelease);
    EXPECT_EQ(a.moduleVersion, b.moduleVersion);
    // The agent's utrace::Error arrives intact: errno and sentence.
    for (pid_t bad : {pid_t(999999), pid_t(-1)}) {
        std::optional<Error> le, re;
        try {
            local->attach(bad, 0);
        } catch (const Error &x) {
            le = x;
        }
        try {
            r.t->attach(bad, 0);
        } catch (const Error &x) {
            re = x;
        }
        ASSERT_TRUE(le && re);
        EXPECT_EQ(le->errnum(), re->errnum());
        EXPECT_EQ(le->sentence(), re->sentence());
    }
    try {
        r.t->detach(12345);
        ADD_FAILURE() << "detach of an unknown engine succeeded";
    } catch (const Error &x) {
        EXPECT_NE(x.errnum(), 0);
        EXPECT_FALSE(x.sentence().empty());
    }
}

void filesProcessesLaunch(Via via)
{
    Spinner sp;
    Remote r(via);
    ASSERT_TRUE(r.t);
    Transport &t = *r.t;
    auto maps = t.readFile("/proc/" + std::to_string(sp.pid) + "/maps", 0, 1 << 20);
    std::string m(maps.begin(), maps.end());
    EXPECT_NE(m.find("[stack]"), std::string::npos) << m;
    // A FIFO would block the agent's session in open(): refused instead.
    std::string fifo = "/tmp/client-remote-fifo";
    unlink(fifo.c_str());
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    try {
        t.readFile(fifo, 0, 10);
        ADD_FAILURE() << "the agent read a FIFO";
    } catch (const Error &e) {
        EXPECT_EQ(e.errnum(), EINVAL);
        EXPECT_NE(e.sentence().find("not a regular file"), std::string::npos) << e.sentence();
    }
    unlink(fifo.c_str());
    bool found = false;
    for (auto &p : t.processes())
        found |= p.pid == sp.pid && p.ppid == getpid();
    EXPECT_TRUE(found) << "the agent's process list lacks the fixture " << sp.pid;

    // Launch through the agent, held at its exec, then run to its exit.
    pid_t pid = t.launch(LaunchSpec{{"/bin/sh", "-c", "exit 7"}, {}, "/"});
    ASSERT_GT(pid, 0);
    uint32_t h = t.attach(pid, 0);
    t.setEvents(h, EngineSettings{UTRACE_EV_EXEC, UTRACE_EV_EXEC, false, std::nullopt});
    EXPECT_FALSE(t.reap(pid, false));
    t.release(pid);
    auto e = r.next(20000);
    ASSERT_TRUE(e);
    const Exec *x = e->get<Exec>();
    ASSERT_TRUE(x) << kindName(*e);
    char real[4096] = {};
    ASSERT_TRUE(realpath("/bin/sh", real)); // busybox, in the guest
    EXPECT_EQ(x->path, real);
    EXPECT_TRUE(e->held);
    t.control(h, action(UTRACE_CTL_RESUME));
    auto st = t.reap(pid, true);
    ASSERT_TRUE(st);
    EXPECT_TRUE(WIFEXITED(*st));
    EXPECT_EQ(WEXITSTATUS(*st), 7);
    // Signals go through the agent too.
    t.kill(sp.pid, SIGKILL);
    int kst = 0;
    ASSERT_EQ(waitpid(sp.pid, &kst, 0), sp.pid);
    sp.pid = -1;
    EXPECT_TRUE(WIFSIGNALED(kst) && WTERMSIG(kst) == SIGKILL) << kst;
}

TEST(ClientRemote, ExecAttachEventsStopRegsMemoryDetach)
{
    attachEventsStopRegsMemoryDetach(Via::Exec);
}

TEST(ClientRemote, TcpAttachEventsStopRegsMemoryDetach)
{
    attachEventsStopRegsMemoryDetach(Via::Tcp);
}

TEST(ClientRemote, ExecDisconnectReleasesHeldThread)
{
    disconnectReleasesHeldThread(Via::Exec);
}

TEST(ClientRemote, TcpDisconnectReleasesHeldThread)
{
    disconnectReleasesHeldThread(Via::Tcp);
}

TEST(ClientRemote, ExecSameAnswersAsLocal)
{
    sameAnswersAsLocal(Via::Exec);
}

TEST(ClientRemote, TcpSameAnswersAsLocal)
{
    sameAnswersAsLocal(Via::Tcp);
}

TEST(ClientRemote, ExecFilesProcessesLaunch)
{
    filesProcessesLaunch(Via::Exec);
}

TEST(ClientRemote, TcpFilesProcessesLaunch)
{
    filesProcessesLaunch(Via::Tcp);
}

// The agent's SIGTERM ends its sessions cleanly: held threads run, the
// client hears why, the agent exits 0.
TEST(ClientRemote, AgentSigtermClosesSessions)
{
    Spinner sp;
    Remote r(Via::Tcp);
    ASSERT_TRUE(r.t);
    uint32_t h = r.t->attach(sp.pid, 0);
    r.t->setEvents(h, stopAtGetppid());
    ASSERT_TRUE(r.next(20000));
    EXPECT_FALSE(sp.runs(300));
    ASSERT_EQ(kill(r.agent->pid, SIGTERM), 0);
    EXPECT_TRUE(sp.runs(10000));
    int st = r.agent->exitStatus(10000);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << "\n" << r.agent->text();
    pollfd p{r.t->eventFd(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 5000), 1);
    try {
        r.t->version();
        ADD_FAILURE() << "a request after the agent's shutdown succeeded";
    } catch (const Error &e) {
        EXPECT_EQ(e.errnum(), ESHUTDOWN) << e.sentence();
    }
}

// One agent, two connections: two independent sessions. One disconnecting
// releases only its own thread; SIGTERM releases the other's.
TEST(ClientRemote, TcpConnectionsAreSeparateSessions)
{
    Spinner a, b;
    TcpAgent agent(false);
    ASSERT_NE(agent.port, 0) << agent.text();
    std::string url = "tcp://127.0.0.1:" + std::to_string(agent.port);
    auto ta = openRemote(url);
    auto tb = openRemote(url);
    uint32_t ha = ta->attach(a.pid, 0), hb = tb->attach(b.pid, 0);
    ta->setEvents(ha, stopAtGetppid());
    tb->setEvents(hb, stopAtGetppid());
    auto held = [](Transport &t) {
        pollfd p{t.eventFd(), POLLIN, 0};
        if (poll(&p, 1, 20000) != 1)
            return false;
        auto evs = parseRecords(t.readRecords(0));
        return !evs.empty() && evs[0].held;
    };
    ASSERT_TRUE(held(*ta));
    ASSERT_TRUE(held(*tb));
    EXPECT_FALSE(a.runs(200));
    EXPECT_FALSE(b.runs(200));
    // Each session sees only its own engine.
    ASSERT_EQ(ta->list().size(), 1u);
    EXPECT_EQ(ta->list()[0].tid, a.pid);
    ASSERT_EQ(tb->list().size(), 1u);
    EXPECT_EQ(tb->list()[0].tid, b.pid);
    // Engine handles are per session: a's handle means nothing to b.
    if (ha != hb) {
        try {
            tb->detach(ha);
            ADD_FAILURE() << "session b detached session a's engine";
        } catch (const Error &) {
        }
    }

    ta.reset();
    EXPECT_TRUE(a.runs(10000));
    EXPECT_FALSE(b.runs(300)) << "closing one connection released the other's thread";
    EXPECT_EQ(tb->list().size(), 1u);

    ASSERT_EQ(kill(agent.pid, SIGTERM), 0);
    EXPECT_TRUE(b.runs(10000));
    int st = agent.exitStatus(10000);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st << "\n" << agent.text();
}

// ---- The library's Session on a remote transport, on the fixtures ----

std::string fixture(const std::string &name)
{
    for (const char *dir : {"/fixtures/", "./vm-bin/fixtures/"}) {
        std::string p = dir + name;
        if (access(p.c_str(), X_OK) == 0)
            return p;
    }
    return "/fixtures/" + name;
}

// The ELF entry point ("") or a symbol's address in a static non-PIE fixture.
uint64_t elfSymbol(const std::string &path, const std::string &name)
{
    elf_version(EV_CURRENT);
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    uint64_t addr = 0;
    if (Elf *elf = elf_begin(fd, ELF_C_READ, nullptr)) {
        GElf_Ehdr eh;
        if (name.empty() && gelf_getehdr(elf, &eh))
            addr = eh.e_entry;
        Elf_Scn *scn = nullptr;
        while (!addr && (scn = elf_nextscn(elf, scn))) {
            GElf_Shdr sh;
            if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
                continue;
            Elf_Data *data = elf_getdata(scn, nullptr);
            for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize && !addr; i++) {
                GElf_Sym sym;
                if (gelf_getsym(data, int(i), &sym) &&
                    name == elf_strptr(elf, sh.sh_link, sym.st_name))
                    addr = sym.st_value;
            }
        }
        elf_end(elf);
    }
    close(fd);
    return addr;
}

struct RemoteSession {
    Remote r;
    std::unique_ptr<Session> s;
    explicit RemoteSession(Via via) : r(via)
    {
        if (r.t)
            s = std::make_unique<Session>(std::move(r.t));
    }
    // The next event, resuming held ones that fail pred; nullopt after ms.
    std::optional<Event> next(const std::function<bool(const Event &)> &pred, int ms = 20000)
    {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < end) {
            auto e = s->wait(200);
            if (e && pred(*e))
                return e;
            if (e && e->held)
                s->engineOf(e->handle).resume();
        }
        return std::nullopt;
    }
    int runToExit(Process &p)
    {
        auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (std::chrono::steady_clock::now() < end) {
            if (auto st = p.exitStatus(false))
                return *st;
            auto e = s->wait(100);
            if (e && e->held)
                s->engineOf(e->handle).resume();
        }
        return -1;
    }
};

void sessionLaunchStepRegsMemory(Via via)
{
    RemoteSession rs(via);
    ASSERT_TRUE(rs.s);
    std::string path = fixture("fx_calls");
    uint64_t entry = elfSymbol(path, "");
    ASSERT_NE(entry, 0u);
    Process p = rs.s->launch({{path, "1"}});
    auto e = rs.next([](const Event &x) { return x.is<Exec>(); });
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->held);
    EXPECT_EQ(e->tgid, p.pid());
    EXPECT_EQ(e->get<Exec>()->path, path);
    Engine eng = p.engine(0);
    user_regs_struct r0 = eng.regs();
    EXPECT_EQ(r0.rip, entry); // held at the first instruction

    eng.step();
    auto st = rs.next([](const Event &) { return true; });
    ASSERT_TRUE(st);
    ASSERT_TRUE(st->is<Step>()) << kindName(*st);
    user_regs_struct r1 = eng.regs();
    EXPECT_GT(r1.rip, r0.rip);
    EXPECT_LT(r1.rip, r0.rip + 16);
    user_regs_struct r2 = r1;
    r2.r15 = 0x1122334455667788ull;
    eng.setRegs(r2);
    EXPECT_EQ(eng.regs().r15, 0x1122334455667788ull);
    eng.setRegs(r1);

    auto code = eng.readMemory(r0.rip, 2);
    ASSERT_EQ(code.size(), 2u);
    EXPECT_EQ(code[0], 0x31); // _start: xor %ebp,%ebp
    EXPECT_EQ(code[1], 0xed);
    std::vector<uint8_t> pattern{8, 7, 6, 5, 4, 3, 2, 1};
    eng.writeMemory(r1.rsp - 256, pattern);
    EXPECT_EQ(eng.readMemory(r1.rsp - 256, 8), pattern);
    EXPECT_TRUE(eng.readMemory(8, 16).empty());

    p.resume();
    int status = rs.runToExit(p);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

void sessionSyscallsWithArgs(Via via)
{
    RemoteSession rs(via);
    ASSERT_TRUE(rs.s);
    Process p = rs.s->launch({{fixture("fx_syscall_loop"), "5"}});
    ASSERT_TRUE(rs.next([](const Event &x) { return x.is<Exec>(); }));
    p.setEvents(ev::Syscall | ev::Exit, ev::None, true);
    p.resume();
    std::vector<SyscallEntry> entries;
    std::vector<SyscallExit> exits;
    for (;;) {
        auto e = rs.next([](const Event &) { return true; });
        ASSERT_TRUE(e) << "events stopped";
        if (auto *en = e->get<SyscallEntry>(); en && en->nr == SYS_lseek)
            entries.push_back(*en);
        if (auto *ex = e->get<SyscallExit>(); ex && ex->nr == SYS_lseek)
            exits.push_back(*ex);
        if (e->is<Exit>())
            break;
    }
    ASSERT_EQ(entries.size(), 5u);
    ASSERT_EQ(exits.size(), 5u);
    for (size_t i = 0; i < 5; i++) {
        EXPECT_TRUE(entries[i].hasArgs);
        EXPECT_EQ(int(entries[i].args[0]), -1);
        EXPECT_EQ(entries[i].args[1], 1000 + i);
        EXPECT_EQ(exits[i].ret, -EBADF);
    }
    EXPECT_EQ(rs.runToExit(p), 0);
}

void sessionBreakpointHitCounts(Via via)
{
    RemoteSession rs(via);
    ASSERT_TRUE(rs.s);
    std::string path = fixture("fx_calls");
    uint64_t body = elfSymbol(path, "fx_loop_body");
    ASSERT_NE(body, 0u);
    Process p = rs.s->launch({{path, "25"}});
    ASSERT_TRUE(rs.next([](const Event &x) { return x.is<Exec>(); }));
    {
        Breakpoints bps(*rs.s, p.pid());
        int id = bps.add(body);
        EXPECT_EQ(p.engine(0).readMemory(body, 1).at(0), 0xcc); // written through the agent
        p.resume();
        int reported = 0;
        while (reported < 25) {
            auto e = rs.s->wait(20000);
            ASSERT_TRUE(e) << "no event after " << reported << " hits";
            if (auto hit = bps.hitBy(*e)) {
                reported++;
                EXPECT_EQ(hit->addr, body);
                EXPECT_EQ(rs.s->engineOf(e->handle).regs().rip, body);
            } else {
                ASSERT_FALSE(e->is<Signal>()) << "a SIGTRAP escaped";
            }
            if (e->held)
                rs.s->engineOf(e->handle).resume();
        }
        EXPECT_EQ(bps.hits(id), 25u);
    }
    int st = rs.runToExit(p);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}

TEST(ClientRemote, ExecSessionLaunchStepRegsMemory)
{
    sessionLaunchStepRegsMemory(Via::Exec);
}

TEST(ClientRemote, TcpSessionLaunchStepRegsMemory)
{
    sessionLaunchStepRegsMemory(Via::Tcp);
}

TEST(ClientRemote, ExecSessionSyscallsWithArgs)
{
    sessionSyscallsWithArgs(Via::Exec);
}

TEST(ClientRemote, TcpSessionSyscallsWithArgs)
{
    sessionSyscallsWithArgs(Via::Tcp);
}

TEST(ClientRemote, ExecSessionBreakpointHitCounts)
{
    sessionBreakpointHitCounts(Via::Exec);
}

TEST(ClientRemote, TcpSessionBreakpointHitCounts)
{
    sessionBreakpointHitCounts(Via::Tcp);
}

// Every engine the agent's sessions made is gone once they closed.
TEST(ClientRemote, CountersDrain)
{
    std::string why;
    EXPECT_TRUE(vmtest::coreCountersDrain(10000, &why)) << why;
}

} // namespace
