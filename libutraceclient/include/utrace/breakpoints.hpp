// utrace client library: software breakpoints on one process.
//
//   utrace::Breakpoints bps(*session, pid);     // the process is attached
//   int id = bps.add(0x401136);                // int3 written now
//   process.resume();
//   while (auto e = session->wait(1000))
//       if (auto hit = bps.hitBy(*e)) { ...; session->engineOf(e->handle).resume(); }
//
// How: an int3 (0xcc) is written through the engine's memory write; a thread
// that runs it takes a SIGTRAP, which the engines intercept (they hold at the
// signal events while breakpoints exist). The hit rewinds the pc by one to
// the breakpoint's address and the thread stays held: the caller sees the
// SIGTRAP event (hitBy() names the breakpoint), or, for a breakpoint that
// does not stop, the hit is only counted. On the release, the SIGTRAP is
// dropped (the process never sees it), the original byte is put back, the
// thread steps that one instruction while the process's other threads are
// kept from running (so none of them can pass the address unseen), and the
// int3 goes back in.
//
// Limits: a fork()ed child inherits the int3 bytes in its copy of the memory
// (follow it and add a Breakpoints on it, or do not place breakpoints on code
// a child runs); an exec drops every breakpoint (the new program has new
// code): they stay listed with inserted == false. Destroy the Breakpoints
// before detaching the process's engines: it takes the int3s out and drops
// the SIGTRAP of a thread held at a hit, which a detached thread would
// otherwise die of.
#pragma once

#include "utrace/session.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

namespace utrace {

struct BreakpointInfo {
    int id = 0;
    uint64_t addr = 0;
    bool enabled = false;
    bool inserted = false; // the int3 is in the process's memory
    bool stop = true;      // a hit holds the thread and is reported
    uint64_t hits = 0;
};

class Breakpoints : public SessionHook {
public:
    // pid: a process the session has engines on (attachProcess, launch).
    Breakpoints(Session &s, pid_t pid);
    // Takes every int3 out of the process (stopping a thread for the write
    // if none is held), resumes threads held at a hit (dropping their
    // SIGTRAP), and unregisters from the session. Destroy it before the
    // Session.
    ~Breakpoints() override;
    Breakpoints(const Breakpoints &) = delete;
    Breakpoints &operator=(const Breakpoints &) = delete;

    // A breakpoint at addr, enabled; stop == false: only count hits. Throws
    // Error(EEXIST) if one is at addr already, EIO if addr is not mapped.
    int add(uint64_t addr, bool stop = true);
    void enable(int id);
    void disable(int id);
    void remove(int id);
    void setStop(int id, bool stop);

    BreakpointInfo info(int id) const;
    uint64_t hits(int id) const { return info(id).hits; }
    std::vector<BreakpointInfo> list() const;

    // The breakpoint a held SIGTRAP event reports, if it is a hit.
    std::optional<BreakpointInfo> hitBy(const Event &e) const;

    // SessionHook
    Verdict onEvent(Event &e) override;
    bool onRelease(uint32_t handle, ControlRequest &c) override;
    uint64_t requiredStops(pid_t tgid) const override;

private:
    struct Bp {
        BreakpointInfo info;
        uint8_t orig = 0;
    };
    // One thread stepping over a breakpoint.
    struct StepOver {
        uint64_t addr = 0;
        uint32_t userAction = 0;      // what the caller asked: resume or step
        std::vector<uint32_t> parked; // threads stopped for the step
    };

    Bp &byId(int id);
    const Bp &byId(int id) const;
    // An engine of the process held for a memory access; sets release when
    // we stopped it.
    void insert(Bp &b, Engine &e);
    void takeOut(Bp &b, Engine &e);
    // Runs fn with a held engine of the process.
    template <class F> void withHeld(F fn);
    void release(uint32_t handle, ControlRequest c, uint64_t addr);
    void startStepOver(uint32_t handle, ControlRequest c, uint64_t addr);
    void finishStepOver(uint32_t handle);
    void runDeferred();

    Session &s_;
    pid_t pid_;
    int nextId_ = 1;
    std::map<int, Bp> bps_;
    std::map<uint32_t, uint64_t> atHit_;    // handle -> breakpoint address, held at the hit
    std::map<uint64_t, int> hitSeq_;        // event seq -> breakpoint id
    std::map<uint32_t, StepOver> stepping_; // at most one at a time
    std::set<uint32_t> trapToDrop_;         // held at a step's SIGTRAP
    std::set<uint64_t> gone_;               // addresses of removed breakpoints
    struct Deferred {
        uint32_t handle;
        ControlRequest c;
        uint64_t addr;
    };
    std::vector<Deferred> deferred_; // step-overs waiting for the current one
    bool registered_ = false;
    bool parking_ = false; // startStepOver() is stopping the other threads
};

} // namespace utrace
