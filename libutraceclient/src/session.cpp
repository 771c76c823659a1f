// Session, Engine, Process over a Transport.
//
// The session keeps, per engine, the settings the caller asked for and
// whether the thread is held; per process, how it was attached. Events go
// through ingest(): bookkeeping (followed children, deaths), then the hooks
// (Breakpoints), then the caller's masks: an event the caller did not ask for
// (a hook needed it) is released and dropped, one it asked to see but not to
// stop at is released and handed over with held=false.
#include "utrace/session.hpp"

#include <linux/utrace.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <sys/user.h>
#include <sys/wait.h>
#include <thread>

namespace utrace {

namespace {

using Clock = std::chrono::steady_clock;

int msLeft(Clock::time_point deadline)
{
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return int(std::max<int64_t>(0, left.count()));
}

// The UTRACE_EV_* bit an event record answers to; 0 for records that answer
// a request (QUIESCE, STEP) or report a loss.
uint64_t eventBit(const Event &e)
{
    if (e.is<SyscallEntry>())
        return ev::SyscallEntry;
    if (e.is<SyscallExit>())
        return ev::SyscallExit;
    if (const auto *s = e.get<Signal>()) {
        switch (s->disposition) {
        case SignalDisposition::Deliver:
            return ev::Signal;
        case SignalDisposition::Ignore:
            return ev::SignalIgn;
        case SignalDisposition::Terminate:
            return ev::SignalTerm;
        case SignalDisposition::Core:
            return ev::SignalCore;
        case SignalDisposition::Stop:
        case SignalDisposition::TerminalStop:
            return ev::SignalStop;
        }
        return ev::SignalAll;
    }
    if (e.is<Clone>())
        return ev::Clone;
    if (e.is<Exec>())
        return ev::Exec;
    if (e.is<Exit>())
        return ev::Exit;
    if (e.is<Death>())
        return ev::Death;
    if (e.is<Reap>())
        return ev::Reap;
    return 0;
}

} // namespace

struct Session::Impl {
    struct EngineRec {
        pid_t tid = 0;
        pid_t tgid = 0;
        EngineSettings user;    // what the caller asked for
        bool libFollow = false; // follow children here (no kernel FOLLOW)
        AttachOptions opts;
        bool held = false;
        bool dead = false;
        bool ourStop = false;         // a STOP of holdThread() is pending/in force
        bool quiesceExpected = false; // ... and its QUIESCE record has not come
    };
    struct ProcRec {
        AttachOptions opts;
        bool launched = false;
    };

    Session *self = nullptr;
    std::unique_ptr<Transport> t;
    DeviceInfo dev;
    std::map<uint32_t, EngineRec> engines;
    std::map<pid_t, ProcRec> procs;
    std::deque<Event> pending;
    std::vector<SessionHook *> hooks;

    bool has(uint64_t feat) const { return (dev.features & feat) != 0; }

    EngineRec &rec(uint32_t handle)
    {
        auto it = engines.find(handle);
        if (it == engines.end())
            throw Error(ENOENT, "engine " + std::to_string(handle) +
                                    " is not part of this session (it was detached)");
        return it->second;
    }

    pid_t tgidOf(pid_t tid)
    {
        try {
            auto b = t->readFile("/proc/" + std::to_string(tid) + "/status", 0, 4096);
            std::string s(b.begin(), b.end());
            auto p = s.find("\nTgid:");
            if (p != std::string::npos)
                return pid_t(std::strtol(s.c_str() + p + 6, nullptr, 10));
        } catch (const Error &) {
        }
        return tid;
    }

    uint64_t hookStops(pid_t tgid) const
    {
        uint64_t b = 0;
        for (auto *h : hooks)
            b |= h->requiredStops(tgid);
        return b;
    }

    // What the kernel gets: the caller's settings plus what the session and
    // its hooks need.
    void apply(uint32_t handle, EngineRec &r)
    {
        EngineSettings s = r.user;
        uint64_t extra = hookStops(r.tgid);
        s.events |= extra;
        s.stopEvents |= extra;
        if (r.libFollow)
            s.events |= ev::Clone;
        // A syscall filter must not hide the syscalls a hook holds at.
        t->setEvents(handle, s);
    }

