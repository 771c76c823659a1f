// Cli: the `utrace` command-line tool in the guest, on the real
// /dev/utrace: its trace of known programs, the in-kernel filter, JSON
// lines, following children, attaching to a running process, the prompt,
// and its errors. The binary doubles as the traced fixture (--fixture).
#include "vm_util.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <poll.h>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

const char *const kCli = "/tools/utrace";

// A known syscall sequence, then exit status 3.
[[noreturn]] void fixtureBasic()
{
    int fd = open("/nonexistent/utrace-cli-test", O_RDONLY);
    (void)fd;
    const char msg[] = "hello from the fixture\n";
    if (write(1, msg, sizeof(msg) - 1) < 0)
        _exit(1);
    syscall(SYS_getpid);
    syscall(SYS_getppid);
    _exit(3);
}

// Runs until killed, making a getppid a millisecond.
[[noreturn]] void fixtureLoop()
{
    for (;;) {
        syscall(SYS_getppid);
        usleep(1000);
    }
}

struct RunResult {
    int status = -1;
    std::string out;       // stdout + stderr
    bool timedOut = false; // killed after kRunSeconds
};

// Long enough for any of these runs under emulation; a hang fails its test
// instead of holding up the suite.
constexpr int kRunSeconds = 240;

// Runs argv with stdin from `input`, collecting stdout and stderr.
RunResult run(const std::vector<std::string> &argv, const std::string &input = "")
{
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return {};
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        close(in[1]);
        close(out[0]);
        std::vector<char *> a;
        for (const auto &s : argv)
            a.push_back(const_cast<char *>(s.c_str()));
        a.push_back(nullptr);
        execv(a[0], a.data());
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (!input.empty() && write(in[1], input.data(), input.size()) < 0)
        perror("write");
    close(in[1]);
    RunResult r;
    char buf[4096];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kRunSeconds);
    for (;;) {
        int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        deadline - std::chrono::steady_clock::now())
                                        .count());
        pollfd p{out[0], POLLIN, 0};
        int ready = left > 0 ? poll(&p, 1, left) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready == 0) {
            r.timedOut = true;
            kill(pid, SIGKILL);
            r.out += "\n[killed after " + std::to_string(kRunSeconds) + " s]";
            break;
        }
        ssize_t n = read(out[0], buf, sizeof(buf));
        if (n > 0)
            r.out.append(buf, n);
        else if (n == 0 || errno != EINTR)
            break;
    }
    close(out[0]);
    waitpid(pid, &r.status, 0);
    return r;
}

std::string readFile(const std::string &path)
{
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::vector<std::string> lines(const std::string &s)
{
    std::vector<std::string> v;
    std::stringstream ss(s);
    std::string l;
    while (std::getline(ss, l))
        v.push_back(l);
    return v;
}

// Index of the first line at or after `from` matching re, or -1.
int find(const std::vector<std::string> &ls, const std::string &re, int from = 0)
{
    std::regex r(re);
    for (int i = from; i < static_cast<int>(ls.size()); i++)
        if (std::regex_search(ls[i], r))
            return i;
    return -1;
}

// A strict JSON syntax check of one value (objects, arrays, strings, numbers,
// literals), enough to prove each --json line parses.
struct Json {
    const std::string &s;
    size_t i = 0;
    void ws()
    {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
            i++;
    }
    bool lit(const char *w)
    {
        size_t n = std::strlen(w);
        if (s.compare(i, n, w))
            return false;
        i += n;
        return true;
    }
    bool str()
    {
        if (s[i] != '"')
            return false;
        for (i++; i < s.size(); i++) {
            unsigned char c = s[i];
            if (c == '"') {
                i++;
                return true;
            }
            if (c < 0x20)
                return false;
            if (c == '\\') {
                if (++i >= s.size())
                    return false;
                if (s[i] == 'u') {
                    for (int k = 0; k < 4; k++)
                        if (++i >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i])))
                            return false;
                } else if (!std::strchr("\"\\/bfnrt", s[i])) {
                    return false;
                }
            }
        }
        return false;
    }
    bool num()
    {
        size_t st = i;
        if (s[i] == '-')
            i++;
        while (i < s.size() &&
               (std::isdigit(static_cast<unsigned char>(s[i])) || std::strchr(".eE+-", s[i])))
            i++;
        return i > st;
    }
    bool value()
    {
        ws();
        if (i >= s.size())
            return false;
        bool ok;
        if (s[i] == '{') {
            i++;
            ws();
            if (s[i] == '}') {
                i++;
                return true;
            }
            do {
                ws();
                if (!str())
                    return false;
                ws();
                if (s[i++] != ':' || !value())
                    return false;
                ws();
            } while (i < s.size() && s[i] == ',' && ++i);
            ok = i < s.size() && s[i++] == '}';
        } else if (s[i] == '[') {
            i++;
            ws();
            if (s[i] == ']') {
                i++;
                return true;
            }
            do {
                if (!value())
                    return false;
                ws();
            } while (i < s.size() && s[i] == ',' && ++i);
            ok = i < s.size() && s[i++] == ']';
        } else if (s[i] == '"') {
            ok = str();
        } else if (lit("true") || lit("false") || lit("null")) {
            ok = true;
        } else {
            ok = num();
        }
        return ok;
    }
    bool whole()
    {
        bool ok = value();
        ws();
        return ok && i == s.size();
    }
};

