// RemoteTransport: the Transport interface spoken to a utrace-agent over a
// stream (protocol.hpp).
//
// Threads: the caller's thread sends a Request and waits for its answer; one
// reader thread owns the receiving side of the stream and demultiplexes
// Responses/Errors (to the waiting caller, by id) and Event frames (into the
// event queue, signalling eventFd()). Locking: mu_ guards pending_, events_,
// dead_ and the eventfd's readable state; writeMu_ serialises whole frames
// on the stream (requests from the caller, acks from readRecords()).
// Once the connection fails (EOF, a read error, a malformed frame, the
// agent's connection-level Error), dead_ holds why: every waiting and later
// call throws it, and eventFd() stays readable so an event loop notices.
#include "io_util.hpp"
#include "protocol.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace utrace {

namespace {

using namespace proto;

class RemoteTransport final : public Transport {
public:
    RemoteTransport(int fd, std::string where, pid_t child)
        : fd_(fd), where_(std::move(where)), child_(child)
    {
        efd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (efd_ < 0) {
            int err = errno;
            throw Error(err, std::string("cannot create an eventfd for the remote session: ") +
                                 std::strerror(err));
        }
    }

    ~RemoteTransport() override
    {
        {
            std::lock_guard lk(mu_);
            if (!dead_)
                dead_ = Error(ESHUTDOWN, "the connection to the utrace agent at " + where_ +
                                             " was closed by this program");
        }
        ::shutdown(fd_, SHUT_RDWR);
        if (reader_.joinable())
            reader_.join();
        ::close(fd_);
        ::close(efd_);
        endChild();
    }

    void handshake(int timeoutMs);
    void start()
    {
        reader_ = std::thread([this] { readLoop(); });
    }

    DeviceInfo version() override
    {
        DeviceInfo d;
        decode(Op::Version, call(Op::Version, {}), [&](Reader &r) { get(r, d); });
        return d;
    }

    uint32_t attach(pid_t tid, uint32_t flags) override
    {
        Writer w;
        w.i32(tid).u32(flags);
        uint32_t h = 0;
        decode(Op::Attach, call(Op::Attach, w.take()), [&](Reader &r) { h = r.u32(); });
        return h;
    }

    void setEvents(uint32_t handle, const EngineSettings &s) override
    {
        Writer w;
        w.u32(handle);
        put(w, s);
        expectEmpty(Op::SetEvents, call(Op::SetEvents, w.take()));
    }

    void control(uint32_t handle, const ControlRequest &c) override
    {
        Writer w;
        w.u32(handle);
        put(w, c);
        expectEmpty(Op::Control, call(Op::Control, w.take()));
    }

    void barrier(uint32_t handle) override { handleOnly(Op::Barrier, handle); }
    void detach(uint32_t handle) override { handleOnly(Op::Detach, handle); }

    std::vector<uint8_t> getRegs(uint32_t handle, RegSet set) override
    {
        Writer w;
        w.u32(handle).u32(static_cast<uint32_t>(set));
        std::vector<uint8_t> regs;
        decode(Op::GetRegs, call(Op::GetRegs, w.take()), [&](Reader &r) { regs = r.bytes(); });
        return regs;
    }

    void setRegs(uint32_t handle, RegSet set, std::span<const uint8_t> regs) override
    {
        Writer w;
        w.u32(handle).u32(static_cast<uint32_t>(set)).bytes(regs);
        expectEmpty(Op::SetRegs, call(Op::SetRegs, w.take()));
    }

    size_t readMemory(uint32_t handle, uint64_t addr, std::span<uint8_t> out) override
    {
        size_t done = 0;
        while (done < out.size()) {
            uint64_t ask = std::min<uint64_t>(out.size() - done, kChunk);
            Writer w;
            w.u32(handle).u64(addr + done).u64(ask);
            size_t got = 0;
            decode(Op::ReadMemory, call(Op::ReadMemory, w.take()), [&](Reader &r) {
                auto b = r.bytesView();
                if (b.size() > ask)
                    throw ProtocolError("a read-memory response carries " +
                                        std::to_string(b.size()) + " bytes for a request of " +
                                        std::to_string(ask));
                std::memcpy(out.data() + done, b.data(), b.size());
                got = b.size();
            });
            done += got;
            if (got < ask)
                break;
        }
        return done;
    }

