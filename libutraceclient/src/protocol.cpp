// The utrace agent protocol: the codec (frames and typed fields).
// Layouts are described in protocol.hpp. Nothing here trusts a length it
// read: every read checks the bytes that remain first.
#include "protocol.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace utrace::proto {

namespace {

std::string hexPrefix(std::span<const uint8_t> b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < b.size() && i < n; i++) {
        if (i)
            s += ' ';
        s += digits[b[i] >> 4];
        s += digits[b[i] & 15];
    }
    return s;
}

std::string printablePrefix(std::span<const uint8_t> b, size_t n)
{
    std::string s;
    for (size_t i = 0; i < b.size() && i < n; i++)
        s += (b[i] >= 0x20 && b[i] < 0x7f) ? static_cast<char>(b[i]) : '.';
    return s;
}

uint32_t le32(const uint8_t *p)
{
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

uint16_t le16(const uint8_t *p)
{
    return uint16_t(p[0] | p[1] << 8);
}

const char *kindName(Kind k)
{
    switch (k) {
    case Kind::Hello:
        return "hello";
    case Kind::Request:
        return "request";
    case Kind::Response:
        return "response";
    case Kind::Error:
        return "error";
    case Kind::Event:
        return "event";
    case Kind::Ack:
        return "ack";
    }
    return "unknown";
}

} // namespace

const char *opName(Op op)
{
    static const char *const names[] = {
        "none",         "version", "attach",         "set-events", "control",
        "barrier",      "detach",  "get-regs",       "set-regs",   "read-memory",
        "write-memory", "list",    "set-queue-size", "read-file",  "processes",
        "launch",       "release", "reap",           "kill",       "prove",
    };
    static_assert(sizeof(names) / sizeof(names[0]) == size_t(Op::End));
    auto i = static_cast<size_t>(op);
    return i < size_t(Op::End) ? names[i] : "unknown";
}

// ---- Writer ----

Writer &Writer::u8(uint8_t v)
{
    buf_.push_back(v);
    return *this;
}

Writer &Writer::u16(uint16_t v)
{
    buf_.push_back(uint8_t(v));
    buf_.push_back(uint8_t(v >> 8));
    return *this;
}

Writer &Writer::u32(uint32_t v)
{
    for (int i = 0; i < 4; i++)
        buf_.push_back(uint8_t(v >> (8 * i)));
    return *this;
}

Writer &Writer::u64(uint64_t v)
{
    for (int i = 0; i < 8; i++)
        buf_.push_back(uint8_t(v >> (8 * i)));
    return *this;
}

Writer &Writer::raw(std::span<const uint8_t> b)
{
    buf_.insert(buf_.end(), b.begin(), b.end());
    return *this;
}

Writer &Writer::bytes(std::span<const uint8_t> b)
{
    if (b.size() > kPayloadMax)
        throw Error(EMSGSIZE, "a field of " + std::to_string(b.size()) +
                                  " bytes does not fit in one protocol frame (at most " +
                                  std::to_string(kPayloadMax) + ")");
    u32(static_cast<uint32_t>(b.size()));
    return raw(b);
}

Writer &Writer::str(const std::string &s)
{
    return bytes({reinterpret_cast<const uint8_t *>(s.data()), s.size()});
}

// ---- Reader ----

void Reader::truncated(const char *field) const
{
    throw ProtocolError("malformed " + what_ + " message: truncated at byte " +
                        std::to_string(pos_) + " of " + std::to_string(d_.size()) + " (" + field +
                        "); the peer speaks a different protocol or the stream is corrupt");
}

std::span<const uint8_t> Reader::raw(size_t n)
{
    if (n > remaining())
        truncated("data");
    auto s = d_.subspan(pos_, n);
    pos_ += n;
    return s;
}

uint8_t Reader::u8()
{
    if (remaining() < 1)
        truncated("u8");
    return d_[pos_++];
}

bool Reader::flag()
{
    uint8_t v = u8();
    if (v > 1)
        throw ProtocolError("malformed " + what_ + " message: a flag byte is " + std::to_string(v) +
                            ", not 0 or 1");
    return v;
}

uint16_t Reader::u16()
{
    if (remaining() < 2)
        truncated("u16");
    uint16_t v = le16(&d_[pos_]);
    pos_ += 2;
    return v;
}

uint32_t Reader::u32()
{
    if (remaining() < 4)
        truncated("u32");
    uint32_t v = le32(&d_[pos_]);
    pos_ += 4;
    return v;
}

