// Python bindings of libutraceclient: the module `utrace`.
//
//   import utrace
//   s = utrace.Session("local")                   # or "tcp://host:port", "exec:ssh h ..."
//   p = s.launch(["ls", "/"], follow=True)        # held at its first instruction
//   p.set_events("syscall-entry,exec")
//   p.resume()
//   while (e := s.wait(1000)) is not None: ...
//
// Lifetimes: a Session, and every Engine, Process and Symbolizer taken from
// it, share one Holder. close() (or the end of a `with` block) ends the
// session; the objects left over then raise utrace.Error(EBADF) instead of
// touching freed memory.
//
// Threads: every call releases the GIL, then takes the Holder's mutex (a
// Session is used by one thread at a time); the GIL is dropped first so a
// thread blocked in wait() never keeps the others from running Python.
#include "utrace/breakpoints.hpp"
#include "utrace/decode.hpp"
#include "utrace/error.hpp"
#include "utrace/event.hpp"
#include "utrace/session.hpp"
#include "utrace/symbolizer.hpp"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <sys/user.h>

// Every field of user_regs_struct (for Regs and its as_dict()).
// clang-format off
#define UTRACE_REGS(X) \
    X(r15) X(r14) X(r13) X(r12) X(rbp) X(rbx) X(r11) X(r10) X(r9) \
    X(r8) X(rax) X(rcx) X(rdx) X(rsi) X(rdi) X(orig_rax) X(rip) X(cs) \
    X(eflags) X(rsp) X(ss) X(fs_base) X(gs_base) X(ds) X(es) X(fs) X(gs)
// clang-format on

namespace py = pybind11;
using namespace pybind11::literals;

namespace {

struct Holder {
    std::mutex mu;
    std::unique_ptr<utrace::Session> s;
    // Breakpoints hook into the session: they go before it (see close()).
    std::set<std::unique_ptr<utrace::Breakpoints> *> bps;

    // With mu held.
    void close()
    {
        for (auto *b : bps)
            b->reset();
        bps.clear();
        s.reset();
    }
};
using HolderPtr = std::shared_ptr<Holder>;

// Runs fn(session) without the GIL, under the session's mutex.
template <class F> auto locked(const HolderPtr &h, F fn)
{
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> l(h->mu);
    if (!h->s)
        throw utrace::Error(EBADF, "this utrace session is closed; open a new Session");
    return fn(*h->s);
}

struct PyEngine {
    HolderPtr h;
    uint32_t handle = 0;
    pid_t tid = 0;

    // The library's Engine is a value handle on the Session: rebuilt per call
    // so it never outlives the session it points to.
    template <class F> auto with(F fn) const
    {
        return locked(h, [&](utrace::Session &s) { return fn(s.engineOf(handle)); });
    }
};

struct PyProcess {
    HolderPtr h;
    pid_t pid = 0;

    template <class F> auto with(F fn) const
    {
        return locked(h, [&](utrace::Session &s) {
            utrace::Process p = s.process(pid);
            return fn(p);
        });
    }
};

struct PyBreakpoints {
    HolderPtr h;
    pid_t pid = 0;
    std::unique_ptr<utrace::Breakpoints> b;

