// utrace-agent: serves this machine's /dev/utrace to a remote utrace client.
//
//   utrace-agent --stdio                 one session on stdin/stdout
//                                        (client: exec:ssh HOST utrace-agent --stdio)
//   utrace-agent --listen [ADDR:]PORT    one session per TCP connection
//                                        (client: tcp://HOST:PORT)
//
// The protocol is in libutraceclient/src/protocol.hpp. Each connection gets
// its own /dev/utrace session; when the connection ends, the session closes,
// its engines detach and every thread they held runs again. Logs go to
// stderr. SIGTERM/SIGINT end every session and exit with status 0.
#include "protocol.hpp"
#include "utrace/error.hpp"
#include "utrace/transport.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <list>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#ifndef UTRACE_VERSION
#define UTRACE_VERSION "unknown"
#endif

namespace {

const char kUsage[] =
    "usage: utrace-agent --stdio [--device PATH]\n"
    "       utrace-agent --listen [ADDR:]PORT [--once] [--device PATH]\n"
    "\n"
    "Serves this machine's /dev/utrace to utrace clients.\n"
    "  --stdio           speak the protocol on stdin/stdout, one session\n"
    "                    (clients use exec:ssh HOST utrace-agent --stdio)\n"
    "  --listen [A:]P    accept TCP connections on port P (address A, default 127.0.0.1);\n"
    "                    one session per connection (clients use tcp://HOST:P)\n"
    "  --once            serve one connection, then exit\n"
    "  --device PATH     the device to serve (default /dev/utrace)\n"
    "  -q, --quiet       log only errors and the address listened on\n"
    "\n"
    "TCP connections are not authenticated: anyone who can connect may trace\n"
    "what this agent's user may trace. Listen on 127.0.0.1 and tunnel with ssh,\n"
    "or use --stdio over ssh, unless the network is yours alone.\n";

std::mutex gLogMutex;
bool gQuiet = false;

void logLine(const std::string &m, bool error = false)
{
    if (gQuiet && !error)
        return;
    std::lock_guard lk(gLogMutex);
    std::fprintf(stderr, "utrace-agent[%d]: %s\n", int(getpid()), m.c_str());
    std::fflush(stderr);
}

// SIGTERM/SIGINT write here; every serve loop and the accept loop poll the
// read end, which stays readable from then on.
int gStopPipe[2] = {-1, -1};

void onStopSignal(int)
{
    int saved = errno;
    char c = 1;
    [[maybe_unused]] ssize_t n = write(gStopPipe[1], &c, 1);
    errno = saved;
}

// Programs launched by sessions that have ended: the agent is their parent,
// so it reaps them when they exit (in --listen mode, where it lives on).
std::mutex gOrphanMutex;
std::vector<pid_t> gOrphans;

void reapOrphans()
{
    std::lock_guard lk(gOrphanMutex);
    for (size_t i = 0; i < gOrphans.size();) {
        int st;
        pid_t r = waitpid(gOrphans[i], &st, WNOHANG);
        if (r == 0) {
            i++;
            continue;
        }
        gOrphans.erase(gOrphans.begin() + static_cast<ptrdiff_t>(i));
    }
}

// The session's LocalTransport, remembering the programs it launched so that
// those still running when the session ends are reaped later.
class AgentTransport final : public utrace::Transport {
public:
    explicit AgentTransport(std::unique_ptr<utrace::Transport> t) : t_(std::move(t)) {}
    ~AgentTransport() override
    {
        std::vector<pid_t> left;
        for (pid_t pid : launched_) {
            try {
                if (!t_->reap(pid, false))
                    left.push_back(pid);
            } catch (const utrace::Error &) {
            }
        }
        t_.reset(); // closes the session: engines detach, held threads run
        std::lock_guard lk(gOrphanMutex);
        gOrphans.insert(gOrphans.end(), left.begin(), left.end());
    }

