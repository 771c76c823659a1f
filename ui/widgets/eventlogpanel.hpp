// The event log panel: the virtualized table, filters (kinds, threads,
// text), search (next/previous), pause-follow, export and open JSON lines.
#pragma once

#include <QWidget>

class QCheckBox;
class QLineEdit;
class QTableView;
class QToolButton;
class QLabel;

namespace utraceui {

class EventLogModel;
class EventFilterProxy;

class EventLogPanel : public QWidget {
    Q_OBJECT
public:
    explicit EventLogPanel(EventLogModel *model, QWidget *parent = nullptr);
    QTableView *view() const { return view_; }
    EventFilterProxy *proxy() const { return proxy_; }
    bool filtering() const;
    bool following() const;
    void setFollowing(bool on);
    // Selects (and scrolls to) a row of the source model; clears the filter
    // if it hides that row.
    void showRow(int sourceRow);
    // The source row of the current selection, or -1.
    int currentRow() const;

public slots:
    bool findNext(bool backward = false);
    bool exportTo(const QString &path);
    bool openFrom(const QString &path);

signals:
    void eventSelected(int sourceRow);
    void message(const QString &text);

private:
    void applyFilter();
    void watchSelection();
    QModelIndex toSource(const QModelIndex &viewIndex) const;
    QModelIndex fromSource(int sourceRow) const;
    EventLogModel *model_;
    EventFilterProxy *proxy_;
    QTableView *view_;
    QLineEdit *filter_;
    QLineEdit *tids_;
    QLineEdit *search_;
    QCheckBox *follow_;
    QToolButton *kinds_;
    QLabel *count_;
    int selected_ = -1; // source row
};

} // namespace utraceui
