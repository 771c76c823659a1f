#include "models/eventtext.hpp"

#include "utrace/decode.hpp"

#include <QJsonArray>
#include <algorithm>
#include <cstring>

namespace utraceui {

QString syscallName(int64_t nr)
{
    return QString::fromStdString(utrace::syscallName(nr));
}

QStringList allSyscallNames()
{
    QStringList out;
    for (const auto &i : utrace::syscallTable())
        out << QString::fromUtf8(i.name.data(), qsizetype(i.name.size()));
    out.sort();
    return out;
}

QString signalName(int signo)
{
    return QString::fromStdString(utrace::signalName(signo));
}

QString eventDetail(const utrace::Event &e)
{
    // In the log there is no live memory (the thread has moved on, or the
    // log was loaded offline): strings show as addresses, as strace shows
    // memory it cannot read.
    static const utrace::MemoryReader noMemory = [](uint64_t, size_t) {
        return std::vector<uint8_t>{};
    };
    return QString::fromStdString(utrace::renderEvent(e, noMemory));
}

QColor kindColor(Kind k)
{
    switch (k) {
    case Kind::SyscallEntry:
        return QColor(0x1f, 0x6f, 0xb4);
    case Kind::SyscallExit:
        return QColor(0x2f, 0x8f, 0xa0);
    case Kind::Signal:
        return QColor(0xc0, 0x39, 0x2b);
    case Kind::Clone:
        return QColor(0x27, 0x9b, 0x3c);
    case Kind::Exec:
        return QColor(0x8e, 0x44, 0xad);
    case Kind::Exit:
    case Kind::Death:
    case Kind::Reap:
        return QColor(0x60, 0x60, 0x60);
    case Kind::Quiesce:
        return QColor(0xd3, 0x8b, 0x00);
    case Kind::Step:
        return QColor(0xb0, 0x6a, 0x00);
    case Kind::Lost:
        return QColor(0xe0, 0x00, 0x00);
    case Kind::Count:
        break;
    }
    return Qt::black;
}

namespace {
QString hex(uint64_t v)
{
    return QStringLiteral("0x") + QString::number(v, 16);
}
bool parseU64(const QJsonValue &v, uint64_t *out)
{
    if (v.isDouble()) {
        *out = static_cast<uint64_t>(v.toInteger());
        return true;
    }
    bool ok = false;
    QString s = v.toString();
    *out = s.startsWith(QLatin1String("0x")) ? s.mid(2).toULongLong(&ok, 16) : s.toULongLong(&ok);
    return ok;
}
} // namespace

QJsonObject eventToJson(const utrace::Event &e)
{
    QJsonObject o;
    o[QLatin1String("seq")] = qint64(e.seq);
    o[QLatin1String("time_ns")] = qint64(e.timeNs);
    o[QLatin1String("tid")] = e.tid;
    o[QLatin1String("tgid")] = e.tgid;
    o[QLatin1String("handle")] = qint64(e.handle);
    o[QLatin1String("held")] = e.held;
    o[QLatin1String("kind")] = QLatin1String(kindName(kindOf(e)));
    std::visit(
        [&](const auto &p) {
            using T = std::decay_t<decltype(p)>;
            if constexpr (std::is_same_v<T, utrace::SyscallEntry>) {
                o[QLatin1String("nr")] = qint64(p.nr);
                o[QLatin1String("syscall")] = syscallName(p.nr);
                if (p.hasArgs) {
                    QJsonArray a;
                    for (auto v : p.args)
                        a.append(hex(v));
                    o[QLatin1String("args")] = a;
                }
            } else if constexpr (std::is_same_v<T, utrace::SyscallExit>) {
                o[QLatin1String("nr")] = qint64(p.nr);
                o[QLatin1String("syscall")] = syscallName(p.nr);
                o[QLatin1String("ret")] = qint64(p.ret);
            } else if constexpr (std::is_same_v<T, utrace::Signal>) {
                o[QLatin1String("signo")] = p.signo;
                o[QLatin1String("signal")] = signalName(p.signo);
                o[QLatin1String("code")] = p.code;
                o[QLatin1String("errno")] = p.err;
                o[QLatin1String("disposition")] = int(p.disposition);
                o[QLatin1String("siginfo")] =
                    QString::fromLatin1(QByteArray(reinterpret_cast<const char *>(p.siginfo.data()),
                                                   qsizetype(p.siginfo.size()))
                                            .toHex());
            } else if constexpr (std::is_same_v<T, utrace::Clone>) {
                o[QLatin1String("child_tid")] = p.childTid;
                o[QLatin1String("child_handle")] = qint64(p.childHandle);
                o[QLatin1String("clone_flags")] = hex(p.cloneFlags);
            } else if constexpr (std::is_same_v<T, utrace::Exec>) {
                o[QLatin1String("path")] = QString::fromStdString(p.path);
            } else if constexpr (std::is_same_v<T, utrace::Exit>) {
                o[QLatin1String("code")] = qint64(p.code);
            } else if constexpr (std::is_same_v<T, utrace::Death>) {
                o[QLatin1String("group_dead")] = p.groupDead;
                o[QLatin1String("signo")] = p.signal;
            } else if constexpr (std::is_same_v<T, utrace::Lost>) {
                o[QLatin1String("count")] = qint64(p.count);
            }
        },
        e.payload);
    o[QLatin1String("text")] = eventDetail(e);
    return o;
}

std::optional<utrace::Event> eventFromJson(const QJsonObject &o, QString *error)
{
    auto fail = [&](const QString &why) -> std::optional<utrace::Event> {
        if (error)
            *error = why;
        return std::nullopt;
    };
    const QString kind = o.value(QLatin1String("kind")).toString();
    int k = -1;
    for (int i = 0; i < KindCount; i++)
        if (kind == QLatin1String(kindName(static_cast<Kind>(i))))
            k = i;
    if (k < 0)
        return fail(QStringLiteral("unknown event kind \"%1\"").arg(kind));
    utrace::Event e;
    uint64_t v = 0;
    if (!parseU64(o.value(QLatin1String("seq")), &e.seq) ||
        !parseU64(o.value(QLatin1String("time_ns")), &e.timeNs))
        return fail(QStringLiteral("an event without \"seq\" or \"time_ns\""));
    e.tid = o.value(QLatin1String("tid")).toInt();
    e.tgid = o.value(QLatin1String("tgid")).toInt();
    e.handle = static_cast<uint32_t>(o.value(QLatin1String("handle")).toInteger());
    e.held = o.value(QLatin1String("held")).toBool();
    switch (static_cast<Kind>(k)) {
    case Kind::SyscallEntry: {
        utrace::SyscallEntry s;
        s.nr = o.value(QLatin1String("nr")).toInteger(-1);
        QJsonArray a = o.value(QLatin1String("args")).toArray();
        if (!a.isEmpty()) {
            if (a.size() != 6)
                return fail(
                    QStringLiteral("a syscall-entry with %1 arguments (6 expected)").arg(a.size()));
            for (int i = 0; i < 6; i++)
                if (!parseU64(a[i], &s.args[size_t(i)]))
                    return fail(QStringLiteral("a syscall argument that is not a number"));
            s.hasArgs = true;
        }
        e.payload = s;
        break;
    }
    case Kind::SyscallExit:
        e.payload = utrace::SyscallExit{o.value(QLatin1String("nr")).toInteger(-1),
                                        o.value(QLatin1String("ret")).toInteger()};
        break;
    case Kind::Signal: {
        utrace::Signal s;
        s.signo = o.value(QLatin1String("signo")).toInt();
        s.code = o.value(QLatin1String("code")).toInt();
        s.err = o.value(QLatin1String("errno")).toInt();
        s.disposition =
            static_cast<utrace::SignalDisposition>(o.value(QLatin1String("disposition")).toInt());
        QByteArray si =
            QByteArray::fromHex(o.value(QLatin1String("siginfo")).toString().toLatin1());
        std::memcpy(s.siginfo.data(), si.constData(),
                    std::min<size_t>(size_t(si.size()), s.siginfo.size()));
        e.payload = s;
        break;
    }
    case Kind::Clone: {
        utrace::Clone c;
        c.childTid = o.value(QLatin1String("child_tid")).toInt();
        c.childHandle = static_cast<uint32_t>(o.value(QLatin1String("child_handle")).toInteger());
        if (parseU64(o.value(QLatin1String("clone_flags")), &v))
            c.cloneFlags = v;
        e.payload = c;
        break;
    }
    case Kind::Exec:
        e.payload = utrace::Exec{o.value(QLatin1String("path")).toString().toStdString()};
        break;
    case Kind::Exit:
        e.payload = utrace::Exit{o.value(QLatin1String("code")).toInteger()};
        break;
    case Kind::Death:
        e.payload = utrace::Death{o.value(QLatin1String("group_dead")).toBool(),
                                  o.value(QLatin1String("signo")).toInt()};
        break;
    case Kind::Reap:
        e.payload = utrace::Reap{};
        break;
    case Kind::Quiesce:
        e.payload = utrace::Quiesce{};
        break;
    case Kind::Step:
        e.payload = utrace::Step{};
        break;
    case Kind::Lost:
    case Kind::Count:
        parseU64(o.value(QLatin1String("count")), &v);
        e.payload = utrace::Lost{v};
        break;
    }
    return e;
}

} // namespace utraceui
