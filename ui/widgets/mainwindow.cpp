#include "widgets/mainwindow.hpp"

#include "models/backtracemodel.hpp"
#include "models/breakpointsmodel.hpp"
#include "models/disassemblymodel.hpp"
#include "models/eventlogmodel.hpp"
#include "models/explanations.hpp"
#include "models/memorymodel.hpp"
#include "models/processlistmodel.hpp"
#include "models/processtreemodel.hpp"
#include "models/registersmodel.hpp"
#include "models/threadsmodel.hpp"
#include "models/timelinemodel.hpp"
#include "utrace/session.hpp"
#include "widgets/eventlogpanel.hpp"
#include "widgets/panels.hpp"
#include "widgets/sourceview.hpp"
#include "widgets/timelineview.hpp"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QProcess>
#include <QPushButton>
#include <QSettings>
#include <QStatusBar>
#include <QTableView>
#include <QTimer>
#include <QToolBar>
#include <QTreeView>
#include <QVBoxLayout>

namespace utraceui {

namespace {
QTableView *table(QAbstractItemModel *m, const QString &name)
{
    auto *v = new QTableView;
    v->setObjectName(name);
    v->setModel(m);
    v->setSelectionBehavior(QAbstractItemView::SelectRows);
    v->setSelectionMode(QAbstractItemView::SingleSelection);
    v->verticalHeader()->hide();
    v->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    v->verticalHeader()->setDefaultSectionSize(v->fontMetrics().height() + 4);
    v->horizontalHeader()->setStretchLastSection(true);
    v->setWordWrap(false);
    return v;
}

QJsonObject configToJson(const EngineConfig &c)
{
    return {{QStringLiteral("events"), QString::fromStdString(utrace::ev::format(c.events))},
            {QStringLiteral("stop"), QString::fromStdString(utrace::ev::format(c.stopEvents))},
            {QStringLiteral("syscalls"), QJsonArray::fromStringList(c.syscalls)},
            {QStringLiteral("follow_children"), c.followChildren},
            {QStringLiteral("capture_args"), c.captureArgs}};
}

EngineConfig configFromJson(const QJsonObject &o)
{
    EngineConfig c;
    c.events = utrace::ev::parse(o.value(QLatin1String("events")).toString().toStdString());
    c.stopEvents = utrace::ev::parse(o.value(QLatin1String("stop")).toString().toStdString());
    for (const auto &v : o.value(QLatin1String("syscalls")).toArray())
        c.syscalls << v.toString();
    c.followChildren = o.value(QLatin1String("follow_children")).toBool(true);
    c.captureArgs = o.value(QLatin1String("capture_args")).toBool(true);
    return c;
}
} // namespace

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent), ctl_(new Controller(this)), log_(new EventLogModel(this)),
      timeline_(new TimelineModel(this)), threads_(new ThreadsModel(this)),
      regs_(new RegistersModel(this)), tree_(new ProcessTreeModel(this)),
      procs_(new ProcessListModel(this)), bps_(new BreakpointsModel(this)),
      bt_(new BacktraceModel(this)), mem_(new MemoryModel(this)), dis_(new DisassemblyModel(this)),
      logPanel_(new EventLogPanel(log_)), timelineView_(new TimelineView), source_(new SourceView),
      classroom_(new ClassroomPanel), engines_(new EnginesPanel),
      processesPanel_(new ProcessesPanel(procs_)), connLabel_(new QLabel(tr("Not connected"))),
      targetLabel_(new QLabel), autoStep_(new QTimer(this))
{
    setWindowTitle(tr("utrace"));
    setWindowIcon(QIcon(QStringLiteral(":/icons/utrace.svg")));
    setObjectName(QStringLiteral("utraceMainWindow"));
    setDockNestingEnabled(true);
    baseFont_ = font();
    baseFixed_ = source_->font();

    setCentralWidget(logPanel_);
    timelineView_->setModel(timeline_);
    dock(QStringLiteral("timeline"), tr("Timeline"), timelineView_, Qt::BottomDockWidgetArea);
    dock(QStringLiteral("processes"), tr("Processes"), processesPanel_, Qt::LeftDockWidgetArea);
    dock(QStringLiteral("engines"), tr("Engines"), engines_, Qt::LeftDockWidgetArea);
    threadsView_ = table(threads_, QStringLiteral("threadsView"));
    dock(QStringLiteral("threads"), tr("Threads"), threadsView_, Qt::LeftDockWidgetArea);
    regsView_ = table(regs_, QStringLiteral("registersView"));
    regsView_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    regsView_->setEditTriggers(QAbstractItemView::DoubleClicked |
                               QAbstractItemView::EditKeyPressed);
    dock(QStringLiteral("registers"), tr("Registers"), regsView_, Qt::RightDockWidgetArea);

    auto *memPanel = new QWidget;
    memAddress_ = new QLineEdit;
    memAddress_->setPlaceholderText(tr("Address or symbol (0x7ffd..., main, $rsp)"));
    auto *memGo = new QPushButton(tr("Go"));
    memView_ = table(mem_, QStringLiteral("memoryView"));
    memView_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    memView_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    memView_->setSelectionBehavior(QAbstractItemView::SelectItems);
    auto *ml = new QVBoxLayout(memPanel);
    ml->setContentsMargins(2, 2, 2, 2);
    auto *mb = new QHBoxLayout;
    mb->addWidget(memAddress_, 1);
    mb->addWidget(memGo);
    ml->addLayout(mb);
    ml->addWidget(memView_);
    dock(QStringLiteral("memory"), tr("Memory"), memPanel, Qt::BottomDockWidgetArea);

    disView_ = table(dis_, QStringLiteral("disassemblyView"));
    disView_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    disView_->setToolTip(tr("Double-click an instruction to set or clear a breakpoint there"));
    dock(QStringLiteral("disassembly"), tr("Disassembly"), disView_, Qt::RightDockWidgetArea);
    source_->setObjectName(QStringLiteral("sourceView"));
    dock(QStringLiteral("source"), tr("Source"), source_, Qt::RightDockWidgetArea);
    btView_ = table(bt_, QStringLiteral("backtraceView"));
    dock(QStringLiteral("backtrace"), tr("Backtrace"), btView_, Qt::RightDockWidgetArea);

    auto *bpPanel = new QWidget;
    bpView_ = table(bps_, QStringLiteral("breakpointsView"));
    bpAdd_ = new QLineEdit;
    bpAdd_->setPlaceholderText(tr("Add at: function, file.c:line or 0xaddress"));
    auto *bpRemove = new QPushButton(tr("Remove"));
    auto *bl = new QVBoxLayout(bpPanel);
    bl->setContentsMargins(2, 2, 2, 2);
    auto *bb = new QHBoxLayout;
    bb->addWidget(bpAdd_, 1);
    bb->addWidget(bpRemove);
    bl->addLayout(bb);
    bl->addWidget(bpView_);
    dock(QStringLiteral("breakpoints"), tr("Breakpoints"), bpPanel, Qt::RightDockWidgetArea);

    treeView_ = new QTreeView;
    treeView_->setObjectName(QStringLiteral("processTreeView"));
    treeView_->setModel(tree_);
    dock(QStringLiteral("processTree"), tr("Process tree"), treeView_, Qt::LeftDockWidgetArea);
    dock(QStringLiteral("classroom"), tr("Classroom"), classroom_, Qt::BottomDockWidgetArea);
    tabifyDockWidget(findChild<QDockWidget *>(QStringLiteral("processes")),
                     findChild<QDockWidget *>(QStringLiteral("engines")));
    tabifyDockWidget(findChild<QDockWidget *>(QStringLiteral("source")),
                     findChild<QDockWidget *>(QStringLiteral("disassembly")));
    tabifyDockWidget(findChild<QDockWidget *>(QStringLiteral("backtrace")),
                     findChild<QDockWidget *>(QStringLiteral("breakpoints")));
    tabifyDockWidget(findChild<QDockWidget *>(QStringLiteral("timeline")),
                     findChild<QDockWidget *>(QStringLiteral("memory")));
    tabifyDockWidget(findChild<QDockWidget *>(QStringLiteral("timeline")),
                     findChild<QDockWidget *>(QStringLiteral("classroom")));
    findChild<QDockWidget *>(QStringLiteral("processes"))->raise();
    findChild<QDockWidget *>(QStringLiteral("source"))->raise();
    findChild<QDockWidget *>(QStringLiteral("timeline"))->raise();

    statusBar()->addPermanentWidget(targetLabel_);
    statusBar()->addPermanentWidget(connLabel_);
    buildActions();

    // Controller -> models.
    connect(ctl_, &Controller::eventsArrived, this, &MainWindow::onEvents);
    connect(ctl_, &Controller::error, this, &MainWindow::showError);
    connect(ctl_, &Controller::connected, this, [this](const QString &where, const QString &d) {
        demoTries_ = 0;
        demoWhere_.clear();
        connLabel_->setText(tr("Connected: %1 (%2)").arg(where, d));
        statusBar()->showMessage(tr("Connected to %1.").arg(where), 5000);
        ctl_->refreshProcesses();
        // A restored session's targets start now.
        for (const auto &v : pendingTargets_.value(QLatin1String("targets")).toArray()) {
            const QJsonObject t = v.toObject();
            if (t.contains(QLatin1String("argv"))) {
                QStringList argv, env;
                for (const auto &a : t.value(QLatin1String("argv")).toArray())
                    argv << a.toString();
                for (const auto &a : t.value(QLatin1String("env")).toArray())
                    env << a.toString();
                ctl_->launch(argv, env, t.value(QLatin1String("cwd")).toString(),
                             engines_->config());
            } else if (int pid = t.value(QLatin1String("pid")).toInt()) {
                ctl_->attach(pid, engines_->config());
            }
        }
        pendingTargets_ = {};
        updateActions();
    });
    connect(ctl_, &Controller::disconnected, this, [this] {
        connLabel_->setText(tr("Not connected"));
        handle_ = 0;
        pid_ = 0;
        regs_->clearRegisters();
        updateActions();
    });
    connect(ctl_, &Controller::processesListed, this,
            [this](const ProcessList &l) { procs_->setProcesses(*l); });
    connect(ctl_, &Controller::attached, this, &MainWindow::onAttached);
    connect(ctl_, &Controller::detached, this, [this](int pid) {
        if (pid == pid_) {
            pid_ = 0;
            handle_ = 0;
            regs_->clearRegisters();
        }
        statusBar()->showMessage(tr("Detached from %1; it runs on untraced.").arg(pid), 5000);
        updateActions();
    });
    connect(ctl_, &Controller::resumed, this, [this](int tid, quint64 t) {
        timeline_->noteResumed(tid, t);
        threads_->noteResumed(tid);
        if (tid == tid_) {
            regs_->setEditable(false);
            regs_->clearRegisters();
            mem_->setEditable(false);
        }
        updateActions();
    });
    connect(ctl_, &Controller::inspected, this, &MainWindow::onInspected);
    connect(ctl_, &Controller::memoryRead, this,
            [this](uint32_t, quint64 a, const QByteArray &b, int size) {
                mem_->setMemory(a, b, size);
                mem_->setEditable(currentStopped());
                if (b.size() < size)
                    statusBar()->showMessage(
                        tr("Only %1 of %2 bytes at 0x%3 are mapped; the rest shows as ??.")
                            .arg(b.size())
                            .arg(size)
                            .arg(a, 0, 16),
                        8000);
            });
    connect(ctl_, &Controller::codeRead, this,
            [this](quint64 a, const QByteArray &code, quint64 mark,
                   const QHash<quint64, QString> &syms) {
                dis_->setCode(a, code, mark, [syms](uint64_t x) { return syms.value(x); });
                findChild<QDockWidget *>(QStringLiteral("disassembly"))->raise();
                disView_->scrollTo(dis_->index(std::max(0, dis_->rowOfAddress(mark)), 0));
            });
    connect(ctl_, &Controller::sourceRead, this, [this](const QString &path, const QString &text) {
        source_->setSource(path, text);
        updateSourceBreakpoints();
    });
    connect(ctl_, &Controller::resolved, this,
            [this](int, const QString &sym, quint64 addr, const QString &purpose) {
                if (purpose == QLatin1String("memory")) {
                    ctl_->readMemory(handle_, addr, 512);
                } else if (purpose == QLatin1String("breakpoint")) {
                    bps_->add(addr, sym);
                } else if (purpose.startsWith(QLatin1String("rebind:"))) {
                    const uint64_t old = purpose.mid(7).toULongLong();
                    if (old != addr) {
                        bps_->remove(bps_->rowOf(old));
                        bps_->add(addr, sym);
                    }
                }
            });
    connect(ctl_, &Controller::lineResolved, this,
            [this](int, const QString &file, int line, const QList<quint64> &addrs) {
                const QString loc =
                    QStringLiteral("%1:%2").arg(QFileInfo(file).fileName()).arg(line);
                if (addrs.isEmpty()) {
                    showError(tr("No code at %1 (a comment, a blank line, or optimized away); "
                                 "pick another line.")
                                  .arg(loc));
                    return;
                }
                // Toggle: a breakpoint already on that line goes away.
                for (const auto &b : bps_->breakpoints())
                    if (b.location == loc) {
                        bps_->remove(bps_->rowOf(b.address));
                        updateSourceBreakpoints();
                        return;
                    }
                bps_->add(addrs.first(), loc);
                updateSourceBreakpoints();
            });
    connect(ctl_, &Controller::breakpointHit, this, [this](int, quint64 addr) { bps_->hit(addr); });

    // Panels -> controller.
    connect(processesPanel_, &ProcessesPanel::refreshRequested, ctl_,
            &Controller::refreshProcesses);
    connect(processesPanel_, &ProcessesPanel::attachRequested, this,
            [this](int pid) { ctl_->attach(pid, engines_->config()); });
    connect(processesPanel_, &ProcessesPanel::launchRequested, this,
            [this](const QStringList &argv, const QStringList &env, const QString &cwd) {
                targets_.append({{QStringLiteral("argv"), QJsonArray::fromStringList(argv)},
                                 {QStringLiteral("env"), QJsonArray::fromStringList(env)},
                                 {QStringLiteral("cwd"), cwd}});
                ctl_->launch(argv, env, cwd, engines_->config());
            });
    connect(engines_, &EnginesPanel::applyRequested, this, [this](const EngineConfig &c) {
        if (!pid_) {
            statusBar()->showMessage(tr("The settings apply to the next attach or launch."), 5000);
            return;
        }
        ctl_->configure(pid_, c);
        statusBar()->showMessage(tr("Engine settings applied to %1.").arg(pid_), 5000);
    });
    connect(regs_, &RegistersModel::registersEdited, this,
            [this](const user_regs_struct &r) { ctl_->writeRegisters(handle_, r); });
    connect(mem_, &MemoryModel::memoryEdited, this,
            [this](uint64_t a, const QByteArray &b) { ctl_->writeMemory(handle_, a, b); });
    auto goMemory = [this] {
        QString t = memAddress_->text().trimmed();
        if (!handle_ || t.isEmpty())
            return;
        if (t.startsWith(QLatin1Char('$'))) {
            const int row = RegistersModel::rowOf(t.mid(1).toLatin1().constData());
            if (row < 0 || !regs_->hasRegisters()) {
                showError(tr("%1 is not a register of a stopped thread; stop the thread, or "
                             "write an address.")
                              .arg(t));
                return;
            }
            t = regs_->index(row, RegistersModel::ValueColumn).data().toString();
        }
        ctl_->resolve(pid_, t, QStringLiteral("memory"));
    };
    connect(memAddress_, &QLineEdit::returnPressed, this, goMemory);
    connect(memGo, &QPushButton::clicked, this, goMemory);
    connect(disView_, &QTableView::doubleClicked, this, [this](const QModelIndex &i) {
        const uint64_t a = i.data(DisassemblyModel::AddressRole).toULongLong();
        bps_->toggle(a, QStringLiteral("0x%1").arg(a, 0, 16));
    });
    connect(source_, &SourceView::gutterClicked, this, [this](int line) {
        if (!pid_ || source_->file().isEmpty())
            return;
        ctl_->resolveLine(pid_, source_->file(), line);
    });
    connect(btView_, &QTableView::clicked, this, [this](const QModelIndex &i) {
        const QString file = i.data(BacktraceModel::FileRole).toString();
        const int line = i.data(BacktraceModel::LineRole).toInt();
        const uint64_t pc = i.data(BacktraceModel::PcRole).toULongLong();
        if (!file.isEmpty()) {
            if (file != source_->file())
                ctl_->readSource(file);
            QTimer::singleShot(0, this, [this, line] { source_->setCurrentLine(line); });
            findChild<QDockWidget *>(QStringLiteral("source"))->raise();
        } else if (handle_) {
            ctl_->disassembleAt(handle_, pc);
        }
    });
    connect(bpAdd_, &QLineEdit::returnPressed, this, [this] {
        const QString t = bpAdd_->text().trimmed();
        if (t.isEmpty() || !pid_)
            return;
        const int colon = t.lastIndexOf(QLatin1Char(':'));
        if (colon > 0 && t.mid(colon + 1).toInt() > 0)
            ctl_->resolveLine(pid_, t.left(colon), t.mid(colon + 1).toInt());
        else
            ctl_->resolve(pid_, t, QStringLiteral("breakpoint"));
        bpAdd_->clear();
    });
    connect(bpRemove, &QPushButton::clicked, this, [this] {
        if (bpView_->currentIndex().isValid())
            bps_->remove(bpView_->currentIndex().row());
        updateSourceBreakpoints();
    });
    connect(bps_, &BreakpointsModel::breakpointChanged, this, [this](uint64_t a, bool on) {
        if (pid_ && ctl_->isConnected())
            ctl_->setBreakpoint(pid_, a, on);
        QSet<uint64_t> set;
        for (const auto &b : bps_->breakpoints())
            if (b.enabled)
                set.insert(b.address);
        dis_->setBreakpoints(set);
    });

    // Selection: thread -> inspect; event -> explanation, timeline.
    connect(threadsView_, &QTableView::clicked, this, [this](const QModelIndex &i) {
        selectThread(threads_->index(i.row(), 0).data(ThreadsModel::TidRole).toInt());
    });
    connect(logPanel_, &EventLogPanel::eventSelected, this, &MainWindow::explainRow);
    connect(logPanel_, &EventLogPanel::message, this,
            [this](const QString &m) { statusBar()->showMessage(m, 8000); });
    connect(timelineView_, &TimelineView::eventClicked, this, [this](qint64 row) {
        logPanel_->showRow(int(row));
        explainRow(int(row));
    });
    connect(classroom_, &ClassroomPanel::fontScaleChanged, this, &MainWindow::setFontScale);
    connect(classroom_, &ClassroomPanel::autoStepChanged, this, [this](bool on, int ms) {
        autoStep_->setInterval(ms);
        if (on)
            autoStep_->start();
        else
            autoStep_->stop();
    });
    connect(autoStep_, &QTimer::timeout, this, [this] {
        // Slow motion: one event at a time, for the selected thread.
        if (handle_ && currentStopped())
            ctl_->stepToEvent(handle_);
    });

    QSettings st;
    restoreGeometry(st.value(QStringLiteral("window/geometry")).toByteArray());
    restoreState(st.value(QStringLiteral("window/layout")).toByteArray());
    if (st.contains(QStringLiteral("engines/config"))) {
        try {
            engines_->setConfig(configFromJson(
                QJsonDocument::fromJson(st.value(QStringLiteral("engines/config")).toByteArray())
                    .object()));
        } catch (const utrace::Error &) {
        }
    }
    classroom_->setFontScale(st.value(QStringLiteral("classroom/fontScale"), 100).toInt());
    updateActions();
}

