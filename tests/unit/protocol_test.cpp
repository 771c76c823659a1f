// Protocol: the utrace agent protocol (libutraceclient/src/protocol.hpp).
// The codec on its own (round trips of every message; truncated, oversized,
// wrong-version, wrong-op and garbage input rejected with EPROTO), then the
// real agent loop (proto::serve) and the real RemoteTransport talking over a
// socketpair and TCP loopback, with a scripted Transport behind the agent so
// that every method, error and event crosses the wire without the module.
#include "protocol.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <random>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace utrace;
using namespace utrace::proto;

namespace {

const int kIgnorePipe = [] {
    signal(SIGPIPE, SIG_IGN);
    return 0;
}();

std::vector<Frame> decodeAll(const std::vector<uint8_t> &bytes, size_t step = 0)
{
    FrameDecoder d;
    std::vector<Frame> out;
    if (!step)
        step = bytes.size();
    for (size_t i = 0; i < bytes.size(); i += step) {
        d.feed(std::span(bytes).subspan(i, std::min(step, bytes.size() - i)));
        while (auto f = d.next())
            out.push_back(std::move(*f));
    }
    EXPECT_EQ(d.buffered(), 0u);
    return out;
}

template <class T> T roundTrip(const T &v)
{
    Writer w;
    put(w, v);
    auto frame = encodeFrame(Kind::Response, Op::Version, 7, w.data());
    auto frames = decodeAll(frame, 3); // reassembled from 3-byte pieces
    EXPECT_EQ(frames.size(), 1u);
    Reader r(frames.at(0).payload, "test");
    T out{};
    get(r, out);
    r.finish();
    return out;
}

// Expects f() to throw Error with errno `err` and a sentence containing `what`.
template <class F> void expectError(F f, int err, const std::string &what)
{
    try {
        f();
        ADD_FAILURE() << "no error; expected errno " << err << " mentioning \"" << what << "\"";
    } catch (const Error &e) {
        EXPECT_EQ(e.errnum(), err) << e.sentence();
        EXPECT_NE(e.sentence().find(what), std::string::npos)
            << "\"" << e.sentence() << "\" does not mention \"" << what << "\"";
    }
}

std::vector<uint8_t> rawFrame(uint32_t len, uint16_t kind, uint16_t op, uint32_t id,
                              std::vector<uint8_t> payload = {})
{
    Writer w;
    w.u32(len).u16(kind).u16(op).u32(id).raw(payload);
    return w.take();
}

// ---------------------------------------------------------------- codec

TEST(Protocol, FieldsAreLittleEndian)
{
    Writer w;
    w.u16(0x0102).u32(0x03040506).u64(0x0708090a0b0c0d0eull).i32(-2).str("ab");
    std::vector<uint8_t> want = {0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0e, 0x0d,
                                 0x0c, 0x0b, 0x0a, 0x09, 0x08, 0x07, 0xfe, 0xff,
                                 0xff, 0xff, 2,    0,    0,    0,    'a',  'b'};
    EXPECT_EQ(w.data(), want);
    auto f = encodeFrame(Kind::Request, Op::Attach, 0x11223344, w.data());
    ASSERT_EQ(f.size(), kHeaderSize + want.size());
    EXPECT_EQ(f[0], uint8_t(8 + want.size()));
    EXPECT_EQ(f[4], uint8_t(Kind::Request));
    EXPECT_EQ(f[6], uint8_t(Op::Attach));
    EXPECT_EQ(f[8], 0x44);
    EXPECT_EQ(f[11], 0x11);
}

TEST(Protocol, HelloErrorAckRoundTrip)
{
    Hello h;
    h.role = Role::Agent;
    h.software = "utrace-agent 0.1.0 on box";
    auto frames = decodeAll(encodeFrame(Kind::Hello, Op::None, 0, encodeHello(h)), 1);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].kind, Kind::Hello);
    Hello back = decodeHello(frames[0].payload);
    EXPECT_EQ(back.magic, kMagic);
    EXPECT_EQ(back.version, kVersion);
    EXPECT_EQ(back.role, Role::Agent);
    EXPECT_EQ(back.software, h.software);

    Error e(ESRCH, "attach to 99 failed: no such thread; is the program still running?");
    Error eb = decodeError(encodeError(e));
    EXPECT_EQ(eb.errnum(), ESRCH);
    EXPECT_EQ(eb.sentence(), e.sentence());

    EXPECT_EQ(decodeAck(encodeAck(0x123456789ull)), 0x123456789ull);
}