    utrace::DeviceInfo version() override { return t_->version(); }
    uint32_t attach(pid_t tid, uint32_t flags) override { return t_->attach(tid, flags); }
    void setEvents(uint32_t h, const utrace::EngineSettings &s) override { t_->setEvents(h, s); }
    void control(uint32_t h, const utrace::ControlRequest &c) override { t_->control(h, c); }
    void barrier(uint32_t h) override { t_->barrier(h); }
    void detach(uint32_t h) override { t_->detach(h); }
    std::vector<uint8_t> getRegs(uint32_t h, utrace::RegSet set) override
    {
        return t_->getRegs(h, set);
    }
    void setRegs(uint32_t h, utrace::RegSet set, std::span<const uint8_t> regs) override
    {
        t_->setRegs(h, set, regs);
    }
    size_t readMemory(uint32_t h, uint64_t addr, std::span<uint8_t> out) override
    {
        return t_->readMemory(h, addr, out);
    }
    size_t writeMemory(uint32_t h, uint64_t addr, std::span<const uint8_t> in) override
    {
        return t_->writeMemory(h, addr, in);
    }
    std::vector<utrace::EngineInfo> list() override { return t_->list(); }
    uint64_t setQueueSize(uint64_t bytes) override { return t_->setQueueSize(bytes); }
    int eventFd() override { return t_->eventFd(); }
    std::vector<uint8_t> readRecords(int timeoutMs) override { return t_->readRecords(timeoutMs); }
    std::vector<uint8_t> readFile(const std::string &path, uint64_t offset,
                                  uint64_t maxBytes) override
    {
        // Opening a FIFO or a device could block this session's loop for good.
        struct stat st;
        if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
            throw utrace::Error(EINVAL, "cannot read " + path +
                                            " through the agent: it is not a regular file");
        return t_->readFile(path, offset, maxBytes);
    }
    std::vector<utrace::ProcessInfo> processes() override { return t_->processes(); }
    pid_t launch(const utrace::LaunchSpec &spec) override
    {
        pid_t pid = t_->launch(spec);
        launched_.push_back(pid);
        return pid;
    }
    void release(pid_t pid) override { t_->release(pid); }
    std::optional<int> reap(pid_t pid, bool wait) override { return t_->reap(pid, wait); }
    void kill(pid_t pid, int sig) override { t_->kill(pid, sig); }

private:
    std::unique_ptr<utrace::Transport> t_;
    std::vector<pid_t> launched_;
};

std::string hostName()
{
    char h[256] = {};
    gethostname(h, sizeof(h) - 1);
    return h;
}

utrace::proto::ServeOptions serveOptions(const std::string &peer)
{
    utrace::proto::ServeOptions o;
    o.stopFd = gStopPipe[0];
    o.peer = peer;
    o.log = [](const std::string &m) { logLine(m); };
    o.software = std::string("utrace-agent ") + UTRACE_VERSION + " on " + hostName();
    return o;
}

std::string gDevice = "/dev/utrace";

std::unique_ptr<utrace::Transport> openSession()
{
    return std::make_unique<AgentTransport>(utrace::openLocal(gDevice));
}

int serveStdio()
{
    // The protocol gets private copies of stdin/stdout; fds 0 and 1 become
    // /dev/null and stderr, so that launched programs cannot write into the
    // protocol stream.
    int in = fcntl(0, F_DUPFD_CLOEXEC, 3);
    int out = fcntl(1, F_DUPFD_CLOEXEC, 3);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (in < 0 || out < 0 || null < 0 || dup2(null, 0) < 0 || dup2(2, 1) < 0) {
        logLine(std::string("cannot set up stdin/stdout: ") + std::strerror(errno), true);
        return 1;
    }
    close(null);
    std::string why = utrace::proto::serve(openSession, in, out, serveOptions("stdio"));
    logLine("stdio: session closed: " + why);
    return 0;
}

std::string addrString(const sockaddr_storage &ss)
{
    char buf[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        auto *a = reinterpret_cast<const sockaddr_in *>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
        port = ntohs(a->sin_port);
        return std::string(buf) + ":" + std::to_string(port);
    }
    auto *a = reinterpret_cast<const sockaddr_in6 *>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
    port = ntohs(a->sin6_port);
    std::string s = "[";
    s += buf;
    s += "]:";
    s += std::to_string(port);
    return s;
}

// "[ADDR:]PORT" -> a bound, listening socket; -1 after logging why not.
int listenOn(const std::string &spec)
{
    std::string host, port = spec;
    if (!spec.empty() && spec[0] == '[') {
        auto close = spec.find("]:");
        if (close == std::string::npos) {
            logLine("--listen " + spec + ": use [IPV6]:PORT", true);
            return -1;
        }
        host = spec.substr(1, close - 1);
        port = spec.substr(close + 2);
    } else if (auto colon = spec.rfind(':'); colon != std::string::npos) {
        host = spec.substr(0, colon);
        port = spec.substr(colon + 1);
    }
    char *end = nullptr;
    long p = port.empty() ? -1 : std::strtol(port.c_str(), &end, 10);
    if (p < 0 || p > 65535 || *end) {
        logLine("--listen " + spec + ": the port must be a number from 0 to 65535", true);
        return -1;
    }
    sockaddr_storage ss{};
    socklen_t len;
    auto *v4 = reinterpret_cast<sockaddr_in *>(&ss);
    auto *v6 = reinterpret_cast<sockaddr_in6 *>(&ss);
    if (host.empty() || inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(uint16_t(p));
        // No address: loopback only. Connections are not authenticated, so
        // reaching other machines must be asked for (0.0.0.0:PORT).
        if (host.empty())
            v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(uint16_t(p));
        len = sizeof(*v6);
    } else {
        logLine("--listen " + spec + ": \"" + host + "\" is not an IPv4 or IPv6 address", true);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, reinterpret_cast<sockaddr *>(&ss), len) < 0 || listen(fd, 16) < 0) {
        logLine("cannot listen on " + spec + ": " + std::strerror(errno), true);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    len = sizeof(ss);
    getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len);
    // Even with --quiet: with port 0 this is how the caller learns the port.
    logLine("listening on " + addrString(ss) + " (device " + gDevice + ")", true);
    bool loopback = ss.ss_family == AF_INET ? (ntohl(v4->sin_addr.s_addr) >> 24) == 127
                                            : IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    if (!loopback)
        logLine("warning: connections are not authenticated; anyone who reaches this port "
                "may trace what this agent's user may trace");
    return fd;
}

