// The models: each under QAbstractItemModelTester while it is fed.
#include "gui_test_util.hpp"
#include "models/backtracemodel.hpp"
#include "models/breakpointsmodel.hpp"
#include "models/disassemblymodel.hpp"
#include "models/eventlogmodel.hpp"
#include "models/eventtext.hpp"
#include "models/explanations.hpp"
#include "models/memorymodel.hpp"
#include "models/processlistmodel.hpp"
#include "models/processtreemodel.hpp"
#include "models/registersmodel.hpp"
#include "models/threadsmodel.hpp"
#include "models/timelinemodel.hpp"

#include <QBuffer>
#include <QSignalSpy>
#include <csignal>
#include <linux/sched.h>
#include <sys/syscall.h>

using namespace utraceui;
using guitest::entry;
using guitest::ev;

namespace {

std::vector<utrace::Event> everyKind()
{
    utrace::Signal sig;
    sig.signo = SIGSEGV;
    sig.code = 1;
    sig.err = 0;
    sig.disposition = utrace::SignalDisposition::Core;
    sig.siginfo[0] = SIGSEGV;
    sig.siginfo[127] = 0xab;
    utrace::SyscallEntry noArgs;
    noArgs.nr = SYS_getpid;
    return {
        ev(1, 1000, 100, entry(SYS_openat, {uint64_t(-100), 0x7ffd0000, 0x80000, 0, 0, 0})),
        ev(2, 2000, 100, utrace::SyscallExit{SYS_openat, -2}),
        ev(3, 3000, 101, noArgs, true, 100),
        ev(4, 4000, 100, sig, true),
        ev(5, 5000, 100, utrace::Clone{102, 7, CLONE_VM | CLONE_THREAD}),
        ev(6, 6000, 100, utrace::Exec{"/usr/bin/true"}),
        ev(7, 7000, 100, utrace::Exit{0x0b00}),
        ev(8, 8000, 100, utrace::Death{true, SIGKILL}),
        ev(9, 9000, 100, utrace::Reap{}),
        ev(10, 10000, 101, utrace::Quiesce{}, true, 100),
        ev(11, 11000, 101, utrace::Step{}, true, 100),
        ev(12, 12000, 0, utrace::Lost{42}),
    };
}

void expectSame(const utrace::Event &a, const utrace::Event &b)
{
    EXPECT_EQ(a.seq, b.seq);
    EXPECT_EQ(a.timeNs, b.timeNs);
    EXPECT_EQ(a.tid, b.tid);
    EXPECT_EQ(a.tgid, b.tgid);
    EXPECT_EQ(a.handle, b.handle);
    EXPECT_EQ(a.held, b.held);
    ASSERT_EQ(a.payload.index(), b.payload.index());
    if (auto *x = a.get<utrace::SyscallEntry>()) {
        EXPECT_EQ(x->nr, b.get<utrace::SyscallEntry>()->nr);
        EXPECT_EQ(x->hasArgs, b.get<utrace::SyscallEntry>()->hasArgs);
        EXPECT_EQ(x->args, b.get<utrace::SyscallEntry>()->args);
    } else if (auto *y = a.get<utrace::SyscallExit>()) {
        EXPECT_EQ(y->nr, b.get<utrace::SyscallExit>()->nr);
        EXPECT_EQ(y->ret, b.get<utrace::SyscallExit>()->ret);
    } else if (auto *s = a.get<utrace::Signal>()) {
        auto *t = b.get<utrace::Signal>();
        EXPECT_EQ(s->signo, t->signo);
        EXPECT_EQ(s->code, t->code);
        EXPECT_EQ(s->disposition, t->disposition);
        EXPECT_EQ(s->siginfo, t->siginfo);
    } else if (auto *c = a.get<utrace::Clone>()) {
        EXPECT_EQ(c->childTid, b.get<utrace::Clone>()->childTid);
        EXPECT_EQ(c->childHandle, b.get<utrace::Clone>()->childHandle);
        EXPECT_EQ(c->cloneFlags, b.get<utrace::Clone>()->cloneFlags);
    } else if (auto *x2 = a.get<utrace::Exec>()) {
        EXPECT_EQ(x2->path, b.get<utrace::Exec>()->path);
    } else if (auto *ex = a.get<utrace::Exit>()) {
        EXPECT_EQ(ex->code, b.get<utrace::Exit>()->code);
    } else if (auto *d = a.get<utrace::Death>()) {
        EXPECT_EQ(d->groupDead, b.get<utrace::Death>()->groupDead);
        EXPECT_EQ(d->signal, b.get<utrace::Death>()->signal);
    } else if (auto *l = a.get<utrace::Lost>()) {
        EXPECT_EQ(l->count, b.get<utrace::Lost>()->count);
    }
}

} // namespace

