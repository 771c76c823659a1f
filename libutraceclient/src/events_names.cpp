// utrace::ev::parse/format: event masks as readable names.
#include "utrace/error.hpp"
#include "utrace/session.hpp"

#include <cerrno>

namespace utrace::ev {

namespace {

struct Name {
    const char *name;
    uint64_t bits;
};

// Single bits first (format() prefers them in bit order), then the groups
// parse() also accepts.
constexpr Name kNames[] = {
    {"quiesce", Quiesce},
    {"reap", Reap},
    {"clone", Clone},
    {"exec", Exec},
    {"exit", Exit},
    {"death", Death},
    {"syscall-entry", SyscallEntry},
    {"syscall-exit", SyscallExit},
    {"signal", Signal},
    {"signal-ignored", SignalIgn},
    {"signal-stop", SignalStop},
    {"signal-term", SignalTerm},
    {"signal-core", SignalCore},
};

constexpr Name kGroups[] = {
    {"all", All},          {"none", None},         {"syscall", Syscall},
    {"syscalls", Syscall}, {"signals", SignalAll}, {"signal-all", SignalAll},
};

std::string trim(const std::string &s)
{
    size_t b = s.find_first_not_of(" \t");
    size_t e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

} // namespace

uint64_t parse(const std::string &names)
{
    uint64_t bits = 0;
    size_t start = 0;
    for (;;) {
        size_t end = names.find_first_of(",|", start);
        std::string w = trim(names.substr(start, end == std::string::npos ? end : end - start));
        for (char &c : w) {
            if (c == '_')
                c = '-';
            if (c >= 'A' && c <= 'Z')
                c = char(c - 'A' + 'a');
        }
        if (!w.empty()) {
            bool found = false;
            for (const auto &n : kNames)
                if (w == n.name) {
                    bits |= n.bits;
                    found = true;
                }
            for (const auto &n : kGroups)
                if (w == n.name) {
                    bits |= n.bits;
                    found = true;
                }
            if (!found) {
                std::string known;
                for (const auto &n : kNames)
                    known += std::string(known.empty() ? "" : ", ") + n.name;
                throw Error(EINVAL, "unknown event \"" + w + "\": use " + known +
                                        ", or the groups syscall, signals, all, none");
            }
        }
        if (end == std::string::npos)
            break;
        start = end + 1;
    }
    return bits;
}

std::string format(uint64_t bits)
{
    if (bits == None)
        return "none";
    std::string out;
    auto add = [&](const char *n) { out += std::string(out.empty() ? "" : ",") + n; };
    if ((bits & All) == All) {
        add("all");
        bits &= ~All;
    }
    for (const auto &n : kNames)
        if (bits & n.bits) {
            add(n.name);
            bits &= ~n.bits;
        }
    for (int i = 0; i < 64; ++i)
        if (bits & (1ull << i))
            add(("bit" + std::to_string(i)).c_str());
    return out;
}

} // namespace utrace::ev
