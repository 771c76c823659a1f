// The controller: owns the utrace::Session in a worker thread, so the GUI's
// event loop never blocks on the device or the network.
//
// Every request the GUI makes is posted to the worker and answered with a
// signal (queued back to the GUI thread). Events are read in the worker
// (QSocketNotifier on the session fd) and handed over in batches at most
// every BatchIntervalMs, never one signal per event. A failed request emits
// error() with the library's one sentence: what went wrong and what to do.
#pragma once

#include "controller/engineconfig.hpp"
#include "utrace/error.hpp" // transport.hpp uses Error without including it
#include "utrace/event.hpp"
#include "utrace/symbolizer.hpp"
#include "utrace/transport.hpp"

#include <QByteArray>
#include <QHash>
#include <QObject>
#include <QStringList>
#include <QThread>
#include <map>
#include <memory>
#include <sys/user.h>
#include <vector>

namespace utrace {
class Session;
}

namespace utraceui {

using EventBatch = std::shared_ptr<const std::vector<utrace::Event>>;
using ProcessList = std::shared_ptr<const std::vector<utrace::ProcessInfo>>;

// What the panels show of a stopped thread.
struct Inspection {
    int tid = 0;
    int tgid = 0;
    uint32_t handle = 0;
    user_regs_struct regs{};
    uint64_t codeAddress = 0;
    QByteArray code;
    QHash<quint64, QString> symbols; // function starts and branch targets in code
    std::vector<utrace::Frame> frames;
    QString sourceFile;
    QString sourceText;
    int sourceLine = 0;
    QString note; // why something is missing ("no debug information for ...")
};

class Controller : public QObject {
    Q_OBJECT
public:
    static constexpr int BatchIntervalMs = 30;
    static constexpr size_t MaxBatch = 4096;

    explicit Controller(QObject *parent = nullptr);
    ~Controller() override;

    // All requests return at once; the answer is a signal.
    void connectTo(const QString &where); // "local", "/dev/utrace", "tcp://h:p", "exec:CMD"
    void disconnectSession();
    void refreshProcesses();
    void attach(int pid, const EngineConfig &c);
    void launch(const QStringList &argv, const QStringList &env, const QString &cwd,
                const EngineConfig &c);
    // Settings for every engine of the process (and, through
    // followChildren, its future children).
    void configure(int pid, const EngineConfig &c);

    // Thread control, by engine handle.
    void stopThread(uint32_t handle);
    void interrupt(uint32_t handle);
    void resume(uint32_t handle);
    void step(uint32_t handle);
    void stepToSyscall(uint32_t handle);
    void stepToEvent(uint32_t handle);
    // Process control.
    void stopProcess(int pid);
    void resumeProcess(int pid);
    void detach(int pid);
    void kill(int pid);

    void inspect(uint32_t handle);
    void readMemory(uint32_t handle, uint64_t address, int size);
    void writeMemory(uint32_t handle, uint64_t address, const QByteArray &bytes);
    void writeRegisters(uint32_t handle, const user_regs_struct &regs);
    // symbol: "main", "libc.so.6:write", or an address; answered by resolved().
    void resolve(int pid, const QString &symbol, const QString &purpose);
    // Breakpoints (int3 through the library) on a process.
    void setBreakpoint(int pid, uint64_t address, bool enabled);
    // Code around an address (a backtrace frame), answered by codeRead().
    void disassembleAt(uint32_t handle, uint64_t address);
    // A source file of the traced machine, answered by sourceRead().
    void readSource(const QString &path);
    // Source line -> addresses, answered by lineResolved().
    void resolveLine(int pid, const QString &file, int line);

    bool isConnected() const { return connected_; }
    QString where() const { return where_; }

signals:
    void connected(const QString &where, const QString &description);
    void disconnected();
    void error(const QString &sentence);
    void eventsArrived(const utraceui::EventBatch &events);
    void processesListed(const utraceui::ProcessList &list);
    // tids with their engine handles.
    void attached(int pid, const QString &name, const QList<int> &tids,
                  const QList<uint32_t> &handles);
    void detached(int pid);
    // A held thread was released (resume, step); timeNs on the traced
    // machine's clock, estimated from the last event.
    void resumed(int tid, quint64 timeNs);
    void inspected(const utraceui::Inspection &inspection);
    void memoryRead(uint32_t handle, quint64 address, const QByteArray &bytes, int size);
    void resolved(int pid, const QString &symbol, quint64 address, const QString &purpose);
    void lineResolved(int pid, const QString &file, int line, const QList<quint64> &addresses);
    void breakpointHit(int tid, quint64 address);
    void codeRead(quint64 address, const QByteArray &code, quint64 mark,
                  const QHash<quint64, QString> &symbols);
    void sourceRead(const QString &path, const QString &text);

private:
    struct Worker;
    template <class F> void post(F &&f);
    QThread thread_;
    QObject *context_ = nullptr; // lives in thread_
    Worker *w_ = nullptr;        // touched only in thread_
    bool connected_ = false;     // GUI thread's view
    QString where_;
};

} // namespace utraceui

Q_DECLARE_METATYPE(utraceui::EventBatch)
Q_DECLARE_METATYPE(utraceui::ProcessList)
Q_DECLARE_METATYPE(utraceui::Inspection)