TEST(EventStore, KeepsEveryFieldOfEveryKind)
{
    EventStore s;
    auto events = everyKind();
    for (const auto &e : events)
        s.append(e);
    ASSERT_EQ(s.size(), events.size());
    for (size_t i = 0; i < events.size(); i++) {
        SCOPED_TRACE(i);
        expectSame(events[i], s.event(i));
    }
    EXPECT_EQ(s.findSeq(6), 5);
    EXPECT_EQ(s.findSeq(99), -1);
}

TEST(EventStore, StaysUnderOneHundredBytesAnEvent)
{
    EventStore s;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        if (i % 2 == 0)
            s.append(ev(uint64_t(i), uint64_t(i) * 100, 100 + i % 8, entry(SYS_read)));
        else
            s.append(
                ev(uint64_t(i), uint64_t(i) * 100, 100 + i % 8, utrace::SyscallExit{SYS_read, 10}));
    }
    EXPECT_LE(double(s.bytesUsed()) / n, 100.0);
    expectSame(s.event(n - 2),
               ev(uint64_t(n - 2), uint64_t(n - 2) * 100, 100 + (n - 2) % 8, entry(SYS_read)));
}

TEST(EventLogModel, BatchesRowsAndDecodes)
{
    EventLogModel m;
    auto t = guitest::tester(&m);
    QSignalSpy inserted(&m, &QAbstractItemModel::rowsInserted);
    auto events = everyKind();
    m.appendEvents(std::span(events).first(6));
    m.appendEvents(std::span(events).subspan(6));
    EXPECT_EQ(inserted.count(), 2); // one signal per batch, not per event
    ASSERT_EQ(m.rowCount(), int(events.size()));
    EXPECT_EQ(m.columnCount(), EventLogModel::ColumnCount);
    EXPECT_EQ(m.data(m.index(0, EventLogModel::TidColumn)).toInt(), 100);
    EXPECT_EQ(m.data(m.index(1, EventLogModel::TimeColumn)).toString(), QStringLiteral("0.000001"));
    EXPECT_EQ(m.data(m.index(0, EventLogModel::KindColumn)).toString(),
              QStringLiteral("syscall-entry"));
    EXPECT_TRUE(m.data(m.index(0, EventLogModel::DetailColumn))
                    .toString()
                    .startsWith(syscallName(SYS_openat)));
    EXPECT_TRUE(m.data(m.index(1, EventLogModel::DetailColumn))
                    .toString()
                    .contains(QStringLiteral("ENOENT")));
    EXPECT_TRUE(m.data(m.index(3, EventLogModel::DetailColumn))
                    .toString()
                    .contains(QStringLiteral("SIGSEGV")));
    EXPECT_TRUE(m.data(m.index(2, 0), EventLogModel::HeldRole).toBool());
    EXPECT_EQ(m.data(m.index(3, 0), EventLogModel::KindRole).toInt(), int(Kind::Signal));
    // Coloured by kind: a signal does not look like a syscall.
    EXPECT_NE(m.data(m.index(0, 4), Qt::ForegroundRole).value<QColor>(),
              m.data(m.index(3, 4), Qt::ForegroundRole).value<QColor>());
    EXPECT_EQ(m.rowOfSeq(4), 3);
}