uint64_t Reader::u64()
{
    if (remaining() < 8)
        truncated("u64");
    uint64_t lo = le32(&d_[pos_]), hi = le32(&d_[pos_ + 4]);
    pos_ += 8;
    return lo | hi << 32;
}

std::span<const uint8_t> Reader::bytesView()
{
    uint32_t n = u32();
    if (n > remaining())
        truncated("byte string");
    return raw(n);
}

std::vector<uint8_t> Reader::bytes()
{
    auto s = bytesView();
    return {s.begin(), s.end()};
}

std::string Reader::str()
{
    auto s = bytesView();
    return {reinterpret_cast<const char *>(s.data()), s.size()};
}

uint32_t Reader::count(size_t minSize)
{
    uint32_t n = u32();
    if (minSize && n > remaining() / minSize)
        throw ProtocolError("malformed " + what_ + " message: a count of " + std::to_string(n) +
                            " elements does not fit in the " + std::to_string(remaining()) +
                            " bytes that follow");
    return n;
}

void Reader::finish()
{
    if (remaining())
        throw ProtocolError("malformed " + what_ + " message: " + std::to_string(remaining()) +
                            " unexpected bytes after its last field");
    finished_ = true;
}

// ---- frames ----

std::vector<uint8_t> encodeFrame(Kind kind, Op op, uint32_t id, std::span<const uint8_t> payload)
{
    if (payload.size() > kPayloadMax)
        throw Error(EMSGSIZE, std::string("a ") + opName(op) + " " + kindName(kind) + " of " +
                                  std::to_string(payload.size()) +
                                  " bytes exceeds the protocol's frame limit of " +
                                  std::to_string(kPayloadMax) + " bytes");
    Writer w;
    w.u32(static_cast<uint32_t>(8 + payload.size()));
    w.u16(static_cast<uint16_t>(kind)).u16(static_cast<uint16_t>(op)).u32(id);
    w.raw(payload);
    return w.take();
}

void validateHeader(Kind kind, uint16_t op, uint32_t id)
{
    bool opOk = op > 0 && op < uint16_t(Op::End);
    switch (kind) {
    case Kind::Hello:
    case Kind::Event:
    case Kind::Ack:
        if (op != 0 || id != 0)
            throw ProtocolError(std::string("malformed ") + kindName(kind) +
                                " frame: it carries op " + std::to_string(op) + " and id " +
                                std::to_string(id) + " where both must be 0");
        return;
    case Kind::Request:
    case Kind::Response:
        if (!opOk)
            throw ProtocolError(std::string("malformed ") + kindName(kind) + " frame: op " +
                                std::to_string(op) + " is not an operation of protocol version " +
                                std::to_string(kVersion));
        return;
    case Kind::Error:
        // op 0 with id 0: the connection itself failed.
        if (!opOk && !(op == 0 && id == 0))
            throw ProtocolError("malformed error frame: op " + std::to_string(op) +
                                " is not an operation of protocol version " +
                                std::to_string(kVersion));
        return;
    }
    throw ProtocolError("malformed frame: kind " + std::to_string(uint16_t(kind)) +
                        " is not one protocol version " + std::to_string(kVersion) +
                        " defines; the peer speaks a different protocol");
}

void FrameDecoder::feed(std::span<const uint8_t> bytes)
{
    // Drop consumed bytes before growing, so the buffer stays about one frame.
    if (pos_ && pos_ == buf_.size()) {
        buf_.clear();
        pos_ = 0;
    } else if (pos_ > (1u << 16) && pos_ * 2 > buf_.size()) {
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(pos_));
        pos_ = 0;
    }
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

namespace {

[[noreturn]] void badLength(uint32_t len)
{
    throw ProtocolError(
        "malformed frame: length " + std::to_string(len) +
        (len < 8 ? " is shorter than the 8-byte header"
                 : " exceeds the protocol's limit of " + std::to_string(kFrameMax) + " bytes"));
}

} // namespace

