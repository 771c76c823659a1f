#include "controller/controller.hpp"

#include "models/disassemblymodel.hpp"
#include "utrace/breakpoints.hpp"
#include "utrace/error.hpp"
#include "utrace/session.hpp"

#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QMetaObject>
#include <QSocketNotifier>
#include <QTimer>
#include <csignal>
#include <linux/sched.h>
#include <set>

namespace utraceui {

struct Controller::Worker {
    Controller *c = nullptr;
    QObject *context = nullptr;
    std::unique_ptr<utrace::Session> s;
    QSocketNotifier *notifier = nullptr;
    QTimer *flushTimer = nullptr;
    std::vector<utrace::Event> pending;
    std::map<int, EngineConfig> configs;                       // tgid
    std::map<int, std::unique_ptr<utrace::Breakpoints>> bps;   // tgid
    std::map<int, std::unique_ptr<utrace::Symbolizer>> syms;   // tgid
    std::map<uint32_t, int> tgidOf;                            // handle
    std::map<uint32_t, std::pair<uint64_t, uint64_t>> oneShot; // handle -> events, stops to restore
    uint32_t memHandle = 0; // the held engine the symbolizer reads memory through
    uint64_t lastEventTime = 0;
    QElapsedTimer sinceLastEvent;
    QHash<QString, QString> sources;