TEST(Protocol, TransportValuesRoundTrip)
{
    DeviceInfo d{1, 0xff, "6.12.9-amd64", "0.1.0"};
    auto db = roundTrip(d);
    EXPECT_EQ(db.apiVersion, 1u);
    EXPECT_EQ(db.features, 0xffu);
    EXPECT_EQ(db.kernelRelease, d.kernelRelease);
    EXPECT_EQ(db.moduleVersion, d.moduleVersion);

    EngineSettings s;
    s.events = 0x1fff;
    s.stopEvents = 0x40;
    s.captureArgs = true;
    auto sb = roundTrip(s);
    EXPECT_EQ(sb.events, s.events);
    EXPECT_EQ(sb.stopEvents, s.stopEvents);
    EXPECT_TRUE(sb.captureArgs);
    EXPECT_FALSE(sb.syscallFilter);
    s.syscallFilter.emplace();
    s.syscallFilter->set(0).set(2).set(257).set(511);
    sb = roundTrip(s);
    ASSERT_TRUE(sb.syscallFilter);
    EXPECT_EQ(*sb.syscallFilter, *s.syscallFilter);

    ControlRequest c;
    c.action = 5;
    c.verdict = 2;
    c.signo = 10;
    c.retval = -38;
    auto cb = roundTrip(c);
    EXPECT_EQ(cb.action, 5u);
    EXPECT_EQ(cb.verdict, 2u);
    EXPECT_EQ(cb.signo, 10);
    EXPECT_EQ(cb.retval, -38);
    EXPECT_FALSE(cb.args);
    c.args = std::array<uint64_t, 6>{1, 2, 3, ~0ull, 5, 6};
    cb = roundTrip(c);
    ASSERT_TRUE(cb.args);
    EXPECT_EQ(*cb.args, *c.args);

    std::vector<EngineInfo> engines = {{1, 100, 0xc0, 0x40, 1}, {2, -5, 0, 0, 2}};
    auto eb = roundTrip(engines);
    ASSERT_EQ(eb.size(), 2u);
    EXPECT_EQ(eb[1].tid, -5);
    EXPECT_EQ(eb[0].events, 0xc0u);
    EXPECT_EQ(eb[0].state, 1u);

    std::vector<ProcessInfo> procs(2);
    procs[0] = {1, 0, 0, "init", "/sbin/init splash", {1}};
    procs[1] = {42, 1, 1000, "worker", "", {42, 43, 44}};
    auto pb = roundTrip(procs);
    ASSERT_EQ(pb.size(), 2u);
    EXPECT_EQ(pb[0].cmdline, "/sbin/init splash");
    EXPECT_EQ(pb[1].uid, 1000u);
    EXPECT_EQ(pb[1].tids, (std::vector<pid_t>{42, 43, 44}));

    LaunchSpec l{{"/bin/ls", "-l", std::string("a\0b", 3)}, {"A=1"}, "/tmp"};
    auto lb = roundTrip(l);
    EXPECT_EQ(lb.argv, l.argv);
    EXPECT_EQ(lb.env, l.env);
    EXPECT_EQ(lb.cwd, "/tmp");
}

TEST(Protocol, ManyFramesInOneStream)
{
    std::vector<uint8_t> stream;
    for (uint32_t i = 1; i <= 100; i++) {
        std::vector<uint8_t> p(i * 37 % 500, uint8_t(i));
        auto f = encodeFrame(i % 2 ? Kind::Event : Kind::Ack, Op::None, 0, p);
        stream.insert(stream.end(), f.begin(), f.end());
    }
    for (size_t step : {size_t(1), size_t(7), size_t(4096), stream.size()}) {
        auto frames = decodeAll(stream, step);
        ASSERT_EQ(frames.size(), 100u);
        for (uint32_t i = 1; i <= 100; i++) {
            EXPECT_EQ(frames[i - 1].payload.size(), i * 37 % 500);
            if (!frames[i - 1].payload.empty()) {
                EXPECT_EQ(frames[i - 1].payload[0], uint8_t(i));
            }
        }
    }
}

TEST(Protocol, TruncatedPayloadsRejected)
{
    // Every proper prefix of every message fails with EPROTO, never an over-read.
    std::vector<std::pair<std::string, std::vector<uint8_t>>> msgs;
    {
        Writer w;
        put(w, DeviceInfo{1, 2, "rel", "ver"});
        msgs.emplace_back("device", w.take());
    }
    {
        EngineSettings s;
        s.syscallFilter.emplace();
        Writer w;
        put(w, s);
        msgs.emplace_back("settings", w.take());
    }
    {
        ControlRequest c;
        c.args = std::array<uint64_t, 6>{};
        Writer w;
        put(w, c);
        msgs.emplace_back("control", w.take());
    }
    {
        Writer w;
        put(w, std::vector<ProcessInfo>{{1, 0, 0, "a", "b", {1, 2}}});
        msgs.emplace_back("processes", w.take());
    }
    {
        Writer w;
        put(w, LaunchSpec{{"x", "y"}, {"E=1"}, "/"});
        msgs.emplace_back("launch", w.take());
    }
    msgs.emplace_back("hello", encodeHello(Hello{}));
    msgs.emplace_back("error", encodeError(Error(EIO, "broken")));
    msgs.emplace_back("ack", encodeAck(5));
    for (auto &[name, bytes] : msgs) {
        for (size_t n = 0; n < bytes.size(); n++) {
            std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + ptrdiff_t(n));
            SCOPED_TRACE(name + " cut at " + std::to_string(n));
            try {
                if (name == "hello") {
                    decodeHello(cut);
                } else if (name == "error") {
                    decodeError(cut);
                } else if (name == "ack") {
                    decodeAck(cut);
                } else {
                    Reader r(cut, name);
                    if (name == "device") {
                        DeviceInfo v;
                        get(r, v);
                    } else if (name == "settings") {
                        EngineSettings v;
                        get(r, v);
                    } else if (name == "control") {
                        ControlRequest v;
                        get(r, v);
                    } else if (name == "processes") {
                        std::vector<ProcessInfo> v;
                        get(r, v);
                    } else {
                        LaunchSpec v;
                        get(r, v);
                    }
                    r.finish();
                }
                ADD_FAILURE() << "accepted";
            } catch (const ProtocolError &e) {
                EXPECT_EQ(e.errnum(), EPROTO);
                EXPECT_NE(e.sentence().find(name == "processes" ? "processes" : ""),
                          std::string::npos);
            }
        }
    }
    // Trailing bytes are as wrong as missing ones.
    auto ack = encodeAck(1);
    ack.push_back(0);
    expectError([&] { decodeAck(ack); }, EPROTO, "unexpected bytes");
    // A count larger than the payload can hold fails before allocating.
    Writer w;
    w.u32(0xffffffffu);
    Reader r(w.data(), "list");
    std::vector<EngineInfo> v;
    expectError([&] { get(r, v); }, EPROTO, "count of 4294967295");
    // A flag byte must be 0 or 1.
    Writer f;
    f.u64(0).u64(0).u32(0).u8(2);
    Reader fr(f.data(), "set-events");
    EngineSettings s;
    expectError([&] { get(fr, s); }, EPROTO, "flag byte is 2");
    // Settings flags this version does not know are refused, not dropped.
    Writer g;
    g.u64(0).u64(0).u32(0x80).u8(0);
    Reader gr(g.data(), "set-events");
    expectError([&] { get(gr, s); }, EPROTO, "unknown flags 0x80");
}