std::optional<Frame> FrameDecoder::next()
{
    size_t avail = buf_.size() - pos_;
    const uint8_t *p = buf_.data() + pos_;
    if (expectHello_ && avail >= 4) {
        uint32_t len = le32(p);
        bool bad = len < 8 || len > kHelloMax;
        // A Hello, or the Error that refuses the connection.
        uint16_t kind = avail >= 6 ? le16(p + 4) : uint16_t(Kind::Hello);
        if (!bad)
            bad = kind != uint16_t(Kind::Hello) && kind != uint16_t(Kind::Error);
        if (!bad && kind == uint16_t(Kind::Hello) && avail >= 16)
            bad = le32(p + kHeaderSize) != kMagic;
        if (bad) {
            auto b = std::span<const uint8_t>(p, avail);
            throw ProtocolError("the peer does not speak the utrace agent protocol: it began "
                                "with \"" +
                                printablePrefix(b, 24) + "\" (" + hexPrefix(b, 16) + ")");
        }
    }
    if (avail < 4)
        return std::nullopt;
    uint32_t len = le32(p);
    if (len > kFrameMax || len < 8)
        badLength(len);
    if (avail < kHeaderSize)
        return std::nullopt;
    Kind kind = static_cast<Kind>(le16(p + 4));
    uint16_t op = le16(p + 6);
    uint32_t id = le32(p + 8);
    validateHeader(kind, op, id);
    if (avail < kLengthSize + len)
        return std::nullopt;
    Frame f;
    f.kind = kind;
    f.op = static_cast<Op>(op);
    f.id = id;
    f.payload.assign(p + kHeaderSize, p + kLengthSize + len);
    pos_ += kLengthSize + len;
    expectHello_ = false;
    return f;
}

// ---- fixed messages ----

std::vector<uint8_t> encodeHello(const Hello &h)
{
    Writer w;
    w.u32(h.magic).u16(h.version).u16(static_cast<uint16_t>(h.role));
    w.str(h.software.substr(0, 256));
    return w.take();
}

Hello decodeHello(std::span<const uint8_t> payload)
{
    Reader r(payload, "hello");
    Hello h;
    h.magic = r.u32();
    if (h.magic != kMagic)
        throw ProtocolError("the peer does not speak the utrace agent protocol: its hello "
                            "carries magic 0x" +
                            hexPrefix(payload, 4) + " instead of \"UTRC\"");
    h.version = r.u16();
    uint16_t role = r.u16();
    if (role > 1)
        throw ProtocolError("malformed hello message: role " + std::to_string(role) +
                            " is neither client (0) nor agent (1)");
    h.role = static_cast<Role>(role);
    // A newer version may append fields: the version check, not finish(),
    // decides whether we understand them.
    h.software = r.str();
    if (h.version == kVersion)
        r.finish();
    return h;
}

std::vector<uint8_t> encodeError(const Error &e)
{
    Writer w;
    w.i32(e.errnum()).str(e.sentence());
    return w.take();
}

Error decodeError(std::span<const uint8_t> payload)
{
    Reader r(payload, "error");
    int32_t err = r.i32();
    std::string sentence = r.str();
    r.finish();
    if (err < 0 || err > 4095)
        throw ProtocolError("malformed error message: errno " + std::to_string(err) +
                            " is out of range");
    return Error(err, sentence);
}

std::vector<uint8_t> encodeAck(uint64_t bytes)
{
    Writer w;
    w.u64(bytes);
    return w.take();
}

uint64_t decodeAck(std::span<const uint8_t> payload)
{
    Reader r(payload, "ack");
    uint64_t v = r.u64();
    r.finish();
    return v;
}

// ---- Transport values ----

void put(Writer &w, const DeviceInfo &v)
{
    w.u32(v.apiVersion).u64(v.features).str(v.kernelRelease).str(v.moduleVersion);
}

void get(Reader &r, DeviceInfo &v)
{
    v.apiVersion = r.u32();
    v.features = r.u64();
    v.kernelRelease = r.str();
    v.moduleVersion = r.str();
}

void put(Writer &w, const EngineSettings &v)
{
    uint32_t flags = v.captureArgs ? kSettingsCaptureArgs : 0;
    w.u64(v.events).u64(v.stopEvents).u32(flags).u8(v.syscallFilter.has_value());
    if (v.syscallFilter) {
        // 512 bits as 64 bytes, bit n = syscall n.
        for (size_t byte = 0; byte < 64; byte++) {
            uint8_t b = 0;
            for (size_t bit = 0; bit < 8; bit++)
                if ((*v.syscallFilter)[byte * 8 + bit])
                    b |= uint8_t(1u << bit);
            w.u8(b);
        }
    }
}

