// ClientRemote: the client library's RemoteTransport through the real
// utrace-agent (vm-bin/tools, /tools in the guest) on the real /dev/utrace:
// over the agent's stdio ("exec:", a socket pair) and over TCP loopback
// ("tcp://127.0.0.1:PORT", agent --listen --once). Attach, events, stop,
// registers, memory, detach, launch/release/reap, file reads; the same
// errors as the local transport; a disconnect releases held threads.
#include "utrace/error.hpp"
#include "utrace/event.hpp"
#include "utrace/transport.hpp"
#include "vm_util.hpp"

#include <linux/utrace.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <fstream>
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

    TcpAgent()
    {
        std::string agent = agentPath();
        unlink(log.c_str());
        pid = fork();
        if (pid == 0) {
            int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(fd, 2);
            execl(agent.c_str(), agent.c_str(), "--listen", "127.0.0.1:0", "--once",
                  static_cast<char *>(nullptr));
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

// Every engine the agent's sessions made is gone once they closed.
TEST(ClientRemote, CountersDrain)
{
    std::string why;
    EXPECT_TRUE(vmtest::coreCountersDrain(10000, &why)) << why;
}

} // namespace