TEST(EventLogModel, SearchFindsTextKindAndThreadAndWraps)
{
    EventLogModel m;
    auto events = everyKind();
    m.appendEvents(events);
    EXPECT_EQ(m.findNext(QStringLiteral("SIGSEGV"), -1), 3);
    EXPECT_EQ(m.findNext(QStringLiteral("exec"), 3), 5);
    EXPECT_EQ(m.findNext(QStringLiteral("101"), 2), 9);
    EXPECT_EQ(m.findNext(QStringLiteral("101"), 10), 2); // wraps around
    EXPECT_EQ(m.findNext(QStringLiteral("syscall-entry"), 3, true), 2);
    EXPECT_EQ(m.findNext(QStringLiteral("no such thing"), 0), -1);
}

TEST(EventLogModel, ExportedJsonLinesLoadBackUnchanged)
{
    EventLogModel m;
    auto events = everyKind();
    m.appendEvents(events);
    QBuffer buf;
    buf.open(QIODevice::ReadWrite);
    QString error;
    ASSERT_TRUE(m.exportJsonLines(buf, &error)) << error.toStdString();
    EXPECT_EQ(buf.data().count('\n'), qsizetype(events.size()));
    buf.seek(0);
    EventLogModel back;
    auto t = guitest::tester(&back);
    ASSERT_TRUE(back.loadJsonLines(buf, &error)) << error.toStdString();
    ASSERT_EQ(back.rowCount(), m.rowCount());
    for (int i = 0; i < m.rowCount(); i++) {
        SCOPED_TRACE(i);
        expectSame(m.event(i), back.event(i));
        EXPECT_EQ(m.detail(i), back.detail(i));
    }
}

TEST(EventLogModel, LoadNamesTheBadLine)
{
    QBuffer buf;
    buf.setData(QByteArrayLiteral("{\"seq\":1,\"time_ns\":5,\"tid\":3,\"kind\":\"reap\"}\n\n{"
                                  "\"seq\":2,\"kind\":\"bogus\"}\n"));
    buf.open(QIODevice::ReadOnly);
    EventLogModel m;
    QString error;
    EXPECT_FALSE(m.loadJsonLines(buf, &error));
    EXPECT_TRUE(error.contains(QStringLiteral("Line 3"))) << error.toStdString();
    EXPECT_TRUE(error.contains(QStringLiteral("bogus"))) << error.toStdString();
    EXPECT_EQ(m.rowCount(), 1); // the good lines before it are kept
}

TEST(EventFilterProxy, FiltersByKindThreadAndText)
{
    EventLogModel m;
    EventFilterProxy p;
    p.setSourceModel(&m);
    auto t1 = guitest::tester(&m);
    auto t2 = guitest::tester(&p);
    auto events = everyKind();
    m.appendEvents(events);
    EXPECT_EQ(p.rowCount(), int(events.size()));
    EXPECT_FALSE(p.isFiltering());
    p.setKindMask(1u << int(Kind::SyscallEntry) | 1u << int(Kind::SyscallExit));
    EXPECT_EQ(p.rowCount(), 3);
    p.setTids({101});
    EXPECT_EQ(p.rowCount(), 1);
    p.setKindMask((1u << KindCount) - 1);
    EXPECT_EQ(p.rowCount(), 3); // 101: getpid, quiesce, step
    p.setTids({});
    p.setText(QStringLiteral("true"));
    ASSERT_EQ(p.rowCount(), 1);
    EXPECT_EQ(p.mapToSource(p.index(0, 0)).row(), 5);
    // Events appended while filtering go through the filter.
    std::vector<utrace::Event> more{ev(13, 13000, 100, utrace::Exec{"/bin/true"}),
                                    ev(14, 14000, 100, utrace::Reap{})};
    m.appendEvents(more);
    EXPECT_EQ(p.rowCount(), 2);
}

