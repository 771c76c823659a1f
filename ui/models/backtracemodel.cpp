#include "models/backtracemodel.hpp"

#include <QFileInfo>

namespace utraceui {

BacktraceModel::BacktraceModel(QObject *parent) : QAbstractTableModel(parent) {}

int BacktraceModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(frames_.size());
}

int BacktraceModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant BacktraceModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(frames_.size()))
        return {};
    const auto &f = frames_[size_t(index.row())];
    switch (role) {
    case PcRole:
        return qulonglong(f.pc);
    case FileRole:
        return f.source ? QString::fromStdString(f.source->file) : QString();
    case LineRole:
        return f.source ? f.source->line : 0;
    case Qt::ToolTipRole:
        return f.source ? QString::fromStdString(f.source->file) : QString::fromStdString(f.module);
    case Qt::DisplayRole:
        switch (index.column()) {
        case LevelColumn:
            return f.inlined ? QStringLiteral("#%1 (inline)").arg(index.row())
                             : QStringLiteral("#%1").arg(index.row());
        case FunctionColumn:
            if (f.function.empty())
                return QStringLiteral("??");
            return f.offset ? QStringLiteral("%1+0x%2")
                                  .arg(QString::fromStdString(f.function))
                                  .arg(f.offset, 0, 16)
                            : QString::fromStdString(f.function);
        case LocationColumn:
            if (!f.source)
                return {};
            return QStringLiteral("%1:%2")
                .arg(QFileInfo(QString::fromStdString(f.source->file)).fileName())
                .arg(f.source->line);
        case PcColumn:
            return QStringLiteral("0x%1").arg(f.pc, 0, 16);
        case ModuleColumn:
            return QFileInfo(QString::fromStdString(f.module)).fileName();
        }
    }
    return {};
}

QVariant BacktraceModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char *const names[] = {"#", "Function", "Source", "PC", "Module"};
    return section >= 0 && section < ColumnCount ? tr(names[section]) : QVariant();
}

void BacktraceModel::setFrames(std::vector<utrace::Frame> frames)
{
    beginResetModel();
    frames_ = std::move(frames);
    endResetModel();
}

} // namespace utraceui