    ~PyBreakpoints()
    {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> l(h->mu);
        h->bps.erase(&b);
        b.reset(); // takes its int3s out while the session still runs
    }
    template <class F> auto with(F fn)
    {
        return locked(h, [&](utrace::Session &) {
            if (!b)
                throw utrace::Error(EBADF, "these breakpoints ended with their session");
            return fn(*b);
        });
    }
};

py::dict bpDict(const utrace::BreakpointInfo &i)
{
    return py::dict("id"_a = i.id, "addr"_a = i.addr, "enabled"_a = i.enabled,
                    "inserted"_a = i.inserted, "stop"_a = i.stop, "hits"_a = i.hits);
}

struct PySymbolizer {
    HolderPtr h;
    pid_t pid = 0;
    uint32_t held = 0; // the engine whose thread's memory the symbolizer reads
    std::unique_ptr<utrace::Symbolizer> sym;
};

uint64_t eventBits(const py::object &o)
{
    if (o.is_none())
        return 0;
    if (py::isinstance<py::str>(o))
        return utrace::ev::parse(o.cast<std::string>());
    if (py::isinstance<py::int_>(o))
        return o.cast<uint64_t>();
    throw utrace::Error(EINVAL, "events must be an int of utrace.ev bits or a string such as "
                                "\"syscall-entry,exec\"");
}

std::vector<std::string> envList(const py::object &env)
{
    std::vector<std::string> out;
    if (env.is_none())
        return out;
    if (py::isinstance<py::dict>(env)) {
        for (auto kv : env.cast<py::dict>())
            out.push_back(py::str(kv.first).cast<std::string>() + "=" +
                          py::str(kv.second).cast<std::string>());
    } else {
        for (auto item : env)
            out.push_back(item.cast<std::string>());
    }
    if (out.empty())
        throw utrace::Error(EINVAL, "env must name at least one variable (an empty "
                                    "environment is not supported; pass None to inherit)");
    return out;
}

utrace::AttachOptions attachOptions(bool follow, bool holdChildren, bool killOnClose,
                                    bool exclusive)
{
    utrace::AttachOptions o;
    o.followChildren = follow || holdChildren;
    o.holdChildren = holdChildren;
    o.killOnClose = killOnClose;
    o.exclusive = exclusive;
    return o;
}

[[noreturn]] void noAttr(const utrace::Event &e, const char *what)
{
    throw py::attribute_error(std::string("a ") + utrace::kindName(e) + " event has no '" + what +
                              "'");
}

// A payload field as a Python attribute: present on the kinds that carry it,
// AttributeError on the others (so hasattr() tells).
template <class T, class F> py::object field(const utrace::Event &e, const char *what, F fn)
{
    if (const T *p = e.get<T>()) {
        auto v = fn(*p);
        if constexpr (std::is_base_of_v<py::object, decltype(v)>)
            return v;
        else
            return py::cast(v);
    }
    noAttr(e, what);
}

const char *dispositionName(utrace::SignalDisposition d)
{
    switch (d) {
    case utrace::SignalDisposition::Deliver:
        return "deliver";
    case utrace::SignalDisposition::Ignore:
        return "ignore";
    case utrace::SignalDisposition::Terminate:
        return "terminate";
    case utrace::SignalDisposition::Core:
        return "core";
    case utrace::SignalDisposition::Stop:
        return "stop";
    case utrace::SignalDisposition::TerminalStop:
        return "terminal-stop";
    }
    return "?";
}

std::string eventRepr(const utrace::Event &e)
{
    std::string s = "<utrace.Event #" + std::to_string(e.seq) + " " + utrace::kindName(e) +
                    " tid " + std::to_string(e.tid);
    if (auto *x = e.get<utrace::SyscallEntry>())
        s += " " + utrace::syscallName(x->nr);
    else if (auto *y = e.get<utrace::SyscallExit>())
        s += " " + utrace::syscallName(y->nr) + " = " + std::to_string(y->ret);
    else if (auto *g = e.get<utrace::Signal>())
        s += " " + utrace::signalName(g->signo);
    else if (auto *c = e.get<utrace::Clone>())
        s += " child " + std::to_string(c->childTid);
    else if (auto *x2 = e.get<utrace::Exec>())
        s += " " + x2->path;
    if (e.held)
        s += " held";
    return s + ">";
}

py::dict regsDict(const user_regs_struct &r)
{
    py::dict d;
#define UTRACE_REG(n) d[#n] = r.n;
    UTRACE_REGS(UTRACE_REG)
#undef UTRACE_REG
    return d;
}

utrace::MemoryReader readerOf(const PyEngine *eng)
{
    // Called with the session's mutex held (inside locked()).
    if (!eng)
        return [](uint64_t, size_t) { return std::vector<uint8_t>{}; };
    utrace::Session *s = eng->h->s.get();
    uint32_t handle = eng->handle;
    return [s, handle](uint64_t addr, size_t len) {
        try {
            return s->engineOf(handle).readMemory(addr, len);
        } catch (const utrace::Error &) {
            return std::vector<uint8_t>{}; // not held, or a hole: rendered as an address
        }
    };
}

std::string renderEventPy(const utrace::Event &e, const PyEngine *eng, size_t limit, bool raw)
{
    utrace::RenderOptions o;
    o.stringLimit = limit;
    o.raw = raw;
    if (!eng)
        return utrace::renderEvent(e, readerOf(nullptr), o);
    return locked(eng->h,
                  [&](utrace::Session &) { return utrace::renderEvent(e, readerOf(eng), o); });
}

py::bytes toBytes(const std::vector<uint8_t> &v)
{
    return py::bytes(reinterpret_cast<const char *>(v.data()), v.size());
}

py::dict frameDict(const utrace::Frame &f)
{
    return py::dict("pc"_a = f.pc, "function"_a = f.function, "offset"_a = f.offset,
                    "module"_a = f.module);
}

} // namespace

