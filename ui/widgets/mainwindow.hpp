// The main window: dockable panels over the models, the toolbar of thread
// control, classroom mode, and session save/restore (JSON).
#pragma once

#include "controller/controller.hpp"

#include <QJsonObject>
#include <QMainWindow>
#include <QPointer>

class QAction;
class QDockWidget;
class QLabel;
class QLineEdit;
class QProcess;
class QTableView;
class QTimer;
class QTreeView;

namespace utraceui {

class BacktraceModel;
class BreakpointsModel;
class ClassroomPanel;
class DisassemblyModel;
class EnginesPanel;
class EventLogModel;
class EventLogPanel;
class MemoryModel;
class ProcessListModel;
class ProcessTreeModel;
class ProcessesPanel;
class RegistersModel;
class SourceView;
class ThreadsModel;
class TimelineModel;
class TimelineView;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    Controller *controller() const { return ctl_; }
    EventLogModel *eventLog() const { return log_; }
    TimelineModel *timeline() const { return timeline_; }
    ThreadsModel *threads() const { return threads_; }
    RegistersModel *registers() const { return regs_; }
    ProcessTreeModel *processTree() const { return tree_; }
    BreakpointsModel *breakpoints() const { return bps_; }
    EventLogPanel *eventLogPanel() const { return logPanel_; }
    TimelineView *timelineView() const { return timelineView_; }
    SourceView *sourceView() const { return source_; }
    ClassroomPanel *classroom() const { return classroom_; }
    EnginesPanel *engines() const { return engines_; }
    ProcessesPanel *processes() const { return processesPanel_; }
    DisassemblyModel *disassembly() const { return dis_; }
    BacktraceModel *backtrace() const { return bt_; }
    MemoryModel *memory() const { return mem_; }
    QAction *action(const QString &name) const;
    QString lastError() const { return lastError_; }

    // The thread the toolbar acts on (an engine handle), and its process.
    uint32_t currentHandle() const { return handle_; }
    int currentPid() const { return pid_; }
    void selectThread(int tid);

    QJsonObject saveSession() const;
    // Applies a saved session; with reconnect, connects and re-launches or
    // re-attaches its targets.
    void restoreSession(const QJsonObject &s, bool reconnect = true);
    bool saveSessionTo(const QString &path);
    bool loadSessionFrom(const QString &path);

    void setClassroomMode(bool on);
    void setFontScale(int percent);
    // Feeds events as if the controller had read them (tests, offline logs).
    void addEvents(const EventBatch &batch);

public slots:
    void connectTo(const QString &where);
    void startDemoVm(const QString &command, const QString &where);
    void showConnectDialog();

signals:
    void sessionReady();

protected:
    void closeEvent(QCloseEvent *e) override;

private:
    QDockWidget *dock(const QString &name, const QString &title, QWidget *w, Qt::DockWidgetArea a);
    void buildActions();
    void onEvents(const EventBatch &batch);
    void onInspected(const Inspection &in);
    void onAttached(int pid, const QString &name, const QList<int> &tids,
                    const QList<uint32_t> &handles);
    void showError(const QString &sentence);
    void explainRow(int row);
    void updateActions();
    void updateSourceBreakpoints();
    void pushBreakpoints();
    bool currentStopped() const;

    Controller *ctl_;
    EventLogModel *log_;
    TimelineModel *timeline_;
    ThreadsModel *threads_;
    RegistersModel *regs_;
    ProcessTreeModel *tree_;
    ProcessListModel *procs_;
    BreakpointsModel *bps_;
    BacktraceModel *bt_;
    MemoryModel *mem_;
    DisassemblyModel *dis_;

    EventLogPanel *logPanel_;
    TimelineView *timelineView_;
    SourceView *source_;
    ClassroomPanel *classroom_;
    EnginesPanel *engines_;
    ProcessesPanel *processesPanel_;
    QTableView *threadsView_;
    QTableView *regsView_;
    QTableView *memView_;
    QLineEdit *memAddress_;
    QTableView *disView_;
    QTableView *btView_;
    QTableView *bpView_;
    QLineEdit *bpAdd_;
    QTreeView *treeView_;
    QLabel *connLabel_;
    QLabel *targetLabel_;
    QTimer *autoStep_;
    QPointer<QProcess> demo_;
    int demoTries_ = 0;
    QString demoWhere_;

    uint32_t handle_ = 0;
    int pid_ = 0;
    int tid_ = 0;
    QString lastError_;
    QFont baseFont_;
    QFont baseFixed_;
    QJsonObject pendingTargets_; // targets of a restored session, started once connected
    QList<QJsonObject> targets_; // what this session attached or launched
};

} // namespace utraceui
