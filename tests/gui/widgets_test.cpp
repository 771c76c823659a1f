// Widgets on the offscreen platform: real widgets, real input events.
#include "gui_test_util.hpp"
#include "models/eventlogmodel.hpp"
#include "models/eventtext.hpp"
#include "models/processlistmodel.hpp"
#include "models/timelinemodel.hpp"
#include "utrace/session.hpp"
#include "widgets/eventlogpanel.hpp"
#include "widgets/panels.hpp"
#include "widgets/sourceview.hpp"
#include "widgets/timelineview.hpp"

#include <QCheckBox>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QScrollBar>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBlock>
#include <csignal>
#include <sys/syscall.h>

using namespace utraceui;
using guitest::entry;
using guitest::ev;

namespace {
std::vector<utrace::Event> syscalls(int n, int tids = 2, uint64_t t0 = 1000)
{
    std::vector<utrace::Event> out;
    for (int i = 0; i < n; i++) {
        const int tid = 100 + i / 2 % tids;
        if (i % 2 == 0)
            out.push_back(ev(uint64_t(i + 1), t0 + uint64_t(i) * 100, tid, entry(SYS_read)));
        else
            out.push_back(
                ev(uint64_t(i + 1), t0 + uint64_t(i) * 100, tid, utrace::SyscallExit{SYS_read, 7}));
    }
    return out;
}
} // namespace

TEST(TimelineView, ClickOnAMarkerSelectsItsEvent)
{
    TimelineModel m;
    TimelineView v;
    v.setModel(&m);
    v.resize(800, 200);
    v.show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(&v));
    auto events = syscalls(40);
    utrace::Signal sig;
    sig.signo = SIGUSR1;
    events.push_back(ev(41, 1000 + 40 * 100, 101, sig));
    m.appendEvents(events, 0);
    v.fit();
    QSignalSpy clicked(&v, &TimelineView::eventClicked);
    const QPoint at = v.pointOf(m.laneOfTid(101), 1000 + 40 * 100);
    ASSERT_GT(at.x(), TimelineView::LabelWidth);
    QTest::mouseClick(&v, Qt::LeftButton, {}, at);
    ASSERT_EQ(clicked.count(), 1);
    EXPECT_EQ(clicked[0][0].toLongLong(), 40); // the signal's row
    // Off every lane: nothing.
    QTest::mouseClick(&v, Qt::LeftButton, {}, QPoint(TimelineView::LabelWidth / 2, 150));
    EXPECT_EQ(clicked.count(), 1);
    // Zoom in and out around the middle; the painting copes at any zoom.
    const double npp = v.nsPerPixel();
    v.zoomIn();
    EXPECT_DOUBLE_EQ(v.nsPerPixel(), npp / 2);
    QTest::keyClick(&v, Qt::Key_Minus);
    EXPECT_DOUBLE_EQ(v.nsPerPixel(), npp);
    QImage img(v.size(), QImage::Format_ARGB32);
    v.render(&img);
    // The signal's marker is drawn in the signal colour at its x.
    bool found = false;
    const QPoint p = v.pointOf(m.laneOfTid(101), 1000 + 40 * 100);
    for (int dx = -1; dx <= 1; dx++)
        found |= img.pixelColor(p.x() + dx, p.y()) == kindColor(Kind::Signal);
    EXPECT_TRUE(found);
}

TEST(TimelineView, FollowKeepsTheNewestEventInView)
{
    TimelineModel m;
    TimelineView v;
    v.setModel(&m);
    v.resize(600, 120);
    v.show();
    m.appendEvents(syscalls(10), 0);
    v.setRange(0, 10.0); // 10 ns a pixel: 5 us wide
    v.setFollow(true);
    m.appendEvents(syscalls(10, 2, 1000000), 10);
    const double right = double(v.viewStart()) + v.nsPerPixel() * (600 - TimelineView::LabelWidth);
    EXPECT_GE(right, double(m.endTime()));
    EXPECT_LE(double(v.viewStart()), double(m.endTime()));
}