    EngineRec &add(uint32_t handle, pid_t tid, pid_t tgid, const AttachOptions &o)
    {
        EngineRec &r = engines[handle];
        r.tid = tid;
        r.tgid = tgid ? tgid : tgidOf(tid);
        r.opts = o;
        if (!procs.count(r.tgid))
            procs[r.tgid].opts = o;
        return r;
    }

    uint32_t attachFlags(const AttachOptions &o, bool &libFollow)
    {
        uint32_t f = 0;
        libFollow = false;
        if (o.exclusive)
            f |= UTRACE_ATTACH_F_EXCLUSIVE;
#ifdef UTRACE_FEAT_FOLLOW
        if (o.followChildren) {
            if (has(UTRACE_FEAT_FOLLOW))
                f |= UTRACE_ATTACH_F_FOLLOW;
            else
                libFollow = true;
        }
        if (o.holdChildren) {
            if (!has(UTRACE_FEAT_FOLLOW))
                throw Error(EOPNOTSUPP, "holding new children needs a utrace module with "
                                        "FOLLOW support; update the module");
            f |= UTRACE_ATTACH_F_HOLD_CHILDREN | UTRACE_ATTACH_F_FOLLOW;
        }
        if (o.killOnClose) {
            if (!has(UTRACE_FEAT_KILL_ON_CLOSE))
                throw Error(EOPNOTSUPP, "kill-on-close needs a utrace module with "
                                        "KILL_ON_CLOSE support; update the module");
            f |= UTRACE_ATTACH_F_KILL_ON_CLOSE;
        }
#else
        libFollow = o.followChildren;
        if (o.holdChildren || o.killOnClose)
            throw Error(EOPNOTSUPP, "holding children and kill-on-close need a newer utrace "
                                    "module and library");
#endif
        return f;
    }

    // Registers the engines the kernel made that we have not seen yet (a
    // followed child or thread whose CLONE record is still queued, the other
    // threads of an ALL_THREADS attach).
    void syncWithKernel(const AttachOptions &o)
    {
        for (const auto &i : t->list()) {
            if (engines.count(i.handle) || i.state == UTRACE_STATE_DEAD)
                continue;
            EngineRec &r = add(i.handle, i.tid, 0, o);
            r.user.events = i.events;
            r.user.stopEvents = i.stopEvents;
            r.held = false;
        }
    }

    void control(uint32_t handle, ControlRequest c, bool viaHooks = true)
    {
        EngineRec &r = rec(handle);
        bool release = c.action != UTRACE_CTL_STOP;
        if (viaHooks && release && r.held) {
            for (auto *h : hooks)
                if (h->onRelease(handle, c)) {
                    r.held = false;
                    r.ourStop = false;
                    return;
                }
        }
        t->control(handle, c);
        if (release) {
            r.held = false;
            r.ourStop = false;
        }
    }

