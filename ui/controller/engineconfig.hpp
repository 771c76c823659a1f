// What the Engines panel sets for a target, as the controller applies it.
#pragma once

#include <QMetaType>
#include <QStringList>
#include <cstdint>

namespace utraceui {

struct EngineConfig {
    uint64_t events = 0;     // utrace::ev bits
    uint64_t stopEvents = 0; // the subset that holds the thread
    QStringList syscalls;    // syscall filter; empty: every syscall
    bool followChildren = true;
    bool captureArgs = true;
};

} // namespace utraceui

Q_DECLARE_METATYPE(utraceui::EngineConfig)
