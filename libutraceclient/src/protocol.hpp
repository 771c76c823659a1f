// The utrace agent protocol: how a RemoteTransport and utrace-agent speak
// over a byte stream (TCP, or a command's stdin/stdout).
//
// Every frame, in either direction:
//
//   u32 length    bytes after this field: 8 + payload, at most kFrameMax
//   u16 kind      Kind
//   u16 op        Op: the Transport method of a Request, Response or Error;
//                 None for Hello, Event and Ack (and a connection-level Error)
//   u32 id        request id, echoed by its Response or Error; 0 otherwise
//   payload       typed fields, little-endian; bytes/strings are u32 length +
//                 data; optional values a u8 presence flag first
//
// A connection: the client sends Hello, the agent answers with Hello (once
// it has opened its /dev/utrace) or with an Error (id 0) saying why not, and
// closes. The Hello frame keeps this layout in every protocol version, so a
// mismatch is always reported, never misparsed. Then the client sends
// Requests, one Response or Error per Request; the agent pushes Event frames
// (whole event records, as read(2) on /dev/utrace returns them) whenever its
// device has some, and the client acknowledges consumed event bytes with Ack
// frames: the agent keeps at most kEventWindow unacknowledged bytes in
// flight, so a client that stops reading leaves the records in the kernel's
// bounded queue (where held threads wait and report-only engines count LOST
// records) instead of in the agent's or client's memory.
//
// Anything malformed (a bad length, kind or op, a truncated or overlong
// payload) is a ProtocolError (EPROTO): the side that sees it sends an Error
// frame with id 0 when it can, and closes the connection.
#pragma once

#include "utrace/error.hpp"
#include "utrace/transport.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace utrace::proto {

constexpr uint32_t kMagic = 0x43525455; // "UTRC" as little-endian bytes
constexpr uint16_t kVersion = 1;
constexpr size_t kLengthSize = 4;
constexpr size_t kHeaderSize = 12;        // length + kind + op + id
constexpr uint32_t kFrameMax = 16u << 20; // the length field's bound
constexpr uint32_t kPayloadMax = kFrameMax - 8;
constexpr uint32_t kHelloMax = 4096;          // a Hello frame's length bound
constexpr uint32_t kChunk = 4u << 20;         // memory/file bytes per request
constexpr uint32_t kEventBatchMax = 1u << 20; // event bytes per Event frame
constexpr uint64_t kEventWindow = 4u << 20;   // unacknowledged event bytes

enum class Kind : uint16_t { Hello = 1, Request = 2, Response = 3, Error = 4, Event = 5, Ack = 6 };

// One per Transport method.
enum class Op : uint16_t {
    None = 0,
    Version,
    Attach,
    SetEvents,
    Control,
    Barrier,
    Detach,
    GetRegs,
    SetRegs,
    ReadMemory,
    WriteMemory,
    List,
    SetQueueSize,
    ReadFile,
    Processes,
    Launch,
    Release,
    Reap,
    Kill,
    Prove, // added in the same version: an older agent answers "unknown request"
    End    // one past the last
};

const char *opName(Op op);

// A malformed frame or payload. Always EPROTO.
class ProtocolError : public Error {
public:
    explicit ProtocolError(const std::string &sentence) : Error(EPROTO, sentence) {}
};

struct Frame {
    Kind kind = Kind::Hello;
    Op op = Op::None;
    uint32_t id = 0;
    std::vector<uint8_t> payload;
};

// Little-endian field writer.
class Writer {
public:
    Writer &u8(uint8_t v);
    Writer &u16(uint16_t v);
    Writer &u32(uint32_t v);
    Writer &u64(uint64_t v);
    Writer &i32(int32_t v) { return u32(static_cast<uint32_t>(v)); }
    Writer &i64(int64_t v) { return u64(static_cast<uint64_t>(v)); }
    Writer &bytes(std::span<const uint8_t> b);
    Writer &str(const std::string &s);
    Writer &raw(std::span<const uint8_t> b);
    const std::vector<uint8_t> &data() const { return buf_; }
    std::vector<uint8_t> take() { return std::move(buf_); }

private:
    std::vector<uint8_t> buf_;
};

// Little-endian field reader over one payload. Every read is bounds-checked
// and throws ProtocolError naming `what` (the message being decoded).
class Reader {
public:
    Reader(std::span<const uint8_t> data, std::string what) : d_(data), what_(std::move(what)) {}
    uint8_t u8();
    bool flag(); // a u8 that must be 0 or 1
    uint16_t u16();
    uint32_t u32();
    uint64_t u64();
    int32_t i32() { return static_cast<int32_t>(u32()); }
    int64_t i64() { return static_cast<int64_t>(u64()); }
    std::vector<uint8_t> bytes();
    std::span<const uint8_t> bytesView();
    std::string str();
    std::span<const uint8_t> raw(size_t n);
    // A count of elements that each take at least minSize bytes: rejects a
    // count the remaining payload cannot hold (before anything is allocated).
    uint32_t count(size_t minSize);
    // The payload must end here.
    void finish();
    bool finished() const { return finished_; }
    size_t remaining() const { return d_.size() - pos_; }

private:
    [[noreturn]] void truncated(const char *field) const;
    std::span<const uint8_t> d_;
    size_t pos_ = 0;
    std::string what_;
    bool finished_ = false;
};

