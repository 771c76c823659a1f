// utrace: strace-like tracing on utrace engines, with in-kernel syscall
// filters, JSON lines, and a prompt at chosen events (regs, bt, x, step, ...).
// See docs/utrace.1 (man page).
#include "utrace/decode.hpp"
#include "utrace/session.hpp"
#include "utrace/symbolizer.hpp"
#include <linux/utrace.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <getopt.h>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

const char *const kUsage =
    "usage: utrace [-f] [-e EXPR] [-o FILE] [-s N] [--json] [--stop-on EVENT]\n"
    "              [--no-stop] [--connect WHERE] -- COMMAND [ARG...]\n"
    "       utrace [options] -p PID[,PID...]\n"
    "\n"
    "Traces syscalls, signals, clone, exec and exit of COMMAND (or of running\n"
    "processes) through /dev/utrace, like strace. Filters run in the kernel.\n"
    "\n"
    "  -f               follow children (fork, vfork, clone): in the kernel, before\n"
    "                   their first instruction\n"
    "  -e trace=SET     only these syscalls: names, %file %desc %process %network\n"
    "                   %signal %memory, !SET to invert (e.g. -e trace=openat,read)\n"
    "  -e signal=SET    only show these signals (names or numbers)\n"
    "  -o FILE          write the trace to FILE\n"
    "  -s N             show at most N bytes of each string (default 32)\n"
    "  --json           one JSON object per line instead of strace lines\n"
    "  --stop-on EVENT  stop there and open a prompt: syscall[:NAME], signal[:SIG],\n"
    "                   exec, clone, exit (repeatable)\n"
    "  --no-stop        never hold a thread: arguments as numbers, no strings\n"
    "  --connect WHERE  local (default), tcp://HOST:PORT, exec:COMMAND (an agent)\n"
    "  -p PID           attach to every thread of running process PID\n"
    "  -h, --help       this text\n"
    "\n"
    "The exit status is the traced program's (128+N when killed by signal N).\n";

struct StopRule {
    enum Kind { Syscall, Signal, Exec, Clone, Exit } kind;
    int arg = -1; // syscall number or signal; -1: any
};

struct Options {
    bool follow = false;
    bool json = false;
    bool noStop = false;
    size_t strlimit = 32;
    std::string out;
    std::string where = "local";
    std::vector<pid_t> pids;
    std::vector<std::string> argv;
    std::optional<std::set<int>> syscalls; // nullopt: all
    std::optional<std::set<int>> signals;
    std::vector<StopRule> stopOn;
};

[[noreturn]] void usageError(const std::string &msg)
{
    std::fprintf(stderr, "utrace: %s\n(utrace --help shows the options)\n", msg.c_str());
    std::exit(2);
}

std::vector<std::string> split(const std::string &s, char sep)
{
    std::vector<std::string> v;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, sep))
        if (!item.empty())
            v.push_back(item);
    return v;
}

bool hasArg(const utrace::SyscallInfo &si, std::initializer_list<utrace::ArgType> types)
{
    for (int i = 0; i < si.argc; i++)
        for (auto t : types)
            if (si.args[i] == t)
                return true;
    return false;
}

// strace's syscall classes, from the decode table and a few name lists.
std::set<int> syscallClass(const std::string &cls)
{
    using utrace::ArgType;
    static const std::map<std::string, std::vector<std::string>> named = {
        {"process",
         {"clone", "clone3", "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4",
          "waitid", "kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal"}},
        {"network",
         {"socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
          "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
          "shutdown", "setsockopt", "getsockopt"}},
        {"signal",
         {"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
          "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigsuspend", "sigaltstack", "kill", "tkill",
          "tgkill", "pause", "signalfd", "signalfd4"}},
        {"memory",
         {"mmap",     "munmap",        "mprotect",      "brk",           "mremap",
          "madvise",  "msync",         "mincore",       "mlock",         "munlock",
          "mlockall", "munlockall",    "mlock2",        "pkey_mprotect", "remap_file_pages",
          "mbind",    "set_mempolicy", "get_mempolicy", "migrate_pages", "move_pages"}},
    };
    std::set<int> out;
    if (cls == "file") {
        for (const auto &si : utrace::syscallTable())
            if (hasArg(si, {ArgType::Path}))
                out.insert(si.nr);
    } else if (cls == "desc") {
        for (const auto &si : utrace::syscallTable())
            if (hasArg(si, {ArgType::Fd, ArgType::DirFd}))
                out.insert(si.nr);
    } else if (auto it = named.find(cls); it != named.end()) {
        for (const auto &n : it->second)
            if (auto nr = utrace::syscallNumber(n))
                out.insert(*nr);
    } else {
        usageError("unknown syscall class %" + cls +
                   "; known: %file %desc %process %network %signal %memory");
    }
    return out;
}