MainWindow::~MainWindow() = default;

QDockWidget *MainWindow::dock(const QString &name, const QString &title, QWidget *w,
                              Qt::DockWidgetArea a)
{
    auto *d = new QDockWidget(title, this);
    d->setObjectName(name);
    d->setWidget(w);
    addDockWidget(a, d);
    return d;
}

QAction *MainWindow::action(const QString &name) const
{
    return findChild<QAction *>(name);
}

void MainWindow::buildActions()
{
    auto make = [this](const QString &name, const QString &text, const QKeySequence &key,
                       const QString &tip, auto fn) {
        auto *a = new QAction(text, this);
        a->setObjectName(name);
        a->setShortcut(key);
        a->setToolTip(QStringLiteral("%1 (%2)").arg(tip, key.toString(QKeySequence::NativeText)));
        a->setStatusTip(tip);
        connect(a, &QAction::triggered, this, fn);
        return a;
    };
    QMenu *file = menuBar()->addMenu(tr("&Session"));
    file->addAction(make(QStringLiteral("connect"), tr("&Connect…"), QKeySequence(tr("Ctrl+N")),
                         tr("Connect to this machine, a remote agent or the demo VM"),
                         [this] { showConnectDialog(); }));
    file->addAction(make(QStringLiteral("disconnect"), tr("&Disconnect"), QKeySequence(),
                         tr("Detach everything and close the session"),
                         [this] { ctl_->disconnectSession(); }));
    file->addSeparator();
    file->addAction(make(QStringLiteral("openLog"), tr("&Open event log…"), QKeySequence::Open,
                         tr("Open a JSON lines event log, offline"), [this] {
                             const QString p = QFileDialog::getOpenFileName(
                                 this, tr("Open event log"), {}, tr("JSON lines (*.jsonl *.json)"));
                             if (!p.isEmpty())
                                 logPanel_->openFrom(p);
                         }));
    file->addAction(
        make(QStringLiteral("exportLog"), tr("&Export event log…"), QKeySequence(tr("Ctrl+E")),
             tr("Save the event log as JSON lines"), [this] {
                 const QString p = QFileDialog::getSaveFileName(this, tr("Export event log"),
                                                                QStringLiteral("events.jsonl"),
                                                                tr("JSON lines (*.jsonl)"));
                 if (!p.isEmpty())
                     logPanel_->exportTo(p);
             }));
    file->addSeparator();
    file->addAction(make(QStringLiteral("saveSession"), tr("&Save session…"), QKeySequence::Save,
                         tr("Save targets, engines, breakpoints and layout as JSON"), [this] {
                             const QString p = QFileDialog::getSaveFileName(
                                 this, tr("Save session"), QStringLiteral("session.utrace.json"),
                                 tr("utrace sessions (*.json)"));
                             if (!p.isEmpty())
                                 saveSessionTo(p);
                         }));
    file->addAction(make(QStringLiteral("loadSession"), tr("&Restore session…"),
                         QKeySequence(tr("Ctrl+R")), tr("Restore a saved session"), [this] {
                             const QString p = QFileDialog::getOpenFileName(
                                 this, tr("Restore session"), {}, tr("utrace sessions (*.json)"));
                             if (!p.isEmpty())
                                 loadSessionFrom(p);
                         }));
    file->addSeparator();
    file->addAction(make(QStringLiteral("quit"), tr("&Quit"), QKeySequence::Quit, tr("Quit"),
                         [this] { close(); }));

    QToolBar *tb = addToolBar(tr("Control"));
    tb->setObjectName(QStringLiteral("controlToolBar"));
    QMenu *run = menuBar()->addMenu(tr("&Control"));
    auto add = [&](QAction *a) {
        tb->addAction(a);
        run->addAction(a);
    };
    add(make(QStringLiteral("stop"), tr("Stop"), QKeySequence(tr("F6")),
             tr("Stop every thread of the target at its next safe point"),
             [this] { ctl_->stopProcess(pid_); }));
    add(make(QStringLiteral("resume"), tr("Resume"), QKeySequence(tr("F5")),
             tr("Let the selected thread run again"), [this] {
                 if (handle_)
                     ctl_->resume(handle_);
             }));
    add(make(QStringLiteral("resumeAll"), tr("Resume all"), QKeySequence(tr("Shift+F5")),
             tr("Let every thread of the target run again"),
             [this] { ctl_->resumeProcess(pid_); }));
    add(make(QStringLiteral("stepInstruction"), tr("Step instruction"), QKeySequence(tr("F7")),
             tr("Run one machine instruction of the selected thread"), [this] {
                 if (handle_)
                     ctl_->step(handle_);
             }));
    add(make(QStringLiteral("stepSyscall"), tr("Next syscall"), QKeySequence(tr("F8")),
             tr("Run the selected thread to its next syscall entry or exit"), [this] {
                 if (handle_)
                     ctl_->stepToSyscall(handle_);
             }));
    add(make(QStringLiteral("stepEvent"), tr("Next event"), QKeySequence(tr("F9")),
             tr("Run the selected thread to its next reported event"), [this] {
                 if (handle_)
                     ctl_->stepToEvent(handle_);
             }));
    add(make(QStringLiteral("interrupt"), tr("Interrupt"), QKeySequence(tr("Ctrl+I")),
             tr("Stop the selected thread, breaking a blocking syscall"), [this] {
                 if (handle_)
                     ctl_->interrupt(handle_);
             }));
    tb->addSeparator();
    run->addSeparator();
    add(make(QStringLiteral("detach"), tr("Detach"), QKeySequence(tr("Ctrl+D")),
             tr("Detach from the target; it runs on untraced"), [this] { ctl_->detach(pid_); }));
    add(make(QStringLiteral("kill"), tr("Kill"), QKeySequence(tr("Ctrl+K")),
             tr("Kill the target (SIGKILL)"), [this] { ctl_->kill(pid_); }));

    QMenu *view = menuBar()->addMenu(tr("&View"));
    auto *classroom =
        make(QStringLiteral("classroomMode"), tr("&Classroom mode"), QKeySequence(tr("Ctrl+L")),
             tr("Large fonts, explanations and the live process tree"),
             [this](bool on) { setClassroomMode(on); });
    classroom->setCheckable(true);
    view->addAction(classroom);
    view->addAction(make(QStringLiteral("zoomIn"), tr("Zoom timeline in"), QKeySequence::ZoomIn,
                         tr("Zoom the timeline in"), [this] { timelineView_->zoomIn(); }));
    view->addAction(make(QStringLiteral("zoomOut"), tr("Zoom timeline out"), QKeySequence::ZoomOut,
                         tr("Zoom the timeline out"), [this] { timelineView_->zoomOut(); }));
    view->addSeparator();
    for (QDockWidget *d : findChildren<QDockWidget *>())
        view->addAction(d->toggleViewAction());
}

