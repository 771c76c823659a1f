// gui_eventlog_bench: how fast the GUI takes events, and what they cost.
//
// Feeds N synthetic events (default 1,000,000) in controller-sized batches
// into the event log (through its filter proxy and table view) and the
// timeline (model and custom-painted view), all shown on the offscreen
// platform, one batch per event-loop pass, as the controller delivers them.
// A 5 ms QTimer probe measures how late the event loop answers: the longest
// lateness is the longest stall of the UI thread.
//
//   gui_eventlog_bench [--events N] [--batch B] [--threads T]
#include "controller/controller.hpp"
#include "models/eventlogmodel.hpp"
#include "models/timelinemodel.hpp"
#include "widgets/eventlogpanel.hpp"
#include "widgets/timelineview.hpp"

#include <QApplication>
#include <QElapsedTimer>
#include <QTableView>
#include <QTimer>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <linux/sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

size_t rssBytes()
{
    std::ifstream f("/proc/self/statm");
    size_t pages = 0, rss = 0;
    f >> pages >> rss;
    return rss * size_t(sysconf(_SC_PAGESIZE));
}

std::vector<utrace::Event> makeBatch(uint64_t &seq, uint64_t &t, size_t n, int threads)
{
    static const int calls[] = {SYS_read,  SYS_write, SYS_openat,     SYS_close,
                                SYS_futex, SYS_mmap,  SYS_newfstatat, SYS_poll};
    std::vector<utrace::Event> out;
    out.reserve(n);
    for (size_t i = 0; i < n; i++, seq++) {
        utrace::Event e;
        e.seq = seq;
        t += 700 + (seq * 7919) % 900; // 0.7-1.6 us apart
        e.timeNs = t;
        const int th = int(seq / 2 % uint64_t(threads));
        e.tid = 1000 + th;
        e.tgid = 1000;
        e.handle = uint32_t(1 + th);
        const int nr = calls[(seq / 2 / uint64_t(threads)) % 8];
        if (seq % 50000 == 49999) {
            utrace::Signal s;
            s.signo = SIGUSR1;
            e.payload = s;
        } else if (seq % 100000 == 99998) {
            e.payload = utrace::Clone{int(5000 + seq % 1000), 0, CLONE_VM | CLONE_THREAD};
        } else if (seq % 2 == 0) {
            utrace::SyscallEntry s;
            s.nr = nr;
            s.hasArgs = true;
            s.args = {3, 0x7ffd12345000 + seq, 4096, 0, 0, 0};
            e.payload = s;
        } else {
            e.payload = utrace::SyscallExit{nr, int64_t(seq % 4096)};
        }
        out.push_back(std::move(e));
    }
    return out;
}

} // namespace

int main(int argc, char **argv)
{
    qputenv("QT_QPA_PLATFORM", "offscreen");
    size_t total = 1000000, batch = utraceui::Controller::MaxBatch;
    int threads = 8;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--events"))
            total = std::stoul(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--batch"))
            batch = std::stoul(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--threads"))
            threads = std::stoi(argv[i + 1]);
    }
    QApplication app(argc, argv);

    utraceui::EventLogModel log;
    utraceui::TimelineModel timeline;
    utraceui::EventLogPanel panel(&log);
    utraceui::TimelineView tview;
    tview.setModel(&timeline);
    panel.resize(1200, 700);
    tview.resize(1200, 300);
    panel.show();
    tview.show();
    app.processEvents();

    // The synthetic events are made before the clock starts: the figure is
    // what the GUI takes, not what the generator makes.
    std::vector<std::vector<utrace::Event>> batches;
    uint64_t seq = 1, t = 1000000000;
    for (size_t done = 0; done < total; done += batch)
        batches.push_back(makeBatch(seq, t, std::min(batch, total - done), threads));

    const size_t rss0 = rssBytes();
    QElapsedTimer clock, probeClock;
    qint64 longestStall = 0, lastProbe = 0;
    QTimer probe;
    probe.setTimerType(Qt::PreciseTimer);
    probe.setInterval(5);
    QObject::connect(&probe, &QTimer::timeout, [&] {
        const qint64 now = probeClock.nsecsElapsed();
        longestStall = std::max(longestStall, now - lastProbe - 5000000);
        lastProbe = now;
    });
    size_t next = 0;
    qint64 paintNs = 0;
    qint64 worst[4] = {0, 0, 0, 0};
    QTimer feeder;
    feeder.setInterval(0);
    QObject::connect(&feeder, &QTimer::timeout, [&] {
        if (next == batches.size()) {
            feeder.stop();
            app.quit();
            return;
        }
        const auto &b = batches[next++];
        const int first = log.rowCount();
        QElapsedTimer pt;
        pt.start();
        log.appendEvents(b);
        const qint64 a = pt.nsecsElapsed();
        timeline.appendEvents(b, first);
        const qint64 tl = pt.nsecsElapsed();
        // Paint now, as a visible window would before the next batch.
        panel.repaint();
        const qint64 pp = pt.nsecsElapsed();
        tview.repaint();
        const qint64 tp = pt.nsecsElapsed();
        paintNs += tp - tl;
        worst[0] = std::max(worst[0], a);
        worst[1] = std::max(worst[1], tl - a);
        worst[2] = std::max(worst[2], pp - tl);
        worst[3] = std::max(worst[3], tp - pp);
    });
    clock.start();
    probeClock.start();
    probe.start();
    feeder.start();
    app.exec();
    const double secs = double(clock.nsecsElapsed()) / 1e9;
    const size_t rss1 = rssBytes();

    std::printf("gui_eventlog_bench: %zu events in batches of %zu, %d threads, views attached "
                "(offscreen)\n",
                total, batch, threads);
    std::printf("  throughput          %.0f events/s (%.3f s)\n", double(total) / secs, secs);
    std::printf("  longest UI stall    %.1f ms (5 ms probe lateness)\n",
                double(longestStall) / 1e6);
    std::printf("  painting            %.1f ms in total, %.2f ms per batch\n",
                double(paintNs) / 1e6, double(paintNs) / 1e6 / double(batches.size()));
    std::printf("  worst batch         log append %.1f ms, timeline append %.1f ms, log paint "
                "%.1f ms, timeline paint %.1f ms\n",
                double(worst[0]) / 1e6, double(worst[1]) / 1e6, double(worst[2]) / 1e6,
                double(worst[3]) / 1e6);
    std::printf("  event log storage   %.1f bytes/event\n",
                double(log.store().bytesUsed()) / double(total));
    std::printf("  timeline storage    %.1f bytes/event\n",
                double(timeline.bytesUsed()) / double(total));
    std::printf("  process RSS growth  %.1f bytes/event (models, proxy mapping, caches)\n",
                double(rss1 - rss0) / double(total));
    std::printf("  rows: log %d, view %d, lanes %d\n", log.rowCount(),
                panel.view()->model()->rowCount(), timeline.laneCount());
    return 0;
}
