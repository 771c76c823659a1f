// Threads: one row per traced thread, with its state as the events say.
#pragma once

#include "models/eventstore.hpp"

#include <QAbstractTableModel>
#include <QHash>
#include <span>

namespace utraceui {

class ThreadsModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { TidColumn, TgidColumn, StateColumn, PcColumn, SyscallColumn, ColumnCount };
    enum Role { TidRole = Qt::UserRole + 1, StoppedRole, HandleRole };
    enum class State { Running, Stopped, InSyscall, Exited };

    struct Thread {
        int tid = 0;
        int tgid = 0;
        uint32_t handle = 0;
        State state = State::Running;
        Kind stoppedAt = Kind::Quiesce; // with State::Stopped
        int64_t syscall = -1;           // the syscall it is in, or -1
        uint64_t pc = 0;
        bool pcKnown = false;
        int exitStatus = -1;
    };

    explicit ThreadsModel(QObject *parent = nullptr);
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

    void appendEvents(std::span<const utrace::Event> events);
    // A thread known before its first event (attach, launch).
    void addThread(int tid, int tgid, uint32_t handle);
    void noteResumed(int tid);
    void setPc(int tid, uint64_t pc);
    void clear();

    int rowOfTid(int tid) const { return rows_.value(tid, -1); }
    const Thread *thread(int tid) const;
    const std::vector<Thread> &threads() const { return threads_; }
    QString stateText(const Thread &t) const;

private:
    Thread &get(int tid, int tgid, std::vector<int> *changed, int *inserted);
    std::vector<Thread> threads_;
    QHash<int, int> rows_;
};

} // namespace utraceui
