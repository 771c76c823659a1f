// Parsing of /dev/utrace event records (docs/utrace-dev.md, "Event records").
#include "utrace/event.hpp"
#include "utrace/error.hpp"

#include <linux/utrace.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace utrace {

namespace {

template <class T> T load(const uint8_t *p)
{
    T v;
    std::memcpy(&v, p, sizeof(v)); // records are 8-aligned, but the caller's buffer may not be
    return v;
}

[[noreturn]] void malformed(const std::string &why, uint64_t seq)
{
    throw Error(EPROTO, "malformed event record (after seq " + std::to_string(seq) + "): " + why +
                            "; the module and the library disagree on the record format");
}

} // namespace

const char *kindName(const Event &e)
{
    static const char *const names[] = {"syscall-entry", "syscall-exit", "signal", "clone",
                                        "exec",          "exit",         "death",  "reap",
                                        "quiesce",       "step",         "lost"};
    static_assert(std::variant_size_v<Payload> == sizeof(names) / sizeof(names[0]));
    return names[e.payload.index()];
}

std::vector<Event> parseRecords(std::span<const uint8_t> data)
{
    std::vector<Event> out;
    size_t off = 0;
    uint64_t lastSeq = 0;
    constexpr size_t hdr = sizeof(utrace_event);
    while (off < data.size()) {
        if (data.size() - off < hdr)
            malformed("a truncated header", lastSeq);
        const uint8_t *p = data.data() + off;
        auto h = load<utrace_event>(p);
        if (h.size < hdr || h.size % 8 || h.size > data.size() - off)
            malformed("size " + std::to_string(h.size) + " is impossible", lastSeq);
        const uint8_t *body = p + hdr;
        size_t blen = h.size - hdr;
        auto need = [&](size_t n) {
            if (blen < n)
                malformed("record type " + std::to_string(h.type) + " is too short", lastSeq);
        };
        Event e;
        e.seq = h.seq;
        e.timeNs = h.time_ns;
        e.handle = h.handle;
        e.tid = h.tid;
        e.tgid = h.tgid;
        e.held = h.flags & UTRACE_REC_HELD;
        switch (h.type) {
        case UTRACE_REC_SYSCALL_ENTRY: {
            need(sizeof(utrace_ev_syscall_entry));
            auto r = load<utrace_ev_syscall_entry>(body);
            SyscallEntry s;
            s.nr = r.nr;
            s.hasArgs = h.flags & UTRACE_REC_ARGS;
            for (int i = 0; i < 6; i++)
                s.args[i] = r.args[i];
            e.payload = s;
            break;
        }
        case UTRACE_REC_SYSCALL_EXIT: {
            need(sizeof(utrace_ev_syscall_exit));
            auto r = load<utrace_ev_syscall_exit>(body);
            e.payload = SyscallExit{r.nr, r.ret};
            break;
        }
        case UTRACE_REC_SIGNAL: {
            need(sizeof(utrace_ev_signal));
            auto r = load<utrace_ev_signal>(body);
            Signal s;
            s.signo = r.signo;
            s.code = r.code;
            s.err = r.err;
            if (r.disposition > UTRACE_DISP_TSTP)
                malformed("signal disposition " + std::to_string(r.disposition), lastSeq);
            s.disposition = static_cast<SignalDisposition>(r.disposition);
            std::memcpy(s.siginfo.data(), r.siginfo, sizeof(r.siginfo));
            e.payload = s;
            break;
        }
        case UTRACE_REC_CLONE: {
            need(sizeof(utrace_ev_clone));
            auto r = load<utrace_ev_clone>(body);
            // reserved carries the followed child's handle (0 when not followed)
#ifdef UTRACE_FEAT_FOLLOW
            e.payload = Clone{r.child_tid, r.child_handle, r.clone_flags};
#else
            e.payload = Clone{r.child_tid, r.reserved, r.clone_flags};
#endif
            break;
        }
        case UTRACE_REC_EXEC: {
            need(sizeof(utrace_ev_exec));
            auto r = load<utrace_ev_exec>(body);
            // the path and its NUL must fit in the record
            if (blen < sizeof(utrace_ev_exec) + 1 || r.path_len > blen - sizeof(utrace_ev_exec) - 1)
                malformed("exec path longer than its record", lastSeq);
            const char *path = reinterpret_cast<const char *>(body + sizeof(utrace_ev_exec));
            e.payload = Exec{std::string(path, r.path_len)};
            break;
        }
        case UTRACE_REC_EXIT: {
            need(sizeof(utrace_ev_exit));
            e.payload = Exit{load<utrace_ev_exit>(body).code};
            break;
        }
        case UTRACE_REC_DEATH: {
            need(sizeof(utrace_ev_death));
            auto r = load<utrace_ev_death>(body);
            e.payload = Death{r.group_dead != 0, r.signal};
            break;
        }
        case UTRACE_REC_REAP:
            e.payload = Reap{};
            break;
        case UTRACE_REC_QUIESCE:
            e.payload = Quiesce{};
            break;
        case UTRACE_REC_STEP:
            e.payload = Step{};
            break;
        case UTRACE_REC_LOST: {
            need(sizeof(utrace_ev_lost));
            e.payload = Lost{load<utrace_ev_lost>(body).count};
            break;
        }
        default:
            malformed("unknown type " + std::to_string(h.type), lastSeq);
        }
        lastSeq = e.seq;
        out.push_back(std::move(e));
        off += h.size;
    }
    return out;
}

} // namespace utrace