void MainWindow::updateActions()
{
    const bool conn = ctl_->isConnected();
    const bool target = conn && pid_;
    const bool stopped = target && currentStopped();
    auto en = [this](const char *name, bool on) {
        if (QAction *a = action(QLatin1String(name)))
            a->setEnabled(on);
    };
    en("disconnect", conn);
    en("stop", target);
    en("resume", stopped);
    en("resumeAll", target);
    en("stepInstruction", stopped);
    en("stepSyscall", stopped);
    en("stepEvent", stopped);
    en("interrupt", target && handle_);
    en("detach", target);
    en("kill", target);
    targetLabel_->setText(pid_ ? tr("Target %1, thread %2%3")
                                     .arg(pid_)
                                     .arg(tid_)
                                     .arg(stopped ? tr(" (stopped)") : QString())
                               : QString());
}

bool MainWindow::currentStopped() const
{
    const auto *t = threads_->thread(tid_);
    return t && t->state == ThreadsModel::State::Stopped;
}

void MainWindow::selectThread(int tid)
{
    const auto *t = threads_->thread(tid);
    if (!t)
        return;
    tid_ = tid;
    if (t->handle)
        handle_ = t->handle;
    pid_ = t->tgid;
    const int row = threads_->rowOfTid(tid);
    if (threadsView_->currentIndex().row() != row)
        threadsView_->setCurrentIndex(threads_->index(row, 0));
    if (t->state == ThreadsModel::State::Stopped && handle_ && ctl_->isConnected())
        ctl_->inspect(handle_);
    updateActions();
}

