#include "models/memorymodel.hpp"

#include <QColor>

namespace utraceui {

MemoryModel::MemoryModel(QObject *parent) : QAbstractTableModel(parent) {}

int MemoryModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : (size_ + BytesPerRow - 1) / BytesPerRow;
}

int MemoryModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : AsciiColumn + 1;
}

int MemoryModel::offsetOf(const QModelIndex &index) const
{
    return index.row() * BytesPerRow + index.column() - FirstByteColumn;
}

QVariant MemoryModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount())
        return {};
    const uint64_t rowAddr = addr_ + uint64_t(index.row()) * BytesPerRow;
    if (role == AddressRole)
        return qulonglong(index.column() >= FirstByteColumn && index.column() < AsciiColumn
                              ? rowAddr + uint64_t(index.column() - FirstByteColumn)
                              : rowAddr);
    if (index.column() == AddressColumn)
        return role == Qt::DisplayRole
                   ? QVariant(QStringLiteral("%1").arg(rowAddr, 16, 16, QLatin1Char('0')))
                   : QVariant();
    if (index.column() == AsciiColumn) {
        if (role != Qt::DisplayRole)
            return {};
        QString s;
        for (int i = 0; i < BytesPerRow; i++) {
            const int off = index.row() * BytesPerRow + i;
            if (off >= size_)
                break;
            if (off >= bytes_.size()) {
                s += QLatin1Char(' ');
                continue;
            }
            const char c = bytes_[off];
            s += c >= 0x20 && c < 0x7f ? QLatin1Char(c) : QLatin1Char('.');
        }
        return s;
    }
    const int off = offsetOf(index);
    if (off >= size_)
        return {};
    const bool readable = off < bytes_.size();
    const qint64 prevOff = qint64(addr_ + uint64_t(off)) - qint64(prevAddr_);
    const bool changed =
        readable && prevOff >= 0 && prevOff < prev_.size() && prev_[prevOff] != bytes_[off];
    switch (role) {
    case Qt::DisplayRole:
    case Qt::EditRole:
        return readable ? QStringLiteral("%1").arg(uint8_t(bytes_[off]), 2, 16, QLatin1Char('0'))
                        : QStringLiteral("??");
    case Qt::BackgroundRole:
        return changed ? QVariant(QColor(255, 236, 160)) : QVariant();
    case Qt::ForegroundRole:
        return changed    ? QVariant(QColor(Qt::black))
               : readable ? QVariant()
                          : QVariant(QColor(Qt::gray));
    case ChangedRole:
        return changed;
    }
    return {};
}

QVariant MemoryModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    if (section == AddressColumn)
        return tr("Address");
    if (section == AsciiColumn)
        return tr("ASCII");
    return QStringLiteral("%1").arg(section - FirstByteColumn, 0, 16).toUpper();
}

Qt::ItemFlags MemoryModel::flags(const QModelIndex &index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
    if (editable_ && index.column() >= FirstByteColumn && index.column() < AsciiColumn &&
        offsetOf(index) < bytes_.size())
        f |= Qt::ItemIsEditable;
    return f;
}

bool MemoryModel::setData(const QModelIndex &index, const QVariant &value, int role)
{
    if (role != Qt::EditRole || !(flags(index) & Qt::ItemIsEditable))
        return false;
    bool ok = false;
    const uint v = value.toString().trimmed().toUInt(&ok, 16);
    if (!ok || v > 0xff)
        return false;
    const int off = offsetOf(index);
    bytes_[off] = char(v);
    emit dataChanged(index, index);
    emit dataChanged(this->index(index.row(), AsciiColumn), this->index(index.row(), AsciiColumn));
    emit memoryEdited(addr_ + uint64_t(off), QByteArray(1, char(v)));
    return true;
}

void MemoryModel::setMemory(uint64_t address, const QByteArray &bytes, int size)
{
    beginResetModel();
    prev_ = bytes_;
    prevAddr_ = addr_;
    addr_ = address;
    bytes_ = bytes.left(size);
    size_ = size;
    endResetModel();
}

} // namespace utraceui
