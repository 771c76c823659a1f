#include "models/threadsmodel.hpp"
#include "models/eventtext.hpp"

#include <algorithm>

namespace utraceui {

ThreadsModel::ThreadsModel(QObject *parent) : QAbstractTableModel(parent) {}

int ThreadsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(threads_.size());
}

int ThreadsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString ThreadsModel::stateText(const Thread &t) const
{
    switch (t.state) {
    case State::Running:
        return tr("running");
    case State::Stopped:
        if (t.stoppedAt == Kind::Quiesce)
            return tr("stopped");
        if (t.stoppedAt == Kind::SyscallEntry && t.syscall >= 0)
            return tr("stopped at %1 entry").arg(syscallName(t.syscall));
        if (t.stoppedAt == Kind::SyscallExit && t.syscall >= 0)
            return tr("stopped at %1 exit").arg(syscallName(t.syscall));
        return tr("stopped at %1").arg(QLatin1String(kindName(t.stoppedAt)));
    case State::InSyscall:
        return tr("in syscall %1").arg(syscallName(t.syscall));
    case State::Exited:
        return t.exitStatus >= 0 ? tr("exited (status 0x%1)").arg(t.exitStatus, 0, 16)
                                 : tr("exited");
    }
    return {};
}

QVariant ThreadsModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(threads_.size()))
        return {};
    const Thread &t = threads_[size_t(index.row())];
    switch (role) {
    case TidRole:
        return t.tid;
    case HandleRole:
        return t.handle;
    case StoppedRole:
        return t.state == State::Stopped;
    case Qt::ForegroundRole:
        if (t.state == State::Exited)
            return QColor(Qt::gray);
        if (t.state == State::Stopped)
            return QColor(0xd3, 0x8b, 0x00);
        return {};
    case Qt::DisplayRole:
        switch (index.column()) {
        case TidColumn:
            return t.tid;
        case TgidColumn:
            return t.tgid;
        case StateColumn:
            return stateText(t);
        case PcColumn:
            return t.pcKnown ? QStringLiteral("0x%1").arg(t.pc, 12, 16, QLatin1Char('0'))
                             : QString();
        case SyscallColumn:
            return t.syscall >= 0 ? syscallName(t.syscall) : QString();
        }
    }
    return {};
}

QVariant ThreadsModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case TidColumn:
        return tr("Thread");
    case TgidColumn:
        return tr("Process");
    case StateColumn:
        return tr("State");
    case PcColumn:
        return tr("PC");
    case SyscallColumn:
        return tr("Syscall");
    }
    return {};
}

ThreadsModel::Thread &ThreadsModel::get(int tid, int tgid, std::vector<int> *changed, int *inserted)
{
    auto it = rows_.constFind(tid);
    if (it != rows_.constEnd()) {
        changed->push_back(*it);
        return threads_[size_t(*it)];
    }
    const int row = int(threads_.size());
    beginInsertRows({}, row, row);
    Thread t;
    t.tid = tid;
    t.tgid = tgid;
    threads_.push_back(t);
    rows_.insert(tid, row);
    endInsertRows();
    (*inserted)++;
    return threads_.back();
}

void ThreadsModel::addThread(int tid, int tgid, uint32_t handle)
{
    std::vector<int> changed;
    int inserted = 0;
    Thread &t = get(tid, tgid, &changed, &inserted);
    t.handle = handle;
    if (!changed.empty())
        emit dataChanged(index(changed[0], 0), index(changed[0], ColumnCount - 1));
}

void ThreadsModel::appendEvents(std::span<const utrace::Event> events)
{
    std::vector<int> changed;
    int inserted = 0;
    for (const auto &e : events) {
        if (!e.tid)
            continue;
        Thread &t = get(e.tid, e.tgid, &changed, &inserted);
        if (e.handle)
            t.handle = e.handle;
        const Kind k = kindOf(e);
        switch (k) {
        case Kind::SyscallEntry:
            t.syscall = e.get<utrace::SyscallEntry>()->nr;
            t.state = State::InSyscall;
            break;
        case Kind::SyscallExit:
            t.syscall = e.held ? e.get<utrace::SyscallExit>()->nr : -1;
            t.state = State::Running;
            break;
        case Kind::Exit:
            t.exitStatus = int(e.get<utrace::Exit>()->code);
            break;
        case Kind::Death:
        case Kind::Reap:
            t.state = State::Exited;
            t.syscall = -1;
            break;
        default:
            if (t.state == State::Stopped)
                t.state = t.syscall >= 0 ? State::InSyscall : State::Running;
            break;
        }
        if (e.held && t.state != State::Exited) {
            t.state = State::Stopped;
            t.stoppedAt = k;
        }
    }
    if (changed.empty())
        return;
    auto [lo, hi] = std::minmax_element(changed.begin(), changed.end());
    emit dataChanged(index(*lo, 0), index(*hi, ColumnCount - 1));
}

void ThreadsModel::noteResumed(int tid)
{
    int row = rowOfTid(tid);
    if (row < 0)
        return;
    Thread &t = threads_[size_t(row)];
    if (t.state != State::Stopped)
        return;
    if (t.stoppedAt == Kind::SyscallExit)
        t.syscall = -1;
    t.state = t.stoppedAt == Kind::SyscallEntry ? State::InSyscall : State::Running;
    emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

void ThreadsModel::setPc(int tid, uint64_t pc)
{
    int row = rowOfTid(tid);
    if (row < 0)
        return;
    threads_[size_t(row)].pc = pc;
    threads_[size_t(row)].pcKnown = true;
    emit dataChanged(index(row, PcColumn), index(row, PcColumn));
}

const ThreadsModel::Thread *ThreadsModel::thread(int tid) const
{
    int row = rowOfTid(tid);
    return row < 0 ? nullptr : &threads_[size_t(row)];
}

void ThreadsModel::clear()
{
    beginResetModel();
    threads_.clear();
    rows_.clear();
    endResetModel();
}

} // namespace utraceui