class Cli : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_EQ(access(kCli, X_OK), 0) << kCli << " is not in the guest";
        ASSERT_EQ(access("/dev/utrace", R_OK | W_OK), 0) << "the utrace module is not loaded";
    }
    std::string self() { return "/proc/self/exe"; }
};

TEST_F(Cli, TracesALaunchedProgramLikeStrace)
{
    std::string trace = "/tmp/cli-basic.trace";
    RunResult r = run({kCli, "-o", trace, "--", "/tests/Cli", "--fixture", "basic"});
    ASSERT_TRUE(WIFEXITED(r.status)) << r.out;
    EXPECT_EQ(WEXITSTATUS(r.status), 3) << "utrace must exit with the program's status\n" << r.out;
    EXPECT_NE(r.out.find("hello from the fixture"), std::string::npos) << r.out;
    auto ls = lines(readFile(trace));
    ASSERT_FALSE(ls.empty());
    int open = find(
        ls,
        R"(^open(at)?\((AT_FDCWD, )?"/nonexistent/utrace-cli-test", O_RDONLY\) = -1 ENOENT \(No such file or directory\)$)");
    int wr = find(ls, R"(^write\(1, "hello from the fixture\\n", 23\) = 23$)", open + 1);
    int gp = find(ls, R"(^getpid\(\) = \d+$)", wr + 1);
    int gpp = find(ls, R"(^getppid\(\) = \d+$)", gp + 1);
    int ex = find(ls, R"(^exit_group\(3\) = \?$)", gpp + 1);
    int done = find(ls, R"(^\+\+\+ exited with 3 \+\+\+$)", ex + 1);
    EXPECT_GE(open, 0) << readFile(trace);
    EXPECT_GT(wr, open) << readFile(trace);
    EXPECT_GT(gp, wr) << readFile(trace);
    EXPECT_GT(gpp, gp) << readFile(trace);
    EXPECT_GT(ex, gpp) << readFile(trace);
    EXPECT_GT(done, ex) << readFile(trace);
    // The program's own execve comes first, as strace shows it.
    EXPECT_TRUE(std::regex_search(
        ls[0],
        std::regex(
            R"(^execve\("/tests/Cli", \["/tests/Cli", "--fixture", "basic"\], 0x[0-9a-f]+ /\* \d+ vars \*/\) = 0$)")))
        << ls[0];
}

