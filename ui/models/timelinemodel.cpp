#include "models/timelinemodel.hpp"

#include <QSet>
#include <algorithm>

namespace utraceui {

const char *laneStateName(LaneState s)
{
    switch (s) {
    case LaneState::Running:
        return "running";
    case LaneState::Stopped:
        return "stopped";
    case LaneState::InSyscall:
        return "in syscall";
    case LaneState::Exited:
        return "exited";
    }
    return "?";
}

TimelineModel::TimelineModel(QObject *parent) : QAbstractTableModel(parent) {}

int TimelineModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(lanes_.size());
}

int TimelineModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

LaneState TimelineModel::laneState(int lane) const
{
    const Lane &l = *lanes_[size_t(lane)];
    return l.transitions.empty() ? LaneState::Running : l.transitions.back().state;
}

QVariant TimelineModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(lanes_.size()))
        return {};
    const Lane &l = *lanes_[size_t(index.row())];
    if (role == TidRole)
        return l.tid;
    if (role == StateRole)
        return int(laneState(index.row()));
    if (role != Qt::DisplayRole)
        return {};
    switch (index.column()) {
    case TidColumn:
        return l.tid;
    case TgidColumn:
        return l.tgid;
    case EventsColumn:
        return qulonglong(l.markers.size());
    case StateColumn:
        return QString::fromLatin1(laneStateName(laneState(index.row())));
    }
    return {};
}

QVariant TimelineModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case TidColumn:
        return tr("Thread");
    case TgidColumn:
        return tr("Process");
    case EventsColumn:
        return tr("Events");
    case StateColumn:
        return tr("State");
    }
    return {};
}

void TimelineModel::Lane::to(uint64_t t, LaneState s)
{
    if (!transitions.empty()) {
        Transition &last = transitions.back();
        if (last.state == s)
            return;
        if (last.time >= t) { // same instant: the newer state wins
            last.state = s;
            return;
        }
    }
    transitions.push_back({t, s});
}

TimelineModel::Lane &TimelineModel::lane(int tid, int tgid, bool *added)
{
    auto it = laneIndex_.constFind(tid);
    if (it != laneIndex_.constEnd())
        return *lanes_[size_t(*it)];
    auto l = std::make_unique<Lane>();
    l->tid = tid;
    l->tgid = tgid;
    laneIndex_.insert(tid, int(lanes_.size()));
    lanes_.push_back(std::move(l));
    *added = true;
    return *lanes_.back();
}

void TimelineModel::appendEvents(std::span<const utrace::Event> events, int64_t firstRow)
{
    if (events.empty())
        return;
    if (firstRow >= 0)
        nextRow_ = firstRow;
    if (lanes_.empty() && start_ == 0)
        start_ = events.front().timeNs;
    // New lanes are announced (one rowsInserted) before their data is used.
    QList<const utrace::Event *> fresh;
    QSet<int> freshTids;
    for (const auto &e : events)
        if (e.tid && !laneIndex_.contains(e.tid) && !freshTids.contains(e.tid)) {
            freshTids.insert(e.tid);
            fresh.append(&e);
        }
    if (!fresh.isEmpty()) {
        const int from = int(lanes_.size());
        beginInsertRows({}, from, from + int(fresh.size()) - 1);
        bool added = false;
        for (const auto *e : fresh)
            lane(e->tid, e->tgid, &added);
        endInsertRows();
    }
    for (const auto &e : events) {
        const int64_t row = nextRow_++;
        end_ = std::max(end_, e.timeNs);
        if (!e.tid)
            continue; // Lost: no thread
        bool dummy = false;
        Lane &l = lane(e.tid, e.tgid, &dummy);
        const Kind k = kindOf(e);
        l.markers.push_back({e.timeNs, uint32_t(row), uint8_t(k)});
        switch (k) {
        case Kind::SyscallEntry:
            l.inSyscall = true;
            l.to(e.timeNs, e.held ? LaneState::Stopped : LaneState::InSyscall);
            break;
        case Kind::SyscallExit:
            l.inSyscall = false;
            l.to(e.timeNs, e.held ? LaneState::Stopped : LaneState::Running);
            break;
        case Kind::Death:
        case Kind::Reap:
            l.to(e.timeNs, LaneState::Exited);
            break;
        default:
            if (e.held)
                l.to(e.timeNs, LaneState::Stopped);
            else if (l.transitions.empty())
                l.to(e.timeNs, l.inSyscall ? LaneState::InSyscall : LaneState::Running);
            break;
        }
    }
    if (!lanes_.empty())
        emit dataChanged(index(0, EventsColumn), index(int(lanes_.size()) - 1, StateColumn));
}