TEST(EventLogPanel, FilterSearchFollowAndJsonRoundTrip)
{
    EventLogModel m;
    EventLogPanel p(&m);
    p.resize(900, 400);
    p.show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(&p));
    auto events = syscalls(400, 4);
    events.push_back(ev(401, 99999, 102, utrace::Exec{"/usr/bin/needle"}));
    m.appendEvents(events);
    QCoreApplication::processEvents();
    // Following: the newest row is in view.
    EXPECT_TRUE(p.following());
    EXPECT_EQ(p.view()->verticalScrollBar()->value(), p.view()->verticalScrollBar()->maximum());
    EXPECT_FALSE(p.filtering());

    // Search: the exec event, wherever it is.
    auto *search = p.findChild<QLineEdit *>();
    ASSERT_NE(search, nullptr);
    for (auto *le : p.findChildren<QLineEdit *>())
        if (le->placeholderText().startsWith(QStringLiteral("Search")))
            search = le;
    search->setText(QStringLiteral("needle"));
    EXPECT_TRUE(p.findNext());
    EXPECT_EQ(p.currentRow(), 400);
    EXPECT_FALSE(p.following()); // reading: following paused

    // Filter by thread: the proxy comes in, with that thread's rows only.
    QLineEdit *tids = nullptr;
    for (auto *le : p.findChildren<QLineEdit *>())
        if (le->placeholderText().startsWith(QStringLiteral("Threads")))
            tids = le;
    ASSERT_NE(tids, nullptr);
    tids->setText(QStringLiteral("101"));
    QTest::qWait(400); // the filter waits for typing to pause
    EXPECT_TRUE(p.filtering());
    EXPECT_EQ(p.view()->model()->rowCount(), 100);
    tids->clear();
    QTest::qWait(400);
    EXPECT_FALSE(p.filtering());
    EXPECT_EQ(p.view()->model()->rowCount(), 401);
    EXPECT_EQ(p.currentRow(), 400); // the selection survives filtering

    QTemporaryDir dir;
    const QString file = dir.filePath(QStringLiteral("events.jsonl"));
    ASSERT_TRUE(p.exportTo(file));
    EventLogModel back;
    EventLogPanel p2(&back);
    QSignalSpy msg(&p2, &EventLogPanel::message);
    ASSERT_TRUE(p2.openFrom(file));
    EXPECT_EQ(back.rowCount(), 401);
    EXPECT_EQ(back.detail(400), m.detail(400));
    EXPECT_FALSE(p2.openFrom(dir.filePath(QStringLiteral("missing.jsonl"))));
    EXPECT_TRUE(msg.last()[0].toString().contains(QStringLiteral("Cannot open")));
}

TEST(SourceView, CurrentLineAndBreakpointGutter)
{
    SourceView v;
    v.resize(500, 300);
    v.show();
    ASSERT_TRUE(QTest::qWaitForWindowExposed(&v));
    QString text;
    for (int i = 1; i <= 50; i++)
        text += QStringLiteral("line %1\n").arg(i);
    v.setSource(QStringLiteral("/src/demo.c"), text);
    v.setCurrentLine(30);
    EXPECT_EQ(v.currentLine(), 30);
    ASSERT_EQ(v.extraSelections().size(), 1);
    EXPECT_EQ(v.extraSelections()[0].cursor.block().blockNumber(), 29);
    EXPECT_EQ(v.textCursor().blockNumber(), 29); // scrolled to it
    v.setBreakpointLines({30, 31});
    // A click in the gutter on a line asks to toggle a breakpoint there.
    QSignalSpy clicked(&v, &SourceView::gutterClicked);
    QWidget *gutter = nullptr;
    for (auto *w : v.findChildren<QWidget *>())
        if (w->width() == v.gutterWidth() && w->parent() == &v)
            gutter = w;
    ASSERT_NE(gutter, nullptr);
    const QRect r = v.cursorRect(QTextCursor(v.document()->findBlockByNumber(30)));
    QTest::mouseClick(gutter, Qt::LeftButton, {}, QPoint(5, r.center().y()));
    ASSERT_EQ(clicked.count(), 1);
    EXPECT_EQ(clicked[0][0].toInt(), 31);
}

