// The backtrace of the selected stopped thread, inline frames included.
#pragma once

#include "utrace/symbolizer.hpp"

#include <QAbstractTableModel>
#include <vector>

namespace utraceui {

class BacktraceModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        LevelColumn,
        FunctionColumn,
        LocationColumn,
        PcColumn,
        ModuleColumn,
        ColumnCount
    };
    enum Role { PcRole = Qt::UserRole + 1, FileRole, LineRole };

    explicit BacktraceModel(QObject *parent = nullptr);
    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

    void setFrames(std::vector<utrace::Frame> frames);
    const std::vector<utrace::Frame> &frames() const { return frames_; }

private:
    std::vector<utrace::Frame> frames_;
};

} // namespace utraceui