std::set<int> parseSyscallSet(const std::string &spec)
{
    bool invert = !spec.empty() && spec[0] == '!';
    std::set<int> set;
    for (const auto &w : split(invert ? spec.substr(1) : spec, ',')) {
        if (w == "all") {
            for (const auto &si : utrace::syscallTable())
                set.insert(si.nr);
        } else if (w[0] == '%') {
            auto c = syscallClass(w.substr(1));
            set.insert(c.begin(), c.end());
        } else if (auto nr = utrace::syscallNumber(w)) {
            set.insert(*nr);
        } else {
            usageError("unknown syscall '" + w + "' in -e trace=" + spec);
        }
    }
    if (!invert)
        return set;
    std::set<int> all;
    for (const auto &si : utrace::syscallTable())
        if (!set.count(si.nr))
            all.insert(si.nr);
    return all;
}

std::set<int> parseSignalSet(const std::string &spec)
{
    bool invert = !spec.empty() && spec[0] == '!';
    std::set<int> set;
    for (const auto &w : split(invert ? spec.substr(1) : spec, ',')) {
        if (w == "all") {
            for (int s = 1; s < 65; s++)
                set.insert(s);
        } else if (auto s = utrace::signalNumber(w)) {
            set.insert(*s);
        } else {
            usageError("unknown signal '" + w + "' in -e signal=" + spec);
        }
    }
    if (!invert)
        return set;
    std::set<int> all;
    for (int s = 1; s < 65; s++)
        if (!set.count(s))
            all.insert(s);
    return all;
}

StopRule parseStopRule(const std::string &spec)
{
    auto colon = spec.find(':');
    std::string kind = spec.substr(0, colon);
    std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
    StopRule r{StopRule::Syscall};
    if (kind == "syscall") {
        if (!arg.empty()) {
            auto nr = utrace::syscallNumber(arg);
            if (!nr)
                usageError("unknown syscall '" + arg + "' in --stop-on " + spec);
            r.arg = *nr;
        }
    } else if (kind == "signal") {
        r.kind = StopRule::Signal;
        if (!arg.empty()) {
            auto s = utrace::signalNumber(arg);
            if (!s)
                usageError("unknown signal '" + arg + "' in --stop-on " + spec);
            r.arg = *s;
        }
    } else if (kind == "exec" || kind == "clone" || kind == "exit") {
        r.kind = kind == "exec"    ? StopRule::Exec
                 : kind == "clone" ? StopRule::Clone
                                   : StopRule::Exit;
    } else {
        usageError("--stop-on takes syscall[:NAME], signal[:SIG], exec, clone or exit, not '" +
                   spec + "'");
    }
    return r;
}

Options parseOptions(int argc, char **argv)
{
    Options o;
    enum { kJson = 1000, kStopOn, kNoStop, kConnect };
    static const option longOpts[] = {{"json", no_argument, nullptr, kJson},
                                      {"stop-on", required_argument, nullptr, kStopOn},
                                      {"no-stop", no_argument, nullptr, kNoStop},
                                      {"connect", required_argument, nullptr, kConnect},
                                      {"help", no_argument, nullptr, 'h'},
                                      {nullptr, 0, nullptr, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "+fe:o:s:p:h", longOpts, nullptr)) != -1) {
        switch (c) {
        case 'f':
            o.follow = true;
            break;
        case 'e': {
            std::string e = optarg;
            if (e.rfind("trace=", 0) == 0)
                o.syscalls = parseSyscallSet(e.substr(6));
            else if (e.rfind("signal=", 0) == 0)
                o.signals = parseSignalSet(e.substr(7));
            else if (e.find('=') == std::string::npos)
                o.syscalls = parseSyscallSet(e);
            else
                usageError("-e takes trace=SET or signal=SET, not '" + e + "'");
            break;
        }
        case 'o':
            o.out = optarg;
            break;
        case 's': {
            char *end;
            long n = std::strtol(optarg, &end, 10);
            if (*end || n < 0)
                usageError("-s takes a byte count, not '" + std::string(optarg) + "'");
            o.strlimit = static_cast<size_t>(n);
            break;
        }
        case 'p':
            for (const auto &w : split(optarg, ',')) {
                char *end;
                long p = std::strtol(w.c_str(), &end, 10);
                if (*end || p <= 0)
                    usageError("-p takes process ids, not '" + w + "'");
                o.pids.push_back(static_cast<pid_t>(p));
            }
            break;
        case kJson:
            o.json = true;
            break;
        case kStopOn:
            o.stopOn.push_back(parseStopRule(optarg));
            break;
        case kNoStop:
            o.noStop = true;
            break;
        case kConnect:
            o.where = optarg;
            break;
        case 'h':
            std::fputs(kUsage, stdout);
            std::exit(0);
        default:
            usageError("bad option");
        }
    }
    for (int i = optind; i < argc; i++)
        o.argv.push_back(argv[i]);
    if (o.argv.empty() == o.pids.empty())
        usageError(o.argv.empty() ? "nothing to trace: give a COMMAND or -p PID"
                                  : "give either a COMMAND or -p PID, not both");
    if (o.noStop && !o.stopOn.empty())
        usageError("--stop-on needs to hold threads; drop --no-stop");
    return o;
}