void MainWindow::addEvents(const EventBatch &batch)
{
    onEvents(batch);
}

void MainWindow::onEvents(const EventBatch &batch)
{
    const auto &events = *batch;
    const int first = log_->rowCount();
    log_->appendEvents(events);
    timeline_->appendEvents(events, first);
    threads_->appendEvents(events);
    tree_->appendEvents(events);
    // The newest event that holds a thread: select that thread (unless the
    // user follows another stopped thread) and explain it.
    for (size_t i = events.size(); i-- > 0;) {
        const auto &e = events[i];
        if (!e.held)
            continue;
        if (!tid_ || e.tid == tid_ || !currentStopped())
            selectThread(e.tid);
        classroom_->setHtml(Explanations::builtin().html(e));
        break;
    }
    updateActions();
}

void MainWindow::onAttached(int pid, const QString &name, const QList<int> &tids,
                            const QList<uint32_t> &handles)
{
    for (int i = 0; i < tids.size(); i++)
        threads_->addThread(tids[i], pid, handles[i]);
    tree_->addProcess(pid, name);
    pid_ = pid;
    if (!tids.isEmpty()) {
        tid_ = tids.first();
        handle_ = handles.first();
    }
    bool known = false;
    for (const auto &t : targets_)
        known |= t.contains(QLatin1String("argv")) || t.value(QLatin1String("pid")).toInt() == pid;
    if (!known)
        targets_.append({{QStringLiteral("pid"), pid}});
    statusBar()->showMessage(
        tr("Attached to %1 (%2), %3 threads.").arg(pid).arg(name).arg(tids.size()), 5000);
    pushBreakpoints();
    updateActions();
}