    void readEvents();
    void flush();
    void close();
    std::vector<uint32_t> handlesOf(int tgid) const
    {
        std::vector<uint32_t> out;
        for (auto [h, t] : tgidOf)
            if (t == tgid)
                out.push_back(h);
        return out;
    }
    utrace::Engine engine(uint32_t h)
    {
        if (!s)
            throw utrace::Error(ENOTCONN, "Not connected; connect to a machine first.");
        return s->engineOf(h);
    }
    utrace::Symbolizer &symbolizer(int tgid);
    void apply(int tgid, const EngineConfig &cfg);
    void announce(int pid, const QString &name, const utrace::Process &p);
    void released(uint32_t h);
    QString source(const QString &path, QString *why);
};

QString Controller::Worker::source(const QString &path, QString *why)
{
    // The traced machine's file first; else the same path here (a VM or a
    // remote machine running what this machine built).
    try {
        auto bytes = s->transport().readFile(path.toStdString(), 0, 8u << 20);
        return QString::fromUtf8(reinterpret_cast<const char *>(bytes.data()),
                                 qsizetype(bytes.size()));
    } catch (const utrace::Error &err) {
        QFile f(path);
        if (f.open(QIODevice::ReadOnly))
            return QString::fromUtf8(f.read(8 << 20));
        *why = Controller::tr(
                   "The source %1 is neither on the traced machine (%2) nor here; copy it to "
                   "one of them to see it.")
                   .arg(path, QString::fromStdString(err.sentence()));
        return {};
    }
}

void Controller::Worker::readEvents()
{
    if (!s)
        return;
    std::vector<utrace::Event> got;
    try {
        got = s->poll();
    } catch (const utrace::Error &e) {
        emit c->error(QString::fromStdString(e.sentence()));
        close();
        return;
    }
    if (got.empty())
        return;
    bool held = false;
    for (auto &e : got) {
        held |= e.held;
        if (e.handle && e.tgid)
            tgidOf[e.handle] = e.tgid;
        if (auto *cl = e.get<utrace::Clone>(); cl && cl->childHandle)
            tgidOf[cl->childHandle] = cl->cloneFlags & CLONE_THREAD ? e.tgid : cl->childTid;
        if (e.is<utrace::Exec>())
            syms.erase(e.tgid); // new program, new modules
        if (e.held) {
            auto it = oneShot.find(e.handle);
            if (it != oneShot.end()) {
                // "Step to next syscall/event" is done: back to the user's stops.
                try {
                    s->engineOf(e.handle).setEvents(it->second.first, it->second.second);
                } catch (const utrace::Error &) {
                }
                oneShot.erase(it);
            }
        }
        for (auto &[pid, bp] : bps)
            if (auto hit = bp->hitBy(e))
                emit c->breakpointHit(e.tid, hit->addr);
        lastEventTime = e.timeNs;
        pending.push_back(std::move(e));
    }
    sinceLastEvent.restart();
    // A stop is interactive: show it now. Otherwise batch.
    // Batches are capped so that one batch never holds the UI thread long
    // (gui_eventlog_bench: 4096 events append and paint in a few ms).
    if (held || pending.size() >= MaxBatch)
        flush();
    else if (!flushTimer->isActive())
        flushTimer->start(BatchIntervalMs);
}

void Controller::Worker::flush()
{
    flushTimer->stop();
    if (pending.empty())
        return;
    auto batch = std::make_shared<const std::vector<utrace::Event>>(std::move(pending));
    pending = {};
    emit c->eventsArrived(batch);
}

void Controller::Worker::close()
{
    flush();
    delete notifier;
    notifier = nullptr;
    bps.clear(); // takes the int3s out while the session still exists
    syms.clear();
    s.reset(); // detaches every engine; held threads run again
    tgidOf.clear();
    configs.clear();
    oneShot.clear();
    sources.clear();
    emit c->disconnected();
}

utrace::Symbolizer &Controller::Worker::symbolizer(int tgid)
{
    auto &p = syms[tgid];
    if (!p) {
        p = std::make_unique<utrace::Symbolizer>(
            utrace::transportSource(s->transport(), [this] { return memHandle; }));
        p->refresh(tgid);
    }
    return *p;
}

void Controller::Worker::apply(int tgid, const EngineConfig &cfg)
{
    configs[tgid] = cfg;
    std::vector<std::string> names;
    for (const auto &n : cfg.syscalls)
        names.push_back(n.toStdString());
    for (uint32_t h : handlesOf(tgid)) {
        auto e = s->engineOf(h);
        e.setSyscallFilter(names);
        e.setEvents(cfg.events, cfg.stopEvents & cfg.events, cfg.captureArgs);
    }
}

void Controller::Worker::announce(int pid, const QString &name, const utrace::Process &p)
{
    QList<int> tids;
    QList<uint32_t> handles;
    for (const auto &e : p.engines()) {
        tids << e.tid();
        handles << e.handle();
        tgidOf[e.handle()] = pid;
    }
    emit c->attached(pid, name, tids, handles);
}

void Controller::Worker::released(uint32_t h)
{
    const qint64 elapsed = sinceLastEvent.isValid() ? sinceLastEvent.nsecsElapsed() : 0;
    emit c->resumed(engine(h).tid(), lastEventTime + quint64(elapsed));
}

Controller::Controller(QObject *parent) : QObject(parent)
{
    qRegisterMetaType<EventBatch>();
    qRegisterMetaType<ProcessList>();
    qRegisterMetaType<Inspection>();
    qRegisterMetaType<EngineConfig>();
    qRegisterMetaType<user_regs_struct>();
    connect(this, &Controller::connected, this, [this] { connected_ = true; });
    connect(this, &Controller::disconnected, this, [this] { connected_ = false; });
    thread_.setObjectName(QStringLiteral("utrace-session"));
    context_ = new QObject;
    context_->moveToThread(&thread_);
    thread_.start();
    QMetaObject::invokeMethod(
        context_,
        [this] {
            w_ = new Worker;
            w_->c = this;
            w_->context = context_;
            w_->flushTimer = new QTimer(context_);
            w_->flushTimer->setSingleShot(true);
            connect(w_->flushTimer, &QTimer::timeout, context_, [this] { w_->flush(); });
        },
        Qt::BlockingQueuedConnection);
}

Controller::~Controller()
{
    QMetaObject::invokeMethod(
        context_,
        [this] {
            w_->bps.clear();
            w_->syms.clear();
            w_->s.reset();
            delete w_->notifier;
            delete w_;
            w_ = nullptr;
            delete context_;
        },
        Qt::BlockingQueuedConnection);
    thread_.quit();
    thread_.wait();
}

template <class F> void Controller::post(F &&f)
{
    QMetaObject::invokeMethod(
        context_,
        [this, f = std::forward<F>(f)]() mutable {
            try {
                f();
            } catch (const utrace::Error &e) {
                emit error(QString::fromStdString(e.sentence()));
            } catch (const std::exception &e) {
                emit error(QString::fromLocal8Bit(e.what()));
            }
            // A request may have read events while it waited (launch waits
            // for its exec record): they sit in the session, and its fd is
            // no longer readable, so take them now.
            if (w_ && w_->s)
                w_->readEvents();
        },
        Qt::QueuedConnection);
}

void Controller::connectTo(const QString &where)
{
    where_ = where;
    post([this, where] {
        if (w_->s)
            w_->close();
        w_->s = utrace::Session::open(where.toStdString());
        const auto &d = w_->s->device();
        w_->notifier = new QSocketNotifier(w_->s->fd(), QSocketNotifier::Read, w_->context);
        connect(w_->notifier, &QSocketNotifier::activated, w_->context,
                [this] { w_->readEvents(); });
        const QString description = QStringLiteral("utrace API %1, kernel %2, module %3")
                                        .arg(d.apiVersion)
                                        .arg(QString::fromStdString(d.kernelRelease),
                                             QString::fromStdString(d.moduleVersion));
        emit connected(where, description);
    });
}

void Controller::disconnectSession()
{
    post([this] {
        if (w_->s)
            w_->close();
    });
}

void Controller::refreshProcesses()
{
    post([this] {
        if (!w_->s)
            throw utrace::Error(ENOTCONN, "Not connected; connect to a machine first.");
        auto list = std::make_shared<const std::vector<utrace::ProcessInfo>>(
            w_->s->transport().processes());
        emit processesListed(list);
    });
}

void Controller::attach(int pid, const EngineConfig &c)
{
    post([this, pid, c] {
        if (!w_->s)
            throw utrace::Error(ENOTCONN, "Not connected; connect to a machine first.");
        utrace::AttachOptions o;
        o.followChildren = c.followChildren;
        utrace::Process p = w_->s->attachProcess(pid, o);
        for (const auto &e : p.engines())
            w_->tgidOf[e.handle()] = pid;
        w_->apply(pid, c);
        QString name;
        try {
            auto comm =
                w_->s->transport().readFile("/proc/" + std::to_string(pid) + "/comm", 0, 256);
            name = QString::fromUtf8(reinterpret_cast<const char *>(comm.data()),
                                     qsizetype(comm.size()))
                       .trimmed();
        } catch (const utrace::Error &) {
        }
        w_->announce(pid, name, p);
    });
}

void Controller::launch(const QStringList &argv, const QStringList &env, const QString &cwd,
                        const EngineConfig &c)
{
    post([this, argv, env, cwd, c] {
        if (!w_->s)
            throw utrace::Error(ENOTCONN, "Not connected; connect to a machine first.");
        if (argv.isEmpty())
            throw utrace::Error(EINVAL, "Nothing to launch; type a program and its arguments.");
        utrace::LaunchSpec spec;
        for (const auto &a : argv)
            spec.argv.push_back(a.toStdString());
        for (const auto &e : env)
            spec.env.push_back(e.toStdString());
        spec.cwd = cwd.toStdString();
        utrace::AttachOptions o;
        o.followChildren = c.followChildren;
        o.killOnClose = true;
        utrace::Process p = w_->s->launch(spec, o);
        for (const auto &e : p.engines())
            w_->tgidOf[e.handle()] = p.pid();
        w_->apply(p.pid(), c);
        w_->announce(p.pid(), QFileInfo(argv.first()).fileName(), p);
    });
}

void Controller::configure(int pid, const EngineConfig &c)
{
    post([this, pid, c] { w_->apply(pid, c); });
}

void Controller::stopThread(uint32_t handle)
{
    post([this, handle] { w_->engine(handle).stop(); });
}

void Controller::interrupt(uint32_t handle)
{
    post([this, handle] { w_->engine(handle).interrupt(); });
}

void Controller::resume(uint32_t handle)
{
    post([this, handle] {
        w_->engine(handle).resume();
        w_->released(handle);
    });
}

void Controller::step(uint32_t handle)
{
    post([this, handle] {
        w_->engine(handle).step();
        w_->released(handle);
    });
}

void Controller::stepToSyscall(uint32_t handle)
{
    post([this, handle] {
        auto e = w_->engine(handle);
        const auto st = e.settings();
        w_->oneShot.try_emplace(handle, st.events, st.stopEvents);
        e.setEvents(st.events | utrace::ev::Syscall, st.stopEvents | utrace::ev::Syscall,
                    st.captureArgs);
        e.resume();
        w_->released(handle);
    });
}

void Controller::stepToEvent(uint32_t handle)
{
    post([this, handle] {
        auto e = w_->engine(handle);
        const auto st = e.settings();
        if (!st.events)
            throw utrace::Error(EINVAL, "This thread reports no events; tick some in the Engines "
                                        "panel, then step to the next event.");
        w_->oneShot.try_emplace(handle, st.events, st.stopEvents);
        e.setEvents(st.events, st.events, st.captureArgs);
        e.resume();
        w_->released(handle);
    });
}

void Controller::stopProcess(int pid)
{
    post([this, pid] {
        for (uint32_t h : w_->handlesOf(pid))
            w_->engine(h).stop();
    });
}

void Controller::resumeProcess(int pid)
{
    post([this, pid] {
        for (uint32_t h : w_->handlesOf(pid)) {
            auto e = w_->engine(h);
            try {
                e.resume();
                w_->released(h);
            } catch (const utrace::Error &) {
                // Not held (running, or gone): nothing to resume.
            }
        }
    });
}

void Controller::detach(int pid)
{
    post([this, pid] {
        w_->bps.erase(pid);
        w_->syms.erase(pid);
        for (uint32_t h : w_->handlesOf(pid)) {
            try {
                w_->engine(h).detach();
            } catch (const utrace::Error &) {
            }
            w_->tgidOf.erase(h);
        }
        emit detached(pid);
    });
}

void Controller::kill(int pid)
{
    post([this, pid] {
        if (!w_->s)
            throw utrace::Error(ENOTCONN, "Not connected; connect to a machine first.");
        w_->s->transport().kill(pid, SIGKILL);
    });
}

void Controller::inspect(uint32_t handle)
{
    post([this, handle] {
        auto e = w_->engine(handle);
        Inspection in;
        in.handle = handle;
        in.tid = e.tid();
        in.tgid = w_->tgidOf.count(handle) ? w_->tgidOf[handle] : e.tid();
        in.regs = e.regs();
        const uint64_t pc = in.regs.rip;
        w_->memHandle = handle;
        utrace::Symbolizer *sym = nullptr;
        try {
            sym = &w_->symbolizer(in.tgid);
            sym->refresh(in.tgid);
        } catch (const utrace::Error &err) {
            in.note = QString::fromStdString(err.sentence());
        }
        // Code: from the function's start when it is near, else from the pc.
        uint64_t start = pc;
        if (sym) {
            auto f = sym->describe(pc);
            if (!f.empty() && f.back().offset <= 512)
                start = pc - f.back().offset;
        }
        auto code = e.readMemory(start, size_t(pc - start) + 160);
        in.codeAddress = start;
        in.code = QByteArray(reinterpret_cast<const char *>(code.data()), qsizetype(code.size()));
        if (sym) {
            std::vector<uint64_t> addrs = DisassemblyModel::branchTargets(start, in.code);
            addrs.push_back(start);
            for (uint64_t a : addrs) {
                auto f = sym->describe(a);
                if (f.empty() || f.back().function.empty())
                    continue;
                in.symbols.insert(a, f.back().offset
                                         ? QStringLiteral("%1+0x%2")
                                               .arg(QString::fromStdString(f.back().function))
                                               .arg(f.back().offset, 0, 16)
                                         : QString::fromStdString(f.back().function));
            }
            try {
                in.frames = sym->backtrace(in.regs);
            } catch (const utrace::Error &err) {
                in.note = QString::fromStdString(err.sentence());
            }
        }
        for (const auto &f : in.frames) {
            if (!f.source)
                continue;
            in.sourceFile = QString::fromStdString(f.source->file);
            in.sourceLine = f.source->line;
            break;
        }
        if (!in.sourceFile.isEmpty()) {
            auto it = w_->sources.find(in.sourceFile);
            if (it == w_->sources.end()) {
                QString why;
                it = w_->sources.insert(in.sourceFile, w_->source(in.sourceFile, &why));
                if (!why.isEmpty())
                    in.note = why;
            }
            in.sourceText = *it;
        } else if (in.note.isEmpty()) {
            in.note = tr("No source line for pc 0x%1: the code has no debug information "
                         "(build with -g), or it is in a library without it.")
                          .arg(pc, 0, 16);
        }
        emit inspected(in);
    });
}

void Controller::readMemory(uint32_t handle, uint64_t address, int size)
{
    post([this, handle, address, size] {
        auto bytes = w_->engine(handle).readMemory(address, size_t(size));
        emit memoryRead(
            handle, address,
            QByteArray(reinterpret_cast<const char *>(bytes.data()), qsizetype(bytes.size())),
            size);
    });
}

void Controller::writeMemory(uint32_t handle, uint64_t address, const QByteArray &bytes)
{
    post([this, handle, address, bytes] {
        w_->engine(handle).writeMemory(
            address,
            std::span(reinterpret_cast<const uint8_t *>(bytes.constData()), size_t(bytes.size())));
    });
}

void Controller::writeRegisters(uint32_t handle, const user_regs_struct &regs)
{
    post([this, handle, regs] { w_->engine(handle).setRegs(regs); });
}

void Controller::resolve(int pid, const QString &symbol, const QString &purpose)
{
    post([this, pid, symbol, purpose] {
        const QString s = symbol.trimmed();
        bool ok = false;
        uint64_t a = s.startsWith(QLatin1String("0x")) ? s.mid(2).toULongLong(&ok, 16)
                                                       : s.toULongLong(&ok, 16);
        if (!ok) {
            if (!w_->s)
                throw utrace::Error(ENOTCONN, "Not connected; connect to a machine first.");
            auto found = w_->symbolizer(pid).lookup(s.toStdString());
            if (!found)
                throw utrace::Error(ENOENT, "No symbol \"" + s.toStdString() +
                                                "\" in the process; check the spelling, or "
                                                "write library:symbol or an address.");
            a = *found;
        }
        emit resolved(pid, s, a, purpose);
    });
}

void Controller::resolveLine(int pid, const QString &file, int line)
{
    post([this, pid, file, line] {
        if (!w_->s)
            throw utrace::Error(ENOTCONN, "Not connected; connect to a machine first.");
        auto addrs = w_->symbolizer(pid).addressesOf(file.toStdString(), line);
        QList<quint64> out;
        for (auto a : addrs)
            out << a;
        emit lineResolved(pid, file, line, out);
    });
}

void Controller::disassembleAt(uint32_t handle, uint64_t address)
{
    post([this, handle, address] {
        auto e = w_->engine(handle);
        const int tgid = w_->tgidOf.count(handle) ? w_->tgidOf[handle] : e.tid();
        w_->memHandle = handle;
        auto &sym = w_->symbolizer(tgid);
        uint64_t start = address;
        auto f = sym.describe(address);
        if (!f.empty() && f.back().offset <= 512)
            start = address - f.back().offset;
        auto code = e.readMemory(start, size_t(address - start) + 160);
        QByteArray bytes(reinterpret_cast<const char *>(code.data()), qsizetype(code.size()));
        QHash<quint64, QString> symbols;
        std::vector<uint64_t> addrs = DisassemblyModel::branchTargets(start, bytes);
        addrs.push_back(start);
        for (uint64_t a : addrs) {
            auto g = sym.describe(a);
            if (!g.empty() && !g.back().function.empty())
                symbols.insert(a, g.back().offset
                                      ? QStringLiteral("%1+0x%2")
                                            .arg(QString::fromStdString(g.back().function))
                                            .arg(g.back().offset, 0, 16)
                                      : QString::fromStdString(g.back().function));
        }
        emit codeRead(start, bytes, address, symbols);
    });
}

void Controller::readSource(const QString &path)
{
    post([this, path] {
        if (!w_->s)
            throw utrace::Error(ENOTCONN, "Not connected; connect to a machine first.");
        auto it = w_->sources.find(path);
        if (it == w_->sources.end()) {
            QString why;
            QString text = w_->source(path, &why);
            if (!why.isEmpty())
                throw utrace::Error(ENOENT, why.toStdString());
            it = w_->sources.insert(path, text);
        }
        emit sourceRead(path, *it);
    });
}

void Controller::setBreakpoint(int pid, uint64_t address, bool enabled)
{
    post([this, pid, address, enabled] {
        if (!w_->s)
            throw utrace::Error(ENOTCONN, "Not connected; connect to a machine first.");
        auto &bp = w_->bps[pid];
        if (!bp)
            bp = std::make_unique<utrace::Breakpoints>(*w_->s, pid);
        for (const auto &b : bp->list())
            if (b.addr == address) {
                if (enabled)
                    bp->enable(b.id);
                else
                    bp->remove(b.id);
                return;
            }
        if (enabled)
            bp->add(address);
    });
}

} // namespace utraceui