std::string jsonEscape(const std::string &s)
{
    std::string r;
    for (unsigned char ch : s) {
        switch (ch) {
        case '"':
            r += "\\\"";
            break;
        case '\\':
            r += "\\\\";
            break;
        case '\n':
            r += "\\n";
            break;
        case '\t':
            r += "\\t";
            break;
        default:
            if (ch < 0x20) {
                char b[8];
                std::snprintf(b, sizeof(b), "\\u%04x", ch);
                r += b;
            } else {
                r += static_cast<char>(ch);
            }
        }
    }
    return r;
}

std::atomic<bool> gInterrupted{false};

class Tracer {
public:
    Tracer(Options o, utrace::Session &s, FILE *out) : o_(std::move(o)), s_(s), out_(out) {}

    uint64_t events() const
    {
        using namespace utrace::ev;
        return SyscallEntry | SyscallExit | SignalAll | Clone | Exec | Exit | Death;
    }
    uint64_t stops() const
    {
        using namespace utrace::ev;
        if (o_.noStop)
            return None;
        uint64_t st = SyscallEntry | SyscallExit;
        for (const auto &r : o_.stopOn)
            st |= r.kind == StopRule::Signal  ? SignalAll
                  : r.kind == StopRule::Exec  ? Exec
                  : r.kind == StopRule::Clone ? Clone
                  : r.kind == StopRule::Exit  ? Exit
                                              : None;
        return st;
    }
    void configure(utrace::Engine e)
    {
        e.setEvents(events(), stops(), true);
        if (o_.syscalls)
            e.setSyscallFilterNumbers(std::vector<int>(o_.syscalls->begin(), o_.syscalls->end()));
    }

    // Runs until every traced process is gone (or ^C); returns the exit
    // status of the launched program, or 0.
    int run(std::optional<utrace::Process> launched)
    {
        launched_ = launched;
        while (!done()) {
            if (gInterrupted) {
                detachAll();
                return 130;
            }
            std::optional<utrace::Event> e;
            try {
                e = s_.wait(200);
            } catch (const utrace::Error &err) {
                if (err.errnum() == EINTR)
                    continue;
                throw;
            }
            if (e)
                handle(*e);
            else if (lostSeen_)
                forgetTheDeadAfterLoss();
        }
        std::fflush(out_);
        if (launched_) {
            auto st = launched_->exitStatus(true);
            if (st) {
                if (WIFEXITED(*st))
                    return WEXITSTATUS(*st);
                if (WIFSIGNALED(*st))
                    return 128 + WTERMSIG(*st);
            }
        }
        return 0;
    }

    void traceProcess(pid_t pid) { live_.insert(pid); }

