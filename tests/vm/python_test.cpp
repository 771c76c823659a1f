// Python: the examples of examples/ (syscall counts per thread, stop at the
// first open of a path with a backtrace, the fork tree) run in the guest by
// Debian's python3 with the utrace module (tools/vm/harness.py puts them in
// /examples, the module in $PYTHONPATH), on fixtures whose syscalls, call
// chains and fork trees are known, and their output is checked.
#include "vm_util.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

struct Result {
    int status = -1;
    std::string out, err;
    std::vector<std::string> lines; // of out
    // For failure messages: what ran and what it said.
    std::string what;
};

std::string slurp(const std::string &path)
{
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Runs python3 /examples/SCRIPT ARGS..., stdout and stderr apart, killed
// after 120 s.
Result example(const std::string &script, const std::vector<std::string> &args)
{
    std::vector<std::string> argv = {"python3", "/examples/" + script};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r;
    for (const auto &a : argv)
        r.what += a + " ";
    const std::string outPath = "/tmp/python-test.out", errPath = "/tmp/python-test.err";
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int n = open("/dev/null", O_RDONLY);
        if (o < 0 || e < 0 || n < 0)
            _exit(126);
        dup2(n, 0);
        dup2(o, 1);
        dup2(e, 2);
        std::vector<char *> a;
        for (auto &s : argv)
            a.push_back(s.data());
        a.push_back(nullptr);
        execvp(a[0], a.data());
        _exit(127);
    }
    bool done = vmtest::waitFor([&] { return waitpid(pid, &r.status, WNOHANG) == pid; }, 120000);
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &r.status, 0);
        ADD_FAILURE() << r.what << "did not finish within 120 s";
    }
    r.out = slurp(outPath);
    r.err = slurp(errPath);
    std::stringstream ss(r.out);
    for (std::string l; std::getline(ss, l);)
        r.lines.push_back(l);
    r.what += "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
    // The output in the suite's XML, for people reading the results.
    ::testing::Test::RecordProperty(script, r.out);
    return r;
}

int exitCode(const Result &r)
{
    return WIFEXITED(r.status) ? WEXITSTATUS(r.status) : 128 + WTERMSIG(r.status);
}

// syscall_counts.py output: "thread TID (process PID): N syscalls", then
// "  COUNT NAME" lines.
struct ThreadCounts {
    int tid = 0, pid = 0;
    long total = 0;
    std::map<std::string, long> calls;
};

std::vector<ThreadCounts> parseCounts(const Result &r)
{
    static const std::regex head(R"(thread (\d+) \(process (\d+)\): (\d+) syscalls)");
    static const std::regex row(R"( +(\d+) (\w+))");
    std::vector<ThreadCounts> out;
    for (const auto &l : r.lines) {
        std::smatch m;
        if (std::regex_match(l, m, head)) {
            out.push_back({std::stoi(m[1]), std::stoi(m[2]), std::stol(m[3]), {}});
        } else if (std::regex_match(l, m, row) && !out.empty()) {
            out.back().calls[m[2]] += std::stol(m[1]);
        } else {
            ADD_FAILURE() << "unexpected line \"" << l << "\" in " << r.what;
        }
    }
    for (const auto &t : out) {
        long sum = 0;
        for (const auto &[name, n] : t.calls)
            sum += n;
        EXPECT_EQ(sum, t.total) << "thread " << t.tid << "'s total is not the sum of its "
                                << "rows in " << r.what;
    }
    return out;
}

// fork_tree.py output with the pids replaced by P, and the pids in order.
std::vector<std::string> treeShape(const Result &r, std::vector<int> *pids = nullptr)
{
    static const std::regex pid(R"(\[(\d+)\])");
    std::vector<std::string> out;
    for (const auto &l : r.lines) {
        std::smatch m;
        if (pids && std::regex_search(l, m, pid))
            pids->push_back(std::stoi(m[1]));
        out.push_back(std::regex_replace(l, pid, "[P]"));
    }
    return out;
}

class Python : public ::testing::Test {
protected:
    void TearDown() override
    {
        std::string why;
        EXPECT_TRUE(vmtest::coreCountersDrain(5000, &why)) << why;
    }
};

