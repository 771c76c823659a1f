// The event log: every event of the session, virtualized over EventStore.
//
// Events arrive in batches (appendEvents), one rowsInserted per batch. Text
// is rendered only for rows a view asks for, and cached for the visible ones.
#pragma once

#include "models/eventstore.hpp"

#include <QAbstractTableModel>
#include <QCache>
#include <QSet>
#include <QSortFilterProxyModel>
#include <span>

class QIODevice;

namespace utraceui {

class EventLogModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { SeqColumn, TimeColumn, TidColumn, KindColumn, DetailColumn, ColumnCount };
    enum Role {
        KindRole = Qt::UserRole + 1, // int (Kind)
        TidRole,
        TgidRole,
        SeqRole,
        TimeNsRole,
        HeldRole,
        SyscallNrRole, // syscall number, or signal number for signals; -1 otherwise
    };

    explicit EventLogModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

    void appendEvents(std::span<const utrace::Event> events);
    void clear();

    const EventStore &store() const { return store_; }
    utrace::Event event(int row) const { return store_.event(size_t(row)); }
    int rowOfSeq(uint64_t seq) const { return int(store_.findSeq(seq)); }
    QString detail(int row) const;
    // The time column counts from this (the first event's time).
    uint64_t timeBase() const { return timeBase_; }

    // Row of the next (or previous) event whose kind, tid or text contains
    // text, starting after (before) from, wrapping around; -1 if none.
    int findNext(const QString &text, int from, bool backward = false) const;
    bool rowMatches(int row, const QString &text) const;

    // JSON lines, one event per line. Returns false with *error set to one
    // sentence (which line, what is wrong) on failure.
    bool exportJsonLines(QIODevice &out, QString *error = nullptr) const;
    bool loadJsonLines(QIODevice &in, QString *error = nullptr);

private:
    EventStore store_;
    uint64_t timeBase_ = 0;
    mutable QCache<int, QString> detailCache_{4096};
};

// Filter by kinds, threads and text, over EventLogModel.
class EventFilterProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit EventFilterProxy(QObject *parent = nullptr);
    void setKindMask(uint32_t mask); // bit (1 << Kind); all bits: every kind
    uint32_t kindMask() const { return kindMask_; }
    void setTids(const QSet<int> &tids); // empty: every thread
    void setText(const QString &text);   // empty: no text filter
    bool isFiltering() const;

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    uint32_t kindMask_ = (1u << KindCount) - 1;
    QSet<int> tids_;
    QString text_;
};

} // namespace utraceui