void MainWindow::pushBreakpoints()
{
    // Saved breakpoints: addresses move between runs (PIE, ASLR), so
    // symbolic locations are looked up again in the new process.
    for (const auto &b : bps_->breakpoints()) {
        if (!b.enabled)
            continue;
        const int colon = b.location.lastIndexOf(QLatin1Char(':'));
        if (b.location.startsWith(QLatin1String("0x")) || b.location.isEmpty())
            ctl_->setBreakpoint(pid_, b.address, true);
        else if (colon > 0 && b.location.mid(colon + 1).toInt() > 0)
            ctl_->setBreakpoint(pid_, b.address, true);
        else
            ctl_->resolve(pid_, b.location, QStringLiteral("rebind:%1").arg(b.address));
    }
}

void MainWindow::onInspected(const Inspection &in)
{
    if (in.handle != handle_)
        return; // the user moved on to another thread
    regs_->setRegisters(in.regs);
    regs_->setEditable(true);
    threads_->setPc(in.tid, in.regs.rip);
    dis_->setCode(in.codeAddress, in.code, in.regs.rip,
                  [syms = in.symbols](uint64_t a) { return syms.value(a); });
    if (int r = dis_->pcRow(); r >= 0)
        disView_->scrollTo(dis_->index(r, 0), QAbstractItemView::PositionAtCenter);
    bt_->setFrames(in.frames);
    if (!in.sourceFile.isEmpty()) {
        source_->setSource(in.sourceFile, in.sourceText);
        source_->setCurrentLine(in.sourceLine);
        updateSourceBreakpoints();
    } else {
        source_->setSource(QString(), in.note);
    }
    if (mem_->size() == 0 || memAddress_->text().isEmpty())
        ctl_->readMemory(in.handle, in.regs.rsp, 256);
    else
        ctl_->readMemory(in.handle, mem_->address(), mem_->size());
    if (!in.note.isEmpty())
        statusBar()->showMessage(in.note, 8000);
    updateActions();
}