TEST(Protocol, MalformedFramesRejected)
{
    auto decode = [](const std::vector<uint8_t> &b) {
        FrameDecoder d;
        d.feed(b);
        while (d.next()) {
        }
    };
    // Oversized: rejected from the length field alone, before the data.
    expectError([&] { decode(rawFrame(kFrameMax + 1, 2, 1, 1)); }, EPROTO, "exceeds");
    {
        FrameDecoder d;
        Writer w;
        w.u32(0xffffffffu);
        d.feed(w.data());
        expectError([&] { d.next(); }, EPROTO, "exceeds the protocol's limit");
    }
    expectError([&] { decode(rawFrame(4, 2, 1, 1)); }, EPROTO, "shorter than the 8-byte header");
    // Wrong opcode, wrong kind, ids and ops where there must be none.
    expectError([&] { decode(rawFrame(8, 2, uint16_t(Op::End), 1)); }, EPROTO, "not an operation");
    expectError([&] { decode(rawFrame(8, 3, 0, 1)); }, EPROTO, "not an operation");
    expectError([&] { decode(rawFrame(8, 99, 0, 0)); }, EPROTO, "kind 99");
    expectError([&] { decode(rawFrame(8, 5, 3, 0)); }, EPROTO, "must be 0");
    expectError([&] { decode(rawFrame(8, 1, 0, 9)); }, EPROTO, "must be 0");
    expectError([&] { decode(rawFrame(8, 4, 0, 9)); }, EPROTO, "not an operation");
    // A connection-level error (op 0, id 0) is fine.
    decode(rawFrame(8 + 8, 4, 0, 0, encodeError(Error(0, "x"))));
    // Something that is not the protocol at all, where a hello should be.
    {
        FrameDecoder d;
        d.expectHello(true);
        std::string http = "HTTP/1.1 400 Bad Request\r\n";
        d.feed({reinterpret_cast<const uint8_t *>(http.data()), http.size()});
        expectError([&] { d.next(); }, EPROTO, "does not speak the utrace agent protocol");
    }
    {
        FrameDecoder d;
        d.expectHello(true);
        Hello h;
        h.magic = 0x12345678;
        d.feed(encodeFrame(Kind::Hello, Op::None, 0, encodeHello(h)));
        expectError([&] { d.next(); }, EPROTO, "does not speak");
    }
    // A hello with another version decodes (so it can be refused by name).
    Hello v2;
    v2.version = 2;
    auto p = encodeHello(v2);
    p.push_back(0xaa); // a newer version may carry more
    EXPECT_EQ(decodeHello(p).version, 2);
    expectError([&] { decodeError(encodeError(Error(5000, "x"))); }, EPROTO, "out of range");
    // Encoding refuses what the peer would refuse.
    std::vector<uint8_t> big(kPayloadMax + 1);
    expectError([&] { encodeFrame(Kind::Event, Op::None, 0, big); }, EMSGSIZE, "frame limit");
}

TEST(Protocol, GarbageNeverCrashes)
{
    std::mt19937 rng(12345);
    for (int round = 0; round < 2000; round++) {
        std::vector<uint8_t> b(rng() % 64);
        for (auto &x : b)
            x = uint8_t(rng());
        if (b.size() >= 4 && round % 2) // plausible lengths, to reach the header checks
            b[0] = uint8_t(8 + rng() % 40), b[1] = b[2] = b[3] = 0;
        FrameDecoder d;
        d.expectHello(round % 3 == 0);
        d.feed(b);
        try {
            while (auto f = d.next()) {
                try {
                    decodeHello(f->payload);
                } catch (const ProtocolError &) {
                }
                try {
                    decodeError(f->payload);
                } catch (const ProtocolError &) {
                }
                Reader r(f->payload, "garbage");
                std::vector<ProcessInfo> v;
                try {
                    get(r, v);
                } catch (const ProtocolError &) {
                }
            }
        } catch (const ProtocolError &e) {
            EXPECT_EQ(e.errnum(), EPROTO);
        }
    }
}

TEST(Protocol, SplitRecordsKeepsRecordsWhole)
{
    std::vector<uint8_t> recs;
    for (uint32_t i = 0; i < 50; i++) {
        uint32_t size = 32 + 8 * (i % 7);
        Writer w;
        w.u32(size);
        std::vector<uint8_t> rest(size - 4, uint8_t(i));
        w.raw(rest);
        recs.insert(recs.end(), w.data().begin(), w.data().end());
    }
    auto pieces = splitRecords(recs, 200);
    std::vector<uint8_t> joined;
    for (auto p : pieces) {
        EXPECT_LE(p.size(), 200u);
        // Each piece starts at a record boundary: its first byte is a size.
        EXPECT_GE(p[0], 32);
        joined.insert(joined.end(), p.begin(), p.end());
    }
    EXPECT_EQ(joined, recs);
    EXPECT_GT(pieces.size(), 5u);
    // A broken size falls back to byte counts, losing nothing.
    std::vector<uint8_t> bad(1000, 0xff);
    size_t total = 0;
    for (auto p : splitRecords(bad, 300))
        total += p.size();
    EXPECT_EQ(total, 1000u);
}