TEST(TimelineModel, LanesIntervalsAndMarkers)
{
    TimelineModel m;
    auto t = guitest::tester(&m);
    std::vector<utrace::Event> a{
        ev(1, 100, 10, entry(SYS_read)),                  // 10 in syscall
        ev(2, 200, 11, utrace::Quiesce{}, true, 10),      // 11 stopped
        ev(3, 300, 10, utrace::SyscallExit{SYS_read, 5}), // 10 running
    };
    m.appendEvents(a, 0);
    ASSERT_EQ(m.rowCount(), 2);
    EXPECT_EQ(m.laneOfTid(10), 0);
    EXPECT_EQ(m.laneOfTid(11), 1);
    EXPECT_EQ(m.data(m.index(1, TimelineModel::StateColumn)).toString(), QStringLiteral("stopped"));
    m.noteResumed(11, 400);
    std::vector<utrace::Event> b{
        ev(4, 500, 10, entry(SYS_write), true),
        ev(5, 600, 11, utrace::Death{true, 0}, false, 10),
        ev(6, 700, 12, utrace::Exec{"/bin/sh"}, false, 12),
    };
    m.appendEvents(b);
    EXPECT_EQ(m.rowCount(), 3);
    EXPECT_EQ(m.startTime(), 100u);
    EXPECT_EQ(m.endTime(), 700u);

    std::vector<TimelineModel::Interval> iv;
    m.intervals(0, 0, 1000, 1, [&](const auto &i) { iv.push_back(i); });
    ASSERT_EQ(iv.size(), 3u);
    EXPECT_EQ(iv[0].state, LaneState::InSyscall);
    EXPECT_EQ(iv[0].start, 100u);
    EXPECT_EQ(iv[0].end, 300u);
    EXPECT_EQ(iv[1].state, LaneState::Running);
    EXPECT_EQ(iv[2].state, LaneState::Stopped);
    EXPECT_EQ(iv[2].start, 500u);
    EXPECT_EQ(iv[2].end, 1000u); // still stopped: to the end of the range
    iv.clear();
    m.intervals(1, 0, 1000, 1, [&](const auto &i) { iv.push_back(i); });
    ASSERT_EQ(iv.size(), 2u);
    EXPECT_EQ(iv[0].state, LaneState::Stopped);
    EXPECT_EQ(iv[1].state, LaneState::Running);
    EXPECT_EQ(iv[1].start, 400u);
    EXPECT_EQ(iv[1].end, 600u); // then exited: nothing drawn after
    // Clipped to the asked range.
    iv.clear();
    m.intervals(0, 250, 550, 1, [&](const auto &i) { iv.push_back(i); });
    ASSERT_EQ(iv.size(), 3u);
    EXPECT_EQ(iv[0].start, 250u);
    EXPECT_EQ(iv[2].end, 550u);

    std::vector<TimelineModel::Marker> mk;
    m.markers(0, 0, 1000, 1, [&](const auto &x) { mk.push_back(x); });
    ASSERT_EQ(mk.size(), 3u);
    EXPECT_EQ(mk[2].row, 3u);
    EXPECT_EQ(mk[2].kind, Kind::SyscallEntry);
    EXPECT_EQ(m.markerNear(1, 590, 20), 4);
    EXPECT_EQ(m.markerNear(1, 500, 20), -1);
}

