// The agent side of the utrace agent protocol: one connection served by one
// poll loop. Requests run in arrival order on this thread; event records are
// forwarded whenever the Transport's eventFd() is readable and the client
// has acknowledged enough of what it got (protocol.hpp, kEventWindow).
// The one request that may block (reap with wait) is answered from the loop
// by polling, so a blocked client never stops the events or the detection
// of a closed connection.
#include "io_util.hpp"
#include "protocol.hpp"

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <unistd.h>

namespace utrace::proto {

namespace {

class Server {
public:
    Server(const std::function<std::unique_ptr<Transport>()> &open, int inFd, int outFd,
           const ServeOptions &o)
        : open_(open), in_(inFd), out_(outFd), o_(o)
    {
        dec_.expectHello(true);
    }

    std::string run();

private:
    void send(Kind k, Op op, uint32_t id, std::span<const uint8_t> payload)
    {
        io::writeAll(out_, encodeFrame(k, op, id, payload), o_.peer, o_.stopFd);
    }
    void sendError(Op op, uint32_t id, const Error &e)
    {
        send(Kind::Error, op, id, encodeError(e));
    }
    void log(const std::string &m)
    {
        if (o_.log)
            o_.log(o_.peer + ": " + m);
    }
    void handle(Frame &f);
    void hello(const Frame &f);
    void request(const Frame &f);
    void forwardEvents();
    void checkReaps();