// ---------------------------------------------------------------- agent + client

// A scripted machine behind the agent. Everything it is asked is recorded.
struct Fake {
    std::mutex mu;
    std::map<uint32_t, EngineSettings> settings;
    std::vector<std::pair<uint32_t, ControlRequest>> controls;
    std::vector<std::string> calls;
    std::vector<uint8_t> memory = std::vector<uint8_t>(10 << 20);
    std::vector<uint8_t> regs;
    std::vector<uint8_t> pendingRecords;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int reapPolls = 0;
    std::atomic<bool> destroyed{false};
    std::atomic<int> readMemoryCalls{0};
    static constexpr uint64_t kBase = 0x400000;

    Fake()
    {
        for (size_t i = 0; i < memory.size(); i++)
            memory[i] = uint8_t(i * 7 + (i >> 12));
    }
    ~Fake() { close(efd); }
    void push(const std::vector<uint8_t> &recs)
    {
        std::lock_guard lk(mu);
        pendingRecords.insert(pendingRecords.end(), recs.begin(), recs.end());
        uint64_t one = 1;
        [[maybe_unused]] ssize_t n = write(efd, &one, 8);
    }
    void note(const std::string &c)
    {
        std::lock_guard lk(mu);
        calls.push_back(c);
    }
};

class FakeTransport final : public Transport {
public:
    explicit FakeTransport(std::shared_ptr<Fake> f) : f_(std::move(f)) {}
    ~FakeTransport() override { f_->destroyed = true; }

    DeviceInfo version() override { return {1, 0x3f, "6.12.0-fake", "0.1.0-fake"}; }
    uint32_t attach(pid_t tid, uint32_t flags) override
    {
        f_->note("attach " + std::to_string(tid) + " " + std::to_string(flags));
        if (tid == 666)
            throw Error(EPERM, "attach to 666 refused: it belongs to another user; run as "
                               "that user or as root");
        return uint32_t(tid) + 1000;
    }
    void setEvents(uint32_t h, const EngineSettings &s) override
    {
        known(h);
        std::lock_guard lk(f_->mu);
        f_->settings[h] = s;
    }
    void control(uint32_t h, const ControlRequest &c) override
    {
        known(h);
        std::lock_guard lk(f_->mu);
        f_->controls.emplace_back(h, c);
    }
    void barrier(uint32_t h) override
    {
        known(h);
        f_->note("barrier " + std::to_string(h));
    }
    void prove(uint32_t h, pid_t tid) override
    {
        known(h);
        f_->note("prove " + std::to_string(h) + " " + std::to_string(tid));
    }
    void detach(uint32_t h) override
    {
        known(h);
        f_->note("detach " + std::to_string(h));
    }
    std::vector<uint8_t> getRegs(uint32_t h, RegSet set) override
    {
        known(h);
        if (set == RegSet::XState)
            throw Error(EOPNOTSUPP, "this CPU has no extended register state to read");
        std::vector<uint8_t> r(set == RegSet::General ? 216 : 512);
        for (size_t i = 0; i < r.size(); i++)
            r[i] = uint8_t(i + h);
        return r;
    }
    void setRegs(uint32_t h, RegSet, std::span<const uint8_t> regs) override
    {
        known(h);
        std::lock_guard lk(f_->mu);
        f_->regs.assign(regs.begin(), regs.end());
    }
    size_t readMemory(uint32_t h, uint64_t addr, std::span<uint8_t> out) override
    {
        known(h);
        f_->readMemoryCalls++;
        if (addr < Fake::kBase)
            return 0;
        size_t off = addr - Fake::kBase;
        size_t n = off >= f_->memory.size() ? 0 : std::min(out.size(), f_->memory.size() - off);
        std::memcpy(out.data(), f_->memory.data() + off, n);
        return n;
    }
    size_t writeMemory(uint32_t h, uint64_t addr, std::span<const uint8_t> in) override
    {
        known(h);
        if (addr < Fake::kBase)
            return 0;
        size_t off = addr - Fake::kBase;
        size_t n = off >= f_->memory.size() ? 0 : std::min(in.size(), f_->memory.size() - off);
        std::memcpy(f_->memory.data() + off, in.data(), n);
        return n;
    }
    std::vector<EngineInfo> list() override { return {{1001, 1, 0xc0, 0x40, 1}}; }
    uint64_t setQueueSize(uint64_t bytes) override
    {
        if (bytes && bytes < (16u << 10))
            throw Error(EINVAL, "the event queue must hold at least 16384 bytes");
        return bytes ? bytes : 1u << 20;
    }
    int eventFd() override { return f_->efd; }
    std::vector<uint8_t> readRecords(int) override
    {
        std::lock_guard lk(f_->mu);
        uint64_t v;
        [[maybe_unused]] ssize_t n = read(f_->efd, &v, 8);
        return std::exchange(f_->pendingRecords, {});
    }
    std::vector<uint8_t> readFile(const std::string &path, uint64_t offset,
                                  uint64_t maxBytes) override
    {
        if (path != "/proc/1/maps")
            throw Error(ENOENT, "cannot read " + path + ": no such file");
        std::string s = "00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/dbus-daemon\n";
        if (offset >= s.size())
            return {};
        s = s.substr(offset, maxBytes);
        return {s.begin(), s.end()};
    }
    std::vector<ProcessInfo> processes() override
    {
        return {{1, 0, 0, "init", "/sbin/init", {1}}, {7, 1, 1000, "sh", "sh -c x", {7, 8}}};
    }
    pid_t launch(const LaunchSpec &s) override
    {
        if (s.argv.empty())
            throw Error(EINVAL, "cannot launch: no program given (argv is empty)");
        f_->note("launch " + s.argv[0] + " cwd=" + s.cwd + " env=" + std::to_string(s.env.size()));
        return 4242;
    }
    void release(pid_t pid) override { f_->note("release " + std::to_string(pid)); }
    std::optional<int> reap(pid_t pid, bool wait) override
    {
        if (pid != 4242)
            throw Error(ECHILD, "cannot wait for process " + std::to_string(pid) +
                                    ": it was not launched by this session");
        EXPECT_FALSE(wait) << "the agent must not block its loop";
        std::lock_guard lk(f_->mu);
        if (++f_->reapPolls < 20)
            return std::nullopt;
        return 3 << 8;
    }
    void kill(pid_t pid, int sig) override
    {
        f_->note("kill " + std::to_string(pid) + " " + std::to_string(sig));
    }

private:
    void known(uint32_t h)
    {
        if (h < 1000)
            throw Error(ENOENT, "no engine " + std::to_string(h) + " in this session");
    }
    std::shared_ptr<Fake> f_;
};

