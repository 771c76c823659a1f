// The live process tree: fork, exec and exit as the events report them.
#pragma once

#include <QAbstractItemModel>
#include <QHash>
#include <QSet>
#include <memory>
#include <span>

#include "utrace/event.hpp"

namespace utraceui {

class ProcessTreeModel : public QAbstractItemModel {
    Q_OBJECT
public:
    enum Column { PidColumn, NameColumn, StateColumn, ThreadsColumn, ColumnCount };
    enum Role { PidRole = Qt::UserRole + 1, AliveRole };

    explicit ProcessTreeModel(QObject *parent = nullptr);
    ~ProcessTreeModel() override;

    QModelIndex index(int row, int column, const QModelIndex &parent = {}) const override;
    QModelIndex parent(const QModelIndex &child) const override;
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

    // A process known before its events (attached or launched).
    void addProcess(int pid, const QString &name, int parentPid = 0);
    void appendEvents(std::span<const utrace::Event> events);
    void clear();

    QModelIndex indexOfPid(int pid, int column = 0) const;
    int processCount() const { return int(nodes_.size()); }

private:
    struct Node {
        int pid = 0;
        QString name;
        bool alive = true;
        int64_t exitCode = -1; // wait status
        QSet<int> threads;
        Node *parent = nullptr;
        std::vector<Node *> children;
    };
    Node *ensure(int pid, int parentPid, const QString &name);
    int rowOf(const Node *n) const;
    void changed(Node *n);

    QHash<int, Node *> nodes_;
    std::vector<std::unique_ptr<Node>> storage_;
    std::vector<Node *> roots_;
};

} // namespace utraceui
