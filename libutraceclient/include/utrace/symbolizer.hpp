// utrace client library: addresses to functions, source lines and backtraces,
// with elfutils libdwfl. Works for local and remote targets: every file and
// every byte of the target comes through the Source callbacks (a Session's
// Transport and Engine), never through ptrace.
//
// ELF images and debug files are cached process-wide by build-id (shared by
// every Symbolizer, kept while one of them uses the file), and the parsed
// DWARF of a module survives refresh() as long as the module stays mapped.
// A Symbolizer is used by one thread at a time; methods throw utrace::Error.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

struct user_regs_struct;

namespace utrace {

struct SourceLocation {
    std::string file; // absolute where DWARF says so
    int line = 0;
    int column = 0;
};

struct Frame {
    uint64_t pc = 0;
    std::string function; // demangled; empty if unknown
    uint64_t offset = 0;  // pc - function start
    std::string module;   // path of the ELF file
    std::optional<SourceLocation> source;
    bool inlined = false; // an inlined call inside the next (outer) frame
};

// One line for a frame, as a backtrace prints it:
//   "symfix::level2(int)+0x1a at /src/fixture.cpp:143:13 (symbols_fixture)"
//   "leaf(int) [inlined] at ...", "?? (libfoo.so)" or "??" when unknown.
std::string formatFrame(const Frame &f);

struct SymbolizerSource {
    // /proc/PID/maps text of the target process.
    std::function<std::string(pid_t pid)> maps;
    // Bytes of a file on the target machine (for ELF and debug files). A file
    // that does not exist: an empty vector or a thrown exception; either way
    // the file is skipped (a missing debug file is normal).
    std::function<std::vector<uint8_t>(const std::string &path)> file;
    // Target memory; fewer bytes at a hole. Used for the stack during a
    // backtrace, the [vdso] image, and to read build-ids of mapped files (so
    // an unchanged library is not fetched again); may be left empty, then
    // backtraces stop after the first frame and [vdso] is not symbolized.
    std::function<std::vector<uint8_t>(uint64_t addr, size_t len)> memory;
};

// One ELF module of the target, as refresh() found it.
struct ModuleInfo {
    std::string path; // as in /proc/PID/maps ("[vdso]" for the vDSO)
    uint64_t start = 0, end = 0;
    uint64_t bias = 0;   // load address minus the file's link-time address
    std::string buildId; // lowercase hex; empty if the file has none
};

class Transport;

// A source that reads the target through a Transport (local or remote):
// /proc/PID/maps and files with Transport::readFile, memory with
// Transport::readMemory through the engine heldEngine() returns (it must
// hold a thread of the process stopped; 0 while none does: memory is then
// a hole). The Transport must outlive the source.
SymbolizerSource transportSource(Transport &t, std::function<uint32_t()> heldEngine);

class Symbolizer {
public:
    explicit Symbolizer(SymbolizerSource src);
    ~Symbolizer();
    Symbolizer(const Symbolizer &) = delete;
    Symbolizer &operator=(const Symbolizer &) = delete;
    // (Re)reads the process's modules (after an exec or dlopen).
    void refresh(pid_t pid);
    // The frames at pc: innermost inline first, then the containing function.
    std::vector<Frame> describe(uint64_t pc);
    // Backtrace of a stopped thread from its registers, inline frames expanded.
    std::vector<Frame> backtrace(const user_regs_struct &regs, size_t maxFrames = 64);
    // Address of a symbol ("main", "libc.so.6:write", "ns::f" for the
    // first overload of ns::f, or a mangled name); nullopt if unknown. The
    // module prefix is a path or file name ("libc" also names libc.so.6).
    // A GNU indirect function (libc's memcpy) gives its resolver's address.
    std::optional<uint64_t> lookup(const std::string &symbol);
    // Addresses where a source line starts (for breakpoints in the gutter).
    // file: absolute, or a trailing part of the path ("fixture.cpp").
    std::vector<uint64_t> addressesOf(const std::string &file, int line);

    // The modules of the last refresh(), lowest address first.
    std::vector<ModuleInfo> modules() const;
    // What refresh() could not load, one sentence each (a file that changed
    // on disk since it was mapped, one that could not be read, ...).
    std::vector<std::string> problems() const;

private:
    struct Impl;
    std::unique_ptr<Impl> d_;
};

} // namespace utrace