// An agent loop on one end of a socketpair, a RemoteTransport on the other.
struct Loop {
    std::shared_ptr<Fake> fake = std::make_shared<Fake>();
    int stop[2] = {-1, -1};
    std::thread agent;
    std::string why; // why serve() returned
    std::atomic<bool> done{false};
    std::unique_ptr<Transport> client;
    int agentFd = -1, clientFd = -1;

    Loop(bool connect = true)
    {
        int sv[2];
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        EXPECT_EQ(pipe2(stop, O_CLOEXEC), 0);
        agentFd = sv[1];
        clientFd = sv[0];
        agent = std::thread([this] {
            ServeOptions o;
            o.stopFd = stop[0];
            o.software = "test agent";
            auto f = fake;
            why = serve([f] { return std::make_unique<FakeTransport>(f); }, agentFd, agentFd, o);
            done = true;
            ::shutdown(agentFd, SHUT_RDWR);
        });
        if (connect)
            client = openRemoteFd(clientFd, "socketpair", -1, 5000);
    }
    ~Loop()
    {
        client.reset();
        if (agent.joinable()) {
            char c = 1;
            [[maybe_unused]] ssize_t n = write(stop[1], &c, 1);
            agent.join();
        }
        close(agentFd);
        close(stop[0]);
        close(stop[1]);
    }
    void endAgent() { agent.join(); }
};

std::vector<uint8_t> makeRecords(uint32_t first, uint32_t count, uint32_t size = 48)
{
    Writer w;
    for (uint32_t i = 0; i < count; i++) {
        w.u32(size).u16(9).u16(0).u64(first + i);
        std::vector<uint8_t> rest(size - 16, uint8_t(first + i));
        w.raw(rest);
    }
    return w.take();
}

bool readable(int fd, int ms)
{
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, ms) == 1;
}

TEST(Protocol, EveryTransportMethodRoundTrips)
{
    Loop l;
    Transport &t = *l.client;

    DeviceInfo d = t.version();
    EXPECT_EQ(d.apiVersion, 1u);
    EXPECT_EQ(d.features, 0x3fu);
    EXPECT_EQ(d.kernelRelease, "6.12.0-fake");
    EXPECT_EQ(d.moduleVersion, "0.1.0-fake");

    uint32_t h = t.attach(77, 1);
    EXPECT_EQ(h, 1077u);

    EngineSettings s;
    s.events = 0xc0;
    s.stopEvents = 0x40;
    s.captureArgs = true;
    s.syscallFilter.emplace();
    s.syscallFilter->set(59).set(257);
    t.setEvents(h, s);
    ControlRequest c;
    c.action = 5;
    c.verdict = 4;
    c.signo = 12;
    c.args = std::array<uint64_t, 6>{9, 8, 7, 6, 5, 4};
    t.control(h, c);
    t.barrier(h);
    t.prove(h, 77);

    auto regs = t.getRegs(h, RegSet::General);
    ASSERT_EQ(regs.size(), 216u);
    EXPECT_EQ(regs[0], uint8_t(1077));
    EXPECT_EQ(t.getRegs(h, RegSet::Fp).size(), 512u);
    regs[3] = 0xee;
    t.setRegs(h, RegSet::General, regs);

    // Memory, across the 4 MiB request chunks, short at the end of the map.
    std::vector<uint8_t> mem(9 << 20);
    l.fake->readMemoryCalls = 0;
    EXPECT_EQ(t.readMemory(h, Fake::kBase + 123, mem), mem.size());
    EXPECT_EQ(l.fake->readMemoryCalls.load(), 3);
    EXPECT_TRUE(std::equal(mem.begin(), mem.end(), l.fake->memory.begin() + 123));
    std::vector<uint8_t> tail(100);
    EXPECT_EQ(t.readMemory(h, Fake::kBase + l.fake->memory.size() - 10, tail), 10u);
    EXPECT_EQ(t.readMemory(h, 0x10, tail), 0u);
    std::vector<uint8_t> patch = {0xcc, 0x90, 0x90};
    EXPECT_EQ(t.writeMemory(h, Fake::kBase + 5, patch), 3u);
    EXPECT_EQ(l.fake->memory[5], 0xcc);
    std::vector<uint8_t> big(5 << 20, 0xab);
    EXPECT_EQ(t.writeMemory(h, Fake::kBase + (6 << 20), big), size_t(4 << 20));

    auto engines = t.list();
    ASSERT_EQ(engines.size(), 1u);
    EXPECT_EQ(engines[0].handle, 1001u);
    EXPECT_EQ(engines[0].stopEvents, 0x40u);
    EXPECT_EQ(t.setQueueSize(0), 1u << 20);
    EXPECT_EQ(t.setQueueSize(1 << 22), 1u << 22);

    auto maps = t.readFile("/proc/1/maps", 0, ~0ull);
    std::string text(maps.begin(), maps.end());
    EXPECT_NE(text.find("dbus-daemon"), std::string::npos);
    EXPECT_EQ(t.readFile("/proc/1/maps", 9, 8).size(), 8u);

    auto procs = t.processes();
    ASSERT_EQ(procs.size(), 2u);
    EXPECT_EQ(procs[1].cmdline, "sh -c x");
    EXPECT_EQ(procs[1].tids, (std::vector<pid_t>{7, 8}));

    pid_t pid = t.launch({{"/bin/true", "x"}, {"A=1", "B=2"}, "/tmp"});
    EXPECT_EQ(pid, 4242);
    t.release(pid);
    EXPECT_FALSE(t.reap(pid, false));
    // Blocking reap: the agent polls its (non-blocking) reap until it reports.
    EXPECT_EQ(t.reap(pid, true), std::optional<int>(3 << 8));
    t.kill(pid, 9);
    t.detach(h);

    std::lock_guard lk(l.fake->mu);
    ASSERT_TRUE(l.fake->settings.count(1077));
    auto &sb = l.fake->settings[1077];
    EXPECT_EQ(sb.events, 0xc0u);
    EXPECT_TRUE(sb.captureArgs);
    ASSERT_TRUE(sb.syscallFilter);
    EXPECT_TRUE(sb.syscallFilter->test(59));
    EXPECT_EQ(sb.syscallFilter->count(), 2u);
    ASSERT_EQ(l.fake->controls.size(), 1u);
    EXPECT_EQ(l.fake->controls[0].second.signo, 12);
    EXPECT_EQ(l.fake->controls[0].second.verdict, 4u);
    ASSERT_TRUE(l.fake->controls[0].second.args);
    EXPECT_EQ((*l.fake->controls[0].second.args)[5], 4u);
    EXPECT_EQ(l.fake->regs[3], 0xee);
    EXPECT_EQ(l.fake->memory[(6 << 20) + 100], 0xab);
    std::vector<std::string> want = {
        "attach 77 1",  "barrier 1077", "prove 1077 77", "launch /bin/true cwd=/tmp env=2",
        "release 4242", "kill 4242 9",  "detach 1077"};
    EXPECT_EQ(l.fake->calls, want);
}

