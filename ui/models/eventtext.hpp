// Events as text, colours and JSON: what every view and the export share.
#pragma once

#include "models/eventstore.hpp"

#include <QColor>
#include <QJsonObject>
#include <QString>
#include <QStringList>
#include <optional>

namespace utraceui {

// One strace-like line for the event ("openat(AT_FDCWD, 0x..., O_RDONLY) ",
// "= 3", "SIGSEGV {si_code=1}"), without the tid prefix.
QString eventDetail(const utrace::Event &e);
// "openat", or "syscall_451" for numbers the table does not know.
QString syscallName(int64_t nr);
// Every syscall name of the x86-64 table, sorted (for the filter picker).
QStringList allSyscallNames();
QString signalName(int signo);
// The colour the event log and the timeline use for a kind.
QColor kindColor(Kind k);

// JSON lines: one object per event with every field of the record, so that a
// saved log opens again offline with nothing lost. 64-bit values that do not
// fit a double (syscall arguments) are written as "0x..." strings.
QJsonObject eventToJson(const utrace::Event &e);
// Throws nothing: nullopt and *error set to one sentence on a bad object.
std::optional<utrace::Event> eventFromJson(const QJsonObject &o, QString *error);

} // namespace utraceui