void TimelineModel::noteResumed(int tid, uint64_t timeNs)
{
    int i = laneOfTid(tid);
    if (i < 0)
        return;
    Lane &l = *lanes_[size_t(i)];
    if (laneState(i) != LaneState::Stopped)
        return;
    timeNs = std::max(timeNs, l.transitions.back().time);
    end_ = std::max(end_, timeNs);
    l.to(timeNs, l.inSyscall ? LaneState::InSyscall : LaneState::Running);
    emit dataChanged(index(i, StateColumn), index(i, StateColumn));
}

void TimelineModel::clear()
{
    beginResetModel();
    lanes_.clear();
    laneIndex_.clear();
    start_ = end_ = 0;
    nextRow_ = 0;
    endResetModel();
}

void TimelineModel::intervals(int laneNo, uint64_t t0, uint64_t t1, uint64_t bucketNs,
                              const std::function<void(const Interval &)> &cb) const
{
    if (laneNo < 0 || laneNo >= int(lanes_.size()) || t1 <= t0)
        return;
    const auto &tr = lanes_[size_t(laneNo)]->transitions;
    const size_t n = tr.size();
    if (n == 0)
        return;
    auto before = [](const Transition &a, uint64_t t) { return a.time <= t; };
    // The transition in force at t0: the last one at or before it.
    size_t i = tr.lowerBound(t0, before);
    i = i ? i - 1 : 0;
    // A live thread is still in its last state: up to the end of the range
    // asked for (the traced machine's "now" is past its last event).
    const uint64_t laneEnd =
        tr[n - 1].state == LaneState::Exited ? tr[n - 1].time : std::max(end_, t1);
    bucketNs = std::max<uint64_t>(bucketNs, 1);
    uint64_t from = t0;
    while (i < n) {
        const uint64_t start = std::max(tr[i].time, from);
        if (start >= t1 || tr[i].state == LaneState::Exited)
            break;
        const uint64_t end = i + 1 < n ? tr[i + 1].time : std::max(laneEnd, start);
        if (end - start >= bucketNs || i + 1 == n) {
            cb({start, std::min(end, t1), tr[i].state, false});
            i++;
            continue;
        }
        // Several intervals shorter than a bucket: one merged interval, then
        // go on from the transition in force at the bucket's end.
        const uint64_t bucketEnd = start + bucketNs;
        cb({start, std::min(bucketEnd, t1), tr[i].state, true});
        i = tr.lowerBound(bucketEnd, before) - 1; // >= i + 1: tr[i + 1].time < bucketEnd
        from = bucketEnd;
    }
}

void TimelineModel::markers(int laneNo, uint64_t t0, uint64_t t1, uint64_t bucketNs,
                            const std::function<void(const Marker &)> &cb) const
{
    if (laneNo < 0 || laneNo >= int(lanes_.size()) || t1 <= t0)
        return;
    const auto &m = lanes_[size_t(laneNo)]->markers;
    auto less = [](const MarkerRec &a, uint64_t t) { return a.time < t; };
    size_t i = m.lowerBound(t0, less);
    bucketNs = std::max<uint64_t>(bucketNs, 1);
    while (i < m.size() && m[i].time < t1) {
        const uint64_t bucketEnd = m[i].time + bucketNs;
        size_t j = m.lowerBound(bucketEnd, less);
        // The bucket shows its most notable event: a signal or a process
        // event outranks syscalls, so a SIGSEGV never hides behind reads.
        size_t best = i;
        if (j - i > 1 && j - i <= 64) {
            for (size_t k = i; k < j; k++)
                if (m[k].kind >= uint8_t(Kind::Signal) && m[k].kind <= uint8_t(Kind::Death) &&
                    !(m[best].kind >= uint8_t(Kind::Signal) &&
                      m[best].kind <= uint8_t(Kind::Death)))
                    best = k;
        }
        cb({m[best].time, m[best].row, Kind(m[best].kind), uint32_t(j - i)});
        i = j;
    }
}

int64_t TimelineModel::markerNear(int laneNo, uint64_t t, uint64_t toleranceNs) const
{
    if (laneNo < 0 || laneNo >= int(lanes_.size()))
        return -1;
    const auto &m = lanes_[size_t(laneNo)]->markers;
    if (m.empty())
        return -1;
    auto less = [](const MarkerRec &a, uint64_t v) { return a.time < v; };
    size_t i = m.lowerBound(t, less);
    int64_t best = -1;
    uint64_t bestDist = toleranceNs + 1;
    for (size_t k : {i ? i - 1 : i, i}) {
        if (k >= m.size())
            continue;
        uint64_t d = m[k].time > t ? m[k].time - t : t - m[k].time;
        if (d < bestDist) {
            bestDist = d;
            best = m[k].row;
        }
    }
    return best;
}

size_t TimelineModel::bytesUsed() const
{
    size_t b = lanes_.capacity() * sizeof(lanes_[0]);
    for (const auto &l : lanes_)
        b += sizeof(Lane) + l->transitions.bytesUsed() + l->markers.bytesUsed();
    return b;
}

} // namespace utraceui
