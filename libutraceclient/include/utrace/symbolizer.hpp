// utrace client library: addresses to functions, source lines and backtraces,
// with elfutils libdwfl. Works for local and remote targets: every file and
// every byte of the target comes through the Source callbacks (a Session's
// Transport and Engine), never through ptrace.
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

struct SymbolizerSource {
    // /proc/PID/maps text of the target process.
    std::function<std::string(pid_t pid)> maps;
    // Bytes of a file on the target machine (for ELF and debug files).
    std::function<std::vector<uint8_t>(const std::string &path)> file;
    // Target memory; fewer bytes at a hole.
    std::function<std::vector<uint8_t>(uint64_t addr, size_t len)> memory;
};

class Symbolizer {
public:
    explicit Symbolizer(SymbolizerSource src);
    ~Symbolizer();
    // (Re)reads the process's modules (after an exec or dlopen).
    void refresh(pid_t pid);
    // The frames at pc: innermost inline first, then the containing function.
    std::vector<Frame> describe(uint64_t pc);
    // Backtrace of a stopped thread from its registers, inline frames expanded.
    std::vector<Frame> backtrace(const user_regs_struct &regs, size_t maxFrames = 64);
    // Address of a symbol ("main", "libc.so.6:write"); nullopt if unknown.
    std::optional<uint64_t> lookup(const std::string &symbol);
    // Addresses where a source line starts (for breakpoints in the gutter).
    std::vector<uint64_t> addressesOf(const std::string &file, int line);

private:
    struct Impl;
    std::unique_ptr<Impl> d_;
};

} // namespace utrace
