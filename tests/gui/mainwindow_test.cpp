// The main window: events through every panel, classroom mode, session
// save/restore, layout in QSettings, and the controller's error path
// against the real library (no module on the host: its sentence shows).
#include "gui_test_util.hpp"
#include "models/breakpointsmodel.hpp"
#include "models/eventlogmodel.hpp"
#include "models/processtreemodel.hpp"
#include "models/threadsmodel.hpp"
#include "models/timelinemodel.hpp"
#include "utrace/session.hpp"
#include "widgets/eventlogpanel.hpp"
#include "widgets/mainwindow.hpp"
#include "widgets/panels.hpp"

#include <QAction>
#include <QDockWidget>
#include <QSettings>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <csignal>
#include <sys/syscall.h>

using namespace utraceui;
using guitest::entry;
using guitest::ev;

namespace {
EventBatch batch(std::vector<utrace::Event> v)
{
    return std::make_shared<const std::vector<utrace::Event>>(std::move(v));
}
} // namespace

TEST(MainWindow, EventsReachEveryPanel)
{
    MainWindow w;
    w.show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(&w));
    w.addEvents(batch({
        ev(1, 1000, 200, utrace::Exec{"/usr/bin/demo"}),
        ev(2, 2000, 200, utrace::Clone{201, 0, 0x10000 /* CLONE_THREAD */}),
        ev(3, 3000, 201, entry(SYS_write), false, 200),
        ev(4, 4000, 200, utrace::Clone{300, 0, SIGCHLD}),
        ev(5, 5000, 201, entry(SYS_openat), true, 200), // held: selected
    }));
    EXPECT_EQ(w.eventLog()->rowCount(), 5);
    EXPECT_EQ(w.timeline()->laneCount(), 2);
    EXPECT_EQ(w.threads()->rowCount(), 2);
    EXPECT_EQ(w.currentPid(), 200);
    EXPECT_EQ(w.currentHandle(), 201u);
    const auto *t = w.threads()->thread(201);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->state, ThreadsModel::State::Stopped);
    // The process tree: demo and its forked child.
    const QModelIndex demo = w.processTree()->indexOfPid(200);
    ASSERT_TRUE(demo.isValid());
    EXPECT_EQ(w.processTree()->index(demo.row(), ProcessTreeModel::NameColumn).data().toString(),
              QStringLiteral("demo"));
    EXPECT_EQ(w.processTree()->rowCount(demo), 1);
    // The classroom panel explains the held syscall.
    EXPECT_TRUE(w.classroom()->html().contains(QStringLiteral("openat")));
    EXPECT_TRUE(w.classroom()->html().contains(QStringLiteral("held")));
    // Selecting another event explains that one, and marks it on the timeline.
    w.eventLogPanel()->showRow(0);
    EXPECT_TRUE(w.classroom()->html().contains(QStringLiteral("replaced its program")));
    // Not connected: control actions are off, whatever the events say.
    EXPECT_FALSE(w.action(QStringLiteral("resume"))->isEnabled());
    EXPECT_FALSE(w.action(QStringLiteral("stepInstruction"))->isEnabled());
    EXPECT_EQ(w.action(QStringLiteral("stepSyscall"))->shortcut(), QKeySequence(Qt::Key_F8));
}

TEST(MainWindow, ConnectFailureShowsTheLibrarysSentence)
{
    MainWindow w;
    QSignalSpy err(w.controller(), &Controller::error);
    w.connectTo(QStringLiteral("/dev/utrace-gui-test-missing"));
    ASSERT_TRUE(!err.isEmpty() || err.wait(10000)); // the spy records in the worker thread
    const QString s = err[0][0].toString();
    EXPECT_TRUE(s.contains(QStringLiteral("/dev/utrace-gui-test-missing"))) << s.toStdString();
    EXPECT_TRUE(s.contains(QStringLiteral("module"))) << s.toStdString(); // what to do
    EXPECT_TRUE(QTest::qWaitFor([&] { return w.lastError() == s; }, 5000));
    EXPECT_FALSE(w.controller()->isConnected());
    // Requests before any connection fail the same way, never block.
    err.clear();
    w.controller()->refreshProcesses();
    ASSERT_TRUE(!err.isEmpty() || err.wait(10000)); // the spy records in the worker thread
    EXPECT_TRUE(err[0][0].toString().contains(QStringLiteral("connect")));
}