TEST(Protocol, RemoteErrorsArriveIntact)
{
    Loop l;
    Transport &t = *l.client;
    expectError([&] { t.attach(666, 0); }, EPERM,
                "attach to 666 refused: it belongs to another user; run as that user or as root");
    try {
        t.detach(5);
    } catch (const Error &e) {
        EXPECT_EQ(e.sentence(), "no engine 5 in this session");
    }
    expectError([&] { t.getRegs(1001, RegSet::XState); }, EOPNOTSUPP, "extended register");
    expectError([&] { t.setQueueSize(100); }, EINVAL, "at least 16384");
    expectError([&] { t.readFile("/nope", 0, 10); }, ENOENT, "cannot read /nope");
    expectError([&] { t.launch({}); }, EINVAL, "argv is empty");
    expectError([&] { t.reap(1, true); }, ECHILD, "not launched by this session");
    // The session goes on after errors.
    EXPECT_EQ(t.attach(3, 0), 1003u);
}

TEST(Protocol, EventsWakeTheEventFdAndArriveInOrder)
{
    Loop l;
    Transport &t = *l.client;
    int fd = t.eventFd();
    EXPECT_FALSE(readable(fd, 50));
    EXPECT_TRUE(t.readRecords(0).empty());
    auto recs = makeRecords(1, 3);
    l.fake->push(recs);
    ASSERT_TRUE(readable(fd, 5000));
    EXPECT_EQ(t.readRecords(1000), recs);
    EXPECT_FALSE(readable(fd, 50)); // drained: not readable any more
    EXPECT_TRUE(t.readRecords(30).empty());

    // More than the agent's window in flight: the client acknowledges as it
    // reads, the agent keeps forwarding; nothing lost, nothing reordered.
    std::vector<uint8_t> all;
    uint32_t seq = 100;
    std::thread producer([&] {
        for (int i = 0; i < 40; i++) {
            auto r = makeRecords(seq, 4000, 64); // 256000 bytes
            seq += 4000;
            l.fake->push(r);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    std::vector<uint8_t> got;
    size_t want = 40 * 4000 * 64;
    while (got.size() < want) {
        auto b = t.readRecords(5000);
        ASSERT_FALSE(b.empty()) << "records stopped after " << got.size() << " bytes";
        got.insert(got.end(), b.begin(), b.end());
    }
    producer.join();
    ASSERT_EQ(got.size(), want);
    for (size_t i = 0; i < got.size(); i += 64) {
        uint64_t s;
        std::memcpy(&s, &got[i + 8], 8);
        ASSERT_EQ(s, 100 + i / 64) << "at byte " << i;
    }
    // Requests still work while events flow.
    EXPECT_EQ(t.attach(1, 0), 1001u);
}

TEST(Protocol, DisconnectClosesTheAgentSession)
{
    Loop l;
    l.client->attach(10, 0);
    EXPECT_FALSE(l.fake->destroyed);
    l.client.reset();
    l.endAgent();
    EXPECT_TRUE(l.fake->destroyed);
    EXPECT_EQ(l.why, "the client closed the connection");
}

TEST(Protocol, AgentShutdownReachesTheClient)
{
    Loop l;
    char c = 1;
    ASSERT_EQ(write(l.stop[1], &c, 1), 1);
    l.endAgent();
    EXPECT_TRUE(l.fake->destroyed);
    ASSERT_TRUE(readable(l.client->eventFd(), 5000)); // an event loop notices
    expectError([&] { l.client->version(); }, ESHUTDOWN, "shutting down");
    expectError([&] { l.client->readRecords(0); }, ESHUTDOWN, "shutting down");
}

TEST(Protocol, AgentRefusalArrivesAsTheHelloError)
{
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    std::string why;
    std::thread agent([&] {
        why = serve(
            []() -> std::unique_ptr<Transport> {
                throw Error(ENOENT, "/dev/utrace does not exist: load the utrace module "
                                    "(modprobe utrace)");
            },
            sv[1], sv[1], {});
        close(sv[1]);
    });
    expectError([&] { openRemoteFd(sv[0], "socketpair", -1, 5000); }, ENOENT,
                "/dev/utrace does not exist: load the utrace module (modprobe utrace)");
    agent.join();
    EXPECT_NE(why.find("refused"), std::string::npos);
}

// A raw peer on the other end of the client or the agent.
struct Raw {
    int fd;
    FrameDecoder dec;
    void send(const std::vector<uint8_t> &b)
    {
        ASSERT_EQ(write(fd, b.data(), b.size()), ssize_t(b.size()));
    }
    std::optional<Frame> recv(int ms = 5000)
    {
        for (;;) {
            if (auto f = dec.next())
                return f;
            if (!readable(fd, ms))
                return std::nullopt;
            uint8_t buf[4096];
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n <= 0)
                return std::nullopt;
            dec.feed({buf, size_t(n)});
        }
    }
};

TEST(Protocol, AgentRejectsWrongVersionAndMalformedFrames)
{
    {
        Loop l(false);
        Raw r{l.clientFd, {}};
        Hello h;
        h.version = kVersion + 1;
        h.software = "future client";
        r.send(encodeFrame(Kind::Hello, Op::None, 0, encodeHello(h)));
        auto f = r.recv();
        ASSERT_TRUE(f);
        ASSERT_EQ(f->kind, Kind::Error);
        Error e = decodeError(f->payload);
        EXPECT_EQ(e.errnum(), EPROTONOSUPPORT);
        EXPECT_NE(e.sentence().find("speaks utrace agent protocol version 2"), std::string::npos)
            << e.sentence();
        EXPECT_FALSE(r.recv(2000)); // closed
        l.endAgent();
        EXPECT_FALSE(l.fake->destroyed); // never opened
        close(l.clientFd);
    }
    // Valid hello, then: a request with an unknown op; a truncated attach;
    // an oversized frame; a request before the hello.
    std::vector<std::pair<std::vector<uint8_t>, std::string>> bad = {
        {rawFrame(8, 2, 200, 1), "not an operation"},
        {encodeFrame(Kind::Request, Op::Attach, 1, std::vector<uint8_t>{1, 2}), "truncated"},
        {rawFrame(kFrameMax + 8, 2, 1, 1), "exceeds"},
        {encodeFrame(Kind::Response, Op::Attach, 1, {}), "only an agent sends"},
        {encodeFrame(Kind::Request, Op::Version, 1, std::vector<uint8_t>{0}), "unexpected bytes"},
    };
    for (auto &[frame, what] : bad) {
        SCOPED_TRACE(what);
        Loop l(false);
        Raw r{l.clientFd, {}};
        r.send(encodeFrame(Kind::Hello, Op::None, 0, encodeHello(Hello{})));
        auto hello = r.recv();
        ASSERT_TRUE(hello);
        EXPECT_EQ(hello->kind, Kind::Hello);
        r.send(frame);
        auto f = r.recv();
        ASSERT_TRUE(f);
        ASSERT_EQ(f->kind, Kind::Error);
        EXPECT_EQ(f->id, 0u);
        Error e = decodeError(f->payload);
        EXPECT_EQ(e.errnum(), EPROTO);
        EXPECT_NE(e.sentence().find(what), std::string::npos) << e.sentence();
        EXPECT_FALSE(r.recv(2000));
        l.endAgent();
        EXPECT_TRUE(l.fake->destroyed);
        EXPECT_NE(l.why.find("protocol error"), std::string::npos) << l.why;
        close(l.clientFd);
    }
    {
        Loop l(false);
        Raw r{l.clientFd, {}};
        r.send(encodeFrame(Kind::Request, Op::Version, 1, {}));
        auto f = r.recv();
        ASSERT_TRUE(f);
        EXPECT_NE(decodeError(f->payload).sentence().find("does not speak"), std::string::npos);
        l.endAgent();
        close(l.clientFd);
    }
}

TEST(Protocol, AgentStopsEvenIfTheClientDoesNotRead)
{
    Loop l(false);
    Raw r{l.clientFd, {}};
    r.send(encodeFrame(Kind::Hello, Op::None, 0, encodeHello(Hello{})));
    ASSERT_TRUE(r.recv());
    // Far more than the socket buffers hold: the agent blocks sending.
    l.fake->push(makeRecords(1, 50000, 64));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(l.done);
    char c = 1;
    ASSERT_EQ(write(l.stop[1], &c, 1), 1);
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!l.done && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(l.done) << "the agent hangs in a write to a client that does not read";
    l.endAgent();
    EXPECT_TRUE(l.fake->destroyed);
    close(l.clientFd);
}

// A raw agent: answers the hello, then whatever the test says.
struct RawAgent {
    int sv[2];
    std::thread th;
    RawAgent(std::function<void(Raw &)> script)
    {
        EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        th = std::thread([this, script] {
            Raw r{sv[1], {}};
            script(r);
        });
    }
    ~RawAgent()
    {
        ::shutdown(sv[1], SHUT_RDWR);
        th.join();
        close(sv[1]);
    }
};

void agentHello(Raw &r, uint16_t version = kVersion)
{
    auto f = r.recv();
    ASSERT_TRUE(f);
    ASSERT_EQ(f->kind, Kind::Hello);
    EXPECT_EQ(decodeHello(f->payload).role, Role::Client);
    Hello h;
    h.role = Role::Agent;
    h.version = version;
    h.software = "raw agent";
    r.send(encodeFrame(Kind::Hello, Op::None, 0, encodeHello(h)));
}

TEST(Protocol, ClientRejectsWrongVersionAndMalformedAnswers)
{
    {
        RawAgent a([](Raw &r) { agentHello(r, 7); });
        expectError([&] { openRemoteFd(a.sv[0], "raw", -1, 5000); }, EPROTONOSUPPORT,
                    "speaks protocol version 7, this client speaks version 1");
    }
    {
        RawAgent a([](Raw &r) {
            r.recv();
            std::string banner = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
            r.send({banner.begin(), banner.end()});
        });
        expectError([&] { openRemoteFd(a.sv[0], "exec:ssh box", -1, 5000); }, EPROTO,
                    "exec:ssh box: the peer does not speak the utrace agent protocol: it began "
                    "with \"SSH-2.0");
    }
    struct Case {
        std::function<std::vector<uint8_t>(uint32_t id)> answer;
        std::string what;
    };
    std::vector<Case> cases = {
        {[](uint32_t id) {
             return encodeFrame(Kind::Response, Op::Attach, id, std::vector<uint8_t>{1});
         },
         "truncated"},
        {[](uint32_t id) { return encodeFrame(Kind::Response, Op::Attach, id + 1, encodeAck(0)); },
         "awaits no answer"},
        {[](uint32_t id) { return encodeFrame(Kind::Response, Op::Kill, id, {}); },
         "answered a attach request with a kill answer"},
        {[](uint32_t id) { return rawFrame(8, 3, 77, id); }, "not an operation"},
        {[](uint32_t) { return rawFrame(kFrameMax + 1, 3, 2, 1); }, "exceeds"},
        {[](uint32_t) { return encodeFrame(Kind::Event, Op::None, 0, {}); }, "no records"},
        {[](uint32_t id) {
             Writer w;
             w.i32(-1).str("x");
             return encodeFrame(Kind::Error, Op::Attach, id, w.data());
         },
         "out of range"},
    };
    for (auto &c : cases) {
        SCOPED_TRACE(c.what);
        RawAgent a([&](Raw &r) {
            agentHello(r);
            auto req = r.recv();
            ASSERT_TRUE(req);
            EXPECT_EQ(req->op, Op::Attach);
            r.send(c.answer(req->id));
            r.recv(3000); // until the client closes
        });
        auto t = openRemoteFd(a.sv[0], "raw", -1, 5000);
        expectError([&] { t->attach(1, 0); }, EPROTO, c.what);
        // The connection is closed for good, and says so.
        EXPECT_TRUE(readable(t->eventFd(), 1000));
        expectError([&] { t->version(); }, EPROTO, "broke the protocol");
    }
}

TEST(Protocol, TcpLoopback)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(lfd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr *>(&a), sizeof(a)), 0);
    ASSERT_EQ(listen(lfd, 1), 0);
    socklen_t len = sizeof(a);
    getsockname(lfd, reinterpret_cast<sockaddr *>(&a), &len);
    int port = ntohs(a.sin_port);
    auto fake = std::make_shared<Fake>();
    std::thread agent([&] {
        int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        ASSERT_GE(fd, 0);
        serve([fake] { return std::make_unique<FakeTransport>(fake); }, fd, fd, {});
        close(fd);
    });
    {
        auto t = openRemote("tcp://127.0.0.1:" + std::to_string(port));
        EXPECT_EQ(t->version().kernelRelease, "6.12.0-fake");
        auto recs = makeRecords(1, 2);
        fake->push(recs);
        EXPECT_EQ(t->readRecords(5000), recs);
        expectError([&] { t->attach(666, 0); }, EPERM, "attach to 666 refused");
    }
    agent.join();
    EXPECT_TRUE(fake->destroyed);
    close(lfd);
    // Nobody listens there any more.
    expectError([&] { openRemote("tcp://127.0.0.1:" + std::to_string(port)); }, ECONNREFUSED,
                "cannot connect to the utrace agent at tcp://127.0.0.1:");
}