TEST_F(Python, InterpreterAndModule)
{
    // A script of our own, run through example()'s plumbing.
    std::ofstream("/tmp/python-import.py")
        << "import utrace\n"
           "s = utrace.Session()\n"
           "print(s.device['api_version'] > 0, utrace.syscall_name(257))\n"
           "try:\n"
           "    s.launch(['/fixtures/no-such-program'])\n"
           "except utrace.Error as e:\n"
           "    print('Error', e.errno > 0, str(e) == e.sentence)\n";
    Result r = example("../tmp/python-import.py", {});
    ASSERT_EQ(exitCode(r), 0) << r.what;
    ASSERT_EQ(r.lines.size(), 2u) << r.what;
    EXPECT_EQ(r.lines[0], "True openat") << r.what;
    EXPECT_EQ(r.lines[1], "Error True True") << r.what;
}

// The bindings beyond the examples: a held syscall aborted with a chosen
// result, registers, memory, rendering, the GIL released in wait(), and
// objects of a closed session.
TEST_F(Python, EngineControlFromPython)
{
    std::ofstream("/tmp/python-engine.py") << R"(import os, threading, utrace
s = utrace.Session()
p = s.launch(["/fixtures/fx_syscall_loop", "3"])
e = s.wait(5000)
print("exec", e.kind, e.held, os.path.basename(e.path), e.tid == p.pid)
eng = p.engine()
eng.set_syscall_filter(["lseek"])
eng.set_events("syscall", stop="syscall-entry")
print("settings", eng.settings["syscall_filter"], eng.settings["stop"])
eng.resume()
e = s.wait(5000)
r = eng.regs()
print("entry", e.kind, e.name, e.held, e.args[1], r.orig_rax, utrace.render(e, eng))
print("stack", len(eng.read_memory(r.rsp, 16)), eng.held)
ticks = []
stop = threading.Event()
t = threading.Thread(target=lambda: [ticks.append(1) or stop.wait(0.01) for _ in range(10**6) if not stop.is_set()])
t.start()
print("idle", s.wait(300))  # held: nothing comes; the other thread runs meanwhile
stop.set(); t.join()
print("gil", len(ticks) > 3)
eng.abort_syscall(-42)
x = s.wait(5000)
print("exit", x.kind, x.ret, x.error, utrace.render(x))
eng.set_events("none")
eng.resume()
print("status", os.waitstatus_to_exitcode(p.exit_status(wait=True)))
s.close()
try:
    eng.resume()
except utrace.Error as err:
    print("closed", err.errno == 9, s.closed)
)";
    Result r = example("../tmp/python-engine.py", {});
    ASSERT_EQ(exitCode(r), 0) << r.what;
    const std::vector<std::string> want = {
        "exec exec True fx_syscall_loop True",
        "settings ['lseek'] syscall-entry",
        "entry syscall-entry lseek True 1000 8 lseek(-1, 1000, SEEK_CUR)",
        "stack 16 True",
        "idle None",
        "gil True",
        "exit syscall-exit -42 ENOMSG <... syscall aborted at entry> = -1 ENOMSG (No message of "
        "desired type)",
        "status 0",
        "closed True True",
    };
    EXPECT_EQ(r.lines, want) << r.what;
}

// Breakpoints from Python on fx_calls: one that only counts (fx_loop_body,
// run COUNT times), one that stops at its first hit (fx_inner, called from
// the inlined fx_middle), then is disabled.
TEST_F(Python, BreakpointsFromPython)
{
    std::ofstream("/tmp/python-bp.py") << R"(import os, utrace
s = utrace.Session()
p = s.launch(["/fixtures/fx_calls", "25"])
s.wait(5000)  # the held exec
sym = utrace.Symbolizer(s, p.pid)
bps = utrace.Breakpoints(s, p.pid)
count = bps.add(sym.lookup("fx_loop_body"), stop=False)
inner = sym.lookup("fx_inner")
stop = bps.add(inner)
p.resume()
while (status := p.exit_status()) is None:
    e = s.wait(100)
    if e is None or not e.held:
        continue
    eng = s.engine(e)
    hit = bps.hit_by(e)
    if hit is not None:
        print("hit", hit["id"] == stop, eng.regs().rip == inner, hit["hits"])
        print("bt", [f.function + " inlined" * f.inlined for f in sym.backtrace(eng)][:4])
        bps.disable(stop)
    eng.resume()
print("hits", bps.hits(count), bps.hits(stop), bps.info(stop)["enabled"])
print("status", os.waitstatus_to_exitcode(status))
)";
    Result r = example("../tmp/python-bp.py", {});
    ASSERT_EQ(exitCode(r), 0) << r.what;
    const std::vector<std::string> want = {
        "hit True True 1",
        "bt ['fx_inner', 'fx_middle inlined', 'fx_outer', 'main']",
        "hits 25 1 False",
        "status 0",
    };
    EXPECT_EQ(r.lines, want) << r.what;
}