    // Takes a held record's engine as held, then lets the caller see it, or
    // not (see the file comment).
    void ingest(std::vector<Event> evs)
    {
        // UTRACE_CLIENT_DEBUG=1: every record on stderr, as it arrives.
        static const bool debug = std::getenv("UTRACE_CLIENT_DEBUG") != nullptr;
        for (auto &e : evs) {
            if (debug) {
                const auto *sg = e.get<Signal>();
                std::fprintf(
                    stderr, "utrace: #%llu %s handle %u tid %d%s%s\n", (unsigned long long)e.seq,
                    kindName(e), e.handle, e.tid, e.held ? " held" : "",
                    sg ? (" sig " + std::to_string(sg->signo) + " code " + std::to_string(sg->code))
                             .c_str()
                       : "");
            }
            auto it = engines.find(e.handle);
            if (e.handle && it == engines.end()) {
                // An engine the kernel made (follow) whose parent's CLONE we
                // have not read yet, or one detached meanwhile: learn the former.
                std::optional<EngineInfo> ki;
                for (const auto &i : t->list())
                    if (i.handle == e.handle && i.state != UTRACE_STATE_DEAD)
                        ki = i;
                if (!ki)
                    continue; // detached: its last records are of no interest
                // The kernel gave it its parent's settings. The caller's part
                // of them: a sibling's (same process), else the kernel's
                // masks without what hooks add.
                EngineSettings user;
                bool sibling = false;
                for (const auto &[h, other] : engines)
                    if (other.tgid == e.tgid && !other.dead) {
                        user = other.user;
                        sibling = true;
                        break;
                    }
                EngineRec &nr = add(e.handle, e.tid, e.tgid,
                                    procs.count(e.tgid) ? procs[e.tgid].opts : AttachOptions{});
                if (!sibling) {
                    uint64_t extra = hookStops(nr.tgid);
                    user.events = ki->events & ~extra;
                    user.stopEvents = ki->stopEvents & ~extra;
                    user.captureArgs = true;
                }
                nr.user = user;
                it = engines.find(e.handle);
            }
            if (it != engines.end()) {
                EngineRec &r = it->second;
                if (e.tgid)
                    r.tgid = e.tgid;
                if (e.is<Quiesce>() && r.quiesceExpected) {
                    // The answer to a STOP of holdThread(), current or
                    // already released: never the caller's.
                    if (!r.ourStop)
                        r.quiesceExpected = false;
                    continue;
                }
                if (e.held) {
                    // An event record held it first: the hold is the caller's
                    // and no QUIESCE follows for our STOP.
                    r.held = true;
                    r.ourStop = false;
                    r.quiesceExpected = false;
                }
                if (e.is<Death>() || e.is<Reap>())
                    r.dead = true;
                if (auto *c = std::get_if<Clone>(&e.payload))
                    onClone(e, *c, r);
                if (e.is<Exec>() && e.held) {
                    // Examinable in its new image: a new proof, a new engine.
                    // Refused (a setuid program): the old engine stays, events
                    // keep flowing, examining fails with EPERM.
                    try {
                        e.handle = reprove(e.handle, r.opts, true);
                        it = engines.find(e.handle);
                    } catch (const Error &) {
                    }
                }
            }
            auto verdict = SessionHook::Verdict::Pass;
            for (auto *h : std::vector<SessionHook *>(hooks)) {
                // A hook that fails (its thread died under it) must not cost
                // the rest of the batch: the caller gets the event as is.
                try {
                    verdict = h->onEvent(e);
                } catch (const Error &err) {
                    if (std::getenv("UTRACE_CLIENT_DEBUG"))
                        std::fprintf(stderr, "utrace: hook failed on #%llu: %s\n",
                                     (unsigned long long)e.seq, err.what());
                    verdict = SessionHook::Verdict::Deliver;
                }
                if (verdict != SessionHook::Verdict::Pass)
                    break;
            }
            if (verdict == SessionHook::Verdict::Consume)
                continue;
            if (verdict == SessionHook::Verdict::Deliver) {
                pending.push_back(std::move(e));
                continue;
            }
            if (it == engines.end()) {
                pending.push_back(std::move(e));
                continue;
            }
            EngineRec &r = it->second;
            uint64_t bit = eventBit(e);
            bool wanted = !bit || (r.user.events & bit);
            if (bit && e.held && !(wanted && (r.user.stopEvents & bit))) {
                try {
                    control(e.handle, {UTRACE_CTL_RESUME, 0, 0, 0, {}}, false);
                } catch (const Error &) {
                    // It died meanwhile: nothing to release.
                }
                e.held = false;
            }
            if (!wanted)
                continue;
            pending.push_back(std::move(e));
        }
    }