    const std::function<std::unique_ptr<Transport>()> &open_;
    int in_, out_;
    const ServeOptions &o_;
    FrameDecoder dec_;
    std::unique_ptr<Transport> t_;
    int efd_ = -1;
    uint64_t outstanding_ = 0; // event bytes sent, not yet acknowledged
    struct PendingReap {
        uint32_t id;
        pid_t pid;
    };
    std::vector<PendingReap> reaps_;
    std::optional<std::string> end_; // set: the connection ends, why
};

std::string Server::run()
{
    std::vector<uint8_t> buf(64 << 10);
    try {
        while (!end_) {
            pollfd fds[3];
            int n = 0;
            fds[n++] = {in_, POLLIN, 0};
            int stopIdx = -1, evIdx = -1;
            if (o_.stopFd >= 0) {
                stopIdx = n;
                fds[n++] = {o_.stopFd, POLLIN, 0};
            }
            if (t_ && outstanding_ < kEventWindow) {
                evIdx = n;
                fds[n++] = {efd_, POLLIN, 0};
            }
            int r = poll(fds, n, reaps_.empty() ? -1 : 10);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                return std::string("poll failed: ") + std::strerror(errno);
            }
            if (stopIdx >= 0 && fds[stopIdx].revents) {
                try {
                    sendError(Op::None, 0,
                              Error(ESHUTDOWN, "the utrace agent is shutting down; its "
                                               "session on this machine is closed"));
                } catch (const Error &) {
                }
                return "the agent is shutting down";
            }
            if (evIdx >= 0 && (fds[evIdx].revents & (POLLERR | POLLNVAL))) {
                // Would wake us forever without records: end instead of spinning.
                Error e(EIO, "the utrace agent's event descriptor failed; the session is "
                             "closed");
                sendError(Op::None, 0, e);
                return e.sentence();
            }
            if (evIdx >= 0 && fds[evIdx].revents)
                forwardEvents();
            if (fds[0].revents) {
                ssize_t got = read(in_, buf.data(), buf.size());
                if (got == 0)
                    return "the client closed the connection";
                if (got < 0) {
                    if (errno == EINTR || errno == EAGAIN)
                        continue;
                    return std::string("reading from the client failed: ") + std::strerror(errno);
                }
                dec_.feed({buf.data(), size_t(got)});
                while (!end_) {
                    auto f = dec_.next();
                    if (!f)
                        break;
                    handle(*f);
                }
            }
            if (!reaps_.empty())
                checkReaps();
        }
        return *end_;
    } catch (const ProtocolError &e) {
        // Tell the client what was wrong with its frame, then close.
        try {
            sendError(Op::None, 0,
                      Error(EPROTO, "the utrace agent received a malformed frame and closed "
                                    "the connection: " +
                                        e.sentence()));
        } catch (const Error &) {
        }
        return "protocol error: " + e.sentence();
    } catch (const Error &e) {
        return e.sentence();
    }
}

void Server::handle(Frame &f)
{
    switch (f.kind) {
    case Kind::Hello:
        if (t_)
            throw ProtocolError("the client sent a second hello");
        hello(f);
        return;
    case Kind::Request:
        if (!t_)
            throw ProtocolError("the client sent a request before its hello");
        request(f);
        return;
    case Kind::Ack:
        if (!t_)
            throw ProtocolError("the client sent an ack before its hello");
        outstanding_ -= std::min(outstanding_, decodeAck(f.payload));
        return;
    case Kind::Response:
    case Kind::Error:
    case Kind::Event:
        break;
    }
    throw ProtocolError("the client sent a frame of a kind only an agent sends (" +
                        std::to_string(uint16_t(f.kind)) + ")");
}

void Server::hello(const Frame &f)
{
    Hello h = decodeHello(f.payload);
    if (h.role != Role::Client)
        throw ProtocolError("the peer introduced itself as an agent, not a client");
    if (h.version != kVersion) {
        std::string why = "the client (" + h.software + ") speaks utrace agent protocol version " +
                          std::to_string(h.version) + ", this agent speaks version " +
                          std::to_string(kVersion) +
                          "; install the same utrace release on both machines";
        sendError(Op::None, 0, Error(EPROTONOSUPPORT, why));
        end_ = "refused: " + why;
        return;
    }
    try {
        t_ = open_();
        efd_ = t_->eventFd();
    } catch (const Error &e) {
        t_.reset();
        sendError(Op::None, 0, e);
        end_ = "refused: " + e.sentence();
        return;
    }
    Hello mine;
    mine.role = Role::Agent;
    mine.software = o_.software;
    send(Kind::Hello, Op::None, 0, encodeHello(mine));
    log("session open for " + h.software);
}

void Server::request(const Frame &f)
{
    Reader r(f.payload, std::string(opName(f.op)) + " request");
    Writer w;
    Transport &t = *t_;
    try {
        switch (f.op) {
        case Op::Version:
            r.finish();
            put(w, t.version());
            break;
        case Op::Attach: {
            pid_t tid = r.i32();
            uint32_t flags = r.u32();
            r.finish();
            w.u32(t.attach(tid, flags));
            break;
        }
        case Op::SetEvents: {
            uint32_t h = r.u32();
            EngineSettings s;
            get(r, s);
            r.finish();
            t.setEvents(h, s);
            break;
        }
        case Op::Control: {
            uint32_t h = r.u32();
            ControlRequest c;
            get(r, c);
            r.finish();
            t.control(h, c);
            break;
        }
        case Op::Barrier: {
            uint32_t h = r.u32();
            r.finish();
            t.barrier(h);
            break;
        }
        case Op::Detach: {
            uint32_t h = r.u32();
            r.finish();
            t.detach(h);
            break;
        }
        case Op::GetRegs: {
            uint32_t h = r.u32();
            auto set = static_cast<RegSet>(r.u32());
            r.finish();
            w.bytes(t.getRegs(h, set));
            break;
        }
        case Op::SetRegs: {
            uint32_t h = r.u32();
            auto set = static_cast<RegSet>(r.u32());
            auto regs = r.bytesView();
            r.finish();
            t.setRegs(h, set, regs);
            break;
        }
        case Op::ReadMemory: {
            uint32_t h = r.u32();
            uint64_t addr = r.u64(), len = r.u64();
            r.finish();
            if (len > kChunk)
                throw Error(EINVAL, "a read-memory request asked for " + std::to_string(len) +
                                        " bytes; the protocol allows " + std::to_string(kChunk) +
                                        " per request");
            std::vector<uint8_t> mem(len);
            mem.resize(t.readMemory(h, addr, mem));
            w.bytes(mem);
            break;
        }
        case Op::WriteMemory: {
            uint32_t h = r.u32();
            uint64_t addr = r.u64();
            auto data = r.bytesView();
            r.finish();
            w.u64(t.writeMemory(h, addr, data));
            break;
        }
        case Op::List:
            r.finish();
            put(w, t.list());
            break;
        case Op::SetQueueSize: {
            uint64_t bytes = r.u64();
            r.finish();
            w.u64(t.setQueueSize(bytes));
            break;
        }
        case Op::ReadFile: {
            std::string path = r.str();
            uint64_t off = r.u64(), max = r.u64();
            r.finish();
            if (max > kChunk)
                throw Error(EINVAL, "a read-file request asked for " + std::to_string(max) +
                                        " bytes; the protocol allows " + std::to_string(kChunk) +
                                        " per request");
            w.bytes(t.readFile(path, off, max));
            break;
        }
        case Op::Processes:
            r.finish();
            put(w, t.processes());
            break;
        case Op::Launch: {
            LaunchSpec s;
            get(r, s);
            r.finish();
            w.i32(t.launch(s));
            break;
        }
        case Op::Release: {
            pid_t pid = r.i32();
            r.finish();
            t.release(pid);
            break;
        }
        case Op::Reap: {
            pid_t pid = r.i32();
            bool wait = r.flag();
            r.finish();
            auto st = t.reap(pid, false);
            if (!st && wait) {
                // Answered from the loop once the program exits.
                reaps_.push_back({f.id, pid});
                return;
            }
            w.u8(st.has_value()).i32(st.value_or(0));
            break;
        }
        case Op::Kill: {
            pid_t pid = r.i32();
            int sig = r.i32();
            r.finish();
            t.kill(pid, sig);
            break;
        }
        case Op::Prove: {
            uint32_t h = r.u32();
            pid_t tid = r.i32();
            r.finish();
            t.prove(h, tid);
            break;
        }
        case Op::None:
        case Op::End:
            throw ProtocolError("request with op " + std::to_string(uint16_t(f.op)));
        }
    } catch (const ProtocolError &e) {
        if (!r.finished())
            throw; // the request itself was malformed
        sendError(f.op, f.id, e);
        return;
    } catch (const Error &e) {
        sendError(f.op, f.id, e);
        return;
    } catch (const std::bad_alloc &) {
        sendError(f.op, f.id,
                  Error(ENOMEM, std::string("the utrace agent ran out of memory serving a ") +
                                    opName(f.op) + " request"));
        return;
    } catch (const std::exception &e) {
        sendError(f.op, f.id,
                  Error(EIO, std::string("the utrace agent failed a ") + opName(f.op) +
                                 " request: " + e.what()));
        return;
    }
    std::vector<uint8_t> frame;
    try {
        frame = encodeFrame(Kind::Response, f.op, f.id, w.data());
    } catch (const Error &e) {
        sendError(f.op, f.id, e); // too large for one frame
        return;
    }
    io::writeAll(out_, frame, o_.peer, o_.stopFd);
}

void Server::forwardEvents()
{
    std::vector<uint8_t> recs;
    try {
        recs = t_->readRecords(0);
    } catch (const Error &e) {
        sendError(Op::None, 0, e);
        end_ = "reading event records failed: " + e.sentence();
        return;
    }
    for (auto piece : splitRecords(recs, kEventBatchMax)) {
        send(Kind::Event, Op::None, 0, piece);
        outstanding_ += piece.size();
    }
}

void Server::checkReaps()
{
    for (size_t i = 0; i < reaps_.size();) {
        PendingReap p = reaps_[i];
        try {
            auto st = t_->reap(p.pid, false);
            if (!st) {
                i++;
                continue;
            }
            Writer w;
            w.u8(1).i32(*st);
            send(Kind::Response, Op::Reap, p.id, w.data());
        } catch (const Error &e) {
            // If it was the write that failed, this one throws too.
            sendError(Op::Reap, p.id, e);
        }
        reaps_.erase(reaps_.begin() + static_cast<ptrdiff_t>(i));
    }
}

} // namespace

std::string serve(const std::function<std::unique_ptr<Transport>()> &open, int inFd, int outFd,
                  const ServeOptions &o)
{
    Server s(open, inFd, outFd, o);
    // The Transport dies with s, before the caller hears why we ended.
    return s.run();
}

} // namespace utrace::proto