void MainWindow::updateSourceBreakpoints()
{
    QSet<int> lines;
    const QString name = QFileInfo(source_->file()).fileName();
    for (const auto &b : bps_->breakpoints()) {
        const int colon = b.location.lastIndexOf(QLatin1Char(':'));
        if (b.enabled && colon > 0 && b.location.left(colon) == name)
            lines.insert(b.location.mid(colon + 1).toInt());
    }
    source_->setBreakpointLines(lines);
}

void MainWindow::explainRow(int row)
{
    if (row < 0 || row >= log_->rowCount())
        return;
    const utrace::Event e = log_->event(row);
    classroom_->setHtml(Explanations::builtin().html(e));
    const int lane = timeline_->laneOfTid(e.tid);
    timelineView_->selectEvent(row, lane, e.timeNs);
}

void MainWindow::showError(const QString &sentence)
{
    lastError_ = sentence;
    statusBar()->showMessage(sentence, 20000);
    // The demo VM boots slowly: keep trying until its agent answers.
    if (!demoWhere_.isEmpty() && demo_ && demo_->state() != QProcess::NotRunning &&
        demoTries_ < 120) {
        demoTries_++;
        statusBar()->showMessage(tr("Waiting for the demo VM's agent (%1 s)…").arg(demoTries_ * 3),
                                 4000);
        QTimer::singleShot(3000, this, [this] {
            if (!demoWhere_.isEmpty())
                ctl_->connectTo(demoWhere_);
        });
    }
}

