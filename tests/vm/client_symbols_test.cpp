// ClientSymbols: the Symbolizer on a thread held by the real /dev/utrace.
// A forked child of this (static, -g) binary calls level1 -> level2 ->
// level3 -> askParent (always inlined) -> getppid(); an engine holds it at that syscall's entry,
// and the Symbolizer unwinds it from the engine's registers and memory (transportSource over
// LocalTransport: no ptrace anywhere).
#include "utrace/error.hpp"
#include "utrace/event.hpp"
#include "utrace/symbolizer.hpp"
#include "utrace/transport.hpp"

#include <linux/utrace.h>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

// The source is not in the guest: each k...Line is the line of the call
// three lines below it.
namespace vmsym {

constexpr int kInlineLine = __LINE__ + 3;
static inline __attribute__((always_inline)) int askParent(int n)
{
    int r = int(getppid());
    return r ^ n;
}

constexpr int kLevel3Line = __LINE__ + 3;
__attribute__((noipa)) int level3(int n)
{
    int r = askParent(n);
    return r + n;
}

constexpr int kLevel2Line = __LINE__ + 3;
__attribute__((noipa)) int level2(int n)
{
    int r = level3(n + 1);
    return r * 2;
}

constexpr int kLevel1Line = __LINE__ + 3;
__attribute__((noipa)) int level1(int n)
{
    int r = level2(n + 2);
    return r - 3;
}

} // namespace vmsym