    void onClone(const Event &e, Clone &c, EngineRec &parent)
    {
        bool thread = (c.cloneFlags & 0x00010000 /* CLONE_THREAD */) != 0;
        pid_t childTgid = thread ? parent.tgid : c.childTid;
        if (c.childHandle) {
            if (!engines.count(c.childHandle)) {
                EngineRec &r = add(c.childHandle, c.childTid, childTgid, parent.opts);
                r.user = parent.user;
                r.libFollow = parent.libFollow;
            }
            return;
        }
        if (!parent.libFollow)
            return;
        // No kernel FOLLOW: attach to the child as soon as we hear of it.
        // It may have run some instructions already.
        try {
            uint32_t h =
                t->attach(c.childTid, parent.opts.exclusive ? UTRACE_ATTACH_F_EXCLUSIVE : 0);
            EngineRec &r = add(h, c.childTid, childTgid, parent.opts);
            r.user = parent.user;
            r.libFollow = true;
            apply(h, r);
            c.childHandle = h;
        } catch (const Error &) {
            // The child exited already: nothing to follow.
        }
        (void)e;
    }

    // The one-letter state of /proc/TID/stat, 0 if it is gone.
    char threadState(pid_t tid)
    {
        try {
            auto b = t->readFile("/proc/" + std::to_string(tid) + "/stat", 0, 1024);
            std::string s(b.begin(), b.end());
            auto p = s.rfind(')');
            return p == std::string::npos || p + 2 >= s.size() ? 0 : s[p + 2];
        } catch (const Error &) {
            return 0;
        }
    }

    // A thread held at its exec by `handle`, whose proof covers the old
    // image, not the new one: examining it would fail with EPERM. A second
    // engine, proven now, takes over the hold (STOP on a stopped thread
    // holds it at once) with the same settings, and the first one goes. The
    // held EXEC record is handed to the caller under the new handle.
    uint32_t reprove(uint32_t handle, const AttachOptions &o, bool keepSettings)
    {
        EngineRec old = rec(handle);
        bool libFollow;
        uint32_t h = t->attach(old.tid, attachFlags(o, libFollow));
        EngineRec &r = add(h, old.tid, old.tgid, o);
        r.libFollow = libFollow;
        r.quiesceExpected = true; // if the stop is still on its way
        t->control(h, {UTRACE_CTL_STOP, 0, 0, 0, {}});
        auto deadline = Clock::now() + std::chrono::seconds(10);
        for (;;) {
            try {
                t->getRegs(h, RegSet::General);
                break;
            } catch (const Error &e) {
                if ((e.errnum() != EAGAIN && e.errnum() != EBUSY) || Clock::now() > deadline)
                    throw;
            }
        }
        t->detach(handle);
        engines.erase(handle);
        EngineRec &nr = rec(h);
        nr.held = true;
        nr.ourStop = false;
        if (keepSettings)
            nr.user = old.user;
        apply(h, nr);
        for (auto &ev : pending)
            if (ev.handle == handle)
                ev.handle = h;
        return h;
    }

    bool pump(int timeoutMs)
    {
        auto data = t->readRecords(timeoutMs);
        if (data.empty())
            return false;
        ingest(parseRecords(data));
        return true;
    }