void MainWindow::connectTo(const QString &where)
{
    connLabel_->setText(tr("Connecting to %1…").arg(where));
    ctl_->connectTo(where);
}

void MainWindow::startDemoVm(const QString &command, const QString &where)
{
    if (demo_)
        demo_->kill();
    demo_ = new QProcess(this);
    demo_->setProcessChannelMode(QProcess::ForwardedChannels);
#ifdef UTRACE_SOURCE_DIR
    demo_->setWorkingDirectory(QStringLiteral(UTRACE_SOURCE_DIR));
#endif
    // exec: the VM's harness is then our child, and dies with us (its
    // PR_SET_PDEATHSIG), even if we are killed rather than closed.
    demo_->start(QStringLiteral("/bin/sh"),
                 {QStringLiteral("-c"), QStringLiteral("exec ") + command});
    connect(demo_, &QProcess::errorOccurred, this, [this, command](QProcess::ProcessError) {
        demoWhere_.clear();
        showError(tr("The demo VM did not start (%1); run \"%2\" in a terminal to see why.")
                      .arg(demo_->errorString(), command));
    });
    connect(demo_, &QProcess::finished, this, [this, command](int code) {
        if (!demoWhere_.isEmpty())
            showError(tr("The demo VM command ended (exit %1) before its agent answered; run "
                         "\"%2\" in a terminal to see why.")
                          .arg(code)
                          .arg(command));
        demoWhere_.clear();
    });
    demoWhere_ = where;
    demoTries_ = 0;
    connLabel_->setText(tr("Booting the demo VM…"));
    QTimer::singleShot(3000, this, [this] {
        if (!demoWhere_.isEmpty())
            ctl_->connectTo(demoWhere_);
    });
}

void MainWindow::showConnectDialog()
{
    ConnectDialog d(this);
    QSettings st;
    d.setMode(ConnectDialog::Mode(st.value(QStringLiteral("connect/mode"), 0).toInt()));
    if (d.exec() != QDialog::Accepted)
        return;
    st.setValue(QStringLiteral("connect/mode"), int(d.mode()));
    if (d.mode() == ConnectDialog::DemoVm)
        startDemoVm(d.demoCommand(), d.where());
    else
        connectTo(d.where());
}