TEST_F(Cli, FiltersSyscallsInTheKernel)
{
    std::string trace = "/tmp/cli-filter.trace";
    RunResult r = run(
        {kCli, "-e", "trace=write,getppid", "-o", trace, "--", "/tests/Cli", "--fixture", "basic"});
    ASSERT_TRUE(WIFEXITED(r.status)) << r.out;
    EXPECT_EQ(WEXITSTATUS(r.status), 3);
    auto ls = lines(readFile(trace));
    for (const auto &l : ls)
        EXPECT_TRUE(std::regex_search(l, std::regex(R"(^(write|getppid)\(|^\+\+\+ )")))
            << "a syscall outside the filter was shown: " << l;
    EXPECT_GE(find(ls, R"(^write\(1, )"), 0) << readFile(trace);
    EXPECT_GE(find(ls, R"(^getppid\(\) = )"), 0) << readFile(trace);
    // An unknown name is refused before anything runs.
    RunResult bad = run({kCli, "-e", "trace=no_such_call", "--", "/bin/true"});
    EXPECT_EQ(WEXITSTATUS(bad.status), 2);
    EXPECT_NE(bad.out.find("unknown syscall 'no_such_call'"), std::string::npos) << bad.out;
}

// --no-stop never holds a thread, so a program that makes syscalls as fast
// as it can outruns the formatting, and the kernel drops records: perhaps
// its exit and death records too. utrace must still end when the program
// does (it asks the engines once nothing is left to read), with its status.
TEST_F(Cli, EndsWithTheProgramWhenRecordsWereDropped)
{
    RunResult r = run({kCli, "--no-stop", "--json", "-o", "/dev/null", "--", "/bin/busybox", "dd",
                       "if=/dev/zero", "of=/dev/null", "bs=1", "count=300000"});
    ASSERT_FALSE(r.timedOut) << "utrace did not end with the program\n" << r.out;
    ASSERT_TRUE(WIFEXITED(r.status)) << r.out;
    EXPECT_EQ(WEXITSTATUS(r.status), 0) << "utrace did not end with the program\n" << r.out;
    EXPECT_NE(r.out.find("300000+0 records out"), std::string::npos) << r.out;
    std::printf("Cli: %s\n", r.out.find("dropped") != std::string::npos
                                 ? "the kernel dropped records, as intended"
                                 : "no records were dropped this time (the path is not exercised)");
}

TEST_F(Cli, JsonLinesParse)
{
    std::string trace = "/tmp/cli-json.trace";
    RunResult r = run({kCli, "--json", "-o", trace, "--", "/tests/Cli", "--fixture", "basic"});
    ASSERT_TRUE(WIFEXITED(r.status)) << r.out;
    auto ls = lines(readFile(trace));
    ASSERT_GE(ls.size(), 5u) << readFile(trace);
    bool sawWrite = false;
    for (const auto &l : ls) {
        Json j{l};
        EXPECT_TRUE(j.whole()) << "not JSON: " << l;
        sawWrite |= l.find("\"name\":\"write\"") != std::string::npos &&
                    l.find("\"ret\":23") != std::string::npos;
        EXPECT_NE(l.find("\"seq\":"), std::string::npos) << l;
    }
    EXPECT_TRUE(sawWrite) << readFile(trace);
}

TEST_F(Cli, FollowsAPipelineOfChildren)
{
    std::string trace = "/tmp/cli-follow.trace";
    RunResult r = run({kCli, "-f", "-o", trace, "--", "/bin/sh", "-c", "ls / | wc -l"});
    ASSERT_TRUE(WIFEXITED(r.status)) << r.out;
    EXPECT_EQ(WEXITSTATUS(r.status), 0) << r.out;
    std::string t = readFile(trace);
    auto ls = lines(t);
    // The shell made the pipe and forked; ls read / and wc wrote the count
    // (busybox may run its applets without an execve).
    EXPECT_GE(find(ls, R"(^\[pid +\d+\] pipe2?\(\[\d+, \d+\])"), 0) << t;
    EXPECT_GE(find(ls, R"(^\[pid +\d+\] (clone|clone3|fork|vfork)\()"), 0) << t;
    EXPECT_GE(find(ls, R"(^\[pid +\d+\] getdents64\(\d+, )"), 0) << t;
    EXPECT_GE(find(ls, R"(^\[pid +\d+\] write\(1, "\d+\\n", \d\) = \d$)"), 0) << t;
    EXPECT_GE(find(ls, R"(^\[pid +\d+\] \+\+\+ exited with 0 \+\+\+$)"), 0) << t;
    std::set<std::string> pids;
    std::regex pidRe(R"(^\[pid +(\d+)\])");
    for (const auto &l : ls) {
        std::smatch m;
        if (std::regex_search(l, m, pidRe))
            pids.insert(m[1]);
        else
            ADD_FAILURE() << "a line without its pid under -f: " << l;
    }
    EXPECT_GE(pids.size(), 3u) << "the shell and both children: " << t;
    std::printf("utrace -f -- sh -c 'ls / | wc -l':\n%s", t.c_str());
}

