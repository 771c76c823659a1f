// Helpers for the GUI tests: synthetic events, and QAbstractItemModelTester
// findings turned into GoogleTest failures.
#pragma once

#include "utrace/event.hpp"

#include <QAbstractItemModelTester>
#include <gtest/gtest.h>
#include <memory>

namespace guitest {

inline utrace::Event ev(uint64_t seq, uint64_t t, int tid, utrace::Payload p, bool held = false,
                        int tgid = 0)
{
    utrace::Event e;
    e.seq = seq;
    e.timeNs = t;
    e.tid = tid;
    e.tgid = tgid ? tgid : tid;
    e.handle = uint32_t(tid);
    e.held = held;
    e.payload = std::move(p);
    return e;
}

inline utrace::SyscallEntry entry(int64_t nr, std::array<uint64_t, 6> args = {1, 2, 3, 4, 5, 6})
{
    utrace::SyscallEntry s;
    s.nr = nr;
    s.args = args;
    s.hasArgs = true;
    return s;
}

// Attaches a tester to the model; its findings fail the running test.
std::unique_ptr<QAbstractItemModelTester> tester(QAbstractItemModel *m);

} // namespace guitest