PYBIND11_MODULE(utrace, m)
{
    m.doc() = "utrace: trace and control Linux threads through /dev/utrace "
              "(bindings of libutraceclient)";

    // ---- errors ----------------------------------------------------------
    static py::exception<utrace::Error> error(m, "Error");
    error.doc() = "Every failure of utrace: .errno (0 when none applies) and .sentence, one "
                  "sentence saying what went wrong and what to do; str() is the sentence.";
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p)
                std::rethrow_exception(p);
        } catch (const utrace::Error &e) {
            py::object inst = py::reinterpret_borrow<py::object>(error)(e.sentence());
            inst.attr("errno") = e.errnum();
            inst.attr("sentence") = e.sentence();
            PyErr_SetObject(error.ptr(), inst.ptr());
        }
    });

    // ---- event masks -----------------------------------------------------
    py::module_ ev = m.def_submodule("ev", "Event bits for Engine.set_events (UTRACE_EV_*)");
    ev.attr("NONE") = utrace::ev::None;
    ev.attr("QUIESCE") = utrace::ev::Quiesce;
    ev.attr("REAP") = utrace::ev::Reap;
    ev.attr("CLONE") = utrace::ev::Clone;
    ev.attr("EXEC") = utrace::ev::Exec;
    ev.attr("EXIT") = utrace::ev::Exit;
    ev.attr("DEATH") = utrace::ev::Death;
    ev.attr("SYSCALL_ENTRY") = utrace::ev::SyscallEntry;
    ev.attr("SYSCALL_EXIT") = utrace::ev::SyscallExit;
    ev.attr("SYSCALL") = utrace::ev::Syscall;
    ev.attr("SIGNAL") = utrace::ev::Signal;
    ev.attr("SIGNAL_IGN") = utrace::ev::SignalIgn;
    ev.attr("SIGNAL_STOP") = utrace::ev::SignalStop;
    ev.attr("SIGNAL_TERM") = utrace::ev::SignalTerm;
    ev.attr("SIGNAL_CORE") = utrace::ev::SignalCore;
    ev.attr("SIGNAL_ALL") = utrace::ev::SignalAll;
    ev.attr("ALL") = utrace::ev::All;
    ev.def("parse", &utrace::ev::parse, "names"_a,
           "\"syscall-entry,exec\" -> bits; utrace.Error(EINVAL) names an unknown word");
    ev.def("format", &utrace::ev::format, "bits"_a, "bits -> \"syscall-entry,exec\"");

    // ---- events ----------------------------------------------------------
    py::class_<utrace::Event>(m, "Event",
                              "One event record: header fields, and the payload's fields "
                              "as attributes (nr, name, args, ret, signo, child_tid, path, "
                              "code, ...) on the kinds that carry them")
        .def_readonly("seq", &utrace::Event::seq)
        .def_readonly("time_ns", &utrace::Event::timeNs)
        .def_readonly("handle", &utrace::Event::handle)
        .def_readonly("tid", &utrace::Event::tid)
        .def_readonly("tgid", &utrace::Event::tgid)
        .def_readonly("held", &utrace::Event::held)
        .def_property_readonly("kind", [](const utrace::Event &e) { return utrace::kindName(e); })
        .def_property_readonly("nr",
                               [](const utrace::Event &e) -> py::object {
                                   if (auto *x = e.get<utrace::SyscallEntry>())
                                       return py::int_(x->nr);
                                   if (auto *y = e.get<utrace::SyscallExit>())
                                       return py::int_(y->nr);
                                   noAttr(e, "nr");
                               })
        .def_property_readonly("name",
                               [](const utrace::Event &e) -> py::object {
                                   if (auto *x = e.get<utrace::SyscallEntry>())
                                       return py::str(utrace::syscallName(x->nr));
                                   if (auto *y = e.get<utrace::SyscallExit>())
                                       return py::str(utrace::syscallName(y->nr));
                                   noAttr(e, "name");
                               })
        .def_property_readonly("args",
                               [](const utrace::Event &e) -> py::object {
                                   auto *x = e.get<utrace::SyscallEntry>();
                                   if (!x)
                                       noAttr(e, "args");
                                   if (!x->hasArgs)
                                       return py::none(); // the engine does not capture them
                                   return py::make_tuple(x->args[0], x->args[1], x->args[2],
                                                         x->args[3], x->args[4], x->args[5]);
                               })
        .def_property_readonly("ret",
                               [](const utrace::Event &e) {
                                   return field<utrace::SyscallExit>(e, "ret",
                                                                     [](auto &x) { return x.ret; });
                               })
        .def_property_readonly("error",
                               [](const utrace::Event &e) -> py::object {
                                   auto *x = e.get<utrace::SyscallExit>();
                                   if (!x)
                                       noAttr(e, "error");
                                   if (x->ret < 0 && x->ret > -4096)
                                       return py::str(utrace::errnoName(int(-x->ret)));
                                   return py::none();
                               })
        .def_property_readonly("signo",
                               [](const utrace::Event &e) -> py::object {
                                   if (auto *x = e.get<utrace::Signal>())
                                       return py::int_(x->signo);
                                   noAttr(e, "signo");
                               })
        .def_property_readonly("signame",
                               [](const utrace::Event &e) {
                                   return field<utrace::Signal>(e, "signame", [](auto &x) {
                                       return utrace::signalName(x.signo);
                                   });
                               })
        .def_property_readonly("exit_signal",
                               [](const utrace::Event &e) {
                                   // what the parent gets (SIGCHLD), -1 when self-reaping
                                   return field<utrace::Death>(e, "exit_signal",
                                                               [](auto &x) { return x.signal; });
                               })
        .def_property_readonly("code",
                               [](const utrace::Event &e) -> py::object {
                                   if (auto *x = e.get<utrace::Signal>())
                                       return py::int_(x->code); // si_code
                                   if (auto *y = e.get<utrace::Exit>())
                                       return py::int_(y->code); // wait status
                                   noAttr(e, "code");
                               })
        .def_property_readonly("errno",
                               [](const utrace::Event &e) {
                                   return field<utrace::Signal>(e, "errno",
                                                                [](auto &x) { return x.err; });
                               })
        .def_property_readonly("disposition",
                               [](const utrace::Event &e) {
                                   return field<utrace::Signal>(e, "disposition", [](auto &x) {
                                       return dispositionName(x.disposition);
                                   });
                               })
        .def_property_readonly("siginfo",
                               [](const utrace::Event &e) -> py::object {
                                   auto *x = e.get<utrace::Signal>();
                                   if (!x)
                                       noAttr(e, "siginfo");
                                   return py::bytes(
                                       reinterpret_cast<const char *>(x->siginfo.data()),
                                       x->siginfo.size());
                               })
        .def_property_readonly("child_tid",
                               [](const utrace::Event &e) {
                                   return field<utrace::Clone>(e, "child_tid",
                                                               [](auto &x) { return x.childTid; });
                               })
        .def_property_readonly("child_handle",
                               [](const utrace::Event &e) {
                                   return field<utrace::Clone>(
                                       e, "child_handle", [](auto &x) { return x.childHandle; });
                               })
        .def_property_readonly("clone_flags",
                               [](const utrace::Event &e) {
                                   return field<utrace::Clone>(
                                       e, "clone_flags", [](auto &x) { return x.cloneFlags; });
                               })
        .def_property_readonly("is_thread",
                               [](const utrace::Event &e) {
                                   return field<utrace::Clone>(e, "is_thread", [](auto &x) {
                                       return (x.cloneFlags & 0x00010000 /* CLONE_THREAD */) != 0;
                                   });
                               })
        .def_property_readonly("path",
                               [](const utrace::Event &e) {
                                   // as os.fsdecode: a path need not be UTF-8
                                   return field<utrace::Exec>(e, "path", [](auto &x) {
                                       return py::bytes(x.path).attr("decode")("utf-8",
                                                                               "surrogateescape");
                                   });
                               })
        .def_property_readonly("group_dead",
                               [](const utrace::Event &e) {
                                   return field<utrace::Death>(e, "group_dead",
                                                               [](auto &x) { return x.groupDead; });
                               })
        .def_property_readonly("count",
                               [](const utrace::Event &e) {
                                   return field<utrace::Lost>(e, "count",
                                                              [](auto &x) { return x.count; });
                               })
        .def("__repr__", &eventRepr);

    m.def(
        "parse_records",
        [](py::bytes data) {
            std::string_view v = data;
            return utrace::parseRecords(
                std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(v.data()), v.size()));
        },
        "data"_a,
        "Events from whole records as read(2) on /dev/utrace returns them; "
        "utrace.Error(EPROTO) on a malformed record");

    // ---- registers -------------------------------------------------------
    py::class_<user_regs_struct> regs(m, "Regs", "x86-64 general registers (user_regs_struct)");
    regs.def(py::init([]() {
        user_regs_struct r;
        std::memset(&r, 0, sizeof r);
        return r;
    }));