TEST(TimelineModel, DecimatesToBucketsWithoutLosingSignals)
{
    TimelineModel m;
    std::vector<utrace::Event> evs;
    for (int i = 0; i < 10000; i++) {
        evs.push_back(ev(uint64_t(2 * i), uint64_t(i) * 10, 1, entry(SYS_read)));
        evs.push_back(
            ev(uint64_t(2 * i + 1), uint64_t(i) * 10 + 5, 1, utrace::SyscallExit{SYS_read, 1}));
    }
    utrace::Signal sig;
    sig.signo = SIGUSR1;
    evs[5001] = ev(5001, 25005, 1, sig);
    m.appendEvents(evs);
    // 100 ns buckets over 100 us: about 1000 markers and intervals, not 20000.
    int markers = 0, signalMarks = 0;
    m.markers(0, 0, 100000, 100, [&](const auto &x) {
        markers++;
        signalMarks += x.kind == Kind::Signal;
    });
    EXPECT_LE(markers, 1001);
    EXPECT_GE(markers, 999);
    EXPECT_EQ(signalMarks, 1);
    int intervals = 0;
    uint64_t last = 0;
    m.intervals(0, 0, 100000, 100, [&](const auto &i) {
        intervals++;
        EXPECT_GE(i.start, last);
        last = i.end;
    });
    EXPECT_LE(intervals, 1001);
    EXPECT_GE(last, 99990u);
}

TEST(ThreadsModel, StatesFollowTheEvents)
{
    ThreadsModel m;
    auto t = guitest::tester(&m);
    m.addThread(10, 10, 1);
    std::vector<utrace::Event> a{ev(1, 1, 10, entry(SYS_nanosleep)),
                                 ev(2, 2, 11, utrace::Quiesce{}, true, 10)};
    m.appendEvents(a);
    ASSERT_EQ(m.rowCount(), 2);
    auto state = [&](int tid) {
        return m.data(m.index(m.rowOfTid(tid), ThreadsModel::StateColumn)).toString();
    };
    EXPECT_EQ(state(10), QStringLiteral("in syscall %1").arg(syscallName(SYS_nanosleep)));
    EXPECT_EQ(state(11), QStringLiteral("stopped"));
    EXPECT_TRUE(m.data(m.index(1, 0), ThreadsModel::StoppedRole).toBool());
    std::vector<utrace::Event> b{ev(3, 3, 10, utrace::SyscallExit{SYS_nanosleep, 0}, true)};
    m.appendEvents(b);
    EXPECT_EQ(state(10), QStringLiteral("stopped at %1 exit").arg(syscallName(SYS_nanosleep)));
    m.setPc(10, 0x401000);
    EXPECT_EQ(m.data(m.index(0, ThreadsModel::PcColumn)).toString(),
              QStringLiteral("0x000000401000"));
    m.noteResumed(10);
    EXPECT_EQ(state(10), QStringLiteral("running"));
    std::vector<utrace::Event> c{ev(4, 4, 11, utrace::Exit{0}, false, 10),
                                 ev(5, 5, 11, utrace::Death{false, 0}, false, 10)};
    m.appendEvents(c);
    EXPECT_TRUE(state(11).startsWith(QStringLiteral("exited")));
}

TEST(RegistersModel, HighlightsChangesAndEditsWhileStopped)
{
    RegistersModel m;
    auto t = guitest::tester(&m);
    EXPECT_EQ(m.rowCount(), 0);
    user_regs_struct r{};
    r.rip = 0x401000;
    r.rax = 1;
    m.setRegisters(r);
    ASSERT_EQ(m.rowCount(), RegistersModel::RegisterCount);
    const int rip = RegistersModel::rowOf("rip"), rax = RegistersModel::rowOf("rax");
    EXPECT_EQ(m.data(m.index(rip, 0)).toString(), QStringLiteral("rip"));
    EXPECT_EQ(m.data(m.index(rip, 1)).toString(), QStringLiteral("0x0000000000401000"));
    EXPECT_FALSE(m.data(m.index(rip, 1), RegistersModel::ChangedRole).toBool());
    m.clearRegisters(); // resumed
    EXPECT_EQ(m.rowCount(), 0);
    r.rip = 0x401005;
    m.setRegisters(r); // next stop
    EXPECT_TRUE(m.data(m.index(rip, 1), RegistersModel::ChangedRole).toBool());
    EXPECT_FALSE(m.data(m.index(rax, 1), RegistersModel::ChangedRole).toBool());
    EXPECT_TRUE(m.data(m.index(rip, 1), Qt::BackgroundRole).isValid());

    // Not editable until the controller says the thread is stopped.
    EXPECT_FALSE(m.flags(m.index(rax, 1)) & Qt::ItemIsEditable);
    EXPECT_FALSE(m.setData(m.index(rax, 1), QStringLiteral("0x2a")));
    m.setEditable(true);
    QSignalSpy edited(&m, &RegistersModel::registersEdited);
    EXPECT_FALSE(m.setData(m.index(rax, 1), QStringLiteral("zz")));
    EXPECT_TRUE(m.setData(m.index(rax, 1), QStringLiteral("0x2a")));
    ASSERT_EQ(edited.count(), 1);
    EXPECT_EQ(edited[0][0].value<user_regs_struct>().rax, 0x2aull);
    EXPECT_EQ(edited[0][0].value<user_regs_struct>().rip, 0x401005ull);
    EXPECT_TRUE(m.setData(m.index(rax, 1), QStringLiteral("-1")));
    EXPECT_EQ(m.registers().rax, ~0ull);
}