TEST_F(Python, SyscallCountsOfALoop)
{
    Result r = example("syscall_counts.py", {"--", "/fixtures/fx_syscall_loop", "7"});
    ASSERT_EQ(exitCode(r), 0) << r.what;
    auto threads = parseCounts(r);
    ASSERT_EQ(threads.size(), 1u) << r.what;
    ThreadCounts &t = threads[0];
    EXPECT_EQ(t.tid, t.pid) << r.what;
    EXPECT_EQ(t.calls["lseek"], 7) << r.what;
    EXPECT_EQ(t.calls["exit_group"], 1) << r.what;
    EXPECT_EQ(t.calls.count("execve"), 0u) << "the exec came before the tracing\n" << r.what;
}

TEST_F(Python, SyscallCountsPerThread)
{
    // 3 threads, 4 iterations each with a 1 ms nanosleep.
    Result r = example("syscall_counts.py", {"--", "/fixtures/fx_threads", "3", "4", "1"});
    ASSERT_EQ(exitCode(r), 0) << r.what;
    auto threads = parseCounts(r);
    ASSERT_EQ(threads.size(), 4u) << r.what;
    int workers = 0, leaders = 0;
    for (auto &t : threads) {
        EXPECT_EQ(t.pid, threads[0].pid) << "one process\n" << r.what;
        if (t.tid == t.pid) {
            ++leaders;
            EXPECT_EQ(t.calls["clone"] + t.calls["clone3"], 3) << r.what;
            EXPECT_EQ(t.calls["exit_group"], 1) << r.what;
            EXPECT_EQ(t.calls["clock_nanosleep"], 0) << r.what;
        } else {
            ++workers;
            EXPECT_EQ(t.calls["clock_nanosleep"], 4) << "thread " << t.tid << "\n" << r.what;
            EXPECT_EQ(t.calls["exit"], 1) << "thread " << t.tid << "\n" << r.what;
            EXPECT_EQ(t.calls["exit_group"], 0) << r.what;
        }
    }
    EXPECT_EQ(leaders, 1);
    EXPECT_EQ(workers, 3);
}

TEST_F(Python, SyscallCountsFollowChildren)
{
    // The shell's two children each make 3 lseeks and 2 lseeks.
    Result r = example(
        "syscall_counts.py",
        {"--", "sh", "-c", "/fixtures/fx_syscall_loop 3; /fixtures/fx_syscall_loop 2; true"});
    ASSERT_EQ(exitCode(r), 0) << r.what;
    auto threads = parseCounts(r);
    std::vector<long> lseeks;
    for (auto &t : threads)
        if (t.calls.count("lseek"))
            lseeks.push_back(t.calls["lseek"]);
    EXPECT_EQ(lseeks, (std::vector<long>{3, 2})) << r.what;
    EXPECT_EQ(threads.size(), 3u) << "the shell and its two children\n" << r.what;
}

// The frame lines ("  #N function+0x.. at file:line (module)"): the
// function names, innermost first.
std::vector<std::string> frameFunctions(const Result &r)
{
    static const std::regex frame(R"(  #\d+ ([^ +]+).*)");
    std::vector<std::string> out;
    for (const auto &l : r.lines) {
        std::smatch m;
        if (std::regex_match(l, m, frame))
            out.push_back(m[1]);
    }
    return out;
}

TEST_F(Python, StopAtOpenShowsTheCallChain)
{
    // fx_open_chain opens FIRST (fx_open_first), SECOND (fx_open_outer ->
    // fx_open_inner), then FIRST again through fx_open_outer.
    Result r = example("stop_at_open.py", {"/tmp/second", "--", "/fixtures/fx_open_chain",
                                           "/tmp/first", "/tmp/second"});
    ASSERT_EQ(exitCode(r), 0) << r.what;
    ASSERT_FALSE(r.lines.empty()) << r.what;
    EXPECT_TRUE(std::regex_match(
        r.lines[0],
        std::regex(R"(\[\d+\] openat\(AT_FDCWD, "/tmp/second", O_RDONLY\|O_CLOEXEC\))")))
        << r.what;
    auto fns = frameFunctions(r);
    ASSERT_GE(fns.size(), 4u) << r.what;
    EXPECT_NE(fns[0].find("open"), std::string::npos) << "libc's open wrapper\n" << r.what;
    EXPECT_EQ(fns[1], "fx_open_inner") << r.what;
    EXPECT_EQ(fns[2], "fx_open_outer") << r.what;
    EXPECT_EQ(fns[3], "main") << r.what;
    // fx_open_inner's frame is at its open() call: line 14 of the fixture.
    EXPECT_TRUE(std::regex_search(
        r.out, std::regex(R"(#1 fx_open_inner\+0x[0-9a-f]+ at \S*/open_chain\.c:14:)")))
        << "source lines\n"
        << r.what;
    EXPECT_EQ(r.out.find("fx_open_first"), std::string::npos) << r.what;
}