    // strace's first line: the execve that started the program. The tracer
    // attached after it returned (the program is held at its first
    // instruction), so the line comes from the launch itself; the envp
    // address is where the new image has it (above argv on its stack).
    void announceLaunch(const utrace::LaunchSpec &spec, utrace::Process &p)
    {
        if (auto nr = utrace::syscallNumber("execve");
            o_.syscalls && nr && !o_.syscalls->count(*nr))
            return;
        std::string path = spec.argv[0];
        if (path.find('/') == std::string::npos)
            if (const char *env = getenv("PATH"))
                for (const auto &dir : split(env, ':'))
                    if (access((dir + "/" + path).c_str(), X_OK) == 0) {
                        path = dir + "/" + path;
                        break;
                    }
        std::string line = "execve(" + utrace::quoteString(path, 4096) + ", [";
        for (size_t i = 0; i < spec.argv.size(); i++)
            line += (i ? ", " : "") + utrace::quoteString(spec.argv[i], o_.strlimit,
                                                          spec.argv[i].size() > o_.strlimit);
        size_t vars = 0;
        if (spec.env.empty())
            for (char **e = environ; *e; e++)
                vars++;
        else
            vars = spec.env.size();
        uint64_t envp = 0;
        try {
            envp = p.engine(0).regs().rsp + 8 * (spec.argv.size() + 2);
        } catch (const utrace::Error &) {
        }
        char tail[96];
        std::snprintf(tail, sizeof(tail), "], 0x%llx /* %zu vars */) = 0",
                      static_cast<unsigned long long>(envp), vars);
        utrace::Event e;
        e.tid = e.tgid = p.pid();
        emit(e, line + tail, "syscall", ",\"name\":\"execve\",\"ret\":0");
    }

private:
    struct Pending {
        utrace::SyscallEntry entry;
        std::vector<std::string> args;
        std::string line; // --no-stop / unreadable: the entry as rendered
        uint64_t timeNs = 0;
    };

    bool done() const { return live_.empty(); }

    // After the kernel dropped records, a death record may have been among
    // them: with nothing to read, ask the engines themselves. When every
    // traced thread is dead, there is nothing left to wait for.
    void forgetTheDeadAfterLoss()
    {
        std::vector<utrace::EngineInfo> list;
        try {
            list = s_.engines();
        } catch (const utrace::Error &) {
            return;
        }
        for (const auto &i : list)
            if (i.state != UTRACE_STATE_DEAD)
                return;
        std::fprintf(stderr, "utrace: every traced thread has ended (their exit records were "
                             "among the dropped ones)\n");
        live_.clear();
    }

    void detachAll()
    {
        for (pid_t p : std::set<pid_t>(live_)) {
            try {
                s_.process(p).detach();
            } catch (const utrace::Error &) {
            }
        }
        live_.clear();
    }

    utrace::MemoryReader reader(const utrace::Event &e)
    {
        if (!e.held)
            return [](uint64_t, size_t) { return std::vector<uint8_t>(); };
        utrace::Engine eng = s_.engineOf(e.handle);
        return [eng](uint64_t addr, size_t len) {
            try {
                return eng.readMemory(addr, len);
            } catch (const utrace::Error &) {
                return std::vector<uint8_t>();
            }
        };
    }

    void emit(const utrace::Event &e, const std::string &text, const std::string &kind,
              const std::string &extraJson = "")
    {
        if (o_.json) {
            std::fprintf(out_,
                         "{\"seq\":%llu,\"time_ns\":%llu,\"tid\":%d,\"tgid\":%d,\"kind\":\"%s\"%s,"
                         "\"text\":\"%s\"}\n",
                         static_cast<unsigned long long>(e.seq),
                         static_cast<unsigned long long>(e.timeNs), e.tid, e.tgid, kind.c_str(),
                         extraJson.c_str(), jsonEscape(text).c_str());
        } else if (o_.follow || live_.size() > 1 || multiThreaded_) {
            std::fprintf(out_, "[pid %5d] %s\n", e.tid, text.c_str());
        } else {
            std::fprintf(out_, "%s\n", text.c_str());
        }
        std::fflush(out_);
    }

    bool matches(const utrace::Event &e) const
    {
        for (const auto &r : o_.stopOn) {
            if (auto *s = e.get<utrace::SyscallEntry>();
                s && r.kind == StopRule::Syscall && (r.arg < 0 || r.arg == s->nr))
                return true;
            if (auto *g = e.get<utrace::Signal>();
                g && r.kind == StopRule::Signal && (r.arg < 0 || r.arg == g->signo))
                return true;
            if ((e.is<utrace::Exec>() && r.kind == StopRule::Exec) ||
                (e.is<utrace::Clone>() && r.kind == StopRule::Clone) ||
                (e.is<utrace::Exit>() && r.kind == StopRule::Exit))
                return true;
        }
        return false;
    }