TEST(ProcessTreeModel, ForkExecExitLive)
{
    ProcessTreeModel m;
    auto t = guitest::tester(&m);
    m.addProcess(100, QStringLiteral("sh"));
    std::vector<utrace::Event> a{
        ev(1, 1, 100, utrace::Clone{200, 0, SIGCHLD}),                 // fork
        ev(2, 2, 100, utrace::Clone{101, 0, CLONE_VM | CLONE_THREAD}), // a thread
        ev(3, 3, 200, utrace::Exec{"/usr/bin/ls"}),                    // child execs
        ev(4, 4, 200, utrace::Clone{300, 0, SIGCHLD}),                 // grandchild
    };
    m.appendEvents(a);
    ASSERT_EQ(m.rowCount(), 1);
    QModelIndex sh = m.index(0, 0);
    EXPECT_EQ(m.data(m.index(0, ProcessTreeModel::ThreadsColumn)).toInt(), 2);
    ASSERT_EQ(m.rowCount(sh), 1);
    QModelIndex ls = m.index(0, 0, sh);
    EXPECT_EQ(ls.data().toInt(), 200);
    EXPECT_EQ(m.index(0, ProcessTreeModel::NameColumn, sh).data().toString(), QStringLiteral("ls"));
    ASSERT_EQ(m.rowCount(ls), 1);
    EXPECT_EQ(m.index(0, 0, ls).data().toInt(), 300);
    EXPECT_EQ(m.parent(m.index(0, 0, ls)), ls);
    std::vector<utrace::Event> b{ev(5, 5, 200, utrace::Exit{0x100}),
                                 ev(6, 6, 200, utrace::Death{true, 0})};
    m.appendEvents(b);
    EXPECT_EQ(m.index(0, ProcessTreeModel::StateColumn, sh).data().toString(),
              QStringLiteral("exited, status 1"));
    EXPECT_FALSE(m.indexOfPid(200).data(ProcessTreeModel::AliveRole).toBool());
}

