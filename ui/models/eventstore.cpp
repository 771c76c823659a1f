#include "models/eventstore.hpp"

#include <algorithm>
#include <cstring>

namespace utraceui {

const char *kindName(Kind k)
{
    static const char *const names[] = {"syscall-entry", "syscall-exit", "signal", "clone",
                                        "exec",          "exit",         "death",  "reap",
                                        "quiesce",       "step",         "lost"};
    static_assert(sizeof(names) / sizeof(names[0]) == KindCount);
    auto i = static_cast<size_t>(k);
    return i < KindCount ? names[i] : "?";
}

namespace {
struct SignalBlob {
    int32_t code;
    int32_t err;
    uint32_t disposition;
    uint32_t pad;
    uint8_t siginfo[128];
};
struct CloneBlob {
    uint64_t flags;
    int32_t childTid;
    uint32_t childHandle;
};
} // namespace

uint64_t EventStore::arenaAlloc(const void *data, size_t len)
{
    size_t need = (len + 7) & ~size_t(7);
    if (need > ArenaChunk)
        need = len = ArenaChunk; // an exec path longer than 1 MiB is cut there
    if (arena_.empty() || ArenaChunk - arenaUsed_ < need) {
        arena_.push_back(std::make_unique_for_overwrite<uint8_t[]>(ArenaChunk));
        arenaUsed_ = 0;
    }
    uint64_t off = (uint64_t(arena_.size() - 1) << ArenaShift) | arenaUsed_;
    std::memcpy(arena_.back().get() + arenaUsed_, data, len);
    arenaUsed_ += need;
    return off;
}

void EventStore::append(const utrace::Event &e)
{
    if ((size_ & (RowsPerChunk - 1)) == 0 && (size_ >> RowShift) == rows_.size())
        rows_.push_back(std::make_unique_for_overwrite<Row[]>(RowsPerChunk));
    Row &r = rows_[size_ >> RowShift][size_ & (RowsPerChunk - 1)];
    r.seq = e.seq;
    r.timeNs = e.timeNs;
    r.tid = e.tid;
    r.tgid = e.tgid;
    r.handle = e.handle;
    r.kind = static_cast<uint8_t>(e.payload.index());
    r.flags = e.held ? Held : 0;
    r.nr = 0;
    r.inl = 0;
    std::visit(
        [&](const auto &p) {
            using T = std::decay_t<decltype(p)>;
            if constexpr (std::is_same_v<T, utrace::SyscallEntry>) {
                r.nr = static_cast<int16_t>(p.nr);
                if (p.hasArgs) {
                    r.flags |= HasArgs;
                    r.inl = arenaAlloc(p.args.data(), sizeof(p.args));
                }
            } else if constexpr (std::is_same_v<T, utrace::SyscallExit>) {
                r.nr = static_cast<int16_t>(p.nr);
                r.inl = static_cast<uint64_t>(p.ret);
            } else if constexpr (std::is_same_v<T, utrace::Signal>) {
                r.nr = static_cast<int16_t>(p.signo);
                SignalBlob b{p.code, p.err, static_cast<uint32_t>(p.disposition), 0, {}};
                std::memcpy(b.siginfo, p.siginfo.data(), sizeof(b.siginfo));
                r.inl = arenaAlloc(&b, sizeof(b));
            } else if constexpr (std::is_same_v<T, utrace::Clone>) {
                CloneBlob b{p.cloneFlags, p.childTid, p.childHandle};
                r.inl = arenaAlloc(&b, sizeof(b));
            } else if constexpr (std::is_same_v<T, utrace::Exec>) {
                std::vector<uint8_t> buf(4 + p.path.size());
                uint32_t len =
                    static_cast<uint32_t>(std::min<size_t>(p.path.size(), ArenaChunk - 4));
                std::memcpy(buf.data(), &len, 4);
                std::memcpy(buf.data() + 4, p.path.data(), len);
                r.inl = arenaAlloc(buf.data(), 4 + len);
            } else if constexpr (std::is_same_v<T, utrace::Exit>) {
                r.inl = static_cast<uint64_t>(p.code);
            } else if constexpr (std::is_same_v<T, utrace::Death>) {
                r.nr = static_cast<int16_t>(p.signal);
                if (p.groupDead)
                    r.flags |= GroupDead;
            } else if constexpr (std::is_same_v<T, utrace::Lost>) {
                r.inl = p.count;
            }
        },
        e.payload);
    size_++;
}

utrace::Event EventStore::event(size_t i) const
{
    const Row &r = row(i);
    utrace::Event e;
    e.seq = r.seq;
    e.timeNs = r.timeNs;
    e.tid = r.tid;
    e.tgid = r.tgid;
    e.handle = r.handle;
    e.held = r.flags & Held;
    switch (static_cast<Kind>(r.kind)) {
    case Kind::SyscallEntry: {
        utrace::SyscallEntry s;
        s.nr = r.nr;
        if (r.flags & HasArgs) {
            s.hasArgs = true;
            std::memcpy(s.args.data(), arenaAt(r.inl), sizeof(s.args));
        }
        e.payload = s;
        break;
    }
    case Kind::SyscallExit:
        e.payload = utrace::SyscallExit{r.nr, static_cast<int64_t>(r.inl)};
        break;
    case Kind::Signal: {
        SignalBlob b;
        std::memcpy(&b, arenaAt(r.inl), sizeof(b));
        utrace::Signal s;
        s.signo = r.nr;
        s.code = b.code;
        s.err = b.err;
        s.disposition = static_cast<utrace::SignalDisposition>(b.disposition);
        std::memcpy(s.siginfo.data(), b.siginfo, sizeof(b.siginfo));
        e.payload = s;
        break;
    }
    case Kind::Clone: {
        CloneBlob b;
        std::memcpy(&b, arenaAt(r.inl), sizeof(b));
        e.payload = utrace::Clone{b.childTid, b.childHandle, b.flags};
        break;
    }
    case Kind::Exec: {
        const uint8_t *p = arenaAt(r.inl);
        uint32_t len;
        std::memcpy(&len, p, 4);
        e.payload = utrace::Exec{std::string(reinterpret_cast<const char *>(p + 4), len)};
        break;
    }
    case Kind::Exit:
        e.payload = utrace::Exit{static_cast<int64_t>(r.inl)};
        break;
    case Kind::Death:
        e.payload = utrace::Death{(r.flags & GroupDead) != 0, r.nr};
        break;
    case Kind::Reap:
        e.payload = utrace::Reap{};
        break;
    case Kind::Quiesce:
        e.payload = utrace::Quiesce{};
        break;
    case Kind::Step:
        e.payload = utrace::Step{};
        break;
    case Kind::Lost:
    case Kind::Count:
        e.payload = utrace::Lost{r.inl};
        break;
    }
    return e;
}

ptrdiff_t EventStore::findSeq(uint64_t seq) const
{
    size_t lo = 0, hi = size_;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (row(mid).seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < size_ && row(lo).seq == seq)
        return static_cast<ptrdiff_t>(lo);
    // Logs loaded from several files may not be sorted: look everywhere.
    for (size_t i = 0; i < size_; i++)
        if (row(i).seq == seq)
            return static_cast<ptrdiff_t>(i);
    return -1;
}

void EventStore::clear()
{
    rows_.clear();
    arena_.clear();
    arenaUsed_ = 0;
    size_ = 0;
}

size_t EventStore::bytesUsed() const
{
    return rows_.size() * RowsPerChunk * sizeof(Row) + arena_.size() * ArenaChunk +
           rows_.capacity() * sizeof(rows_[0]) + arena_.capacity() * sizeof(arena_[0]);
}

} // namespace utraceui