struct Connection {
    std::thread thread;
    std::atomic<bool> done{false};
};

void serveConnection(int fd, const std::string &peer)
{
    logLine(peer + ": connected");
    std::string why = utrace::proto::serve(openSession, fd, fd, serveOptions(peer));
    // The socket itself ends, even if a launched program still holds a copy
    // of the descriptor between its fork and its exec.
    shutdown(fd, SHUT_RDWR);
    close(fd);
    logLine(peer + ": session closed: " + why);
}

int serveListen(const std::string &spec, bool once)
{
    int lfd = listenOn(spec);
    if (lfd < 0)
        return 1;
    std::list<Connection> conns;
    for (;;) {
        pollfd p[2] = {{lfd, POLLIN, 0}, {gStopPipe[0], POLLIN, 0}};
        int r = poll(p, 2, 1000);
        reapOrphans();
        for (auto it = conns.begin(); it != conns.end();) {
            if (it->done) {
                it->thread.join();
                it = conns.erase(it);
            } else {
                ++it;
            }
        }
        if (r < 0 && errno != EINTR) {
            logLine(std::string("poll: ") + std::strerror(errno), true);
            break;
        }
        if (p[1].revents) {
            logLine("shutting down: closing " + std::to_string(conns.size()) + " session(s)");
            break;
        }
        if (r <= 0 || !p[0].revents)
            continue;
        sockaddr_storage ss{};
        socklen_t len = sizeof(ss);
        int fd = accept4(lfd, reinterpret_cast<sockaddr *>(&ss), &len, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                logLine(std::string("accept: ") + std::strerror(errno), true);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        std::string peer = addrString(ss);
        if (once) {
            close(lfd);
            lfd = -1;
            serveConnection(fd, peer);
            break;
        }
        auto &c = conns.emplace_back();
        c.thread = std::thread([&c, fd, peer] {
            serveConnection(fd, peer);
            c.done = true;
        });
    }
    if (lfd >= 0)
        close(lfd);
    for (auto &c : conns)
        c.thread.join(); // each serve loop sees the stop pipe
    reapOrphans();
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    bool stdio = false, once = false;
    std::string listen;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--stdio") {
            stdio = true;
        } else if (a == "--listen" && i + 1 < argc) {
            listen = argv[++i];
        } else if (a.rfind("--listen=", 0) == 0) {
            listen = a.substr(9);
        } else if (a == "--once") {
            once = true;
        } else if (a == "--device" && i + 1 < argc) {
            gDevice = argv[++i];
        } else if (a == "-q" || a == "--quiet") {
            gQuiet = true;
        } else if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        } else {
            std::fprintf(stderr, "utrace-agent: unknown or incomplete argument \"%s\"\n\n%s",
                         a.c_str(), kUsage);
            return 2;
        }
    }
    if (stdio == !listen.empty()) {
        std::fprintf(stderr, "utrace-agent: give exactly one of --stdio and --listen\n\n%s",
                     kUsage);
        return 2;
    }

    std::signal(SIGPIPE, SIG_IGN);
    if (pipe2(gStopPipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        std::perror("utrace-agent: pipe");
        return 1;
    }
    struct sigaction sa {};
    sa.sa_handler = onStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);

    return stdio ? serveStdio() : serveListen(listen, once);
}