TEST(ProcessListModel, RefreshKeepsRowsAndFilters)
{
    ProcessListModel m;
    ProcessFilterProxy p;
    p.setSourceModel(&m);
    auto t1 = guitest::tester(&m);
    auto t2 = guitest::tester(&p);
    auto proc = [](int pid, std::string cmd) {
        utrace::ProcessInfo i;
        i.pid = pid;
        i.ppid = 1;
        i.comm = cmd.substr(0, cmd.find(' '));
        i.cmdline = cmd;
        i.tids = {pid};
        return i;
    };
    m.setProcesses({proc(30, "sleep 100"), proc(10, "init"), proc(20, "bash -l")});
    ASSERT_EQ(m.rowCount(), 3);
    EXPECT_EQ(m.data(m.index(0, 0)).toInt(), 10);
    QPersistentModelIndex bash = m.index(1, 0);
    QSignalSpy reset(&m, &QAbstractItemModel::modelReset);
    m.setProcesses({proc(20, "bash -l"), proc(25, "vim x"), proc(30, "sleep 100")});
    EXPECT_EQ(reset.count(), 0);
    ASSERT_EQ(m.rowCount(), 3);
    ASSERT_TRUE(bash.isValid());
    EXPECT_EQ(bash.data().toInt(), 20); // the same process, still the same row
    p.setFilterFixedString(QStringLiteral("VIM"));
    ASSERT_EQ(p.rowCount(), 1);
    EXPECT_EQ(p.index(0, 0).data().toInt(), 25);
    p.setFilterFixedString(QStringLiteral("30"));
    EXPECT_EQ(p.rowCount(), 1);
}

TEST(BreakpointsModel, ToggleEnableAndJson)
{
    BreakpointsModel m;
    auto t = guitest::tester(&m);
    QSignalSpy changed(&m, &BreakpointsModel::breakpointChanged);
    m.add(0x401000, QStringLiteral("main"));
    m.add(0x401000, QStringLiteral("main")); // not twice
    m.toggle(0x401020, QStringLiteral("demo.c:12"));
    ASSERT_EQ(m.rowCount(), 2);
    EXPECT_EQ(changed.count(), 2);
    EXPECT_TRUE(m.setData(m.index(0, 0), Qt::Unchecked, Qt::CheckStateRole));
    EXPECT_EQ(changed.count(), 3);
    EXPECT_FALSE(changed.last()[1].toBool());
    m.hit(0x401020);
    EXPECT_EQ(m.data(m.index(1, BreakpointsModel::HitsColumn)).toInt(), 1);
    QJsonArray a = m.toJson();
    BreakpointsModel back;
    back.fromJson(a);
    ASSERT_EQ(back.rowCount(), 2);
    EXPECT_EQ(back.breakpoints()[0].address, 0x401000u);
    EXPECT_FALSE(back.breakpoints()[0].enabled);
    EXPECT_EQ(back.breakpoints()[1].location, QStringLiteral("demo.c:12"));
    m.toggle(0x401020, {});
    EXPECT_EQ(m.rowCount(), 1);
}

TEST(BacktraceModel, ShowsInlineFramesAndSources)
{
    BacktraceModel m;
    auto t = guitest::tester(&m);
    utrace::Frame inl;
    inl.pc = 0x401010;
    inl.function = "square";
    inl.inlined = true;
    inl.source = utrace::SourceLocation{"/src/demo.c", 7, 3};
    utrace::Frame outer;
    outer.pc = 0x401010;
    outer.function = "main";
    outer.offset = 0x10;
    outer.module = "/usr/bin/demo";
    m.setFrames({inl, outer});
    ASSERT_EQ(m.rowCount(), 2);
    EXPECT_EQ(m.data(m.index(0, 0)).toString(), QStringLiteral("#0 (inline)"));
    EXPECT_EQ(m.data(m.index(0, BacktraceModel::LocationColumn)).toString(),
              QStringLiteral("demo.c:7"));
    EXPECT_EQ(m.data(m.index(1, BacktraceModel::FunctionColumn)).toString(),
              QStringLiteral("main+0x10"));
    EXPECT_EQ(m.data(m.index(0, 0), BacktraceModel::LineRole).toInt(), 7);
}