void get(Reader &r, EngineSettings &v)
{
    v.events = r.u64();
    v.stopEvents = r.u64();
    uint32_t flags = r.u32();
    if (flags & ~kSettingsKnown) {
        char hex[16];
        std::snprintf(hex, sizeof(hex), "%#x", flags & ~kSettingsKnown);
        throw ProtocolError(std::string("malformed engine settings: unknown flags ") + hex);
    }
    v.captureArgs = flags & kSettingsCaptureArgs;
    if (r.flag()) {
        auto bits = r.raw(64);
        std::bitset<512> f;
        for (size_t byte = 0; byte < 64; byte++)
            for (size_t bit = 0; bit < 8; bit++)
                if (bits[byte] & (1u << bit))
                    f.set(byte * 8 + bit);
        v.syscallFilter = f;
    } else {
        v.syscallFilter.reset();
    }
}

void put(Writer &w, const ControlRequest &v)
{
    w.u32(v.action).u32(v.verdict).i32(v.signo).i64(v.retval).u8(v.args.has_value());
    if (v.args)
        for (uint64_t a : *v.args)
            w.u64(a);
}

void get(Reader &r, ControlRequest &v)
{
    v.action = r.u32();
    v.verdict = r.u32();
    v.signo = r.i32();
    v.retval = r.i64();
    if (r.flag()) {
        std::array<uint64_t, 6> a{};
        for (auto &x : a)
            x = r.u64();
        v.args = a;
    } else {
        v.args.reset();
    }
}

void put(Writer &w, const EngineInfo &v)
{
    w.u32(v.handle).i32(v.tid).u64(v.events).u64(v.stopEvents).u32(v.state);
}

void get(Reader &r, EngineInfo &v)
{
    v.handle = r.u32();
    v.tid = r.i32();
    v.events = r.u64();
    v.stopEvents = r.u64();
    v.state = r.u32();
}

void put(Writer &w, const ProcessInfo &v)
{
    w.i32(v.pid).i32(v.ppid).u32(v.uid).str(v.comm).str(v.cmdline);
    w.u32(static_cast<uint32_t>(v.tids.size()));
    for (pid_t t : v.tids)
        w.i32(t);
}

void get(Reader &r, ProcessInfo &v)
{
    v.pid = r.i32();
    v.ppid = r.i32();
    v.uid = r.u32();
    v.comm = r.str();
    v.cmdline = r.str();
    uint32_t n = r.count(4);
    v.tids.resize(n);
    for (auto &t : v.tids)
        t = r.i32();
}

void put(Writer &w, const LaunchSpec &v)
{
    w.u32(static_cast<uint32_t>(v.argv.size()));
    for (auto &a : v.argv)
        w.str(a);
    w.u32(static_cast<uint32_t>(v.env.size()));
    for (auto &e : v.env)
        w.str(e);
    w.str(v.cwd);
}

void get(Reader &r, LaunchSpec &v)
{
    v.argv.resize(r.count(4));
    for (auto &a : v.argv)
        a = r.str();
    v.env.resize(r.count(4));
    for (auto &e : v.env)
        e = r.str();
    v.cwd = r.str();
}

void put(Writer &w, const std::vector<EngineInfo> &v)
{
    w.u32(static_cast<uint32_t>(v.size()));
    for (auto &e : v)
        put(w, e);
}

void get(Reader &r, std::vector<EngineInfo> &v)
{
    v.resize(r.count(28)); // the encoded size of an EngineInfo
    for (auto &e : v)
        get(r, e);
}

void put(Writer &w, const std::vector<ProcessInfo> &v)
{
    w.u32(static_cast<uint32_t>(v.size()));
    for (auto &p : v)
        put(w, p);
}

void get(Reader &r, std::vector<ProcessInfo> &v)
{
    v.resize(r.count(24));
    for (auto &p : v)
        get(r, p);
}

std::vector<std::span<const uint8_t>> splitRecords(std::span<const uint8_t> data, size_t max)
{
    std::vector<std::span<const uint8_t>> out;
    size_t start = 0, pos = 0;
    while (pos < data.size()) {
        size_t rec = data.size() - pos >= 4 ? le32(&data[pos]) : 0;
        if (rec == 0 || rec > data.size() - pos || rec > max) {
            // Not splittable at record boundaries: the rest by byte count.
            if (pos > start)
                out.push_back(data.subspan(start, pos - start));
            for (size_t p = pos; p < data.size(); p += max)
                out.push_back(data.subspan(p, std::min(max, data.size() - p)));
            return out;
        }
        if (pos + rec - start > max) {
            out.push_back(data.subspan(start, pos - start));
            start = pos;
        }
        pos += rec;
    }
    if (pos > start)
        out.push_back(data.subspan(start, pos - start));
    return out;
}

} // namespace utrace::proto