    // Prints e; opens the prompt when it matches --stop-on (mayPrompt); lets a
    // held thread go on afterwards unless keepHeld.
    void handle(const utrace::Event &e, bool mayPrompt = true, bool keepHeld = false)
    {
        utrace::RenderOptions ro;
        ro.stringLimit = o_.strlimit;
        ro.raw = false;
        auto mem = reader(e);
        bool prompt = mayPrompt && e.held && matches(e);
        if (e.tid != e.tgid)
            multiThreaded_ = true;

        if (auto *s = e.get<utrace::SyscallEntry>()) {
            Pending p;
            p.entry = *s;
            p.timeNs = e.timeNs;
            p.args = utrace::renderEntryArgs(*s, mem, ro);
            // exit, exit_group and a successful execve have no exit record
            // that could finish the line: strace prints them at entry too.
            std::string name = utrace::syscallName(s->nr);
            if (name == "exit" || name == "exit_group") {
                std::string line = name + "(" + (p.args.empty() ? "" : p.args[0]) + ") = ?";
                emit(e, line, "syscall", ",\"name\":\"" + name + "\"");
            } else {
                pending_[e.tid] = std::move(p);
            }
        } else if (auto *x = e.get<utrace::SyscallExit>()) {
            auto it = pending_.find(e.tid);
            std::string name = utrace::syscallName(x->nr);
            std::string line;
            if (it != pending_.end() && it->second.entry.nr == x->nr) {
                line =
                    utrace::renderSyscallExit(it->second.entry, it->second.args, x->ret, mem, ro);
                pending_.erase(it);
            } else {
                line = "<... " + name + " resumed> " + utrace::renderSyscallResult(x->nr, x->ret);
            }
            emit(e, line, "syscall",
                 ",\"name\":\"" + name + "\",\"ret\":" + std::to_string(x->ret));
        } else if (auto *g = e.get<utrace::Signal>()) {
            if (!o_.signals || o_.signals->count(g->signo))
                emit(e, utrace::renderEvent(e, mem, ro), "signal",
                     ",\"signal\":\"" + utrace::signalName(g->signo) + "\"");
        } else if (auto *c = e.get<utrace::Clone>()) {
            if (o_.follow && c->childHandle)
                live_.insert(e.tgid); // the child's events name their own tgid
            (void)c;
        } else if (e.is<utrace::Exec>()) {
            // The execve line comes from its syscall records. The proof of
            // the right to examine covered the old image: renew it, so the
            // new image's strings and structs decode too.
            try {
                s_.transport().prove(e.handle, e.tid);
            } catch (const utrace::Error &) {
                // Not allowed (say, setuid) or not supported: numbers only.
            }
        } else if (auto *x2 = e.get<utrace::Exit>()) {
            pending_.erase(e.tid);
            int st = static_cast<int>(x2->code);
            std::string t = WIFSIGNALED(st)
                                ? "+++ killed by " + utrace::signalName(WTERMSIG(st)) +
                                      (WCOREDUMP(st) ? " (core dumped)" : "") + " +++"
                                : "+++ exited with " + std::to_string(WEXITSTATUS(st)) + " +++";
            if (e.tid == e.tgid || o_.follow)
                emit(e, t, "exit", ",\"status\":" + std::to_string(st));
        } else if (auto *d = e.get<utrace::Death>()) {
            if (d->groupDead)
                live_.erase(e.tgid);
        } else if (auto *l = e.get<utrace::Lost>()) {
            lostSeen_ = true;
            std::fprintf(stderr, "utrace: the kernel dropped %llu records (queue full)\n",
                         static_cast<unsigned long long>(l->count));
        }
        trackFollowed(e);
        if (prompt)
            promptLoop(e);
        if (e.held && !keepHeld && !done())
            release(e);
    }

    // Children followed in the kernel show up with their own tgid.
    void trackFollowed(const utrace::Event &e)
    {
        if (o_.follow && e.tgid > 0 && !e.is<utrace::Death>() && !e.is<utrace::Reap>() &&
            !e.is<utrace::Lost>())
            live_.insert(e.tgid);
    }

    void release(const utrace::Event &e)
    {
        try {
            s_.engineOf(e.handle).resume();
        } catch (const utrace::Error &err) {
            if (err.errnum() != ESRCH && err.errnum() != ENOENT)
                throw;
        }
    }

