// The timeline: a lane per thread, with the intervals the thread spent
// running, stopped, or in a syscall, and a marker per event.
//
// As an item model it lists the lanes (one row per thread); painting asks it
// for the intervals and markers of a lane in a time range, decimated to one
// per pixel, so a view of a million events costs O(pixels · log n).
#pragma once

#include "models/chunkedvector.hpp"
#include "models/eventstore.hpp"

#include <QAbstractTableModel>
#include <QHash>
#include <functional>
#include <span>

namespace utraceui {

enum class LaneState : uint8_t { Running, Stopped, InSyscall, Exited };
const char *laneStateName(LaneState s);

class TimelineModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { TidColumn, TgidColumn, EventsColumn, StateColumn, ColumnCount };
    enum Role { TidRole = Qt::UserRole + 1, StateRole };

    struct Interval {
        uint64_t start;
        uint64_t end;
        LaneState state;
        bool mixed; // several short intervals merged into one bucket; state is the first's
    };
    struct Marker {
        uint64_t time;
        uint32_t row; // the event's row in the event log
        Kind kind;
        uint32_t count; // events merged into this marker's bucket
    };

    explicit TimelineModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

    // Feed the same events, in the same order, as the event log: marker rows
    // are counted from firstRow (-1: continue after the last batch).
    void appendEvents(std::span<const utrace::Event> events, int64_t firstRow = -1);
    // A held thread was resumed (Resume, Step) at this time.
    void noteResumed(int tid, uint64_t timeNs);
    void clear();

    int laneCount() const { return int(lanes_.size()); }
    int laneOfTid(int tid) const { return laneIndex_.value(tid, -1); }
    int laneTid(int lane) const { return lanes_[size_t(lane)]->tid; }
    uint64_t startTime() const { return start_; }
    uint64_t endTime() const { return end_; }
    LaneState laneState(int lane) const;

    void intervals(int lane, uint64_t t0, uint64_t t1, uint64_t bucketNs,
                   const std::function<void(const Interval &)> &cb) const;
    void markers(int lane, uint64_t t0, uint64_t t1, uint64_t bucketNs,
                 const std::function<void(const Marker &)> &cb) const;
    // The event-log row of the marker nearest to t within tolerance, or -1.
    int64_t markerNear(int lane, uint64_t t, uint64_t toleranceNs) const;

    size_t bytesUsed() const;

private:
    // Packed: 9 and 13 bytes instead of 16 each (x86-64 reads unaligned).
    struct [[gnu::packed]] Transition {
        uint64_t time;
        LaneState state;
    };
    struct [[gnu::packed]] MarkerRec {
        uint64_t time;
        uint32_t row;
        uint8_t kind;
    };
    struct Lane {
        int tid = 0;
        int tgid = 0;
        bool inSyscall = false;
        ChunkedVector<Transition, 10> transitions;
        ChunkedVector<MarkerRec, 12> markers;
        void to(uint64_t t, LaneState s);
    };
    Lane &lane(int tid, int tgid, bool *added);

    std::vector<std::unique_ptr<Lane>> lanes_;
    QHash<int, int> laneIndex_;
    uint64_t start_ = 0, end_ = 0;
    int64_t nextRow_ = 0;
};

} // namespace utraceui