TEST(MemoryModel, HexAsciiChangesAndEdits)
{
    MemoryModel m;
    auto t = guitest::tester(&m);
    m.setMemory(0x1000, QByteArrayLiteral("Hello, utrace!\n\x01xyz"), 32);
    ASSERT_EQ(m.rowCount(), 2);
    EXPECT_EQ(m.data(m.index(0, 0)).toString(), QStringLiteral("0000000000001000"));
    EXPECT_EQ(m.data(m.index(0, 1)).toString(), QStringLiteral("48"));
    EXPECT_EQ(m.data(m.index(0, MemoryModel::AsciiColumn)).toString(),
              QStringLiteral("Hello, utrace!.."));
    EXPECT_EQ(m.data(m.index(1, 5)).toString(), QStringLiteral("??")); // unreadable
    EXPECT_FALSE(m.flags(m.index(1, 5)) & Qt::ItemIsEditable);
    m.setMemory(0x1000, QByteArrayLiteral("Jello, utrace!\n\x01xyz"), 32);
    EXPECT_TRUE(m.data(m.index(0, 1), MemoryModel::ChangedRole).toBool());
    EXPECT_FALSE(m.data(m.index(0, 2), MemoryModel::ChangedRole).toBool());
    m.setEditable(true);
    QSignalSpy edited(&m, &MemoryModel::memoryEdited);
    EXPECT_TRUE(m.setData(m.index(0, 2), QStringLiteral("61")));
    ASSERT_EQ(edited.count(), 1);
    EXPECT_EQ(edited[0][0].toULongLong(), 0x1001u);
    EXPECT_EQ(edited[0][1].toByteArray(), QByteArray("a"));
    EXPECT_FALSE(m.setData(m.index(0, 2), QStringLiteral("100")));
}

TEST(DisassemblyModel, DecodesAroundThePcWithSymbols)
{
    DisassemblyModel m;
    auto t = guitest::tester(&m);
    // push rbp; mov rbp, rsp; call +0; ret
    const QByteArray code = QByteArray::fromHex("554889e5e800000000c3");
    ASSERT_TRUE(m.setCode(0x401000, code, 0x401004, [](uint64_t a) {
        return a == 0x401000   ? QStringLiteral("main")
               : a == 0x401009 ? QStringLiteral("main+0x9")
                               : QString();
    }));
    ASSERT_EQ(m.rowCount(), 4);
    EXPECT_EQ(m.data(m.index(0, 2)).toString(), QStringLiteral("push rbp"));
    EXPECT_TRUE(m.data(m.index(0, 0)).toString().contains(QStringLiteral("<main>")));
    EXPECT_EQ(m.data(m.index(1, 2)).toString(), QStringLiteral("mov rbp, rsp"));
    EXPECT_EQ(m.pcRow(), 2);
    EXPECT_TRUE(m.data(m.index(2, 2)).toString().contains(QStringLiteral("<main+0x9>")));
    EXPECT_TRUE(m.data(m.index(2, 0), DisassemblyModel::IsPcRole).toBool());
    m.setBreakpoints({0x401009});
    EXPECT_TRUE(m.data(m.index(3, 0), DisassemblyModel::HasBreakpointRole).toBool());
}

TEST(Explanations, CoverSixtySyscallsEverySignalAndEveryEvent)
{
    const auto &x = Explanations::builtin();
    EXPECT_TRUE(x.error().isEmpty()) << x.error().toStdString();
    EXPECT_GE(x.syscallCount(), 60);
    for (int s = 1; s <= 31; s++) {
        if (s == 32 || s == 33)
            continue;
        EXPECT_NE(x.signal(signalName(s)), nullptr) << signalName(s).toStdString();
    }
    for (int k = 0; k < KindCount; k++)
        EXPECT_NE(x.event(QLatin1String(kindName(Kind(k)))), nullptr) << kindName(Kind(k));
    for (const char *name : {"read", "write", "openat", "close", "mmap", "clone", "execve",
                             "exit_group", "wait4", "kill", "futex", "pipe2", "dup2", "brk"})
        EXPECT_NE(x.syscall(QLatin1String(name)), nullptr) << name;
    const QString h = x.html(ev(1, 1, 1, entry(SYS_openat), true));
    EXPECT_TRUE(h.contains(QStringLiteral("openat")));
    EXPECT_TRUE(h.contains(QStringLiteral("held")));
}