// A whole frame, ready to write. Throws Error(EMSGSIZE) when the payload
// exceeds kPayloadMax.
std::vector<uint8_t> encodeFrame(Kind kind, Op op, uint32_t id, std::span<const uint8_t> payload);

// Reassembles frames from a byte stream. feed() what arrived, then take
// frames with next() until it returns nullopt. next() throws ProtocolError on
// a malformed header; the stream cannot be resynchronised after that.
class FrameDecoder {
public:
    void feed(std::span<const uint8_t> bytes);
    std::optional<Frame> next();
    size_t buffered() const { return buf_.size() - pos_; }
    // Limits the first frame to a Hello (or an Error refusing the
    // connection) of at most kHelloMax bytes, so that a peer speaking
    // something else is named as such instead of as a bad length.
    void expectHello(bool on) { expectHello_ = on; }

private:
    std::vector<uint8_t> buf_;
    size_t pos_ = 0;
    bool expectHello_ = false;
};

// Throws ProtocolError if the frame's kind/op/id combination is not one the
// protocol defines (FrameDecoder::next() applies it to every frame).
void validateHeader(Kind kind, uint16_t op, uint32_t id);

// Hello payload: u32 magic, u16 version, u16 role, string software.
enum class Role : uint16_t { Client = 0, Agent = 1 };
struct Hello {
    uint32_t magic = kMagic;
    uint16_t version = kVersion;
    Role role = Role::Client;
    std::string software; // "utrace 0.1.0 (hostname)"
};
std::vector<uint8_t> encodeHello(const Hello &h);
// Decodes and checks the magic (ProtocolError) but not the version.
Hello decodeHello(std::span<const uint8_t> payload);

// Error payload: i32 errno, string sentence.
std::vector<uint8_t> encodeError(const Error &e);
Error decodeError(std::span<const uint8_t> payload);

// Ack payload: u64 event bytes consumed.
std::vector<uint8_t> encodeAck(uint64_t bytes);
uint64_t decodeAck(std::span<const uint8_t> payload);

// EngineSettings flags on the wire; a new EngineSettings field gets a bit.
constexpr uint32_t kSettingsCaptureArgs = 0x1;
constexpr uint32_t kSettingsKnown = kSettingsCaptureArgs;

// The typed values of the Transport interface.
void put(Writer &w, const DeviceInfo &v);
void put(Writer &w, const EngineSettings &v);
void put(Writer &w, const ControlRequest &v);
void put(Writer &w, const EngineInfo &v);
void put(Writer &w, const ProcessInfo &v);
void put(Writer &w, const LaunchSpec &v);
void put(Writer &w, const std::vector<EngineInfo> &v);
void put(Writer &w, const std::vector<ProcessInfo> &v);
void get(Reader &r, DeviceInfo &v);
void get(Reader &r, EngineSettings &v);
void get(Reader &r, ControlRequest &v);
void get(Reader &r, EngineInfo &v);
void get(Reader &r, ProcessInfo &v);
void get(Reader &r, LaunchSpec &v);
void get(Reader &r, std::vector<EngineInfo> &v);
void get(Reader &r, std::vector<ProcessInfo> &v);

// Splits concatenated event records into pieces of at most `max` bytes at
// record boundaries (a record's first u32 is its size). A record that does
// not fit, or a broken size, ends the splitting by byte count instead: the
// client's parseRecords() reports such data.
std::vector<std::span<const uint8_t>> splitRecords(std::span<const uint8_t> data, size_t max);

// --- The agent side -----------------------------------------------------

struct ServeOptions {
    // Readable: stop serving (the agent's SIGTERM). -1: none.
    int stopFd = -1;
    // Who is on the other side, for log lines.
    std::string peer = "client";
    // Log lines (without newline); empty: no logging.
    std::function<void(const std::string &)> log;
    // Sent in our Hello.
    std::string software;
};

// Serves one connection: reads the client's Hello, opens a Transport with
// `open` (its Error goes to the client instead of a Hello), then answers
// requests and forwards event records until the peer closes the stream, a
// protocol error, or stopFd. The Transport is destroyed before this returns,
// so the session's engines are detached and the threads they held run.
// Returns a sentence saying why the connection ended.
std::string serve(const std::function<std::unique_ptr<Transport>()> &open, int inFd, int outFd,
                  const ServeOptions &o);

// --- The client side ----------------------------------------------------

// A RemoteTransport over an already-connected stream (a socketpair end, a
// TCP socket), which it owns from now on. `where` names the peer in errors.
// `child`: a process to wait for (and end if it lingers) on close, or -1.
// Performs the Hello exchange; throws Error on failure (closing fd).
std::unique_ptr<Transport> openRemoteFd(int fd, const std::string &where, pid_t child = -1,
                                        int helloTimeoutMs = 30000);

} // namespace utrace::proto