    size_t writeMemory(uint32_t handle, uint64_t addr, std::span<const uint8_t> in) override
    {
        size_t done = 0;
        while (done < in.size()) {
            size_t ask = std::min<size_t>(in.size() - done, kChunk);
            Writer w;
            w.u32(handle).u64(addr + done).bytes(in.subspan(done, ask));
            uint64_t got = 0;
            decode(Op::WriteMemory, call(Op::WriteMemory, w.take()),
                   [&](Reader &r) { got = r.u64(); });
            if (got > ask)
                fail(Op::WriteMemory,
                     ProtocolError("a write-memory response claims " + std::to_string(got) +
                                   " bytes written of " + std::to_string(ask)));
            done += got;
            if (got < ask)
                break;
        }
        return done;
    }

    std::vector<EngineInfo> list() override
    {
        std::vector<EngineInfo> v;
        decode(Op::List, call(Op::List, {}), [&](Reader &r) { get(r, v); });
        return v;
    }

    uint64_t setQueueSize(uint64_t bytes) override
    {
        Writer w;
        w.u64(bytes);
        uint64_t v = 0;
        decode(Op::SetQueueSize, call(Op::SetQueueSize, w.take()), [&](Reader &r) { v = r.u64(); });
        return v;
    }

    int eventFd() override { return efd_; }

    std::vector<uint8_t> readRecords(int timeoutMs) override
    {
        std::vector<uint8_t> out;
        {
            std::unique_lock lk(mu_);
            auto ready = [&] { return !events_.empty() || dead_; };
            if (timeoutMs < 0)
                cv_.wait(lk, ready);
            else if (!cv_.wait_for(lk, std::chrono::milliseconds(timeoutMs), ready))
                return {};
            if (events_.empty())
                throw *dead_;
            // Whole batches, about kEventBatchMax at a time.
            while (!events_.empty() &&
                   (out.empty() || out.size() + events_.front().size() <= kEventBatchMax)) {
                auto &b = events_.front();
                out.insert(out.end(), b.begin(), b.end());
                events_.pop_front();
            }
            if (events_.empty() && !dead_) {
                uint64_t v;
                [[maybe_unused]] ssize_t n = ::read(efd_, &v, sizeof(v));
            }
        }
        try {
            sendFrame(Kind::Ack, Op::None, 0, encodeAck(out.size()));
        } catch (const Error &) {
            // The reader thread notices the closed stream and records why.
        }
        return out;
    }

    std::vector<uint8_t> readFile(const std::string &path, uint64_t offset,
                                  uint64_t maxBytes) override
    {
        std::vector<uint8_t> out;
        while (out.size() < maxBytes) {
            uint64_t ask = std::min<uint64_t>(maxBytes - out.size(), kChunk);
            Writer w;
            w.str(path).u64(offset + out.size()).u64(ask);
            size_t got = 0;
            decode(Op::ReadFile, call(Op::ReadFile, w.take()), [&](Reader &r) {
                auto b = r.bytesView();
                if (b.size() > ask)
                    throw ProtocolError("a read-file response carries " + std::to_string(b.size()) +
                                        " bytes for a request of " + std::to_string(ask));
                out.insert(out.end(), b.begin(), b.end());
                got = b.size();
            });
            if (got < ask)
                break;
        }
        return out;
    }

    std::vector<ProcessInfo> processes() override
    {
        std::vector<ProcessInfo> v;
        decode(Op::Processes, call(Op::Processes, {}), [&](Reader &r) { get(r, v); });
        return v;
    }

    pid_t launch(const LaunchSpec &spec) override
    {
        Writer w;
        put(w, spec);
        pid_t pid = 0;
        decode(Op::Launch, call(Op::Launch, w.take()), [&](Reader &r) { pid = r.i32(); });
        return pid;
    }

    void release(pid_t pid) override
    {
        Writer w;
        w.i32(pid);
        expectEmpty(Op::Release, call(Op::Release, w.take()));
    }

    std::optional<int> reap(pid_t pid, bool wait) override
    {
        Writer w;
        w.i32(pid).u8(wait);
        std::optional<int> st;
        decode(Op::Reap, call(Op::Reap, w.take()), [&](Reader &r) {
            bool has = r.flag();
            int v = r.i32();
            if (has)
                st = v;
        });
        return st;
    }

    void prove(uint32_t handle, pid_t tid) override
    {
        Writer w;
        w.u32(handle).i32(tid);
        expectEmpty(Op::Prove, call(Op::Prove, w.take()));
    }

    void kill(pid_t pid, int sig) override
    {
        Writer w;
        w.i32(pid).i32(sig);
        expectEmpty(Op::Kill, call(Op::Kill, w.take()));
    }

private:
    struct Pending {
        Op op;
        std::optional<Frame> reply;
    };