TEST(EnginesPanel, ConfigRoundTripAndSyscallSearch)
{
    EnginesPanel p;
    EngineConfig c;
    c.events = utrace::ev::Syscall | utrace::ev::Exec;
    c.stopEvents = utrace::ev::SyscallEntry;
    c.syscalls = {QStringLiteral("openat"), QStringLiteral("read")};
    c.followChildren = false;
    p.setConfig(c);
    EngineConfig back = p.config();
    EXPECT_EQ(back.events, c.events);
    EXPECT_EQ(back.stopEvents, c.stopEvents);
    EXPECT_EQ(back.syscalls, c.syscalls);
    EXPECT_FALSE(back.followChildren);
    EXPECT_GT(p.syscallList()->count(), 300); // the whole x86-64 table
    p.syscallSearch()->setText(QStringLiteral("open"));
    int visible = 0;
    for (int i = 0; i < p.syscallList()->count(); i++)
        if (!p.syscallList()->item(i)->isHidden()) {
            visible++;
            EXPECT_TRUE(p.syscallList()->item(i)->text().contains(QStringLiteral("open")));
        }
    EXPECT_GE(visible, 3); // open, openat, openat2, ...
    QSignalSpy apply(&p, &EnginesPanel::applyRequested);
    for (auto *b : p.findChildren<QPushButton *>())
        if (b->text().startsWith(QStringLiteral("Apply")))
            b->click();
    ASSERT_EQ(apply.count(), 1);
    EXPECT_EQ(apply[0][0].value<EngineConfig>().events, c.events);
    EXPECT_FALSE(EnginesPanel::explain(utrace::ev::Clone).isEmpty());
}

TEST(ProcessesPanel, FilterAndAttach)
{
    ProcessListModel m;
    ProcessesPanel p(&m);
    p.show();
    auto proc = [](int pid, std::string cmd) {
        utrace::ProcessInfo i;
        i.pid = pid;
        i.comm = cmd;
        i.cmdline = cmd;
        i.tids = {pid};
        return i;
    };
    m.setProcesses({proc(10, "init"), proc(42, "demo --threads 4"), proc(50, "bash")});
    p.filter()->setText(QStringLiteral("demo"));
    ASSERT_EQ(p.view()->model()->rowCount(), 1);
    p.view()->setCurrentIndex(p.view()->model()->index(0, 0));
    EXPECT_EQ(p.selectedPid(), 42);
    QSignalSpy attach(&p, &ProcessesPanel::attachRequested);
    for (auto *b : p.findChildren<QPushButton *>())
        if (b->text() == QStringLiteral("Attach"))
            b->click();
    ASSERT_EQ(attach.count(), 1);
    EXPECT_EQ(attach[0][0].toInt(), 42);
}

TEST(Dialogs, ConnectAddressesAndCommandSplitting)
{
    ConnectDialog d;
    EXPECT_EQ(d.where(), QStringLiteral("/dev/utrace"));
    d.setMode(ConnectDialog::Remote);
    d.setRemote(QStringLiteral("vm:4711"));
    EXPECT_EQ(d.where(), QStringLiteral("tcp://vm:4711"));
    d.setMode(ConnectDialog::Ssh);
    EXPECT_TRUE(d.where().startsWith(QStringLiteral("exec:ssh ")));
    d.setMode(ConnectDialog::DemoVm);
    EXPECT_EQ(d.where(), QStringLiteral("tcp://127.0.0.1:4711"));
    EXPECT_FALSE(d.demoCommand().isEmpty());
    EXPECT_EQ(LaunchDialog::splitCommand(QStringLiteral("ls -l 'a b' \"c\\\"d\" e\\ f ''")),
              (QStringList{QStringLiteral("ls"), QStringLiteral("-l"), QStringLiteral("a b"),
                           QStringLiteral("c\"d"), QStringLiteral("e f"), QString()}));
    LaunchDialog l;
    l.set({QStringLiteral("/bin/echo"), QStringLiteral("hello world")}, {QStringLiteral("A=1")},
          QStringLiteral("/tmp"));
    EXPECT_EQ(l.argv(), (QStringList{QStringLiteral("/bin/echo"), QStringLiteral("hello world")}));
    EXPECT_EQ(l.env(), QStringList{QStringLiteral("A=1")});
    EXPECT_EQ(l.cwd(), QStringLiteral("/tmp"));
}

TEST(ClassroomPanel, AutoStepAndFontScale)
{
    ClassroomPanel c;
    QSignalSpy step(&c, &ClassroomPanel::autoStepChanged);
    QSignalSpy scale(&c, &ClassroomPanel::fontScaleChanged);
    c.setAutoStepping(true);
    ASSERT_EQ(step.count(), 1);
    EXPECT_TRUE(step[0][0].toBool());
    EXPECT_EQ(step[0][1].toInt(), c.autoStepIntervalMs());
    c.setFontScale(200);
    ASSERT_EQ(scale.count(), 1);
    EXPECT_EQ(scale[0][0].toInt(), 200);
    c.setHtml(QStringLiteral("<h3>openat</h3>"));
    EXPECT_TRUE(c.html().contains(QStringLiteral("openat")));
}