TEST_F(Python, StopAtOpenStopsAtTheFirstOpenOnly)
{
    // FIRST is opened twice; the first time from fx_open_first.
    Result r = example("stop_at_open.py", {"/tmp/first", "--", "/fixtures/fx_open_chain",
                                           "/tmp/first", "/tmp/second"});
    ASSERT_EQ(exitCode(r), 0) << r.what;
    auto fns = frameFunctions(r);
    ASSERT_GE(fns.size(), 3u) << r.what;
    EXPECT_EQ(fns[1], "fx_open_first") << r.what;
    EXPECT_EQ(fns[2], "main") << r.what;
    EXPECT_EQ(r.out.find("fx_open_outer"), std::string::npos) << r.what;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n') - long(fns.size()), 1)
        << "one call line\n"
        << r.what;
}

TEST_F(Python, StopAtOpenOfAPathNeverOpened)
{
    Result r = example("stop_at_open.py", {"/tmp/third", "--", "/fixtures/fx_open_chain",
                                           "/tmp/first", "/tmp/second"});
    EXPECT_EQ(exitCode(r), 1) << r.what;
    EXPECT_EQ(r.out, "") << r.what;
    EXPECT_NE(r.err.find("never opened /tmp/third"), std::string::npos) << r.what;
}

TEST_F(Python, ForkTreeOfANestedChain)
{
    std::vector<int> pids;
    Result r = example("fork_tree.py", {"--", "/fixtures/fx_fork_exec", "/fixtures/fx_fork_exec",
                                        "/fixtures/fx_syscall_loop", "2"});
    ASSERT_EQ(exitCode(r), 0) << r.what;
    EXPECT_EQ(treeShape(r, &pids), (std::vector<std::string>{
                                       "[P] fx_fork_exec, exit 0",
                                       "    [P] fx_fork_exec, exit 0",
                                       "        [P] fx_syscall_loop, exit 0",
                                   }))
        << r.what;
    ASSERT_EQ(pids.size(), 3u);
    EXPECT_TRUE(pids[0] != pids[1] && pids[1] != pids[2] && pids[0] != pids[2]) << r.what;
}

TEST_F(Python, ForkTreeOfAShellWithThreadsAndASignal)
{
    Result r =
        example("fork_tree.py", {"--", "sh", "-c",
                                 "/fixtures/fx_syscall_loop 1 & /fixtures/fx_threads 2 3 & wait; "
                                 "sh -c 'kill -TERM $$'; exit 3"});
    EXPECT_EQ(exitCode(r), 3) << r.what;
    auto shape = treeShape(r);
    ASSERT_EQ(shape.size(), 4u) << r.what;
    // /bin/sh is busybox: the exec event names the file it ran
    EXPECT_EQ(shape[0], "[P] busybox, exit 3") << r.what;
    // The two background children in either order, then the killed shell.
    std::vector<std::string> kids(shape.begin() + 1, shape.begin() + 3);
    std::sort(kids.begin(), kids.end());
    EXPECT_EQ(kids, (std::vector<std::string>{"    [P] fx_syscall_loop, exit 0",
                                              "    [P] fx_threads, 3 threads, exit 0"}))
        << r.what;
    EXPECT_EQ(shape[3], "    [P] busybox, killed by SIGTERM") << r.what;
}

TEST_F(Python, ExamplesSayWhatWentWrong)
{
    Result r = example("fork_tree.py", {"--", "/fixtures/no-such-program"});
    EXPECT_EQ(exitCode(r), 1) << r.what;
    EXPECT_NE(r.err.find("fork_tree: cannot launch /fixtures/no-such-program"), std::string::npos)
        << r.what;
    Result u = example("syscall_counts.py", {});
    EXPECT_EQ(exitCode(u), 2) << u.what;
    EXPECT_NE(u.err.find("usage: syscall_counts.py"), std::string::npos) << u.what;
}

} // namespace