    void sendFrame(Kind k, Op op, uint32_t id, std::span<const uint8_t> payload)
    {
        auto frame = encodeFrame(k, op, id, payload);
        std::lock_guard lk(writeMu_);
        io::writeAll(fd_, frame, "the utrace agent at " + where_);
    }

    // Sends one request and waits for its Response payload; an Error answer
    // is thrown as the agent's utrace::Error, intact.
    std::vector<uint8_t> call(Op op, std::vector<uint8_t> payload)
    {
        uint32_t id;
        {
            std::lock_guard lk(mu_);
            if (dead_)
                throw *dead_;
            if (++nextId_ == 0)
                ++nextId_;
            id = nextId_;
            pending_[id] = Pending{op, std::nullopt};
        }
        try {
            sendFrame(Kind::Request, op, id, payload);
        } catch (const Error &e) {
            std::lock_guard lk(mu_);
            pending_.erase(id);
            if (e.errnum() == EMSGSIZE || !dead_)
                throw;
            throw *dead_;
        }
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return pending_[id].reply.has_value() || dead_; });
        auto reply = std::move(pending_[id].reply);
        pending_.erase(id);
        if (!reply)
            throw *dead_;
        if (reply->kind == Kind::Error)
            throw decodeError(reply->payload); // validated by the reader thread
        return std::move(reply->payload);
    }

    // Decodes a response payload with f; a malformed one ends the connection.
    template <class F> void decode(Op op, const std::vector<uint8_t> &payload, F f)
    {
        try {
            Reader r(payload, std::string(opName(op)) + " response");
            f(r);
            r.finish();
        } catch (const ProtocolError &e) {
            fail(op, e);
        }
    }

    void expectEmpty(Op op, const std::vector<uint8_t> &payload)
    {
        decode(op, payload, [](Reader &) {});
    }

    void handleOnly(Op op, uint32_t handle)
    {
        Writer w;
        w.u32(handle);
        expectEmpty(op, call(op, w.take()));
    }

    [[noreturn]] void fail(Op, const ProtocolError &e)
    {
        Error err = connectionError(e);
        closeWith(err);
        throw err;
    }

    Error connectionError(const ProtocolError &e) const
    {
        return Error(EPROTO, "the utrace agent at " + where_ + " broke the protocol (" +
                                 e.sentence() + "); the connection is closed");
    }

    // Records why the connection ended (the first reason wins) and wakes
    // everyone; the reader thread sees EOF and exits.
    void closeWith(const Error &why)
    {
        {
            std::lock_guard lk(mu_);
            if (!dead_) {
                dead_ = why;
                uint64_t one = 1;
                [[maybe_unused]] ssize_t n = ::write(efd_, &one, sizeof(one));
            }
        }
        cv_.notify_all();
        ::shutdown(fd_, SHUT_RDWR);
    }

    void readLoop();
    void dispatch(Frame &f);
    void endChild();
    std::optional<int> childStatus(int waitMs);

    int fd_;
    int efd_ = -1;
    std::string where_;
    pid_t child_;
    FrameDecoder dec_;
    std::thread reader_;
    std::mutex writeMu_;
    std::mutex mu_;
    std::condition_variable cv_;
    uint32_t nextId_ = 0;
    std::map<uint32_t, Pending> pending_;
    std::deque<std::vector<uint8_t>> events_;
    std::optional<Error> dead_;
};

