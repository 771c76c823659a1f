// The processes of the traced machine, for the attach picker
// (Transport::processes()), filtered by a QSortFilterProxyModel.
#pragma once

#include "utrace/error.hpp" // transport.hpp uses Error without including it
#include "utrace/transport.hpp"

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>
#include <vector>

namespace utraceui {

class ProcessListModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { PidColumn, UserColumn, ThreadsColumn, CommandColumn, ColumnCount };
    enum Role { PidRole = Qt::UserRole + 1 };

    explicit ProcessListModel(QObject *parent = nullptr);
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

    // Replaces the list, keeping rows of processes still there (a refresh
    // does not lose the selection).
    void setProcesses(std::vector<utrace::ProcessInfo> list);
    const utrace::ProcessInfo &process(int row) const { return list_[size_t(row)]; }

private:
    std::vector<utrace::ProcessInfo> list_;
};

// Matches the filter text against pid, command line and user, numerically
// sorted by pid.
class ProcessFilterProxy : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit ProcessFilterProxy(QObject *parent = nullptr);

protected:
    bool lessThan(const QModelIndex &l, const QModelIndex &r) const override;
};

} // namespace utraceui
