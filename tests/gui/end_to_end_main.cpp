// GuiEndToEnd: the GUI (offscreen) driving a fixture in the test VM through
// utrace-agent. Run it with the VM serving the agent:
//
//   tools/vm/vmtest agent --build-dir build --exec build/tests/gui/GuiEndToEnd 6.12
//
// (UTRACE_AGENT=tcp://127.0.0.1:PORT is set by the harness). Without an
// agent every case is skipped with that command as the reason.
#include "models/backtracemodel.hpp"
#include "models/breakpointsmodel.hpp"
#include "models/eventlogmodel.hpp"
#include "models/processtreemodel.hpp"
#include "models/registersmodel.hpp"
#include "models/threadsmodel.hpp"
#include "utrace/session.hpp"
#include "widgets/mainwindow.hpp"
#include "widgets/panels.hpp"

#include <QAction>
#include <QApplication>
#include <QDir>
#include <QDockWidget>
#include <QLineEdit>
#include <QStandardPaths>
#include <QTest>
#include <gtest/gtest.h>
#include <sys/syscall.h>

using namespace utraceui;

namespace {

constexpr int Slow = 120000; // QEMU without KVM: generous

// The newest event of the log matching pred, or -1.
template <class P> int findEvent(EventLogModel *m, P pred, int from = 0)
{
    for (int r = m->rowCount() - 1; r >= from; r--)
        if (pred(m->event(r)))
            return r;
    return -1;
}

// The end of the log and the threads' states, for a failure message.
std::string tail(MainWindow &w)
{
    std::string out = "\n  last events:";
    auto *log = w.eventLog();
    for (int r = std::max(0, log->rowCount() - 12); r < log->rowCount(); r++)
        out += "\n    " + std::to_string(log->event(r).tid) + " " +
               log->index(r, EventLogModel::KindColumn).data().toString().toStdString() + " " +
               log->detail(r).toStdString();
    out += "\n  threads:";
    for (const auto &t : w.threads()->threads())
        out += "\n    " + std::to_string(t.tid) + " " + w.threads()->stateText(t).toStdString();
    out += "\n  resume enabled: " +
           std::string(w.action(QStringLiteral("resume"))->isEnabled() ? "yes" : "no");
    return out;
}

// With UTRACE_SCREENSHOTS=DIR, the window and the named docks as PNGs
// (docs/screenshots/ comes from here).
void shot(MainWindow &w, const QString &name, const QStringList &docks = {})
{
    const QString dir = qEnvironmentVariable("UTRACE_SCREENSHOTS");
    if (dir.isEmpty())
        return;
    QDir().mkpath(dir);
    for (const auto &d : docks)
        if (auto *dw = w.findChild<QDockWidget *>(d)) {
            dw->show();
            dw->raise();
        }
    QTest::qWait(100);
    w.grab().save(dir + QStringLiteral("/%1.png").arg(name));
    for (const auto &d : docks)
        if (auto *dw = w.findChild<QDockWidget *>(d))
            dw->grab().save(dir + QStringLiteral("/%1-%2.png").arg(name, d));
}

class GuiEndToEnd : public testing::Test {
protected:
    void SetUp() override
    {
        agent_ = qEnvironmentVariable("UTRACE_AGENT");
        if (agent_.isEmpty())
            GTEST_SKIP() << "no agent: run tools/vm/vmtest agent --exec "
                            "build/tests/gui/GuiEndToEnd";
    }
    QString agent_;
};

} // namespace

