#include "models/eventlogmodel.hpp"
#include "models/eventtext.hpp"

#include <QIODevice>
#include <QJsonDocument>
#include <QJsonObject>

namespace utraceui {

EventLogModel::EventLogModel(QObject *parent) : QAbstractTableModel(parent) {}

int EventLogModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(store_.size());
}

int EventLogModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString EventLogModel::detail(int row) const
{
    if (QString *s = detailCache_.object(row))
        return *s;
    QString text = eventDetail(store_.event(size_t(row)));
    detailCache_.insert(row, new QString(text));
    return text;
}

QVariant EventLogModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(store_.size()))
        return {};
    const auto &r = store_.row(size_t(index.row()));
    const Kind k = static_cast<Kind>(r.kind);
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case SeqColumn:
            return qulonglong(r.seq);
        case TimeColumn:
            return QString::number(double(r.timeNs - std::min(r.timeNs, timeBase_)) / 1e9, 'f', 6);
        case TidColumn:
            return r.tid;
        case KindColumn:
            return r.flags & EventStore::Held ? QLatin1String(kindName(k)) + QStringLiteral(" ■")
                                              : QString::fromLatin1(kindName(k));
        case DetailColumn:
            return detail(index.row());
        }
        return {};
    case Qt::ToolTipRole:
        if (r.flags & EventStore::Held)
            return tr("The thread is held here until you resume it.");
        return {};
    case Qt::ForegroundRole:
        return kindColor(k);
    case Qt::TextAlignmentRole:
        if (index.column() <= TidColumn)
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    case KindRole:
        return int(k);
    case TidRole:
        return r.tid;
    case TgidRole:
        return r.tgid;
    case SeqRole:
        return qulonglong(r.seq);
    case TimeNsRole:
        return qulonglong(r.timeNs);
    case HeldRole:
        return bool(r.flags & EventStore::Held);
    case SyscallNrRole:
        return k == Kind::SyscallEntry || k == Kind::SyscallExit || k == Kind::Signal ? int(r.nr)
                                                                                      : -1;
    }
    return {};
}

QVariant EventLogModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case SeqColumn:
        return tr("Seq");
    case TimeColumn:
        return tr("Time (s)");
    case TidColumn:
        return tr("Thread");
    case KindColumn:
        return tr("Event");
    case DetailColumn:
        return tr("Detail");
    }
    return {};
}

void EventLogModel::appendEvents(std::span<const utrace::Event> events)
{
    if (events.empty())
        return;
    if (store_.empty())
        timeBase_ = events.front().timeNs;
    const int first = int(store_.size());
    beginInsertRows({}, first, first + int(events.size()) - 1);
    for (const auto &e : events)
        store_.append(e);
    endInsertRows();
}

void EventLogModel::clear()
{
    beginResetModel();
    store_.clear();
    detailCache_.clear();
    timeBase_ = 0;
    endResetModel();
}

bool EventLogModel::rowMatches(int row, const QString &text) const
{
    const auto &r = store_.row(size_t(row));
    if (QString::number(r.tid) == text)
        return true;
    if (QLatin1String(kindName(static_cast<Kind>(r.kind))).contains(text, Qt::CaseInsensitive))
        return true;
    return detail(row).contains(text, Qt::CaseInsensitive);
}

int EventLogModel::findNext(const QString &text, int from, bool backward) const
{
    const int n = int(store_.size());
    if (n == 0 || text.isEmpty())
        return -1;
    for (int step = 1; step <= n; step++) {
        int row = backward ? from - step : from + step;
        row = ((row % n) + n) % n;
        if (rowMatches(row, text))
            return row;
    }
    return -1;
}

bool EventLogModel::exportJsonLines(QIODevice &out, QString *error) const
{
    for (size_t i = 0; i < store_.size(); i++) {
        QByteArray line =
            QJsonDocument(eventToJson(store_.event(i))).toJson(QJsonDocument::Compact);
        line += '\n';
        if (out.write(line) != line.size()) {
            if (error)
                *error = tr("Writing the event log failed (%1); check the disk has room and "
                            "the file is writable.")
                             .arg(out.errorString());
            return false;
        }
    }
    return true;
}

bool EventLogModel::loadJsonLines(QIODevice &in, QString *error)
{
    std::vector<utrace::Event> batch;
    int lineNo = 0;
    while (!in.atEnd()) {
        QByteArray line = in.readLine().trimmed();
        lineNo++;
        if (line.isEmpty())
            continue;
        QJsonParseError pe;
        QJsonDocument doc = QJsonDocument::fromJson(line, &pe);
        QString why;
        std::optional<utrace::Event> e;
        if (pe.error != QJsonParseError::NoError || !doc.isObject())
            why = pe.error != QJsonParseError::NoError ? pe.errorString()
                                                       : tr("the line is not a JSON object");
        else
            e = eventFromJson(doc.object(), &why);
        if (!e) {
            if (error)
                *error = tr("Line %1 of the event log is not an event (%2); open a file saved "
                            "by \"Export JSON lines\" or by utrace --json.")
                             .arg(lineNo)
                             .arg(why);
            appendEvents(batch);
            return false;
        }
        batch.push_back(std::move(*e));
        if (batch.size() == 65536) {
            appendEvents(batch);
            batch.clear();
        }
    }
    appendEvents(batch);
    return true;
}

EventFilterProxy::EventFilterProxy(QObject *parent) : QSortFilterProxyModel(parent)
{
    setDynamicSortFilter(true);
}

void EventFilterProxy::setKindMask(uint32_t mask)
{
    if (mask == kindMask_)
        return;
    kindMask_ = mask;
    invalidateFilter();
}

void EventFilterProxy::setTids(const QSet<int> &tids)
{
    if (tids == tids_)
        return;
    tids_ = tids;
    invalidateFilter();
}

void EventFilterProxy::setText(const QString &text)
{
    if (text == text_)
        return;
    text_ = text;
    invalidateFilter();
}

bool EventFilterProxy::isFiltering() const
{
    return kindMask_ != (1u << KindCount) - 1 || !tids_.isEmpty() || !text_.isEmpty();
}

bool EventFilterProxy::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    auto *log = qobject_cast<const EventLogModel *>(sourceModel());
    if (!log || sourceParent.isValid())
        return true;
    const auto &r = log->store().row(size_t(sourceRow));
    if (!(kindMask_ & (1u << r.kind)))
        return false;
    if (!tids_.isEmpty() && !tids_.contains(r.tid))
        return false;
    return text_.isEmpty() || log->rowMatches(sourceRow, text_);
}

} // namespace utraceui