TEST(Protocol, BadAddressesAreNamed)
{
    expectError([] { openRemote("udp://x:1"); }, EINVAL,
                "neither tcp://HOST:PORT nor exec:COMMAND");
    expectError([] { openRemote("tcp://localhost"); }, EINVAL, "has no port");
    expectError([] { openRemote("tcp://h:99999"); }, EINVAL, "port from 1 to 65535");
    expectError([] { openRemote("tcp://[::1:5"); }, EINVAL, "tcp://[IPV6]:PORT");
    expectError([] { openRemote("exec:  "); }, EINVAL, "names no command");
}

#ifdef UTRACE_AGENT_PATH
// The real agent binary over exec: (stdio). No module on the host: the
// agent's refusal to open a missing device must reach the client intact.
TEST(Protocol, ExecAgentBinaryReportsItsDeviceError)
{
    expectError(
        [] {
            openRemote(std::string("exec:") + UTRACE_AGENT_PATH +
                       " --stdio --quiet --device /nonexistent/utrace");
        },
        ENOENT, "/nonexistent/utrace");
    expectError([] { openRemote("exec:exit 3"); }, ECONNRESET, "the command exited with status 3");
    expectError([] { openRemote("exec:echo hello there; sleep 1"); }, EPROTO,
                "does not speak the utrace agent protocol: it began with \"hello there.\"");
}
#endif

} // namespace
