// Breakpoints: address, where it is (symbol, file:line), enabled, hits.
#pragma once

#include <QAbstractTableModel>
#include <QJsonArray>
#include <vector>

namespace utraceui {

class BreakpointsModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { EnabledColumn, AddressColumn, LocationColumn, HitsColumn, ColumnCount };
    enum Role { AddressRole = Qt::UserRole + 1 };
    struct Breakpoint {
        uint64_t address = 0;
        QString location; // "main", "demo.c:12": what the user asked for
        bool enabled = true;
        int hits = 0;
    };

    explicit BreakpointsModel(QObject *parent = nullptr);
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    bool setData(const QModelIndex &index, const QVariant &value, int role = Qt::EditRole) override;

    // Returns the row; an address already there is not added twice.
    int add(uint64_t address, const QString &location);
    void remove(int row);
    void toggle(uint64_t address, const QString &location); // gutter click
    int rowOf(uint64_t address) const;
    void hit(uint64_t address);
    const std::vector<Breakpoint> &breakpoints() const { return list_; }
    void clear();

    QJsonArray toJson() const;
    void fromJson(const QJsonArray &a);

signals:
    // Inserted, removed, enabled or disabled: the controller plants or lifts it.
    void breakpointChanged(uint64_t address, bool active);

private:
    std::vector<Breakpoint> list_;
};

} // namespace utraceui