namespace {

bool endsWith(const std::string &s, const std::string &tail)
{
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

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

// Each case runs on /dev/utrace directly ("local") and through a
// utrace-agent on a socket pair ("agent"), where every file and memory read
// of the Symbolizer crosses the agent protocol.
class ClientSymbols : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override
    {
        signal(SIGPIPE, SIG_IGN);
        signal(SIGALRM, [](int) {
            static const char msg[] = "ClientSymbols: test timed out\n";
            if (write(2, msg, sizeof(msg) - 1) < 0) {
            }
            _exit(124);
        });
        alarm(120);
        // The child first, so it holds no /dev/utrace file of ours.
        ASSERT_EQ(pipe2(go_, O_CLOEXEC), 0);
        child_ = fork();
        ASSERT_GE(child_, 0);
        if (child_ == 0) {
            close(go_[1]);
            char c;
            if (read(go_[0], &c, 1) != 1)
                _exit(2);
            _exit(vmsym::level1(int(c)) == 0 ? 3 : 0);
        }
        close(go_[0]);
        if (GetParam() == "local") {
            transport_ = utrace::openLocal();
        } else {
            std::string agent = agentPath();
            ASSERT_FALSE(agent.empty()) << "no utrace-agent in /tools or vm-bin/tools";
            transport_ = utrace::openRemote("exec:" + agent + " --stdio");
        }
    }

    void TearDown() override
    {
        transport_.reset(); // detaches: a held child runs on
        if (go_[1] >= 0)
            close(go_[1]);
        if (child_ > 0) {
            int status = 0;
            kill(child_, SIGKILL);
            waitpid(child_, &status, 0);
        }
        alarm(0);
    }

    // Holds the child at the entry of getppid(); returns the engine.
    uint32_t holdAtGetppid()
    {
        uint32_t h = transport_->attach(child_, 0);
        utrace::EngineSettings s;
        s.events = UTRACE_EV_SYSCALL_ENTRY;
        s.stopEvents = UTRACE_EV_SYSCALL_ENTRY;
        s.syscallFilter.emplace();
        s.syscallFilter->set(SYS_getppid);
        transport_->setEvents(h, s);
        EXPECT_EQ(write(go_[1], "g", 1), 1);
        for (int tries = 0; tries < 100; tries++) {
            std::vector<uint8_t> rec = transport_->readRecords(1000);
            for (const utrace::Event &e : utrace::parseRecords(rec)) {
                const auto *entry = e.get<utrace::SyscallEntry>();
                if (e.handle == h && entry && entry->nr == SYS_getppid) {
                    EXPECT_TRUE(e.held);
                    EXPECT_EQ(e.tid, child_);
                    return h;
                }
            }
        }
        ADD_FAILURE() << "no getppid entry from the child";
        return 0;
    }

    user_regs_struct regsOf(uint32_t h)
    {
        user_regs_struct r{};
        std::vector<uint8_t> b = transport_->getRegs(h, utrace::RegSet::General);
        EXPECT_GE(b.size(), sizeof r);
        memcpy(&r, b.data(), std::min(b.size(), sizeof r));
        return r;
    }

    int go_[2] = {-1, -1};
    pid_t child_ = -1;
    std::unique_ptr<utrace::Transport> transport_;
};

TEST_P(ClientSymbols, BacktraceAtASyscallThreeDeep)
{
    uint32_t h = holdAtGetppid();
    ASSERT_NE(h, 0u);
    user_regs_struct regs = regsOf(h);
    EXPECT_EQ(regs.orig_rax, uint64_t(SYS_getppid));

    utrace::Symbolizer sym(utrace::transportSource(*transport_, [h] { return h; }));
    sym.refresh(child_);
    EXPECT_TRUE(sym.problems().empty()) << sym.problems().front();
    std::vector<utrace::Frame> frames = sym.backtrace(regs);
    std::string all;
    for (auto &f : frames)
        all += "  " + utrace::formatFrame(f) + "\n";
    SCOPED_TRACE("backtrace:\n" + all);
    RecordProperty("backtrace", all);

    // Frame 0 is the libc wrapper (no line: static libc has no DWARF).
    ASSERT_GE(frames.size(), 6u);
    EXPECT_EQ(frames[0].pc, regs.rip);
    EXPECT_NE(frames[0].function.find("getppid"), std::string::npos);
    struct Want {
        const char *function;
        int line;
        bool inlined;
    };
    const Want want[] = {{"vmsym::askParent(int)", vmsym::kInlineLine, true},
                         {"vmsym::level3(int)", vmsym::kLevel3Line, false},
                         {"vmsym::level2(int)", vmsym::kLevel2Line, false},
                         {"vmsym::level1(int)", vmsym::kLevel1Line, false}};
    for (size_t i = 0; i < std::size(want); i++) {
        const utrace::Frame &f = frames[i + 1];
        SCOPED_TRACE(want[i].function);
        EXPECT_EQ(f.function, want[i].function);
        EXPECT_EQ(f.inlined, want[i].inlined);
        ASSERT_TRUE(f.source.has_value());
        EXPECT_EQ(f.source->line, want[i].line);
        EXPECT_TRUE(endsWith(f.source->file, "/client_symbols_test.cpp")) << f.source->file;
        EXPECT_TRUE(endsWith(f.module, "/ClientSymbols")) << f.module;
    }
    // The unwind went on into the test's own code (TestBody's lambda
    // caller chain ends in main).
    bool sawMain = false;
    for (auto &f : frames)
        sawMain |= f.function == "main";
    EXPECT_TRUE(sawMain);

    // The same addresses by name, and the vDSO came from memory.
    EXPECT_EQ(sym.lookup("vmsym::level2"), reinterpret_cast<uint64_t>(&vmsym::level2));
    bool vdso = false;
    for (auto &m : sym.modules()) {
        if (m.path != "[vdso]")
            continue;
        vdso = true;
        EXPECT_EQ(m.buildId.size(), 40u);
        // The vDSO's symbols, from the image read out of the child's memory;
        // a fork shares the parent's vDSO address.
        auto a = sym.lookup("[vdso]:__vdso_clock_gettime");
        ASSERT_TRUE(a.has_value());
        EXPECT_TRUE(*a >= m.start && *a < m.end);
        EXPECT_EQ(m.start, uint64_t(getauxval(AT_SYSINFO_EHDR)));
        auto f = sym.describe(*a);
        ASSERT_FALSE(f.empty());
        EXPECT_EQ(f.back().function, "__vdso_clock_gettime");
        EXPECT_EQ(f.back().offset, 0u);
    }
    EXPECT_TRUE(vdso);

    utrace::ControlRequest resume;
    resume.action = UTRACE_CTL_RESUME;
    transport_->control(h, resume);
    transport_->detach(h);
    int status = 0;
    ASSERT_EQ(waitpid(child_, &status, 0), child_);
    child_ = -1;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_P(ClientSymbols, MemoryOnlyWhileHeld)
{
    // With no held engine the stack is a hole: the backtrace stops at the
    // first frame instead of inventing callers.
    uint32_t h = holdAtGetppid();
    ASSERT_NE(h, 0u);
    user_regs_struct regs = regsOf(h);
    utrace::Symbolizer sym(utrace::transportSource(*transport_, [] { return uint32_t(0); }));
    sym.refresh(child_);
    std::vector<utrace::Frame> frames = sym.backtrace(regs);
    ASSERT_FALSE(frames.empty());
    for (auto &f : frames)
        EXPECT_NE(f.function, "vmsym::level2(int)");
}

INSTANTIATE_TEST_SUITE_P(, ClientSymbols, ::testing::Values("local", "agent"),
                         [](const auto &p) { return p.param; });

} // namespace