    std::optional<Event> takeFirst(const std::function<bool(const Event &)> &pred)
    {
        for (auto it = pending.begin(); it != pending.end(); ++it)
            if (pred(*it)) {
                Event e = std::move(*it);
                pending.erase(it);
                return e;
            }
        return std::nullopt;
    }
};

// ---- Engine ------------------------------------------------------------

#define D (s_ ? s_->d_.get() : throw Error(EINVAL, "this Engine is empty (default-constructed)"))

void Engine::setEvents(uint64_t events, uint64_t stop, bool captureArgs)
{
    auto *d = D;
    if (stop & ~events)
        throw Error(EINVAL, "stop events " + ev::format(stop & ~events) +
                                " are not among the reported events " + ev::format(events));
    auto &r = d->rec(handle_);
    EngineSettings old = r.user;
    r.user.events = events;
    r.user.stopEvents = stop;
    r.user.captureArgs = captureArgs;
    try {
        d->apply(handle_, r);
    } catch (...) {
        r.user = old;
        throw;
    }
}

void Engine::setSyscallFilterNumbers(const std::vector<int> &numbers)
{
    auto *d = D;
    auto &r = d->rec(handle_);
    EngineSettings old = r.user;
    if (numbers.empty()) {
        r.user.syscallFilter.reset();
    } else {
        std::bitset<512> b;
        for (int n : numbers) {
            if (n < 0 || n >= 512)
                throw Error(EINVAL, "syscall number " + std::to_string(n) +
                                        " is outside the filter's range 0..511");
            b.set(size_t(n));
        }
        r.user.syscallFilter = b;
    }
    try {
        d->apply(handle_, r);
    } catch (...) {
        r.user = old;
        throw;
    }
}

const EngineSettings &Engine::settings() const
{
    return D->rec(handle_).user;
}

bool Engine::held() const
{
    return D->rec(handle_).held;
}

void Engine::stop()
{
    auto *d = D;
    // A QUIESCE from now on answers the caller's STOP, not an earlier one of
    // holdThread()'s.
    d->rec(handle_).quiesceExpected = false;
    d->control(handle_, {UTRACE_CTL_STOP, 0, 0, 0, {}});
}

void Engine::interrupt()
{
    D->control(handle_, {UTRACE_CTL_INTERRUPT, 0, 0, 0, {}});
}

void Engine::resume()
{
    D->control(handle_, {UTRACE_CTL_RESUME, UTRACE_VERDICT_DEFAULT, 0, 0, {}});
}

void Engine::step()
{
    auto *d = D;
    if (!d->has(UTRACE_FEAT_SINGLESTEP))
        throw Error(EOPNOTSUPP, "this kernel/module cannot single-step (no SINGLESTEP feature)");
    d->control(handle_, {UTRACE_CTL_SINGLESTEP, UTRACE_VERDICT_DEFAULT, 0, 0, {}});
}

void Engine::abortSyscall(int64_t retval)
{
    D->control(handle_, {UTRACE_CTL_RESUME, UTRACE_VERDICT_ABORT, 0, retval, {}});
}

void Engine::runSyscallWith(const std::array<uint64_t, 6> &args)
{
    auto *d = D;
#ifdef UTRACE_VERDICT_RUN_ARGS
    if (!d->has(UTRACE_FEAT_RUN_ARGS))
        throw Error(EOPNOTSUPP, "this utrace module cannot change a syscall's arguments; "
                                "update the module");
    d->control(handle_, {UTRACE_CTL_RESUME, UTRACE_VERDICT_RUN_ARGS, 0, 0, args});
#else
    (void)d;
    (void)args;
    throw Error(EOPNOTSUPP, "this utrace library was built without RUN_ARGS support");
#endif
}

void Engine::deliverSignal(int signo)
{
    if (signo == 0)
        D->control(handle_, {UTRACE_CTL_RESUME, UTRACE_VERDICT_DELIVER, 0, 0, {}});
    else
        D->control(handle_, {UTRACE_CTL_RESUME, UTRACE_VERDICT_DELIVER_OTHER, signo, 0, {}});
}

void Engine::ignoreSignal()
{
    D->control(handle_, {UTRACE_CTL_RESUME, UTRACE_VERDICT_IGNORE, 0, 0, {}});
}

void Engine::detach()
{
    auto *d = D;
    d->t->detach(handle_);
    d->engines.erase(handle_);
}

void Engine::barrier()
{
    auto *d = D;
#ifdef UTRACE_FEAT_BARRIER
    if (!d->has(UTRACE_FEAT_BARRIER))
        throw Error(EOPNOTSUPP, "this utrace module has no BARRIER request; update the module");
#endif
    d->t->barrier(handle_);
}

user_regs_struct Engine::regs() const
{
    auto b = D->t->getRegs(handle_, RegSet::General);
    user_regs_struct r{};
    if (b.size() < sizeof(r))
        throw Error(EPROTO, "the device returned " + std::to_string(b.size()) +
                                " bytes of registers, fewer than a user_regs_struct");
    std::memcpy(&r, b.data(), sizeof(r));
    return r;
}

void Engine::setRegs(const user_regs_struct &r)
{
    auto *p = reinterpret_cast<const uint8_t *>(&r);
    D->t->setRegs(handle_, RegSet::General, std::span<const uint8_t>(p, sizeof(r)));
}

std::vector<uint8_t> Engine::fpRegs() const
{
    return D->t->getRegs(handle_, RegSet::Fp);
}

std::vector<uint8_t> Engine::readMemory(uint64_t addr, size_t len) const
{
    std::vector<uint8_t> buf(len);
    buf.resize(D->t->readMemory(handle_, addr, buf));
    return buf;
}

void Engine::writeMemory(uint64_t addr, std::span<const uint8_t> bytes)
{
    size_t n = D->t->writeMemory(handle_, addr, bytes);
    if (n != bytes.size()) {
        char hex[32];
        std::snprintf(hex, sizeof(hex), "%#llx", (unsigned long long)(addr + n));
        throw Error(EIO, "cannot write memory at " + std::string(hex) +
                             ": the address is not mapped in the thread");
    }
}

#undef D

// ---- Process -----------------------------------------------------------

std::vector<Engine> Process::engines() const
{
    auto &d = *s_->d_;
    d.syncWithKernel(d.procs.count(pid_) ? d.procs[pid_].opts : AttachOptions{});
    std::map<uint32_t, uint32_t> state;
    for (const auto &i : d.t->list())
        state[i.handle] = i.state;
    std::vector<Engine> out;
    for (auto &[h, r] : d.engines) {
        if (r.tgid != pid_)
            continue;
        auto st = state.find(h);
        if (st == state.end() || st->second == UTRACE_STATE_DEAD)
            r.dead = true;
        if (!r.dead)
            out.emplace_back(s_, h, r.tid);
    }
    return out;
}

Engine Process::engine(pid_t tid) const
{
    if (tid == 0)
        tid = pid_;
    for (auto &[h, r] : s_->d_->engines)
        if (r.tid == tid && r.tgid == pid_ && !r.dead)
            return Engine(s_, h, r.tid);
    throw Error(ESRCH, "this session has no engine on thread " + std::to_string(tid) +
                           " of process " + std::to_string(pid_) + " (it exited or was detached)");
}

void Process::setEvents(uint64_t events, uint64_t stop, bool captureArgs)
{
    for (auto &e : engines())
        e.setEvents(events, stop, captureArgs);
}

void Process::stop()
{
    for (auto &e : engines())
        e.stop();
}

void Process::resume()
{
    for (auto &e : engines()) {
        try {
            e.resume();
        } catch (const Error &err) {
            if (err.errnum() != ESRCH) // died meanwhile: nothing to resume
                throw;
        }
    }
}

void Process::detach()
{
    for (auto &e : engines())
        e.detach();
    s_->d_->procs.erase(pid_);
}

void Process::kill(int sig)
{
    s_->d_->t->kill(pid_, sig);
}

std::optional<int> Process::exitStatus(bool wait)
{
    return s_->d_->t->reap(pid_, wait);
}

// ---- Session -----------------------------------------------------------

Session::Session(std::unique_ptr<Transport> t) : d_(std::make_unique<Impl>())
{
    if (!t)
        throw Error(EINVAL, "a Session needs a transport");
    d_->self = this;
    d_->t = std::move(t);
    d_->dev = d_->t->version();
}

// Closing the transport detaches every engine and resumes every thread they
// held (the device's rule), locally and through the agent alike.
Session::~Session() = default;

const DeviceInfo &Session::device() const
{
    return d_->dev;
}

Transport &Session::transport()
{
    return *d_->t;
}

Engine Session::attach(pid_t tid, const AttachOptions &o)
{
    bool libFollow;
    uint32_t flags = d_->attachFlags(o, libFollow);
    uint32_t h = d_->t->attach(tid, flags);
    auto &r = d_->add(h, tid, 0, o);
    r.libFollow = libFollow;
    if (libFollow || d_->hookStops(r.tgid))
        d_->apply(h, r);
    return Engine(this, h, tid);
}

Process Session::attachProcess(pid_t pid, const AttachOptions &o)
{
    Process p;
    p.s_ = this;
    p.pid_ = pid;
    bool libFollow;
    uint32_t flags = d_->attachFlags(o, libFollow);
#ifdef UTRACE_FEAT_ALL_THREADS
    if (d_->has(UTRACE_FEAT_ALL_THREADS)) {
        uint32_t h = d_->t->attach(pid, flags | UTRACE_ATTACH_F_ALL_THREADS);
        auto &r = d_->add(h, pid, pid, o);
        r.libFollow = libFollow;
        d_->procs[pid].opts = o;
        d_->syncWithKernel(o);
        for (auto &[hh, rr] : d_->engines)
            if (rr.tgid == pid)
                rr.libFollow = libFollow;
        return p;
    }
#endif
    // Thread by thread, with the library following clones, until a scan of
    // the process's threads finds none we lack. A thread created between
    // two scans is caught by the next one (or by its parent's CLONE record).
    d_->procs[pid].opts = o;
    bool any = false;
    for (int round = 0; round < 100; ++round) {
        std::vector<pid_t> tids;
        for (const auto &pi : d_->t->processes())
            if (pi.pid == pid)
                tids = pi.tids;
        if (tids.empty() && !any)
            throw Error(ESRCH, "attach to process " + std::to_string(pid) +
                                   " failed: no such process (it exited or the id is wrong)");
        bool added = false;
        for (pid_t tid : tids) {
            bool have = false;
            for (auto &[h, r] : d_->engines)
                if (r.tid == tid && !r.dead)
                    have = true;
            if (have)
                continue;
            try {
                uint32_t h = d_->t->attach(tid, flags & UTRACE_ATTACH_F_EXCLUSIVE);
                auto &r = d_->add(h, tid, pid, o);
                r.libFollow = true;
                d_->apply(h, r);
                added = any = true;
            } catch (const Error &e) {
                if (e.errnum() != ESRCH) // a thread that exited meanwhile is fine
                    throw;
            }
        }
        if (!added)
            break;
    }
    return p;
}

Process Session::launch(const LaunchSpec &spec, const AttachOptions &o)
{
    pid_t pid = d_->t->launch(spec);
    Process p;
    p.s_ = this;
    p.pid_ = pid;
    Engine e;
    try {
        e = attach(pid, o);
        d_->procs[pid].launched = true;
        e.setEvents(ev::Exec | ev::Death, ev::Exec, false);
        d_->t->release(pid);
    } catch (...) {
        try {
            d_->t->kill(pid, SIGKILL);
            d_->t->reap(pid, true);
        } catch (const Error &) {
        }
        throw;
    }
    // Wait for the held EXEC record: the program's first instruction.
    auto deadline = Clock::now() + std::chrono::seconds(60);
    for (;;) {
        for (const auto &ev : d_->pending) {
            if (ev.tgid != pid)
                continue;
            if (ev.is<Exec>()) {
                // Held there, under a new engine proven for the new image
                // (ingest()); the caller chooses the events from now on.
                auto &r = d_->rec(ev.handle);
                r.user = EngineSettings{};
                d_->apply(ev.handle, r);
                return p;
            }
            if (ev.is<Death>()) {
                auto st = d_->t->reap(pid, true);
                d_->takeFirst([&](const Event &x) { return x.tgid == pid; });
                throw Error(ENOEXEC, "cannot launch " + spec.argv[0] +
                                         ": the program could not be executed (exit status " +
                                         std::to_string(st ? WEXITSTATUS(*st) : -1) + ")");
            }
        }
        if (Clock::now() > deadline) {
            d_->t->kill(pid, SIGKILL);
            throw Error(ETIMEDOUT,
                        "cannot launch " + spec.argv[0] + ": no exec within 60 s of its start");
        }
        d_->pump(msLeft(deadline));
    }
}

int Session::fd()
{
    return d_->t->eventFd();
}

std::vector<Event> Session::poll()
{
    // A bounded batch (a few reads of up to 256 KiB): against a thread that
    // reports faster than we parse, draining until the fd is empty would
    // never return, and the caller's event loop would stall. The fd stays
    // readable for the rest.
    for (int reads = 0; reads < 4 && d_->pump(0); reads++) {
    }
    std::vector<Event> out(std::make_move_iterator(d_->pending.begin()),
                           std::make_move_iterator(d_->pending.end()));
    d_->pending.clear();
    return out;
}

std::optional<Event> Session::wait(int timeoutMs)
{
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs < 0 ? 0 : timeoutMs);
    for (;;) {
        if (!d_->pending.empty()) {
            Event e = std::move(d_->pending.front());
            d_->pending.pop_front();
            return e;
        }
        int left = timeoutMs < 0 ? -1 : msLeft(deadline);
        if (!d_->pump(left) && timeoutMs >= 0 && Clock::now() >= deadline && d_->pending.empty())
            return std::nullopt;
    }
}