void RemoteTransport::handshake(int timeoutMs)
{
    Hello mine;
    mine.role = Role::Client;
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    mine.software = "libutraceclient (pid " + std::to_string(getpid()) + " on " + host + ")";
    sendFrame(Kind::Hello, Op::None, 0, encodeHello(mine));
    dec_.expectHello(true);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    std::vector<uint8_t> buf(4096);
    for (;;) {
        std::optional<Frame> f;
        try {
            f = dec_.next();
        } catch (const ProtocolError &e) {
            throw Error(EPROTO, where_ + ": " + e.sentence() +
                                    "; point it at `utrace-agent --stdio` or a utrace-agent "
                                    "--listen port");
        }
        if (f) {
            if (f->kind == Kind::Error)
                throw decodeError(f->payload); // the agent refused, and says why
            Hello h;
            try {
                h = decodeHello(f->payload);
            } catch (const ProtocolError &e) {
                throw Error(EPROTO, where_ + ": " + e.sentence());
            }
            if (h.role != Role::Agent)
                throw Error(EPROTO, where_ + " answered as a utrace client, not an agent");
            if (h.version != kVersion)
                throw Error(EPROTONOSUPPORT,
                            "the utrace agent at " + where_ + " (" + h.software +
                                ") speaks protocol version " + std::to_string(h.version) +
                                ", this client speaks version " + std::to_string(kVersion) +
                                "; install the same utrace release on both machines");
            return;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        pollfd p{fd_, POLLIN, 0};
        int r = left > 0 ? ::poll(&p, 1, int(left)) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            throw Error(ETIMEDOUT, "no answer from the utrace agent at " + where_ + " within " +
                                       std::to_string(timeoutMs / 1000) +
                                       " s; is it a utrace-agent, and reachable?");
        ssize_t n = ::read(fd_, buf.data(), buf.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : ECONNRESET;
            std::string why = n < 0 ? std::strerror(err) : "it closed the connection";
            if (auto st = childStatus(500)) {
                why = WIFEXITED(*st)
                          ? "the command exited with status " + std::to_string(WEXITSTATUS(*st))
                          : "the command was killed by signal " + std::to_string(WTERMSIG(*st));
                child_ = -1;
            }
            throw Error(err, "the utrace agent at " + where_ + " did not answer the hello (" + why +
                                 "); check that the command runs `utrace-agent --stdio` "
                                 "and that /dev/utrace exists there");
        }
        dec_.feed({buf.data(), size_t(n)});
    }
}

void RemoteTransport::readLoop()
{
    std::vector<uint8_t> buf(64 << 10);
    for (;;) {
        {
            std::lock_guard lk(mu_);
            if (dead_)
                return;
        }
        try {
            // The hello exchange may have left whole frames behind.
            while (auto f = dec_.next())
                dispatch(*f);
        } catch (const ProtocolError &e) {
            closeWith(connectionError(e));
            return;
        }
        ssize_t n = ::read(fd_, buf.data(), buf.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : ECONNRESET;
            closeWith(Error(err, "the connection to the utrace agent at " + where_ + " ended (" +
                                     (n < 0 ? std::string(std::strerror(err))
                                            : std::string("the agent closed it")) +
                                     ")"));
            return;
        }
        dec_.feed({buf.data(), size_t(n)});
    }
}

void RemoteTransport::dispatch(Frame &f)
{
    switch (f.kind) {
    case Kind::Response:
    case Kind::Error: {
        if (f.kind == Kind::Error && f.id == 0) {
            // The agent ended the connection and says why (intact).
            closeWith(decodeError(f.payload));
            return;
        }
        if (f.kind == Kind::Error)
            decodeError(f.payload); // malformed: throws here, on the reader
        {
            std::lock_guard lk(mu_);
            auto it = pending_.find(f.id);
            if (it == pending_.end() || it->second.reply)
                throw ProtocolError("it answered request " + std::to_string(f.id) +
                                    ", which awaits no answer");
            if (it->second.op != f.op)
                throw ProtocolError(std::string("it answered a ") + opName(it->second.op) +
                                    " request with a " + opName(f.op) + " answer");
            it->second.reply = std::move(f);
        }
        cv_.notify_all();
        return;
    }
    case Kind::Event: {
        if (f.payload.empty())
            throw ProtocolError("an event frame carries no records");
        {
            std::lock_guard lk(mu_);
            if (events_.empty()) {
                uint64_t one = 1;
                [[maybe_unused]] ssize_t n = ::write(efd_, &one, sizeof(one));
            }
            events_.push_back(std::move(f.payload));
        }
        cv_.notify_all();
        return;
    }
    case Kind::Hello:
    case Kind::Request:
    case Kind::Ack:
        break;
    }
    throw ProtocolError("it sent a frame of a kind only a client sends (" +
                        std::to_string(uint16_t(f.kind)) + ")");
}

std::optional<int> RemoteTransport::childStatus(int waitMs)
{
    if (child_ <= 0)
        return std::nullopt;
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(waitMs);
    for (;;) {
        int st = 0;
        pid_t r = ::waitpid(child_, &st, WNOHANG);
        if (r == child_)
            return st;
        if (r < 0 && errno != EINTR)
            return std::nullopt;
        if (std::chrono::steady_clock::now() >= end)
            return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

// The command (ssh, the agent) ends when its stdin closes; give it a moment
// to close its session there, then insist.
void RemoteTransport::endChild()
{
    if (child_ <= 0)
        return;
    if (!childStatus(3000)) {
        ::kill(child_, SIGTERM);
        if (!childStatus(2000)) {
            ::kill(child_, SIGKILL);
            int st;
            while (::waitpid(child_, &st, 0) < 0 && errno == EINTR) {
            }
        }
    }
    child_ = -1;
}

int connectTcp(const std::string &url, const std::string &rest)
{
    std::string host, port;
    if (!rest.empty() && rest[0] == '[') {
        auto close = rest.find(']');
        if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
            throw Error(EINVAL, "remote address \"" + url + "\" is not tcp://[IPV6]:PORT");
        host = rest.substr(1, close - 1);
        port = rest.substr(close + 2);
    } else {
        auto colon = rest.rfind(':');
        if (colon == std::string::npos)
            throw Error(EINVAL, "remote address \"" + url + "\" has no port: use tcp://HOST:PORT");
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    char *end = nullptr;
    long p = port.empty() ? 0 : std::strtol(port.c_str(), &end, 10);
    if (host.empty() || port.empty() || *end || p < 1 || p > 65535)
        throw Error(EINVAL, "remote address \"" + url +
                                "\" needs a host and a port from 1 to 65535: tcp://HOST:PORT");

    // Numeric addresses first: a static binary has no NSS for names.
    sockaddr_storage ss{};
    socklen_t len = 0;
    auto *v4 = reinterpret_cast<sockaddr_in *>(&ss);
    auto *v6 = reinterpret_cast<sockaddr_in6 *>(&ss);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(uint16_t(p));
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(uint16_t(p));
        len = sizeof(*v6);
    } else {
        addrinfo hints{}, *res = nullptr;
        hints.ai_socktype = SOCK_STREAM;
        int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
        if (rc != 0)
            throw Error(EHOSTUNREACH,
                        "cannot resolve \"" + host + "\" for " + url + ": " + gai_strerror(rc));
        std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
        len = res->ai_addrlen;
        freeaddrinfo(res);
    }
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        throw Error(err,
                    std::string("cannot create a socket for ") + url + ": " + std::strerror(err));
    }
    int r;
    do
        r = ::connect(fd, reinterpret_cast<sockaddr *>(&ss), len);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        int err = errno;
        ::close(fd);
        throw Error(err, "cannot connect to the utrace agent at " + url + ": " +
                             std::strerror(err) + "; is `utrace-agent --listen " + port +
                             "` running there?");
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

// Runs /bin/sh -c command with a socketpair end as its stdin and stdout.
int spawnCommand(const std::string &url, const std::string &command, pid_t *child)
{
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        int err = errno;
        throw Error(err, "cannot create a socket pair for " + url + ": " + std::strerror(err));
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        int err = errno;
        ::close(sv[0]);
        ::close(sv[1]);
        throw Error(err, "cannot start the command of " + url + ": " + std::strerror(err));
    }
    if (pid == 0) {
        // Async-signal-safe calls only: the parent may have other threads.
        // dup2 clears FD_CLOEXEC on the copies.
        if (::dup2(sv[1], 0) < 0 || ::dup2(sv[1], 1) < 0)
            _exit(126);
        ::signal(SIGPIPE, SIG_DFL);
        ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char *>(nullptr));
        _exit(127);
    }
    ::close(sv[1]);
    *child = pid;
    return sv[0];
}

} // namespace

