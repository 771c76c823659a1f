// Compact, append-only storage of millions of events for the event log.
//
// A row is 40 bytes; what does not fit in a row (syscall arguments, signal
// details, exec paths) goes to a chunked arena. Rows and arena grow in fixed
// chunks, so appending never copies what is already stored (no reallocation
// stall on the UI thread) and memory is at most one chunk over what is used.
#pragma once

#include "utrace/event.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace utraceui {

// The payload kinds, in utrace::Payload's order (Event::payload.index()).
enum class Kind : uint8_t {
    SyscallEntry = 0,
    SyscallExit,
    Signal,
    Clone,
    Exec,
    Exit,
    Death,
    Reap,
    Quiesce,
    Step,
    Lost,
    Count
};
constexpr int KindCount = static_cast<int>(Kind::Count);
inline Kind kindOf(const utrace::Event &e)
{
    return static_cast<Kind>(e.payload.index());
}
const char *kindName(Kind k);

class EventStore {
public:
    struct Row {
        uint64_t seq;
        uint64_t timeNs;
        int32_t tid;
        int32_t tgid;
        uint32_t handle;
        uint8_t kind;
        uint8_t flags; // Held, HasArgs, GroupDead
        int16_t nr;    // syscall number, signal number, death signal
        uint64_t inl;  // ret, exit code, child tid|handle, lost count, or an arena offset
    };
    static_assert(sizeof(Row) == 40);
    enum Flag : uint8_t { Held = 1, HasArgs = 2, GroupDead = 4 };

    EventStore() = default;
    EventStore(const EventStore &) = delete;
    EventStore &operator=(const EventStore &) = delete;

    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    void append(const utrace::Event &e);
    void clear();

    const Row &row(size_t i) const { return rows_[i >> RowShift][i & (RowsPerChunk - 1)]; }
    Kind kind(size_t i) const { return static_cast<Kind>(row(i).kind); }
    // The full event again, as it was appended.
    utrace::Event event(size_t i) const;
    // Row of the event with this sequence number (binary search: sequence
    // numbers only grow within a session), or -1.
    ptrdiff_t findSeq(uint64_t seq) const;

    // Memory held by the store (rows + arena, whole chunks), for the benchmark.
    size_t bytesUsed() const;

private:
    static constexpr unsigned RowShift = 14; // 16384 rows = 640 KiB per chunk
    static constexpr size_t RowsPerChunk = size_t(1) << RowShift;
    static constexpr unsigned ArenaShift = 20; // 1 MiB per arena chunk
    static constexpr size_t ArenaChunk = size_t(1) << ArenaShift;

    uint64_t arenaAlloc(const void *data, size_t len);
    const uint8_t *arenaAt(uint64_t off) const
    {
        return arena_[off >> ArenaShift].get() + (off & (ArenaChunk - 1));
    }

    std::vector<std::unique_ptr<Row[]>> rows_;
    std::vector<std::unique_ptr<uint8_t[]>> arena_;
    size_t arenaUsed_ = 0; // bytes used in the last arena chunk
    size_t size_ = 0;
};

} // namespace utraceui
