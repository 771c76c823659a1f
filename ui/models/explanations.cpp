#include "models/explanations.hpp"
#include "models/eventstore.hpp"
#include "models/eventtext.hpp"
#include "utrace/decode.hpp"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace utraceui {

Explanations::Explanations()
{
    load(QStringLiteral(":/classroom"));
}
Explanations::Explanations(const QString &dir)
{
    load(dir);
}

const Explanations &Explanations::builtin()
{
    static const Explanations e;
    return e;
}

void Explanations::load(const QString &dir)
{
    loadFile(dir + QStringLiteral("/syscalls.json"), &syscalls_);
    loadFile(dir + QStringLiteral("/signals.json"), &signals_);
    loadFile(dir + QStringLiteral("/events.json"), &events_);
}

bool Explanations::loadFile(const QString &path, QHash<QString, Text> *into)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        error_ += QStringLiteral("%1: %2. ").arg(path, f.errorString());
        return false;
    }
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &pe);
    if (!doc.isArray()) {
        error_ += QStringLiteral("%1: not a JSON array (%2). ").arg(path, pe.errorString());
        return false;
    }
    for (const auto &v : doc.array()) {
        const QJsonObject o = v.toObject();
        Text t;
        t.title = o.value(QLatin1String("name")).toString();
        t.summary = o.value(QLatin1String("summary")).toString();
        t.detail = o.value(QLatin1String("detail")).toString();
        t.man = o.value(QLatin1String("man")).toString();
        if (!t.title.isEmpty() && !t.summary.isEmpty())
            into->insert(t.title, t);
    }
    return true;
}

const Explanations::Text *Explanations::syscall(const QString &name) const
{
    auto it = syscalls_.constFind(name);
    return it == syscalls_.constEnd() ? nullptr : &*it;
}

const Explanations::Text *Explanations::signal(const QString &name) const
{
    auto it = signals_.constFind(name);
    return it == signals_.constEnd() ? nullptr : &*it;
}

const Explanations::Text *Explanations::event(const QString &kind) const
{
    auto it = events_.constFind(kind);
    return it == events_.constEnd() ? nullptr : &*it;
}

QString Explanations::textHtml(const Text &t)
{
    QString h = QStringLiteral("<h3>%1</h3><p><b>%2</b></p>")
                    .arg(t.title.toHtmlEscaped(), t.summary.toHtmlEscaped());
    if (!t.detail.isEmpty())
        h += QStringLiteral("<p>%1</p>").arg(t.detail.toHtmlEscaped());
    if (!t.man.isEmpty())
        h += QStringLiteral("<p><i>man %1</i></p>").arg(t.man.toHtmlEscaped());
    return h;
}

QString Explanations::html(const utrace::Event &e) const
{
    QString h;
    const QString kind = QString::fromLatin1(kindName(kindOf(e)));
    QString name;
    const Text *specific = nullptr;
    if (auto *s = e.get<utrace::SyscallEntry>())
        name = syscallName(s->nr), specific = syscall(name);
    else if (auto *x = e.get<utrace::SyscallExit>())
        name = syscallName(x->nr), specific = syscall(name);
    else if (auto *g = e.get<utrace::Signal>())
        name = signalName(g->signo), specific = signal(name);
    else if (auto *x2 = e.get<utrace::Exit>(); x2 && (x2->code & 0x7f))
        name = signalName(int(x2->code & 0x7f)), specific = signal(name);
    if (specific)
        h += textHtml(*specific);
    else if (!name.isEmpty()) {
        // No classroom text: the decoder's one-line summary, if it has one.
        QString summary;
        if (auto *s2 = e.get<utrace::SyscallEntry>()) {
            auto sv = utrace::syscallSummary(s2->nr);
            summary = QString::fromUtf8(sv.data(), qsizetype(sv.size()));
        } else if (auto *x3 = e.get<utrace::SyscallExit>()) {
            auto sv = utrace::syscallSummary(x3->nr);
            summary = QString::fromUtf8(sv.data(), qsizetype(sv.size()));
        }
        h += QStringLiteral("<h3>%1</h3><p>%2</p>")
                 .arg(name.toHtmlEscaped(), summary.isEmpty()
                                                ? QStringLiteral("See its manual page.")
                                                : summary.toHtmlEscaped());
    }
    if (const Text *k = event(kind)) {
        h += QStringLiteral("<hr/><p><small><b>The event: %1.</b> %2</small></p>")
                 .arg(k->title.toHtmlEscaped(), k->summary.toHtmlEscaped());
        if (!k->detail.isEmpty())
            h += QStringLiteral("<p><small>%1</small></p>").arg(k->detail.toHtmlEscaped());
    }
    if (e.held)
        h += QStringLiteral("<p><small>The thread is held here: nothing in it runs until you "
                            "resume or step it.</small></p>");
    return h;
}

} // namespace utraceui