std::vector<EngineInfo> Session::engines()
{
    return d_->t->list();
}

Engine Session::engineOf(uint32_t handle) const
{
    auto it = d_->engines.find(handle);
    if (it == d_->engines.end())
        throw Error(ENOENT, "engine " + std::to_string(handle) + " is not part of this session");
    return Engine(const_cast<Session *>(this), handle, it->second.tid);
}

Process Session::process(pid_t pid)
{
    bool any = d_->procs.count(pid) > 0;
    for (auto &[h, r] : d_->engines)
        if (r.tgid == pid)
            any = true;
    if (!any)
        throw Error(ESRCH, "this session has no engine on process " + std::to_string(pid));
    Process p;
    p.s_ = this;
    p.pid_ = pid;
    return p;
}

void Session::addHook(SessionHook *h)
{
    d_->hooks.push_back(h);
}

void Session::removeHook(SessionHook *h)
{
    std::erase(d_->hooks, h);
}

void Session::refreshEvents(pid_t tgid)
{
    for (auto &[h, r] : d_->engines)
        if (r.tgid == tgid && !r.dead) {
            try {
                d_->apply(h, r);
            } catch (const Error &e) {
                if (e.errnum() != ESRCH && e.errnum() != EALREADY)
                    throw;
                r.dead = true;
            }
        }
}