TEST_F(GuiEndToEnd, LaunchBreakStopStepInspectResumeToExit)
{
    MainWindow w;
    w.resize(1600, 1000);
    w.show();
    Controller *c = w.controller();
    std::vector<Inspection> inspections;
    QObject::connect(c, &Controller::inspected, &w,
                     [&](const Inspection &in) { inspections.push_back(in); });
    QStringList errors;
    QObject::connect(c, &Controller::error, &w, [&](const QString &s) { errors << s; });

    // Connect. A loaded QEMU can miss the library's 30 s hello deadline
    // (the forwarded port accepts before the guest answers): try again, as
    // the GUI does for the demo VM.
    for (int attempt = 0; attempt < 4 && !c->isConnected(); attempt++) {
        errors.clear();
        w.connectTo(agent_);
        ASSERT_TRUE(
            QTest::qWaitFor([&] { return c->isConnected() || !errors.isEmpty(); }, 3 * Slow))
            << "no answer from " << agent_.toStdString();
    }
    ASSERT_TRUE(c->isConnected()) << errors.join(QLatin1Char('\n')).toStdString() << tail(w);

    // Set events, launch: held at its first instruction (exec).
    EngineConfig cfg;
    cfg.events = utrace::ev::Syscall | utrace::ev::Exec | utrace::ev::Exit | utrace::ev::Death |
                 utrace::ev::SignalAll;
    cfg.stopEvents = utrace::ev::Exec;
    w.engines()->setConfig(cfg);
    c->launch({QStringLiteral("fx_calls"), QStringLiteral("3")}, {}, {}, w.engines()->config());
    auto *log = w.eventLog();
    ASSERT_TRUE(QTest::qWaitFor(
        [&] {
            return findEvent(log,
                             [](const utrace::Event &e) {
                                 return e.held && e.is<utrace::Exec>();
                             }) >= 0 ||
                   !errors.isEmpty();
        },
        Slow))
        << "no held exec";
    ASSERT_TRUE(errors.isEmpty()) << errors.join(QLatin1Char('\n')).toStdString() << tail(w);
    const int pid = w.currentPid();
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(w.threads()->thread(pid));
    EXPECT_EQ(w.threads()->thread(pid)->state, ThreadsModel::State::Stopped);

    // A breakpoint by name, then resume: the hit stops the thread there.
    QLineEdit *bpAdd = nullptr;
    for (auto *le : w.findChildren<QLineEdit *>())
        if (le->placeholderText().startsWith(QStringLiteral("Add at")))
            bpAdd = le;
    ASSERT_NE(bpAdd, nullptr);
    bpAdd->setText(QStringLiteral("fx_loop_body"));
    QTest::keyClick(bpAdd, Qt::Key_Return);
    ASSERT_TRUE(QTest::qWaitFor([&] { return w.breakpoints()->rowCount() == 1; }, Slow))
        << errors.join(QLatin1Char('\n')).toStdString() << tail(w);
    const uint64_t bpAddr = w.breakpoints()->breakpoints()[0].address;
    inspections.clear();
    w.action(QStringLiteral("resume"))->trigger();
    ASSERT_TRUE(QTest::qWaitFor(
        [&] { return !inspections.empty() && inspections.back().regs.rip == bpAddr; }, Slow))
        << "no stop at the breakpoint; errors: " << errors.join(QLatin1Char('\n')).toStdString()
        << tail(w);
    EXPECT_EQ(w.breakpoints()->breakpoints()[0].hits, 1);
    // The backtrace, inline frame included, and the source line.
    const Inspection &at = inspections.back();
    QStringList names;
    for (const auto &f : at.frames)
        names << QString::fromStdString(f.function);
    EXPECT_TRUE(names.contains(QStringLiteral("fx_loop_body")))
        << names.join(QLatin1Char(' ')).toStdString();
    EXPECT_TRUE(names.contains(QStringLiteral("fx_inner")));
    EXPECT_TRUE(names.contains(QStringLiteral("fx_middle")));
    EXPECT_TRUE(at.sourceFile.endsWith(QStringLiteral("calls.c"))) << at.sourceFile.toStdString();
    EXPECT_GT(at.sourceLine, 0);
    EXPECT_GE(w.backtrace()->rowCount(), 3);
    EXPECT_TRUE(w.registers()->hasRegisters());
    shot(w, QStringLiteral("breakpoint"), {QStringLiteral("source"), QStringLiteral("backtrace")});

    // Stop at a syscall: getppid's entry holds (fx_inner makes it right
    // after fx_loop_body returns).
    cfg.stopEvents = utrace::ev::SyscallEntry;
    cfg.syscalls = {QStringLiteral("getppid")};
    cfg.events = utrace::ev::Syscall | utrace::ev::Exit | utrace::ev::Death;
    c->configure(pid, cfg);
    const int before = log->rowCount();
    w.action(QStringLiteral("resume"))->trigger();
    ASSERT_TRUE(QTest::qWaitFor(
        [&] {
            return findEvent(
                       log,
                       [](const utrace::Event &e) {
                           auto *s = e.get<utrace::SyscallEntry>();
                           return e.held && s && s->nr == SYS_getppid;
                       },
                       before) >= 0;
        },
        Slow))
        << "no held getppid entry; errors: " << errors.join(QLatin1Char('\n')).toStdString()
        << tail(w);
    ASSERT_TRUE(QTest::qWaitFor(
        [&] { return !inspections.empty() && inspections.back().regs.orig_rax == SYS_getppid; },
        Slow));
    EXPECT_TRUE(w.threads()
                    ->index(w.threads()->rowOfTid(pid), ThreadsModel::StateColumn)
                    .data()
                    .toString()
                    .contains(QStringLiteral("getppid")));
    // Read a register as the panel shows it.
    const int rax = RegistersModel::rowOf("orig_rax");
    EXPECT_EQ(w.registers()->index(rax, RegistersModel::ValueColumn).data().toString(),
              QStringLiteral("0x%1").arg(SYS_getppid, 16, 16, QLatin1Char('0')));

    w.setClassroomMode(true);
    shot(w, QStringLiteral("syscall"),
         {QStringLiteral("registers"), QStringLiteral("classroom"), QStringLiteral("timeline"),
          QStringLiteral("threads")});
    w.setClassroomMode(false);

    // The breakpoint goes (while no thread is held at it), the loop's other
    // rounds run free.
    w.breakpoints()->remove(0);

    // Step instructions: each a held Step event and a fresh inspection. The
    // first step from a syscall entry completes the syscall and reports at
    // the same pc (after the syscall instruction); the next one moves it.
    const uint64_t pcBefore = inspections.back().regs.rip;
    for (int i = 0; i < 3 && inspections.back().regs.rip == pcBefore; i++) {
        const int beforeStep = log->rowCount();
        const size_t seen = inspections.size();
        ASSERT_TRUE(QTest::qWaitFor(
            [&] { return w.action(QStringLiteral("stepInstruction"))->isEnabled(); }, Slow))
            << tail(w);
        w.action(QStringLiteral("stepInstruction"))->trigger();
        ASSERT_TRUE(QTest::qWaitFor(
            [&] {
                return findEvent(
                           log,
                           [](const utrace::Event &e) { return e.held && e.is<utrace::Step>(); },
                           beforeStep) >= 0;
            },
            Slow))
            << "no step event; errors: " << errors.join(QLatin1Char('\n')).toStdString() << tail(w);
        ASSERT_TRUE(QTest::qWaitFor([&] { return inspections.size() > seen; }, Slow)) << tail(w);
    }
    EXPECT_NE(inspections.back().regs.rip, pcBefore);

    // No more stops: resume to the exit.
    cfg.stopEvents = 0;
    c->configure(pid, cfg);
    w.action(QStringLiteral("resumeAll"))->trigger();
    ASSERT_TRUE(QTest::qWaitFor(
        [&] {
            return findEvent(log, [pid](const utrace::Event &e) {
                       auto *d = e.get<utrace::Death>();
                       return d && e.tid == pid;
                   }) >= 0;
        },
        Slow))
        << "no death; errors: " << errors.join(QLatin1Char('\n')).toStdString() << tail(w);
    const int exitRow = findEvent(
        log, [pid](const utrace::Event &e) { return e.is<utrace::Exit>() && e.tid == pid; });
    ASSERT_GE(exitRow, 0);
    EXPECT_EQ(log->event(exitRow).get<utrace::Exit>()->code, 0); // exit status 0
    EXPECT_FALSE(w.processTree()->indexOfPid(pid).data(ProcessTreeModel::AliveRole).toBool());
    shot(w, QStringLiteral("exited"), {QStringLiteral("timeline"), QStringLiteral("processTree")});
    EXPECT_TRUE(errors.isEmpty()) << errors.join(QLatin1Char('\n')).toStdString() << tail(w);
    c->disconnectSession();
    ASSERT_TRUE(QTest::qWaitFor([&] { return !c->isConnected(); }, Slow));
}

int main(int argc, char **argv)
{
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QStandardPaths::setTestModeEnabled(true);
    testing::InitGoogleTest(&argc, argv);
    QApplication app(argc, argv);
    return RUN_ALL_TESTS();
}