    void printRegs(const utrace::Engine &eng)
    {
        user_regs_struct r = eng.regs();
        const std::pair<const char *, unsigned long long> regs[] = {{"rip", r.rip},
                                                                    {"rsp", r.rsp},
                                                                    {"rbp", r.rbp},
                                                                    {"rax", r.rax},
                                                                    {"rbx", r.rbx},
                                                                    {"rcx", r.rcx},
                                                                    {"rdx", r.rdx},
                                                                    {"rsi", r.rsi},
                                                                    {"rdi", r.rdi},
                                                                    {"r8", r.r8},
                                                                    {"r9", r.r9},
                                                                    {"r10", r.r10},
                                                                    {"r11", r.r11},
                                                                    {"r12", r.r12},
                                                                    {"r13", r.r13},
                                                                    {"r14", r.r14},
                                                                    {"r15", r.r15},
                                                                    {"eflags", r.eflags},
                                                                    {"orig_rax", r.orig_rax}};
        int i = 0;
        for (const auto &[n, v] : regs)
            std::printf("%-8s 0x%016llx%s", n, v, ++i % 3 ? "   " : "\n");
        std::printf("\n");
    }

    void backtrace(const utrace::Engine &eng, pid_t tgid)
    {
        if (!symbolizer_) {
            utrace::Transport &t = s_.transport();
            utrace::SymbolizerSource src;
            src.maps = [&t](pid_t pid) {
                auto b = t.readFile("/proc/" + std::to_string(pid) + "/maps", 0, 16 << 20);
                return std::string(b.begin(), b.end());
            };
            src.file = [&t](const std::string &path) { return t.readFile(path, 0, 1ull << 31); };
            src.memory = [this](uint64_t a, size_t n) {
                try {
                    return btEngine_.readMemory(a, n);
                } catch (const utrace::Error &) {
                    return std::vector<uint8_t>();
                }
            };
            symbolizer_ = std::make_unique<utrace::Symbolizer>(std::move(src));
        }
        btEngine_ = eng;
        symbolizer_->refresh(tgid);
        int i = 0;
        for (const auto &f : symbolizer_->backtrace(eng.regs())) {
            std::printf("#%-2d 0x%016llx in %s%s", i++, static_cast<unsigned long long>(f.pc),
                        f.function.empty() ? "??" : f.function.c_str(),
                        f.inlined ? " [inlined]" : "");
            if (f.source)
                std::printf(" at %s:%d", f.source->file.c_str(), f.source->line);
            else if (!f.module.empty())
                std::printf(" from %s", f.module.c_str());
            std::printf("\n");
        }
    }

    void examine(const utrace::Engine &eng, const std::vector<std::string> &w)
    {
        if (w.size() < 2) {
            std::printf("x ADDRESS [LENGTH]: show memory in hex and ASCII\n");
            return;
        }
        uint64_t addr = std::strtoull(w[1].c_str(), nullptr, 0);
        size_t len = w.size() > 2 ? std::strtoul(w[2].c_str(), nullptr, 0) : 64;
        auto bytes = eng.readMemory(addr, std::min<size_t>(len, 1 << 16));
        for (size_t off = 0; off < bytes.size(); off += 16) {
            std::printf("%016llx  ", static_cast<unsigned long long>(addr + off));
            for (size_t i = 0; i < 16; i++)
                if (off + i < bytes.size())
                    std::printf("%02x ", bytes[off + i]);
                else
                    std::printf("   ");
            std::printf(" ");
            for (size_t i = 0; i < 16 && off + i < bytes.size(); i++)
                std::printf("%c", std::isprint(bytes[off + i]) ? bytes[off + i] : '.');
            std::printf("\n");
        }
        if (bytes.size() < len)
            std::printf("(only %zu of %zu bytes are mapped)\n", bytes.size(), len);
    }

