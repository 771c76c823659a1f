#include "models/processtreemodel.hpp"
#include "models/eventtext.hpp"

#include <QColor>
#include <QFileInfo>
#include <QSet>
#include <algorithm>
#include <linux/sched.h>

namespace utraceui {

ProcessTreeModel::ProcessTreeModel(QObject *parent) : QAbstractItemModel(parent) {}
ProcessTreeModel::~ProcessTreeModel() = default;

int ProcessTreeModel::rowOf(const Node *n) const
{
    const auto &siblings = n->parent ? n->parent->children : roots_;
    return int(std::find(siblings.begin(), siblings.end(), n) - siblings.begin());
}

QModelIndex ProcessTreeModel::index(int row, int column, const QModelIndex &parent) const
{
    if (row < 0 || column < 0 || column >= ColumnCount)
        return {};
    if (parent.isValid() && parent.column() != 0)
        return {};
    const auto &list =
        parent.isValid() ? static_cast<Node *>(parent.internalPointer())->children : roots_;
    if (row >= int(list.size()))
        return {};
    return createIndex(row, column, list[size_t(row)]);
}

QModelIndex ProcessTreeModel::parent(const QModelIndex &child) const
{
    if (!child.isValid())
        return {};
    Node *n = static_cast<Node *>(child.internalPointer());
    if (!n->parent)
        return {};
    return createIndex(rowOf(n->parent), 0, n->parent);
}

int ProcessTreeModel::rowCount(const QModelIndex &parent) const
{
    if (!parent.isValid())
        return int(roots_.size());
    if (parent.column() != 0)
        return 0;
    return int(static_cast<Node *>(parent.internalPointer())->children.size());
}

int ProcessTreeModel::columnCount(const QModelIndex &) const
{
    return ColumnCount;
}

QVariant ProcessTreeModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid())
        return {};
    const Node *n = static_cast<Node *>(index.internalPointer());
    switch (role) {
    case PidRole:
        return n->pid;
    case AliveRole:
        return n->alive;
    case Qt::ForegroundRole:
        return n->alive ? QVariant() : QVariant(QColor(Qt::gray));
    case Qt::DisplayRole:
        switch (index.column()) {
        case PidColumn:
            return n->pid;
        case NameColumn:
            return n->name;
        case StateColumn:
            if (n->alive)
                return tr("running");
            if (n->exitCode >= 0 && (n->exitCode & 0x7f))
                return tr("killed by %1").arg(signalName(int(n->exitCode & 0x7f)));
            if (n->exitCode >= 0)
                return tr("exited, status %1").arg((n->exitCode >> 8) & 0xff);
            return tr("exited");
        case ThreadsColumn:
            return int(n->threads.size());
        }
    }
    return {};
}

QVariant ProcessTreeModel::headerData(int section, Qt::Orientation o, int role) const
{
    if (o != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case PidColumn:
        return tr("PID");
    case NameColumn:
        return tr("Program");
    case StateColumn:
        return tr("State");
    case ThreadsColumn:
        return tr("Threads");
    }
    return {};
}

QModelIndex ProcessTreeModel::indexOfPid(int pid, int column) const
{
    Node *n = nodes_.value(pid);
    return n ? createIndex(rowOf(n), column, n) : QModelIndex();
}

ProcessTreeModel::Node *ProcessTreeModel::ensure(int pid, int parentPid, const QString &name)
{
    if (Node *n = nodes_.value(pid))
        return n;
    Node *parent = parentPid ? nodes_.value(parentPid) : nullptr;
    auto &list = parent ? parent->children : roots_;
    const int row = int(list.size());
    beginInsertRows(parent ? createIndex(rowOf(parent), 0, parent) : QModelIndex(), row, row);
    storage_.push_back(std::make_unique<Node>());
    Node *n = storage_.back().get();
    n->pid = pid;
    n->name = name;
    n->parent = parent;
    n->threads.insert(pid);
    list.push_back(n);
    nodes_.insert(pid, n);
    endInsertRows();
    return n;
}

void ProcessTreeModel::changed(Node *n)
{
    const int row = rowOf(n);
    emit dataChanged(createIndex(row, 0, n), createIndex(row, ColumnCount - 1, n));
}

void ProcessTreeModel::addProcess(int pid, const QString &name, int parentPid)
{
    Node *n = ensure(pid, parentPid, name);
    if (!name.isEmpty() && n->name != name) {
        n->name = name;
        changed(n);
    }
}

void ProcessTreeModel::appendEvents(std::span<const utrace::Event> events)
{
    QSet<Node *> touched;
    for (const auto &e : events) {
        if (!e.tgid)
            continue;
        Node *n = ensure(e.tgid, 0, QString());
        if (n->threads.contains(e.tid) == false) {
            n->threads.insert(e.tid);
            touched.insert(n);
        }
        if (auto *c = e.get<utrace::Clone>()) {
            if (c->cloneFlags & CLONE_THREAD) {
                n->threads.insert(c->childTid);
            } else {
                Node *child = ensure(c->childTid, n->pid, n->name);
                touched.insert(child);
            }
            touched.insert(n);
        } else if (auto *x = e.get<utrace::Exec>()) {
            n->name = QFileInfo(QString::fromStdString(x->path)).fileName();
            n->alive = true;
            touched.insert(n);
        } else if (auto *ex = e.get<utrace::Exit>()) {
            // The leader's status, or the last thread's (the group's).
            if (e.tid == e.tgid || n->exitCode < 0)
                n->exitCode = ex->code;
        } else if (auto *d = e.get<utrace::Death>()) {
            n->threads.remove(e.tid);
            if (d->groupDead || n->threads.isEmpty())
                n->alive = false;
            touched.insert(n);
        }
    }
    for (Node *n : touched)
        changed(n);
}

void ProcessTreeModel::clear()
{
    beginResetModel();
    nodes_.clear();
    roots_.clear();
    storage_.clear();
    endResetModel();
}

} // namespace utraceui
