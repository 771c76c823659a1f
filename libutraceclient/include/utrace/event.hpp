// utrace client library: event records as typed values.
//
// One Event per record the device returned (docs/utrace-dev.md, "Event
// records"): the common header fields plus a std::variant of the typed payload.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace utrace {

struct SyscallEntry {
    int64_t nr = 0;
    std::array<uint64_t, 6> args{};
    bool hasArgs = false; // false unless the engine captures arguments
};

struct SyscallExit {
    int64_t nr = 0;
    int64_t ret = 0;
};

enum class SignalDisposition : uint32_t {
    Deliver = 0,
    Ignore,
    Terminate,
    Core,
    Stop,
    TerminalStop
};

struct Signal {
    int signo = 0;
    int code = 0;
    int err = 0;
    SignalDisposition disposition = SignalDisposition::Deliver;
    std::array<uint8_t, 128> siginfo{}; // as siginfo_t
};

struct Clone {
    int childTid = 0;
    uint32_t childHandle = 0; // the followed child's engine in this session, else 0
    uint64_t cloneFlags = 0;
};

struct Exec {
    std::string path;
};

struct Exit {
    int64_t code = 0; // wait status
};

struct Death {
    bool groupDead = false;
    int signal = 0;
};

struct Reap {};
struct Quiesce {};
struct Step {};

struct Lost {
    uint64_t count = 0;
};

using Payload = std::variant<SyscallEntry, SyscallExit, Signal, Clone, Exec, Exit, Death, Reap,
                             Quiesce, Step, Lost>;

struct Event {
    uint64_t seq = 0;
    uint64_t timeNs = 0; // CLOCK_MONOTONIC of the traced machine
    uint32_t handle = 0; // engine; 0 for Lost
    int tid = 0;
    int tgid = 0;
    bool held = false; // the thread waits for a Thread/Engine resume call
    Payload payload;

    template <class T> bool is() const { return std::holds_alternative<T>(payload); }
    template <class T> const T *get() const { return std::get_if<T>(&payload); }
};

// Short lower-case name of the payload kind: "syscall-entry", "signal", "lost", ...
const char *kindName(const Event &e);

// Parses concatenated whole records as read(2) returns them. Throws Error
// (EPROTO) on a malformed record; never reads past data.
std::vector<Event> parseRecords(std::span<const uint8_t> data);

} // namespace utrace
