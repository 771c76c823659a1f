#include "models/processlistmodel.hpp"

#include <algorithm>

namespace utraceui {

ProcessListModel::ProcessListModel(QObject *parent) : QAbstractTableModel(parent) {}

int ProcessListModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(list_.size());
}

int ProcessListModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ProcessListModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(list_.size()))
        return {};
    const auto &p = list_[size_t(index.row())];
    if (role == PidRole)
        return p.pid;
    if (role != Qt::DisplayRole && role != Qt::ToolTipRole)
        return {};
    switch (index.column()) {
    case PidColumn:
        return p.pid;
    case UserColumn: {
        // The uid of the traced machine; names only make sense locally.
        return QString::number(p.uid);
    }
    case ThreadsColumn:
        return int(p.tids.size());
    case CommandColumn:
        return QString::fromStdString(p.cmdline.empty() ? "[" + p.comm + "]" : p.cmdline);
    }
    return {};
}

QVariant ProcessListModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case PidColumn:
        return tr("PID");
    case UserColumn:
        return tr("UID");
    case ThreadsColumn:
        return tr("Threads");
    case CommandColumn:
        return tr("Command");
    }
    return {};
}

void ProcessListModel::setProcesses(std::vector<utrace::ProcessInfo> list)
{
    std::sort(list.begin(), list.end(), [](auto &a, auto &b) { return a.pid < b.pid; });
    // Merge by pid: remove the gone, update the kept, insert the new, so
    // views keep selection and scroll position across a refresh.
    size_t i = 0, j = 0;
    while (i < list_.size() || j < list.size()) {
        if (j == list.size() || (i < list_.size() && list_[i].pid < list[j].pid)) {
            beginRemoveRows({}, int(i), int(i));
            list_.erase(list_.begin() + ptrdiff_t(i));
            endRemoveRows();
        } else if (i == list_.size() || list[j].pid < list_[i].pid) {
            beginInsertRows({}, int(i), int(i));
            list_.insert(list_.begin() + ptrdiff_t(i), std::move(list[j]));
            endInsertRows();
            i++;
            j++;
        } else {
            list_[i] = std::move(list[j]);
            emit dataChanged(index(int(i), 0), index(int(i), ColumnCount - 1));
            i++;
            j++;
        }
    }
}

ProcessFilterProxy::ProcessFilterProxy(QObject *parent) : QSortFilterProxyModel(parent)
{
    setFilterKeyColumn(-1);
    setFilterCaseSensitivity(Qt::CaseInsensitive);
    setSortRole(Qt::DisplayRole);
}

bool ProcessFilterProxy::lessThan(const QModelIndex &l, const QModelIndex &r) const
{
    if (l.column() == ProcessListModel::PidColumn || l.column() == ProcessListModel::ThreadsColumn)
        return l.data().toInt() < r.data().toInt();
    return QSortFilterProxyModel::lessThan(l, r);
}

} // namespace utraceui