    // The thread is held at e: examine it until the user lets it go.
    void promptLoop(const utrace::Event &first)
    {
        utrace::Event e = first;
        utrace::Engine eng = s_.engineOf(e.handle);
        std::fprintf(stderr, "utrace: thread %d stopped at %s; type help\n", e.tid,
                     utrace::kindName(e));
        std::string line;
        for (;;) {
            std::fprintf(stderr, "(utrace %d) ", e.tid);
            if (!std::getline(std::cin, line)) {
                std::fprintf(stderr, "\n");
                return; // end of input: continue
            }
            auto w = split(line, ' ');
            if (w.empty())
                continue;
            const std::string &cmd = w[0];
            try {
                if (cmd == "help" || cmd == "h" || cmd == "?") {
                    std::fprintf(stderr, "regs            registers\n"
                                         "bt              backtrace\n"
                                         "x ADDR [LEN]    memory\n"
                                         "step | si       one instruction\n"
                                         "next-syscall|ns run to the next syscall entry or exit\n"
                                         "cont | c        continue\n"
                                         "detach          stop tracing this process, let it run\n"
                                         "quit | q        detach from everything and exit\n");
                } else if (cmd == "regs" || cmd == "r") {
                    printRegs(eng);
                } else if (cmd == "bt" || cmd == "backtrace") {
                    backtrace(eng, e.tgid);
                } else if (cmd == "x") {
                    examine(eng, w);
                } else if (cmd == "step" || cmd == "si" || cmd == "next-syscall" || cmd == "ns") {
                    bool step = cmd == "step" || cmd == "si";
                    if (step)
                        eng.step();
                    else
                        eng.resume();
                    // Show what comes, until this thread is held again.
                    for (;;) {
                        auto n = s_.wait(10000);
                        if (!n) {
                            std::fprintf(stderr, "utrace: thread %d did not stop within 10 s\n",
                                         e.tid);
                            return;
                        }
                        if (n->tid != e.tid || !n->held || n->is<utrace::Quiesce>()) {
                            handle(*n);
                            if (done())
                                return;
                            continue;
                        }
                        e = *n;
                        eng = s_.engineOf(e.handle);
                        if (e.is<utrace::Step>())
                            std::fprintf(stderr, "utrace: stepped to 0x%llx\n",
                                         static_cast<unsigned long long>(eng.regs().rip));
                        else
                            handle(e, false, true); // print it as the trace would, keep it
                        break;
                    }
                } else if (cmd == "cont" || cmd == "c") {
                    return;
                } else if (cmd == "detach") {
                    s_.process(e.tgid).detach();
                    live_.erase(e.tgid);
                    return;
                } else if (cmd == "quit" || cmd == "q") {
                    detachAll();
                    return;
                } else {
                    std::fprintf(stderr, "utrace: unknown command '%s'; type help\n", cmd.c_str());
                }
            } catch (const utrace::Error &err) {
                std::fprintf(stderr, "utrace: %s\n", err.sentence().c_str());
            }
        }
    }

    Options o_;
    utrace::Session &s_;
    FILE *out_;
    std::optional<utrace::Process> launched_;
    std::set<pid_t> live_;
    bool lostSeen_ = false; // a Lost record came: death records may be missing
    std::map<pid_t, Pending> pending_;
    bool multiThreaded_ = false;
    std::unique_ptr<utrace::Symbolizer> symbolizer_;
    utrace::Engine btEngine_;
};

} // namespace

int main(int argc, char **argv)
{
    Options o = parseOptions(argc, argv);
    FILE *out = stderr;
    if (!o.out.empty()) {
        out = std::fopen(o.out.c_str(), "w");
        if (!out) {
            std::fprintf(stderr, "utrace: cannot write %s: %s\n", o.out.c_str(),
                         std::strerror(errno));
            return 1;
        }
    }
    struct sigaction sa {};
    sa.sa_handler = [](int) { gInterrupted = true; };
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    try {
        auto session = utrace::Session::open(o.where);
        Tracer tracer(o, *session, out);
        utrace::AttachOptions ao;
        ao.followChildren = o.follow;
        std::optional<utrace::Process> launched;
        if (!o.argv.empty()) {
            utrace::LaunchSpec spec;
            spec.argv = o.argv;
            ao.killOnClose = true;
            utrace::Process p = session->launch(spec, ao);
            // Held at its first instruction (the exec record): set up, go.
            for (auto &e : p.engines())
                tracer.configure(e);
            tracer.traceProcess(p.pid());
            tracer.announceLaunch(spec, p);
            launched = p;
            p.resume();
        } else {
            for (pid_t pid : o.pids) {
                utrace::Process p = session->attachProcess(pid, ao);
                for (auto &e : p.engines())
                    tracer.configure(e);
                tracer.traceProcess(pid);
            }
        }
        return tracer.run(launched);
    } catch (const utrace::Error &e) {
        std::fprintf(stderr, "utrace: %s\n", e.sentence().c_str());
        return 1;
    }
}
