#include "models/registersmodel.hpp"

#include <QColor>
#include <QStringList>
#include <cstring>

namespace utraceui {

namespace {
// In user_regs_struct order.
const char *const kNames[] = {"r15",     "r14",      "r13", "r12", "rbp",    "rbx", "r11",
                              "r10",     "r9",       "r8",  "rax", "rcx",    "rdx", "rsi",
                              "rdi",     "orig_rax", "rip", "cs",  "eflags", "rsp", "ss",
                              "fs_base", "gs_base",  "ds",  "es",  "fs",     "gs"};
static_assert(sizeof(kNames) / sizeof(kNames[0]) == RegistersModel::RegisterCount);

QString eflagsText(unsigned long long f)
{
    static const struct {
        int bit;
        const char *name;
    } bits[] = {{0, "CF"}, {2, "PF"}, {4, "AF"},  {6, "ZF"}, {7, "SF"},
                {8, "TF"}, {9, "IF"}, {10, "DF"}, {11, "OF"}};
    QStringList on;
    for (auto b : bits)
        if (f & (1ull << b.bit))
            on << QLatin1String(b.name);
    return on.join(QLatin1Char(' '));
}
} // namespace

RegistersModel::RegistersModel(QObject *parent) : QAbstractTableModel(parent) {}

const char *RegistersModel::registerName(int i)
{
    return i >= 0 && i < RegisterCount ? kNames[i] : "";
}

int RegistersModel::rowOf(const char *name)
{
    for (int i = 0; i < RegisterCount; i++)
        if (!std::strcmp(kNames[i], name))
            return i;
    return -1;
}

unsigned long long RegistersModel::value(const user_regs_struct &r, int i) const
{
    unsigned long long v;
    std::memcpy(&v, reinterpret_cast<const char *>(&r) + size_t(i) * sizeof(v), sizeof(v));
    return v;
}

int RegistersModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() || !valid_ ? 0 : RegisterCount;
}

int RegistersModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant RegistersModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || !valid_ || index.row() >= RegisterCount)
        return {};
    const int i = index.row();
    const unsigned long long v = value(regs_, i);
    const bool changed = prevValid_ && value(prev_, i) != v;
    switch (role) {
    case Qt::DisplayRole:
    case Qt::EditRole:
        switch (index.column()) {
        case NameColumn:
            return QString::fromLatin1(kNames[i]);
        case ValueColumn:
            return QStringLiteral("0x%1").arg(v, 16, 16, QLatin1Char('0'));
        case DecimalColumn:
            if (i == rowOf("eflags"))
                return eflagsText(v);
            return QString::number(static_cast<long long>(v));
        }
        return {};
    case Qt::FontRole:
        return {};
    case Qt::BackgroundRole:
        return changed ? QVariant(QColor(255, 236, 160)) : QVariant();
    case Qt::ForegroundRole:
        return changed ? QVariant(QColor(Qt::black)) : QVariant();
    case Qt::ToolTipRole:
        return changed ? tr("Changed since the last stop (was 0x%1)").arg(value(prev_, i), 0, 16)
                       : QVariant();
    case ChangedRole:
        return changed;
    }
    return {};
}

QVariant RegistersModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case NameColumn:
        return tr("Register");
    case ValueColumn:
        return tr("Value");
    case DecimalColumn:
        return tr("Decimal / flags");
    }
    return {};
}

Qt::ItemFlags RegistersModel::flags(const QModelIndex &index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
    if (editable_ && index.column() == ValueColumn)
        f |= Qt::ItemIsEditable;
    return f;
}

bool RegistersModel::setData(const QModelIndex &index, const QVariant &value, int role)
{
    if (!editable_ || role != Qt::EditRole || !index.isValid() || index.column() != ValueColumn ||
        !valid_)
        return false;
    QString s = value.toString().trimmed();
    bool ok = false;
    unsigned long long v =
        s.startsWith(QLatin1String("0x"), Qt::CaseInsensitive) ? s.mid(2).toULongLong(&ok, 16)
        : s.startsWith(QLatin1Char('-')) ? static_cast<unsigned long long>(s.toLongLong(&ok))
                                         : s.toULongLong(&ok);
    if (!ok)
        return false;
    std::memcpy(reinterpret_cast<char *>(&regs_) + size_t(index.row()) * sizeof(v), &v, sizeof(v));
    emit dataChanged(this->index(index.row(), 0), this->index(index.row(), ColumnCount - 1));
    emit registersEdited(regs_);
    return true;
}

void RegistersModel::setRegisters(const user_regs_struct &r)
{
    const bool wasValid = valid_;
    if (wasValid) {
        prev_ = regs_;
        prevValid_ = true;
    }
    regs_ = r;
    if (!wasValid) {
        beginInsertRows({}, 0, RegisterCount - 1);
        valid_ = true;
        endInsertRows();
    } else {
        emit dataChanged(index(0, 0), index(RegisterCount - 1, ColumnCount - 1));
    }
}

void RegistersModel::clearRegisters()
{
    if (!valid_)
        return;
    // The previous values stay, to highlight changes at the next stop.
    prev_ = regs_;
    prevValid_ = true;
    beginRemoveRows({}, 0, RegisterCount - 1);
    valid_ = false;
    endRemoveRows();
}

} // namespace utraceui
