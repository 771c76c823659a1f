#include "models/breakpointsmodel.hpp"

#include <QJsonObject>

namespace utraceui {

BreakpointsModel::BreakpointsModel(QObject *parent) : QAbstractTableModel(parent) {}

int BreakpointsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(list_.size());
}

int BreakpointsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant BreakpointsModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(list_.size()))
        return {};
    const auto &b = list_[size_t(index.row())];
    if (role == AddressRole)
        return qulonglong(b.address);
    if (role == Qt::CheckStateRole && index.column() == EnabledColumn)
        return b.enabled ? Qt::Checked : Qt::Unchecked;
    if (role != Qt::DisplayRole)
        return {};
    switch (index.column()) {
    case AddressColumn:
        return QStringLiteral("0x%1").arg(b.address, 0, 16);
    case LocationColumn:
        return b.location;
    case HitsColumn:
        return b.hits;
    }
    return {};
}

QVariant BreakpointsModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case EnabledColumn:
        return tr("On");
    case AddressColumn:
        return tr("Address");
    case LocationColumn:
        return tr("Location");
    case HitsColumn:
        return tr("Hits");
    }
    return {};
}

Qt::ItemFlags BreakpointsModel::flags(const QModelIndex &index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
    if (index.column() == EnabledColumn)
        f |= Qt::ItemIsUserCheckable;
    return f;
}

bool BreakpointsModel::setData(const QModelIndex &index, const QVariant &value, int role)
{
    if (!index.isValid() || index.column() != EnabledColumn || role != Qt::CheckStateRole)
        return false;
    auto &b = list_[size_t(index.row())];
    const bool on = value.toInt() == Qt::Checked;
    if (on == b.enabled)
        return true;
    b.enabled = on;
    emit dataChanged(index, index);
    emit breakpointChanged(b.address, on);
    return true;
}

int BreakpointsModel::rowOf(uint64_t address) const
{
    for (size_t i = 0; i < list_.size(); i++)
        if (list_[i].address == address)
            return int(i);
    return -1;
}

int BreakpointsModel::add(uint64_t address, const QString &location)
{
    if (int r = rowOf(address); r >= 0)
        return r;
    const int row = int(list_.size());
    beginInsertRows({}, row, row);
    list_.push_back({address, location, true, 0});
    endInsertRows();
    emit breakpointChanged(address, true);
    return row;
}

void BreakpointsModel::remove(int row)
{
    if (row < 0 || row >= int(list_.size()))
        return;
    const auto b = list_[size_t(row)];
    beginRemoveRows({}, row, row);
    list_.erase(list_.begin() + row);
    endRemoveRows();
    if (b.enabled)
        emit breakpointChanged(b.address, false);
}

void BreakpointsModel::toggle(uint64_t address, const QString &location)
{
    if (int r = rowOf(address); r >= 0)
        remove(r);
    else
        add(address, location);
}

void BreakpointsModel::hit(uint64_t address)
{
    if (int r = rowOf(address); r >= 0) {
        list_[size_t(r)].hits++;
        emit dataChanged(index(r, HitsColumn), index(r, HitsColumn));
    }
}

void BreakpointsModel::clear()
{
    while (!list_.empty())
        remove(int(list_.size()) - 1);
}

QJsonArray BreakpointsModel::toJson() const
{
    QJsonArray a;
    for (const auto &b : list_)
        a.append(
            QJsonObject{{QStringLiteral("address"), QStringLiteral("0x%1").arg(b.address, 0, 16)},
                        {QStringLiteral("location"), b.location},
                        {QStringLiteral("enabled"), b.enabled}});
    return a;
}

void BreakpointsModel::fromJson(const QJsonArray &a)
{
    clear();
    for (const auto &v : a) {
        QJsonObject o = v.toObject();
        bool ok = false;
        uint64_t addr = o.value(QLatin1String("address")).toString().mid(2).toULongLong(&ok, 16);
        if (!ok)
            continue;
        int row = add(addr, o.value(QLatin1String("location")).toString());
        if (!o.value(QLatin1String("enabled")).toBool(true))
            setData(index(row, EnabledColumn), Qt::Unchecked, Qt::CheckStateRole);
    }
}

} // namespace utraceui