namespace proto {

std::unique_ptr<Transport> openRemoteFd(int fd, const std::string &where, pid_t child,
                                        int helloTimeoutMs)
{
    std::unique_ptr<RemoteTransport> t;
    try {
        t = std::make_unique<RemoteTransport>(fd, where, child);
    } catch (...) {
        ::close(fd);
        throw;
    }
    t->handshake(helloTimeoutMs); // on failure ~RemoteTransport closes fd, ends child
    t->start();
    return t;
}

} // namespace proto

std::unique_ptr<Transport> openRemote(const std::string &url)
{
    if (url.rfind("tcp://", 0) == 0)
        return proto::openRemoteFd(connectTcp(url, url.substr(6)), url);
    if (url.rfind("exec:", 0) == 0) {
        std::string command = url.substr(5);
        if (command.find_first_not_of(" \t") == std::string::npos)
            throw Error(EINVAL, "remote address \"" + url +
                                    "\" names no command: use exec:COMMAND, for example "
                                    "exec:ssh HOST utrace-agent --stdio");
        pid_t child = -1;
        int fd = spawnCommand(url, command, &child);
        // ssh may ask for a password or a host key confirmation first.
        return proto::openRemoteFd(fd, url, child, 120000);
    }
    throw Error(EINVAL,
                "remote address \"" + url + "\" is neither tcp://HOST:PORT nor exec:COMMAND");
}

} // namespace utrace