#define UTRACE_REG(n) regs.def_readwrite(#n, &user_regs_struct::n);
    UTRACE_REGS(UTRACE_REG)
#undef UTRACE_REG
    regs.def_property(
            "pc", [](const user_regs_struct &r) { return r.rip; },
            [](user_regs_struct &r, unsigned long long v) { r.rip = v; })
        .def_property(
            "sp", [](const user_regs_struct &r) { return r.rsp; },
            [](user_regs_struct &r, unsigned long long v) { r.rsp = v; })
        .def("as_dict", &regsDict)
        .def("__repr__", [](const user_regs_struct &r) {
            char b[128];
            std::snprintf(b, sizeof b, "<utrace.Regs rip=0x%llx rsp=0x%llx orig_rax=%lld>",
                          (unsigned long long)r.rip, (unsigned long long)r.rsp,
                          (long long)r.orig_rax);
            return std::string(b);
        });

    // ---- engine ----------------------------------------------------------
    py::class_<PyEngine>(m, "Engine", "One engine on one thread (Session.attach, Process.engine)")
        .def_readonly("handle", &PyEngine::handle)
        .def_readonly("tid", &PyEngine::tid)
        .def_property_readonly(
            "held",
            [](const PyEngine &e) { return e.with([](utrace::Engine x) { return x.held(); }); })
        .def_property_readonly(
            "settings",
            [](const PyEngine &e) {
                auto st = e.with([](utrace::Engine x) { return x.settings(); });
                py::object filt = py::none();
                if (st.syscallFilter) {
                    py::list l;
                    for (size_t i = 0; i < st.syscallFilter->size(); i++)
                        if (st.syscallFilter->test(i))
                            l.append(utrace::syscallName(int64_t(i)));
                    filt = l;
                }
                return py::dict("events"_a = utrace::ev::format(st.events),
                                "stop"_a = utrace::ev::format(st.stopEvents),
                                "capture_args"_a = st.captureArgs, "syscall_filter"_a = filt);
            },
            "events, stop events, capture_args and the syscall filter (None: every syscall)")
        .def(
            "set_events",
            [](const PyEngine &e, py::object events, py::object stop, bool captureArgs) {
                uint64_t a = eventBits(events), b = eventBits(stop);
                e.with([&](utrace::Engine x) {
                    x.setEvents(a, b, captureArgs);
                    return 0;
                });
            },
            "events"_a, "stop"_a = py::none(), "capture_args"_a = true,
            "Which events are reported and which of them hold the thread: utrace.ev bits "
            "or names (\"syscall-entry,exec\")")
        .def(
            "set_syscall_filter",
            [](const PyEngine &e, py::object calls) {
                std::vector<std::string> names;
                std::vector<int> numbers;
                bool byNumber = false;
                if (!calls.is_none())
                    for (auto c : calls) {
                        if (py::isinstance<py::int_>(c)) {
                            numbers.push_back(c.cast<int>());
                            byNumber = true;
                        } else {
                            names.push_back(c.cast<std::string>());
                        }
                    }
                if (byNumber)
                    for (auto &n : names) {
                        auto nr = utrace::syscallNumber(n);
                        if (!nr)
                            throw utrace::Error(EINVAL, "unknown syscall \"" + n +
                                                            "\": use an x86-64 name such as "
                                                            "\"openat\" or a number");
                        numbers.push_back(*nr);
                    }
                e.with([&](utrace::Engine x) {
                    if (byNumber)
                        x.setSyscallFilterNumbers(numbers);
                    else
                        x.setSyscallFilter(names);
                    return 0;
                });
            },
            "calls"_a,
            "Report only these syscalls (names or numbers), filtered in the kernel; "
            "None or []: every syscall")
        .def("stop",
             [](const PyEngine &e) { e.with([](utrace::Engine x) { return x.stop(), 0; }); })
        .def("interrupt",
             [](const PyEngine &e) { e.with([](utrace::Engine x) { return x.interrupt(), 0; }); })
        .def("resume",
             [](const PyEngine &e) { e.with([](utrace::Engine x) { return x.resume(), 0; }); })
        .def("step",
             [](const PyEngine &e) { e.with([](utrace::Engine x) { return x.step(), 0; }); })
        .def(
            "abort_syscall",
            [](const PyEngine &e, int64_t v) {
                e.with([v](utrace::Engine x) { return x.abortSyscall(v), 0; });
            },
            "retval"_a, "Held at a syscall entry: skip the call, return retval (-errno)")
        .def(
            "run_syscall_with",
            [](const PyEngine &e, std::array<uint64_t, 6> a) {
                e.with([&](utrace::Engine x) { return x.runSyscallWith(a), 0; });
            },
            "args"_a, "Held at a syscall entry: run it with these six arguments")
        .def(
            "deliver_signal",
            [](const PyEngine &e, int signo) {
                e.with([signo](utrace::Engine x) { return x.deliverSignal(signo), 0; });
            },
            "signo"_a = 0, "Held at a signal: deliver it (0: as is) or another one")
        .def(
            "ignore_signal",
            [](const PyEngine &e) { e.with([](utrace::Engine x) { return x.ignoreSignal(), 0; }); })
        .def("detach",
             [](const PyEngine &e) { e.with([](utrace::Engine x) { return x.detach(), 0; }); })
        .def("barrier",
             [](const PyEngine &e) { e.with([](utrace::Engine x) { return x.barrier(), 0; }); })
        .def(
            "regs",
            [](const PyEngine &e) { return e.with([](utrace::Engine x) { return x.regs(); }); },
            "General registers (the thread must be held by this engine)")
        .def(
            "set_regs",
            [](const PyEngine &e, const user_regs_struct &r) {
                e.with([&](utrace::Engine x) { return x.setRegs(r), 0; });
            },
            "regs"_a)
        .def("fp_regs",
             [](const PyEngine &e) {
                 return toBytes(e.with([](utrace::Engine x) { return x.fpRegs(); }));
             })
        .def(
            "read_memory",
            [](const PyEngine &e, uint64_t addr, size_t len) {
                return toBytes(e.with([&](utrace::Engine x) { return x.readMemory(addr, len); }));
            },
            "addr"_a, "length"_a, "Bytes at addr (fewer at a hole); the thread must be held")
        .def(
            "read_string",
            [](const PyEngine &e, uint64_t addr, size_t max) {
                std::string s;
                e.with([&](utrace::Engine x) {
                    while (s.size() < max) {
                        size_t chunk =
                            std::min<size_t>(256 - (addr + s.size()) % 256, max - s.size());
                        auto b = x.readMemory(addr + s.size(), chunk);
                        for (uint8_t c : b) {
                            if (!c)
                                return 0;
                            s.push_back(char(c));
                        }
                        if (b.size() < chunk)
                            break;
                    }
                    return 0;
                });
                return py::bytes(s).attr("decode")("utf-8", "surrogateescape");
            },
            "addr"_a, "max"_a = 4096,
            "The NUL-terminated string at addr (at most max bytes) as str")
        .def(
            "write_memory",
            [](const PyEngine &e, uint64_t addr, py::bytes data) {
                std::string_view v = data;
                std::vector<uint8_t> b(v.begin(), v.end());
                e.with([&](utrace::Engine x) { return x.writeMemory(addr, b), 0; });
            },
            "addr"_a, "data"_a)
        .def("__repr__", [](const PyEngine &e) {
            return "<utrace.Engine " + std::to_string(e.handle) + " on thread " +
                   std::to_string(e.tid) + ">";
        });

    m.attr("Thread") = m.attr("Engine"); // the issue's name: one engine is one thread

    // ---- process ---------------------------------------------------------
    py::class_<PyProcess>(m, "Process",
                          "The engines of one process (Session.launch, "
                          "attach_process, process)")
        .def_readonly("pid", &PyProcess::pid)
        .def("engines",
             [](const PyProcess &p) {
                 auto v = p.with([](utrace::Process &x) { return x.engines(); });
                 std::vector<PyEngine> out;
                 for (auto &e : v)
                     out.push_back(PyEngine{p.h, e.handle(), e.tid()});
                 return out;
             })
        .def(
            "engine",
            [](const PyProcess &p, pid_t tid) {
                auto e = p.with([tid](utrace::Process &x) { return x.engine(tid); });
                return PyEngine{p.h, e.handle(), e.tid()};
            },
            "tid"_a = 0, "The engine on thread tid (0: the leader)")
        .def(
            "set_events",
            [](const PyProcess &p, py::object events, py::object stop, bool captureArgs) {
                uint64_t a = eventBits(events), b = eventBits(stop);
                p.with([&](utrace::Process &x) { return x.setEvents(a, b, captureArgs), 0; });
            },
            "events"_a, "stop"_a = py::none(), "capture_args"_a = true)
        .def("stop",
             [](const PyProcess &p) { p.with([](utrace::Process &x) { return x.stop(), 0; }); })
        .def("resume",
             [](const PyProcess &p) { p.with([](utrace::Process &x) { return x.resume(), 0; }); })
        .def("detach",
             [](const PyProcess &p) { p.with([](utrace::Process &x) { return x.detach(), 0; }); })
        .def(
            "kill",
            [](const PyProcess &p, int sig) {
                p.with([sig](utrace::Process &x) { return x.kill(sig), 0; });
            },
            "sig"_a = 9)
        .def(
            "exit_status",
            [](const PyProcess &p, bool wait) {
                return p.with([wait](utrace::Process &x) { return x.exitStatus(wait); });
            },
            "wait"_a = false,
            "A launched program's wait status once it exited (os.waitstatus_to_exitcode "
            "reads it), else None; wait=True blocks until it exits")
        .def("__repr__",
             [](const PyProcess &p) { return "<utrace.Process " + std::to_string(p.pid) + ">"; });

    // ---- session ---------------------------------------------------------
    auto openSession = [](const std::string &where) {
        auto h = std::make_shared<Holder>();
        py::gil_scoped_release nogil;
        h->s = utrace::Session::open(where);
        return h;
    };
    py::class_<Holder, HolderPtr>(m, "Session",
                                  "A session on /dev/utrace (\"local\"), a utrace-agent "
                                  "(\"tcp://host:port\") or a command speaking the agent "
                                  "protocol (\"exec:ssh host utrace-agent --stdio\"). Closing "
                                  "it detaches every engine; held threads run again; "
                                  "launched programs still running are killed.")
        .def(py::init(openSession), "where"_a = "local")
        .def_static("open", openSession, "where"_a = "local")
        .def("close",
             [](Holder &h) {
                 py::gil_scoped_release nogil;
                 std::lock_guard<std::mutex> l(h.mu);
                 h.close();
             })
        .def_property_readonly("closed", [](const Holder &h) { return !h.s; })
        .def("__enter__", [](HolderPtr h) { return h; })
        .def("__exit__",
             [](Holder &h, py::args) {
                 py::gil_scoped_release nogil;
                 std::lock_guard<std::mutex> l(h.mu);
                 h.close();
                 return false;
             })
        .def_property_readonly(
            "device",
            [](const HolderPtr &h) {
                auto d = locked(h, [](utrace::Session &s) { return s.device(); });
                return py::dict("api_version"_a = d.apiVersion, "features"_a = d.features,
                                "kernel_release"_a = d.kernelRelease,
                                "module_version"_a = d.moduleVersion);
            })
        .def(
            "launch",
            [](const HolderPtr &h, std::vector<std::string> argv, py::object env, std::string cwd,
               bool follow, bool holdChildren, bool killOnClose) {
                if (argv.empty())
                    throw utrace::Error(EINVAL, "launch needs a program: argv is empty");
                utrace::LaunchSpec spec(argv, envList(env), cwd);
                auto o = attachOptions(follow, holdChildren, killOnClose, false);
                pid_t pid = locked(h, [&](utrace::Session &s) { return s.launch(spec, o).pid(); });
                return PyProcess{h, pid};
            },
            "argv"_a, "env"_a = py::none(), "cwd"_a = "", "follow"_a = false,
            "hold_children"_a = false, "kill_on_close"_a = false,
            "Starts argv (argv[0] looked up in PATH) held at its first instruction: its held "
            "exec event is the first wait() returns. env: dict or [\"K=V\"], None inherits. "
            "follow: its children get engines with the same settings; hold_children: held "
            "before their first instruction.")
        .def(
            "attach",
            [](const HolderPtr &h, pid_t tid, bool follow, bool holdChildren, bool killOnClose,
               bool exclusive) {
                auto o = attachOptions(follow, holdChildren, killOnClose, exclusive);
                auto e = locked(h, [&](utrace::Session &s) { return s.attach(tid, o); });
                return PyEngine{h, e.handle(), e.tid()};
            },
            "tid"_a, "follow"_a = false, "hold_children"_a = false, "kill_on_close"_a = false,
            "exclusive"_a = false, "An engine on one thread")
        .def(
            "attach_process",
            [](const HolderPtr &h, pid_t pid, bool follow, bool holdChildren, bool killOnClose,
               bool exclusive) {
                auto o = attachOptions(follow, holdChildren, killOnClose, exclusive);
                pid_t p =
                    locked(h, [&](utrace::Session &s) { return s.attachProcess(pid, o).pid(); });
                return PyProcess{h, p};
            },
            "pid"_a, "follow"_a = false, "hold_children"_a = false, "kill_on_close"_a = false,
            "exclusive"_a = false, "Engines on every thread of pid (new threads included)")
        .def(
            "wait",
            [](const HolderPtr &h, int timeoutMs) {
                return locked(h, [&](utrace::Session &s) { return s.wait(timeoutMs); });
            },
            "timeout_ms"_a = -1,
            "The next event, waiting up to timeout_ms (-1: forever); None on timeout")
        .def(
            "poll",
            [](const HolderPtr &h) {
                return locked(h, [](utrace::Session &s) { return s.poll(); });
            },
            "The events already there, without blocking")
        .def(
            "fileno",
            [](const HolderPtr &h) { return locked(h, [](utrace::Session &s) { return s.fd(); }); },
            "A descriptor readable when events wait (select/poll/selectors); then call poll()")
        .def(
            "engine",
            [](const HolderPtr &h, py::object which) {
                uint32_t handle = py::isinstance<utrace::Event>(which)
                                      ? which.cast<const utrace::Event &>().handle
                                      : which.cast<uint32_t>();
                auto e = locked(h, [&](utrace::Session &s) { return s.engineOf(handle); });
                return PyEngine{h, e.handle(), e.tid()};
            },
            "handle_or_event"_a, "The engine of a handle, or of the engine an event came from")
        .def(
            "process",
            [](const HolderPtr &h, pid_t pid) {
                pid_t p = locked(h, [&](utrace::Session &s) { return s.process(pid).pid(); });
                return PyProcess{h, p};
            },
            "pid"_a)
        .def("engines", [](const HolderPtr &h) {
            auto v = locked(h, [](utrace::Session &s) { return s.engines(); });
            py::list l;
            for (auto &i : v)
                l.append(py::dict("handle"_a = i.handle, "tid"_a = i.tid,
                                  "events"_a = utrace::ev::format(i.events),
                                  "stop"_a = utrace::ev::format(i.stopEvents),
                                  "state"_a = i.state));
            return l;
        });

    // ---- symbolizer ------------------------------------------------------
    py::class_<utrace::Frame>(m, "Frame", "One frame of a backtrace (or of describe(pc))")
        .def_readonly("pc", &utrace::Frame::pc)
        .def_readonly("function", &utrace::Frame::function)
        .def_readonly("offset", &utrace::Frame::offset)
        .def_readonly("module", &utrace::Frame::module)
        .def_readonly("inlined", &utrace::Frame::inlined)
        .def_property_readonly("file",
                               [](const utrace::Frame &f) -> py::object {
                                   if (f.source)
                                       return py::str(f.source->file);
                                   return py::none();
                               })
        .def_property_readonly("line",
                               [](const utrace::Frame &f) -> py::object {
                                   if (f.source)
                                       return py::int_(f.source->line);
                                   return py::none();
                               })
        .def_property_readonly("column",
                               [](const utrace::Frame &f) -> py::object {
                                   if (f.source)
                                       return py::int_(f.source->column);
                                   return py::none();
                               })
        .def("as_dict", &frameDict)
        .def("__str__", &utrace::formatFrame)
        .def("__repr__", [](const utrace::Frame &f) {
            return "<utrace.Frame " + utrace::formatFrame(f) + ">";
        });

    py::class_<PySymbolizer>(m, "Symbolizer",
                             "Functions, source lines and backtraces of one process, read "
                             "through the session (local or remote; libdwfl)")
        .def(py::init([](const HolderPtr &h, pid_t pid) {
                 auto ps = std::make_unique<PySymbolizer>();
                 ps->h = h;
                 ps->pid = pid;
                 PySymbolizer *raw = ps.get();
                 locked(h, [&](utrace::Session &s) {
                     raw->sym = std::make_unique<utrace::Symbolizer>(
                         utrace::transportSource(s.transport(), [raw] { return raw->held; }));
                     raw->sym->refresh(pid);
                     return 0;
                 });
                 return ps;
             }),
             "session"_a, "pid"_a)
        .def_readonly("pid", &PySymbolizer::pid)
        .def(
            "refresh",
            [](PySymbolizer &p) {
                locked(p.h, [&](utrace::Session &) { return p.sym->refresh(p.pid), 0; });
            },
            "Re-reads the process's modules (after an exec or dlopen)")
        .def(
            "backtrace",
            [](PySymbolizer &p, const PyEngine &e, size_t maxFrames) {
                return locked(p.h, [&](utrace::Session &s) {
                    user_regs_struct r = s.engineOf(e.handle).regs();
                    p.held = e.handle;
                    struct Reset {
                        PySymbolizer &p;
                        ~Reset() { p.held = 0; }
                    } reset{p};
                    return p.sym->backtrace(r, maxFrames);
                });
            },
            "engine"_a, "max_frames"_a = 64,
            "Frames of the thread the engine holds, innermost first, inline frames expanded")
        .def(
            "describe",
            [](PySymbolizer &p, uint64_t pc) {
                return locked(p.h, [&](utrace::Session &) { return p.sym->describe(pc); });
            },
            "pc"_a)
        .def(
            "lookup",
            [](PySymbolizer &p, const std::string &sym) {
                return locked(p.h, [&](utrace::Session &) { return p.sym->lookup(sym); });
            },
            "symbol"_a, "Address of \"main\" or \"libc.so.6:write\"; None if unknown")
        .def(
            "addresses_of",
            [](PySymbolizer &p, const std::string &file, int line) {
                return locked(p.h,
                              [&](utrace::Session &) { return p.sym->addressesOf(file, line); });
            },
            "file"_a, "line"_a)
        .def("modules",
             [](PySymbolizer &p) {
                 auto v = locked(p.h, [&](utrace::Session &) { return p.sym->modules(); });
                 py::list l;
                 for (auto &mi : v)
                     l.append(py::dict("path"_a = mi.path, "start"_a = mi.start, "end"_a = mi.end,
                                       "bias"_a = mi.bias, "build_id"_a = mi.buildId));
                 return l;
             })
        .def("problems", [](PySymbolizer &p) {
            return locked(p.h, [&](utrace::Session &) { return p.sym->problems(); });
        });

    // ---- breakpoints -----------------------------------------------------
    py::class_<PyBreakpoints>(m, "Breakpoints",
                              "Software breakpoints (int3) on one process of the session, "
                              "with hit counts; a hit holds the thread (stop=True) or is "
                              "only counted")
        .def(py::init([](const HolderPtr &h, pid_t pid) {
                 auto pb = std::make_unique<PyBreakpoints>();
                 pb->h = h;
                 pb->pid = pid;
                 locked(h, [&](utrace::Session &s) {
                     pb->b = std::make_unique<utrace::Breakpoints>(s, pid);
                     h->bps.insert(&pb->b);
                     return 0;
                 });
                 return pb;
             }),
             "session"_a, "pid"_a)
        .def(
            "add",
            [](PyBreakpoints &p, uint64_t addr, bool stop) {
                return p.with([&](utrace::Breakpoints &b) { return b.add(addr, stop); });
            },
            "addr"_a, "stop"_a = true, "A breakpoint at addr, enabled; its id")
        .def(
            "enable",
            [](PyBreakpoints &p, int id) {
                p.with([&](utrace::Breakpoints &b) { return b.enable(id), 0; });
            },
            "id"_a)
        .def(
            "disable",
            [](PyBreakpoints &p, int id) {
                p.with([&](utrace::Breakpoints &b) { return b.disable(id), 0; });
            },
            "id"_a)
        .def(
            "remove",
            [](PyBreakpoints &p, int id) {
                p.with([&](utrace::Breakpoints &b) { return b.remove(id), 0; });
            },
            "id"_a)
        .def(
            "hits",
            [](PyBreakpoints &p, int id) {
                return p.with([&](utrace::Breakpoints &b) { return b.hits(id); });
            },
            "id"_a)
        .def(
            "info",
            [](PyBreakpoints &p, int id) {
                return bpDict(p.with([&](utrace::Breakpoints &b) { return b.info(id); }));
            },
            "id"_a)
        .def("list",
             [](PyBreakpoints &p) {
                 py::list l;
                 for (auto &i : p.with([](utrace::Breakpoints &b) { return b.list(); }))
                     l.append(bpDict(i));
                 return l;
             })
        .def(
            "hit_by",
            [](PyBreakpoints &p, const utrace::Event &e) -> py::object {
                auto i = p.with([&](utrace::Breakpoints &b) { return b.hitBy(e); });
                if (!i)
                    return py::none();
                return bpDict(*i);
            },
            "event"_a, "The breakpoint a held SIGTRAP event reports (a dict), else None");

    // ---- decoding --------------------------------------------------------
    m.def("syscall_name", &utrace::syscallName, "nr"_a, "\"openat\"; \"syscall_500\" if unknown");
    m.def(
        "syscall_number", [](const std::string &n) { return utrace::syscallNumber(n); }, "name"_a,
        "x86-64 number of a syscall name; None if unknown");
    m.def(
        "syscall_summary", [](int64_t nr) { return std::string(utrace::syscallSummary(nr)); },
        "nr"_a);
    m.def(
        "syscall_info",
        [](int64_t nr) -> py::object {
            const utrace::SyscallInfo *i = utrace::syscallInfo(nr);
            if (!i)
                return py::none();
            py::list args;
            for (int a = 0; a < i->argc; a++)
                args.append(std::string(utrace::argTypeName(i->args[a])));
            return py::dict("nr"_a = i->nr, "name"_a = std::string(i->name),
                            "argc"_a = int(i->argc), "args"_a = args,
                            "ret"_a = std::string(utrace::argTypeName(i->ret)),
                            "summary"_a = std::string(i->summary));
        },
        "nr"_a, "Name, argument types and summary of a syscall; None if unknown");
    m.def("signal_name", &utrace::signalName, "signo"_a);
    m.def(
        "signal_number", [](const std::string &n) { return utrace::signalNumber(n); }, "name"_a);
    m.def("errno_name", &utrace::errnoName, "err"_a);
    m.def(
        "errno_number", [](const std::string &n) { return utrace::errnoNumber(n); }, "name"_a);
    m.def("render_result", &utrace::renderSyscallResult, "nr"_a, "ret"_a,
          "\"= 3\", \"= -1 ENOENT (No such file or directory)\"");
    m.def(
        "render",
        [](const utrace::Event &e, const PyEngine *engine, size_t limit, bool raw) {
            return renderEventPy(e, engine, limit, raw);
        },
        "event"_a, "engine"_a = nullptr, "string_limit"_a = 32, "raw"_a = false,
        "One strace-like line for an event; with the engine holding the thread, strings "
        "and structs are read from its memory (else shown as addresses)");
}
