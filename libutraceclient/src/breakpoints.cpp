// Software breakpoints: int3 through memory write, SIGTRAP interception,
// step-over with the other threads kept still. See breakpoints.hpp.
#include "utrace/breakpoints.hpp"

#include <linux/utrace.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sys/user.h>

namespace utrace {

namespace {

constexpr uint8_t kInt3 = 0xcc;
constexpr int kSiKernel = 0x80; // si_code of the SIGTRAP an int3 raises

std::string hex(uint64_t a)
{
    char b[32];
    std::snprintf(b, sizeof(b), "%#llx", (unsigned long long)a);
    return b;
}

} // namespace

Breakpoints::Breakpoints(Session &s, pid_t pid) : s_(s), pid_(pid)
{
    s_.process(pid); // Error(ESRCH) if the session has no engine there
    if (!(s_.device().features & UTRACE_FEAT_SIGNAL_INTERCEPT))
        throw Error(EOPNOTSUPP, "breakpoints need signal interception, which this kernel/module "
                                "does not provide");
    s_.addHook(this);
    registered_ = true;
}

Breakpoints::~Breakpoints()
{
    try {
        for (auto &[h, addr] : atHit_) {
            ControlRequest c{UTRACE_CTL_RESUME, UTRACE_VERDICT_IGNORE, 0, 0, {}};
            s_.controlDirect(h, c);
        }
        atHit_.clear();
        bool any = false;
        for (auto &[id, b] : bps_)
            any |= b.info.inserted;
        if (any)
            withHeld([&](Engine &e) {
                for (auto &[id, b] : bps_)
                    if (b.info.inserted)
                        takeOut(b, e);
            });
    } catch (const Error &) {
        // The process died, or cannot be stopped: nothing more to clean.
    }
    bps_.clear();
    s_.removeHook(this);
    try {
        s_.refreshEvents(pid_);
    } catch (const Error &) {
    }
}

Breakpoints::Bp &Breakpoints::byId(int id)
{
    auto it = bps_.find(id);
    if (it == bps_.end())
        throw Error(ENOENT, "no breakpoint " + std::to_string(id) + " (removed, or never added)");
    return it->second;
}

const Breakpoints::Bp &Breakpoints::byId(int id) const
{
    return const_cast<Breakpoints *>(this)->byId(id);
}

template <class F> void Breakpoints::withHeld(F fn)
{
    auto engines = s_.process(pid_).engines();
    for (auto &e : engines)
        if (e.held() && !stepping_.count(e.handle())) {
            fn(e);
            return;
        }
    for (auto &e : engines) {
        bool release;
        try {
            release = s_.holdThread(e.handle(), 1000);
        } catch (const Error &err) {
            if (err.errnum() == ETIMEDOUT || err.errnum() == ESRCH)
                continue; // blocked in a syscall, or gone: try another thread
            throw;
        }
        try {
            fn(e);
        } catch (...) {
            if (release)
                s_.releaseHold(e.handle());
            throw;
        }
        if (release)
            s_.releaseHold(e.handle());
        return;
    }
    throw Error(EAGAIN, "no thread of process " + std::to_string(pid_) +
                            " could be stopped to change its breakpoints (all blocked in system "
                            "calls?); change breakpoints while the process is held");
}

void Breakpoints::insert(Bp &b, Engine &e)
{
    auto orig = e.readMemory(b.info.addr, 1);
    if (orig.size() != 1)
        throw Error(EIO, "cannot place a breakpoint at " + hex(b.info.addr) +
                             ": the address is not mapped in process " + std::to_string(pid_));
    b.orig = orig[0];
    e.writeMemory(b.info.addr, std::span<const uint8_t>(&kInt3, 1));
    b.info.inserted = true;
}

void Breakpoints::takeOut(Bp &b, Engine &e)
{
    e.writeMemory(b.info.addr, std::span<const uint8_t>(&b.orig, 1));
    b.info.inserted = false;
}

int Breakpoints::add(uint64_t addr, bool stop)
{
    for (auto &[id, b] : bps_)
        if (b.info.addr == addr)
            throw Error(EEXIST, "breakpoint " + std::to_string(id) + " is already at " + hex(addr));
    gone_.erase(addr);
    Bp b;
    b.info.id = nextId_;
    b.info.addr = addr;
    b.info.stop = stop;
    bool first = bps_.empty();
    if (first)
        s_.refreshEvents(pid_); // hold at SIGTRAP from now on (requiredStops)
    try {
        withHeld([&](Engine &e) { insert(b, e); });
    } catch (...) {
        if (first)
            s_.refreshEvents(pid_);
        throw;
    }
    b.info.enabled = true;
    bps_[nextId_] = b;
    if (first)
        s_.refreshEvents(pid_);
    return nextId_++;
}

void Breakpoints::enable(int id)
{
    Bp &b = byId(id);
    if (b.info.enabled)
        return;
    if (!b.info.inserted) {
        bool stepping = false;
        for (auto &[h, so] : stepping_)
            stepping |= so.addr == b.info.addr;
        // During its own step-over the int3 goes back when the step ends.
        if (!stepping)
            withHeld([&](Engine &e) { insert(b, e); });
    }
    b.info.enabled = true;
}

void Breakpoints::disable(int id)
{
    Bp &b = byId(id);
    if (!b.info.enabled)
        return;
    if (b.info.inserted)
        withHeld([&](Engine &e) { takeOut(b, e); });
    b.info.enabled = false;
}

void Breakpoints::remove(int id)
{
    disable(id);
    gone_.insert(byId(id).info.addr);
    bps_.erase(id);
    if (bps_.empty())
        s_.refreshEvents(pid_);
}

void Breakpoints::setStop(int id, bool stop)
{
    byId(id).info.stop = stop;
}

BreakpointInfo Breakpoints::info(int id) const
{
    return byId(id).info;
}

std::vector<BreakpointInfo> Breakpoints::list() const
{
    std::vector<BreakpointInfo> out;
    for (const auto &[id, b] : bps_)
        out.push_back(b.info);
    return out;
}

std::optional<BreakpointInfo> Breakpoints::hitBy(const Event &e) const
{
    auto it = hitSeq_.find(e.seq);
    if (it == hitSeq_.end() || !bps_.count(it->second))
        return std::nullopt;
    return bps_.at(it->second).info;
}

uint64_t Breakpoints::requiredStops(pid_t tgid) const
{
    // SIGTRAP kills by default (core), or runs the program's handler.
    return tgid == pid_ && !bps_.empty() ? ev::SignalCore | ev::Signal : 0;
}

SessionHook::Verdict Breakpoints::onEvent(Event &e)
{
    if (e.tgid != pid_)
        return Verdict::Pass;
    if (e.is<Exec>()) {
        // A new program: new code, none of our bytes.
        for (auto &[id, b] : bps_)
            b.info.inserted = false;
        return Verdict::Pass;
    }
    if ((e.is<Death>() || e.is<Reap>()) && stepping_.count(e.handle)) {
        // Died in the middle of its step: let the others run again.
        auto so = stepping_[e.handle];
        stepping_.erase(e.handle);
        for (uint32_t h : so.parked)
            s_.releaseHold(h);
        runDeferred();
        return Verdict::Pass;
    }
    const auto *sig = e.get<Signal>();
    // The step over the breakpoint ended: a STEP record, or, when the kernel
    // reports a step begun at a signal stop as the trap's SIGTRAP, that
    // (held; it must not reach the process).
    bool stepTrap = sig && sig->signo == SIGTRAP && sig->code != kSiKernel && e.held;
    if ((e.is<Step>() || stepTrap) && stepping_.count(e.handle)) {
        uint32_t action = stepping_[e.handle].userAction;
        finishStepOver(e.handle);
        if (stepTrap)
            trapToDrop_.insert(e.handle);
        if (action == UTRACE_CTL_SINGLESTEP || action == UTRACE_CTL_BLOCKSTEP) {
            runDeferred();
            e.payload = Step{}; // the caller's own step
            return Verdict::Deliver;
        }
        s_.engineOf(e.handle).resume();
        runDeferred();
        return Verdict::Consume;
    }
    if (!sig || sig->signo != SIGTRAP || sig->code != kSiKernel || !e.held)
        return Verdict::Pass;
    Engine eng = s_.engineOf(e.handle);
    user_regs_struct r;
    try {
        r = eng.regs();
    } catch (const Error &err) {
        if (err.errnum() == ESRCH)
            return Verdict::Pass; // killed meanwhile (SIGKILL): no hit to handle
        throw;
    }
    uint64_t addr = r.rip - 1;
    // Ours if a breakpoint is at addr, even one out of memory now: the
    // thread may have trapped before another thread's step-over took the
    // int3 out, or before a disable()/remove().
    Bp *hit = nullptr;
    for (auto &[id, b] : bps_)
        if (b.info.addr == addr)
            hit = &b;
    if (!hit && !gone_.count(addr))
        return Verdict::Pass; // an int3 of the program's own
    r.rip = addr;
    eng.setRegs(r);
    if (!hit) {
        // Trapped on a breakpoint removed meanwhile: run on as if it never was.
        s_.controlDirect(e.handle, {UTRACE_CTL_RESUME, UTRACE_VERDICT_IGNORE, 0, 0, {}});
        return Verdict::Consume;
    }
    hit->info.hits++;
    atHit_[e.handle] = addr;
    hitSeq_[e.seq] = hit->info.id;
    if (hit->info.stop)
        return Verdict::Deliver;
    atHit_.erase(e.handle);
    release(e.handle, {UTRACE_CTL_RESUME, UTRACE_VERDICT_DEFAULT, 0, 0, {}}, addr);
    return Verdict::Consume;
}

bool Breakpoints::onRelease(uint32_t handle, ControlRequest &c)
{
    if (trapToDrop_.erase(handle) &&
        (c.verdict == UTRACE_VERDICT_DEFAULT || c.verdict == UTRACE_VERDICT_DELIVER))
        c.verdict = UTRACE_VERDICT_IGNORE;
    auto it = atHit_.find(handle);
    if (it == atHit_.end())
        return false;
    uint64_t addr = it->second;
    atHit_.erase(it);
    release(handle, c, addr);
    return true;
}

void Breakpoints::release(uint32_t handle, ControlRequest c, uint64_t addr)
{
    // The SIGTRAP was ours: the process never sees it (unless the caller
    // chose another signal to deliver instead).
    if (c.verdict == UTRACE_VERDICT_DEFAULT || c.verdict == UTRACE_VERDICT_DELIVER)
        c.verdict = UTRACE_VERDICT_IGNORE;
    // One step-over at a time: while one parks the other threads, events
    // read meanwhile (another thread's hit) come back in here.
    if (!stepping_.empty() || parking_) {
        deferred_.push_back({handle, c, addr});
        return;
    }
    bool inserted = false;
    for (auto &[id, b] : bps_)
        inserted |= b.info.addr == addr && b.info.inserted;
    if (!inserted) { // disabled or removed since the hit: nothing to step over
        s_.controlDirect(handle, c);
        return;
    }
    startStepOver(handle, c, addr);
}

void Breakpoints::startStepOver(uint32_t handle, ControlRequest c, uint64_t addr)
{
    if (std::getenv("UTRACE_CLIENT_DEBUG"))
        std::fprintf(stderr, "utrace: step over %s: handle %u action %u verdict %u\n",
                     hex(addr).c_str(), handle, c.action, c.verdict);
    StepOver so;
    so.addr = addr;
    so.userAction = c.action;
    // Keep every other thread from running user code while the int3 is out.
    parking_ = true;
    try {
        for (auto &e : s_.process(pid_).engines()) {
            if (e.handle() == handle)
                continue;
            try {
                if (s_.holdThread(e.handle(), 2000, true))
                    so.parked.push_back(e.handle());
            } catch (const Error &err) {
                if (err.errnum() != ESRCH && err.errnum() != ETIMEDOUT)
                    throw;
            }
        }
    } catch (...) {
        parking_ = false;
        for (uint32_t h : so.parked)
            s_.releaseHold(h);
        throw;
    }
    parking_ = false;
    if (std::getenv("UTRACE_CLIENT_DEBUG"))
        std::fprintf(stderr, "utrace: parked %zu threads\n", so.parked.size());
    Engine eng = s_.engineOf(handle);
    for (auto &[id, b] : bps_)
        if (b.info.addr == addr && b.info.inserted)
            takeOut(b, eng);
    stepping_[handle] = so;
    c.action = UTRACE_CTL_SINGLESTEP;
    s_.controlDirect(handle, c);
}

void Breakpoints::finishStepOver(uint32_t handle)
{
    StepOver so = stepping_[handle];
    stepping_.erase(handle);
    Engine eng = s_.engineOf(handle);
    for (auto &[id, b] : bps_)
        if (b.info.addr == so.addr && b.info.enabled && !b.info.inserted)
            insert(b, eng);
    for (uint32_t h : so.parked)
        s_.releaseHold(h);
}

void Breakpoints::runDeferred()
{
    while (stepping_.empty() && !deferred_.empty()) {
        Deferred d = deferred_.front();
        deferred_.erase(deferred_.begin());
        release(d.handle, d.c, d.addr);
    }
}

} // namespace utrace
