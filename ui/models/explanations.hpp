// Classroom texts: a plain-language explanation of each syscall, signal and
// event kind, from the JSON files in resources/classroom/ (compiled in as Qt
// resources :/classroom/*.json).
#pragma once

#include "utrace/event.hpp"

#include <QHash>
#include <QString>

namespace utraceui {

class Explanations {
public:
    struct Text {
        QString title;   // "openat", "SIGSEGV", "clone"
        QString summary; // one sentence
        QString detail;  // a paragraph: arguments, result, what to watch for
        QString man;     // "openat(2)"
    };

    // Loads the built-in texts (throws nothing; a broken file leaves its
    // category empty and error() says which).
    Explanations();
    // Loads from a directory holding syscalls.json, signals.json, events.json.
    explicit Explanations(const QString &dir);

    const Text *syscall(const QString &name) const;
    const Text *signal(const QString &name) const; // "SIGSEGV"
    const Text *event(const QString &kind) const;  // "syscall-entry", ...
    // HTML for the explanation panel: the event kind, then the syscall or
    // signal it carries.
    QString html(const utrace::Event &e) const;

    int syscallCount() const { return int(syscalls_.size()); }
    int signalCount() const { return int(signals_.size()); }
    int eventCount() const { return int(events_.size()); }
    QStringList syscallNames() const { return syscalls_.keys(); }
    QStringList signalNames() const { return signals_.keys(); }
    const QString &error() const { return error_; }

    static const Explanations &builtin();

private:
    void load(const QString &dir);
    bool loadFile(const QString &path, QHash<QString, Text> *into);
    static QString textHtml(const Text &t);
    QHash<QString, Text> syscalls_, signals_, events_;
    QString error_;
};

} // namespace utraceui