TEST(MainWindow, ClassroomModeScalesFontsAndShowsThePanels)
{
    MainWindow w;
    w.show();
    const qreal base = w.font().pointSizeF();
    w.findChild<QDockWidget *>(QStringLiteral("processTree"))->hide();
    w.setClassroomMode(true);
    EXPECT_TRUE(w.action(QStringLiteral("classroomMode"))->isChecked());
    EXPECT_NEAR(w.font().pointSizeF(), base * 1.5, 0.01);
    EXPECT_TRUE(w.findChild<QDockWidget *>(QStringLiteral("processTree"))->isVisible());
    EXPECT_TRUE(w.findChild<QDockWidget *>(QStringLiteral("classroom"))->isVisible());
    w.setClassroomMode(false);
    EXPECT_NEAR(w.font().pointSizeF(), base, 0.01);
}

TEST(MainWindow, SessionSavesAndRestores)
{
    QTemporaryDir dir;
    const QString file = dir.filePath(QStringLiteral("s.json"));
    {
        MainWindow w;
        EngineConfig c;
        c.events = utrace::ev::Syscall | utrace::ev::Signal;
        c.stopEvents = utrace::ev::Signal;
        c.syscalls = {QStringLiteral("write")};
        w.engines()->setConfig(c);
        w.breakpoints()->add(0x401136, QStringLiteral("main"));
        w.breakpoints()->add(0x401150, QStringLiteral("demo.c:12"));
        w.findChild<QDockWidget *>(QStringLiteral("memory"))->hide();
        w.setClassroomMode(true);
        ASSERT_TRUE(w.saveSessionTo(file));
    }
    MainWindow w2;
    w2.show();
    ASSERT_TRUE(w2.loadSessionFrom(file));
    const EngineConfig c2 = w2.engines()->config();
    EXPECT_EQ(c2.events, utrace::ev::Syscall | utrace::ev::Signal);
    EXPECT_EQ(c2.stopEvents, utrace::ev::Signal);
    EXPECT_EQ(c2.syscalls, QStringList{QStringLiteral("write")});
    ASSERT_EQ(w2.breakpoints()->rowCount(), 2);
    EXPECT_EQ(w2.breakpoints()->breakpoints()[1].location, QStringLiteral("demo.c:12"));
    EXPECT_TRUE(w2.action(QStringLiteral("classroomMode"))->isChecked());
    EXPECT_FALSE(w2.findChild<QDockWidget *>(QStringLiteral("memory"))->isVisible());
    // Not a session: refused with a sentence.
    QFile bad(dir.filePath(QStringLiteral("bad.json")));
    ASSERT_TRUE(bad.open(QIODevice::WriteOnly));
    bad.write("{\"hello\": 1}");
    bad.close();
    EXPECT_FALSE(w2.loadSessionFrom(bad.fileName()));
    EXPECT_TRUE(w2.lastError().contains(QStringLiteral("not a utrace session")));
}

TEST(MainWindow, LayoutIsKeptInQSettings)
{
    QSettings().clear();
    {
        MainWindow w;
        w.show();
        w.findChild<QDockWidget *>(QStringLiteral("registers"))->hide();
        w.close();
    }
    MainWindow w2;
    w2.show();
    EXPECT_FALSE(w2.findChild<QDockWidget *>(QStringLiteral("registers"))->isVisible());
    EXPECT_TRUE(w2.findChild<QDockWidget *>(QStringLiteral("threads"))->isVisible());
    QSettings().clear();
}