bool Session::holdThread(uint32_t handle, int timeoutMs, bool parkIfBlocked)
{
    auto &r = d_->rec(handle);
    if (r.held)
        return false;
    r.ourStop = true;
    r.quiesceExpected = true;
    d_->t->control(handle, {UTRACE_CTL_STOP, 0, 0, 0, {}});
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    // With our STOP pending, a register read succeeds once the thread
    // stopped (it waits up to ~200 ms for that). That is the proof, not the
    // QUIESCE record: one queued before an earlier release may still be in
    // the queue. A held event record that comes first makes the hold the
    // caller's.
    for (;;) {
        auto &rr = d_->rec(handle);
        if (rr.held && !rr.ourStop)
            return false;
        if (rr.dead)
            throw Error(ESRCH, "cannot stop thread " + std::to_string(rr.tid) + ": it exited");
        if (parkIfBlocked) {
            // Asleep in the kernel (or stopped) with our STOP pending: it
            // stops before its next user instruction.
            char st = d_->threadState(rr.tid);
            if (st == 'S' || st == 'D' || st == 't' || st == 'T')
                return true;
        }
        try {
            d_->t->getRegs(handle, RegSet::General);
            return true;
        } catch (const Error &e) {
            if (e.errnum() != EBUSY && e.errnum() != EAGAIN)
                throw;
        }
        if (Clock::now() > deadline) {
            releaseHold(handle);
            throw Error(ETIMEDOUT, "thread " + std::to_string(rr.tid) +
                                       " did not get off its CPU within " +
                                       std::to_string(timeoutMs) + " ms");
        }
        d_->pump(std::min(10, msLeft(deadline)));
    }
}

void Session::controlDirect(uint32_t handle, const ControlRequest &c)
{
    d_->control(handle, c, false);
}

void Session::releaseHold(uint32_t handle)
{
    auto &r = d_->rec(handle);
    if (!r.ourStop)
        return;
    try {
        d_->control(handle, {UTRACE_CTL_RESUME, 0, 0, 0, {}}, false);
    } catch (const Error &e) {
        if (e.errnum() != ESRCH) // it died: nothing to release
            throw;
        r.ourStop = false;
    }
}

} // namespace utrace