void MainWindow::setFontScale(int percent)
{
    QFont f = baseFont_;
    f.setPointSizeF(baseFont_.pointSizeF() * percent / 100.0);
    setFont(f);
    QFont fixed = baseFixed_;
    fixed.setPointSizeF(baseFixed_.pointSizeF() * percent / 100.0);
    for (QWidget *w : {static_cast<QWidget *>(source_), static_cast<QWidget *>(regsView_),
                       static_cast<QWidget *>(memView_), static_cast<QWidget *>(disView_)})
        w->setFont(fixed);
    const int rowH = QFontMetrics(f).height() + 4;
    for (QTableView *v : findChildren<QTableView *>())
        v->verticalHeader()->setDefaultSectionSize(rowH);
    if (classroom_->fontScale() != percent)
        classroom_->setFontScale(percent);
}

void MainWindow::setClassroomMode(bool on)
{
    if (QAction *a = action(QStringLiteral("classroomMode")); a && a->isChecked() != on)
        a->setChecked(on);
    auto show = [this](const char *name) {
        auto *d = findChild<QDockWidget *>(QLatin1String(name));
        d->show();
        d->raise();
    };
    if (on) {
        show("classroom");
        show("processTree");
        show("threads");
        if (classroom_->fontScale() < 150)
            classroom_->setFontScale(150);
    } else {
        classroom_->setFontScale(100);
        classroom_->setAutoStepping(false);
    }
}

QJsonObject MainWindow::saveSession() const
{
    QJsonArray targets;
    for (const auto &t : targets_)
        targets.append(t);
    return {{QStringLiteral("format"), QStringLiteral("utrace-session")},
            {QStringLiteral("version"), 1},
            {QStringLiteral("connection"), ctl_->where()},
            {QStringLiteral("targets"), targets},
            {QStringLiteral("engines"), configToJson(engines_->config())},
            {QStringLiteral("breakpoints"), bps_->toJson()},
            {QStringLiteral("layout"), QString::fromLatin1(saveState().toBase64())},
            {QStringLiteral("geometry"), QString::fromLatin1(saveGeometry().toBase64())},
            {QStringLiteral("classroom"),
             QJsonObject{
                 {QStringLiteral("enabled"), action(QStringLiteral("classroomMode"))->isChecked()},
                 {QStringLiteral("font_scale"), classroom_->fontScale()},
                 {QStringLiteral("step_ms"), classroom_->autoStepIntervalMs()}}}};
}

void MainWindow::restoreSession(const QJsonObject &s, bool reconnect)
{
    try {
        engines_->setConfig(configFromJson(s.value(QLatin1String("engines")).toObject()));
    } catch (const utrace::Error &e) {
        showError(tr("The session's engine settings are not valid (%1); using the current ones.")
                      .arg(QString::fromStdString(e.sentence())));
    }
    bps_->fromJson(s.value(QLatin1String("breakpoints")).toArray());
    restoreGeometry(
        QByteArray::fromBase64(s.value(QLatin1String("geometry")).toString().toLatin1()));
    restoreState(QByteArray::fromBase64(s.value(QLatin1String("layout")).toString().toLatin1()));
    const QJsonObject cls = s.value(QLatin1String("classroom")).toObject();
    setClassroomMode(cls.value(QLatin1String("enabled")).toBool());
    classroom_->setFontScale(cls.value(QLatin1String("font_scale")).toInt(100));
    const QString where = s.value(QLatin1String("connection")).toString();
    if (reconnect && !where.isEmpty()) {
        pendingTargets_ =
            QJsonObject{{QStringLiteral("targets"), s.value(QLatin1String("targets"))}};
        connectTo(where);
    }
}

bool MainWindow::saveSessionTo(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        showError(tr("Cannot write %1 (%2); choose another place.").arg(path, f.errorString()));
        return false;
    }
    f.write(QJsonDocument(saveSession()).toJson());
    statusBar()->showMessage(tr("Session saved to %1.").arg(path), 5000);
    return true;
}

bool MainWindow::loadSessionFrom(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        showError(tr("Cannot open %1 (%2).").arg(path, f.errorString()));
        return false;
    }
    QJsonParseError pe;
    const QJsonDocument d = QJsonDocument::fromJson(f.readAll(), &pe);
    if (!d.isObject() ||
        d.object().value(QLatin1String("format")).toString() != QLatin1String("utrace-session")) {
        showError(
            tr("%1 is not a utrace session file (%2); open one saved with Save session.")
                .arg(path, pe.error ? pe.errorString() : tr("no \"format\": \"utrace-session\"")));
        return false;
    }
    restoreSession(d.object());
    return true;
}

void MainWindow::closeEvent(QCloseEvent *e)
{
    QSettings st;
    st.setValue(QStringLiteral("window/geometry"), saveGeometry());
    st.setValue(QStringLiteral("window/layout"), saveState());
    st.setValue(QStringLiteral("engines/config"),
                QJsonDocument(configToJson(engines_->config())).toJson(QJsonDocument::Compact));
    st.setValue(QStringLiteral("classroom/fontScale"), classroom_->fontScale());
    if (demo_)
        demo_->terminate();
    QMainWindow::closeEvent(e);
}

} // namespace utraceui