TEST_F(Cli, AttachesToARunningProcessAndDetachesOnInterrupt)
{
    pid_t target = fork();
    if (target == 0) {
        execl("/tests/Cli", "Cli", "--fixture", "loop", static_cast<char *>(nullptr));
        _exit(127);
    }
    ASSERT_GT(target, 0);
    usleep(100000);
    std::string trace = "/tmp/cli-attach.trace";
    pid_t cli = fork();
    if (cli == 0) {
        execl(kCli, "utrace", "-o", trace.c_str(), "-p", std::to_string(target).c_str(),
              static_cast<char *>(nullptr));
        _exit(127);
    }
    ASSERT_TRUE(vmtest::waitFor(
        [&] { return readFile(trace).find("getppid() = ") != std::string::npos; }, 10000))
        << readFile(trace);
    kill(cli, SIGINT);
    int st;
    ASSERT_EQ(waitpid(cli, &st, 0), cli);
    EXPECT_TRUE(WIFEXITED(st));
    // Detached: the target runs on, untraced, and no thread of it is held.
    usleep(100000);
    EXPECT_NE(vmtest::threadState(target, target), 't');
    std::string status = readFile("/proc/" + std::to_string(target) + "/status");
    EXPECT_EQ(status.find("Utrace:\t1"), std::string::npos) << status;
    kill(target, SIGKILL);
    waitpid(target, nullptr, 0);
}

TEST_F(Cli, StopOnOpensAPrompt)
{
    RunResult r =
        run({kCli, "--stop-on", "syscall:getppid", "--", "/tests/Cli", "--fixture", "basic"},
            "regs\nx 0 16\nbogus\nc\n");
    ASSERT_TRUE(WIFEXITED(r.status)) << r.out;
    EXPECT_EQ(WEXITSTATUS(r.status), 3) << r.out;
    EXPECT_NE(r.out.find("stopped at syscall-entry"), std::string::npos) << r.out;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(orig_rax +0x0+6e)"))) << r.out; // 110
    EXPECT_NE(r.out.find("only 0 of 16 bytes are mapped"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("unknown command 'bogus'"), std::string::npos) << r.out;
}

TEST_F(Cli, ErrorsAreOneSentence)
{
    RunResult gone = run({kCli, "-p", "999999"});
    EXPECT_EQ(WEXITSTATUS(gone.status), 1);
    EXPECT_NE(gone.out.find("utrace: "), std::string::npos) << gone.out;
    EXPECT_EQ(lines(gone.out).size(), 1u) << gone.out;
    RunResult none = run({kCli});
    EXPECT_EQ(WEXITSTATUS(none.status), 2);
    EXPECT_NE(none.out.find("nothing to trace"), std::string::npos) << none.out;
    RunResult missing = run({kCli, "--", "/no/such/program"});
    EXPECT_NE(WEXITSTATUS(missing.status), 0);
}

} // namespace

int main(int argc, char **argv)
{
    if (argc == 3 && std::strcmp(argv[1], "--fixture") == 0) {
        if (std::strcmp(argv[2], "basic") == 0)
            fixtureBasic();
        if (std::strcmp(argv[2], "loop") == 0)
            fixtureLoop();
        return 127;
    }
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
