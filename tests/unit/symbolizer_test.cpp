// Symbolizer: the fixture tests/fixtures/symbols/symbols_fixture.cpp (-g -O2)
// runs as a child, captures its own registers three calls deep (inside an
// always-inlined leaf) and writes them, its stack and its maps to a pipe.
// The Symbolizer sees that process only through SymbolizerSource: maps text,
// files read from this machine, and memory served from the copied stack
// (and, for file-backed mappings, from the mapped file's bytes).
#include "utrace/error.hpp"
#include "utrace/symbolizer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/user.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

struct Report {
    uint64_t magic;
    uint64_t level1, level2, level3;
    uint64_t write;
    uint64_t returnInto1;
    uint64_t stackStart, stackLen;
    uint64_t mapsLen;
};

struct FixtureRun {
    Report r{};
    user_regs_struct regs{};
    std::vector<uint8_t> stack;
    std::string maps;
    pid_t pid = 0;
};

std::vector<uint8_t> readLocal(const std::string &path)
{
    std::ifstream f(path, std::ios::binary);
    if (!f)
        return {};
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

const FixtureRun &fixtureRun()
{
    static FixtureRun run = [] {
        FixtureRun r;
        int p[2];
        EXPECT_EQ(pipe(p), 0);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(p[1], 1);
            close(p[0]);
            close(p[1]);
            execl(SYMBOLS_FIXTURE, SYMBOLS_FIXTURE, nullptr);
            _exit(127);
        }
        close(p[1]);
        std::vector<uint8_t> all;
        uint8_t buf[65536];
        ssize_t n;
        while ((n = read(p[0], buf, sizeof buf)) > 0)
            all.insert(all.end(), buf, buf + n);
        close(p[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFEXITED(status)) << "fixture status " << status;
        EXPECT_GE(all.size(), sizeof(Report) + sizeof(user_regs_struct));
        if (all.size() < sizeof(Report) + sizeof(user_regs_struct))
            return r;
        memcpy(&r.r, all.data(), sizeof r.r);
        EXPECT_EQ(memcmp(&r.r.magic, "SYMFIX01", 8), 0);
        memcpy(&r.regs, all.data() + sizeof r.r, sizeof r.regs);
        size_t at = sizeof r.r + sizeof r.regs;
        EXPECT_EQ(all.size(), at + r.r.stackLen + r.r.mapsLen);
        if (all.size() != at + r.r.stackLen + r.r.mapsLen)
            return r;
        r.stack.assign(all.begin() + long(at), all.begin() + long(at + r.r.stackLen));
        r.maps.assign(all.begin() + long(at + r.r.stackLen), all.end());
        r.pid = pid;
        return r;
    }();
    return run;
}

// The line of "MARK: name" in the fixture's source.
int markLine(const std::string &name)
{
    std::ifstream f(SYMBOLS_FIXTURE_SOURCE);
    std::string line;
    for (int n = 1; std::getline(f, line); n++)
        if (line.find("// MARK: " + name) != std::string::npos &&
            line.size() == line.find("// MARK: " + name) + 9 + name.size())
            return n;
    ADD_FAILURE() << "no MARK: " << name << " in " << SYMBOLS_FIXTURE_SOURCE;
    return -1;
}

struct Counters {
    std::map<std::string, int> fileReads;
    int memoryReads = 0;
};

utrace::SymbolizerSource hostSource(const FixtureRun &run, Counters *c = nullptr)
{
    utrace::SymbolizerSource s;
    s.maps = [&run](pid_t pid) {
        EXPECT_EQ(pid, run.pid);
        return run.maps;
    };
    s.file = [c](const std::string &path) {
        if (c)
            c->fileReads[path]++;
        return readLocal(path);
    };
    // The stack as copied; read-only file mappings from their files (that
    // is what the process had there); everything else is a hole.
    s.memory = [&run, c](uint64_t addr, size_t len) {
        if (c)
            c->memoryReads++;
        std::vector<uint8_t> out;
        const Report &r = run.r;
        if (addr >= r.stackStart && addr < r.stackStart + r.stackLen) {
            size_t at = addr - r.stackStart;
            size_t n = std::min(len, run.stack.size() - at);
            out.assign(run.stack.begin() + long(at), run.stack.begin() + long(at + n));
            return out;
        }
        std::istringstream in(run.maps);
        std::string line;
        while (std::getline(in, line)) {
            unsigned long long s0, e0, off;
            char perms[8], path[512] = "";
            if (sscanf(line.c_str(), "%llx-%llx %7s %llx %*s %*u %511s", &s0, &e0, perms, &off,
                       path) < 5 ||
                path[0] != '/' || perms[1] == 'w' || addr < s0 || addr >= e0)
                continue;
            std::vector<uint8_t> file = readLocal(path);
            uint64_t fo = off + (addr - s0);
            if (fo >= file.size())
                return out;
            size_t n = std::min<uint64_t>({len, file.size() - fo, e0 - addr});
            out.assign(file.begin() + long(fo), file.begin() + long(fo + n));
            return out;
        }
        return out;
    };
    return s;
}

bool endsWith(const std::string &s, const std::string &tail)
{
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

class Symbolizer : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_NE(fixtureRun().pid, 0) << "the fixture did not report";
        sym = std::make_unique<utrace::Symbolizer>(hostSource(fixtureRun()));
        sym->refresh(fixtureRun().pid);
    }
    const FixtureRun &run = fixtureRun();
    std::unique_ptr<utrace::Symbolizer> sym;
};

TEST_F(Symbolizer, FunctionNamesAndOffsets)
{
    for (auto [addr, name] : {std::pair{run.r.level1, "symfix::level1(int)"},
                              std::pair{run.r.level2, "symfix::level2(int)"},
                              std::pair{run.r.level3, "symfix::level3(int)"}}) {
        auto frames = sym->describe(addr);
        ASSERT_FALSE(frames.empty());
        EXPECT_EQ(frames.back().function, name);
        EXPECT_EQ(frames.back().offset, 0u) << name;
        EXPECT_EQ(frames.back().pc, addr);
        EXPECT_TRUE(endsWith(frames.back().module, "/symbols_fixture")) << frames.back().module;
        auto later = sym->describe(addr + 3);
        ASSERT_FALSE(later.empty());
        EXPECT_EQ(later.back().function, name);
        EXPECT_EQ(later.back().offset, 3u);
    }
    auto w = sym->describe(run.r.write);
    ASSERT_FALSE(w.empty());
    EXPECT_TRUE(w.back().function == "write" || w.back().function == "__libc_write" ||
                w.back().function == "__write")
        << w.back().function;
    EXPECT_NE(w.back().module.find("libc.so"), std::string::npos) << w.back().module;
}

TEST_F(Symbolizer, SourceLineOfAReturnAddress)
{
    // The call instruction before level2's return address is in level1.
    auto frames = sym->describe(run.r.returnInto1 - 1);
    ASSERT_FALSE(frames.empty());
    const utrace::Frame &f = frames.back();
    EXPECT_EQ(f.function, "symfix::level1(int)");
    ASSERT_TRUE(f.source.has_value());
    EXPECT_TRUE(endsWith(f.source->file, "/symbols_fixture.cpp")) << f.source->file;
    EXPECT_EQ(f.source->line, markLine("level1-calls-level2"));
    EXPECT_GT(f.source->column, 0);
}

TEST_F(Symbolizer, InlinedFrameAndItsCallSite)
{
    auto frames = sym->describe(run.regs.rip);
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].function, "symfix::leaf(int)");
    EXPECT_TRUE(frames[0].inlined);
    ASSERT_TRUE(frames[0].source.has_value());
    EXPECT_EQ(frames[0].source->line, markLine("capture"));
    EXPECT_EQ(frames[1].function, "symfix::level3(int)");
    EXPECT_FALSE(frames[1].inlined);
    ASSERT_TRUE(frames[1].source.has_value());
    EXPECT_EQ(frames[1].source->line, markLine("level3-calls-leaf"));
    EXPECT_TRUE(endsWith(frames[1].source->file, "/symbols_fixture.cpp"));
    EXPECT_EQ(frames[1].offset, run.regs.rip - run.r.level3);
}

TEST_F(Symbolizer, BacktraceThreeDeepWithInlineExpanded)
{
    auto frames = sym->backtrace(run.regs);
    std::string text;
    for (auto &f : frames)
        text += "  " + utrace::formatFrame(f) + "\n";
    RecordProperty("backtrace", text);
    ASSERT_GE(frames.size(), 5u);
    struct Want {
        const char *function;
        const char *mark;
        bool inlined;
    };
    const Want want[] = {{"symfix::leaf(int)", "capture", true},
                         {"symfix::level3(int)", "level3-calls-leaf", false},
                         {"symfix::level2(int)", "level2-calls-level3", false},
                         {"symfix::level1(int)", "level1-calls-level2", false},
                         {"main", "main-calls-level1", false}};
    for (size_t i = 0; i < std::size(want); i++) {
        SCOPED_TRACE(i);
        EXPECT_EQ(frames[i].function, want[i].function);
        EXPECT_EQ(frames[i].inlined, want[i].inlined);
        ASSERT_TRUE(frames[i].source.has_value());
        EXPECT_EQ(frames[i].source->line, markLine(want[i].mark));
        EXPECT_TRUE(endsWith(frames[i].source->file, "/symbols_fixture.cpp"));
    }
    EXPECT_EQ(frames[0].pc, run.regs.rip);
    EXPECT_EQ(frames[1].pc, run.regs.rip);
    // level1's frame returns to just after the call into level2.
    EXPECT_EQ(frames[3].pc, run.r.returnInto1);
    // Below main: libc's start code, found through libc's CFI.
    bool libc = false;
    for (size_t i = 5; i < frames.size(); i++)
        libc |= frames[i].module.find("libc.so") != std::string::npos;
    EXPECT_TRUE(libc) << "no libc frame below main";
    // With libc's debug file installed (Debian's libc6-dbg, under
    // /usr/lib/debug/.build-id), its frames have source lines too.
    for (auto &m : sym->modules()) {
        if (m.path.find("libc.so") == std::string::npos || m.buildId.size() < 3)
            continue;
        std::string dbg = "/usr/lib/debug/.build-id/" + m.buildId.substr(0, 2) + "/" +
                          m.buildId.substr(2) + ".debug";
        if (access(dbg.c_str(), R_OK) != 0)
            continue;
        bool libcLine = false;
        for (size_t i = 5; i < frames.size(); i++)
            libcLine |=
                frames[i].module == m.path && frames[i].source && frames[i].source->line > 0;
        EXPECT_TRUE(libcLine) << "libc's frames have no lines though " << dbg << " exists";
    }

    auto two = sym->backtrace(run.regs, 2);
    EXPECT_EQ(two.size(), 2u);
}

TEST_F(Symbolizer, FormatFrame)
{
    auto frames = sym->describe(run.regs.rip);
    ASSERT_EQ(frames.size(), 2u);
    std::string src = SYMBOLS_FIXTURE_SOURCE;
    std::string leaf = utrace::formatFrame(frames[0]);
    EXPECT_EQ(leaf.find("symfix::leaf(int) [inlined] at " + src + ":" +
                        std::to_string(markLine("capture")) + ":"),
              0u)
        << leaf;
    EXPECT_TRUE(endsWith(leaf, " (symbols_fixture)")) << leaf;
    char off[32];
    snprintf(off, sizeof off, "+0x%llx", (unsigned long long)(run.regs.rip - run.r.level3));
    std::string l3 = utrace::formatFrame(frames[1]);
    EXPECT_EQ(l3.find(std::string("symfix::level3(int)") + off + " at " + src + ":" +
                      std::to_string(markLine("level3-calls-leaf")) + ":"),
              0u)
        << l3;
    EXPECT_EQ(utrace::formatFrame(utrace::Frame{}), "??");
}

TEST_F(Symbolizer, BacktraceWithoutMemoryStopsAtTheFirstFrame)
{
    auto src = hostSource(run);
    src.memory = nullptr;
    utrace::Symbolizer blind(src);
    blind.refresh(run.pid);
    auto frames = blind.backtrace(run.regs);
    ASSERT_FALSE(frames.empty());
    EXPECT_EQ(frames[0].function, "symfix::leaf(int)");
    for (auto &f : frames)
        EXPECT_NE(f.function, "symfix::level2(int)") << "unwound without reading the stack";
}

TEST_F(Symbolizer, LookupByNameAndModule)
{
    EXPECT_EQ(sym->lookup("symfix::level2"), run.r.level2);
    EXPECT_EQ(sym->lookup("symfix::level2(int)"), run.r.level2);
    EXPECT_EQ(sym->lookup("_ZN6symfix6level2Ei"), run.r.level2);
    EXPECT_EQ(sym->lookup("symbols_fixture:symfix::level1"), run.r.level1);
    EXPECT_EQ(sym->lookup("libc.so.6:write"), run.r.write);
    EXPECT_EQ(sym->lookup("libc:write"), run.r.write);
    auto m = sym->lookup("main");
    ASSERT_TRUE(m.has_value());
    auto f = sym->describe(*m);
    ASSERT_FALSE(f.empty());
    EXPECT_EQ(f.back().function, "main");
    EXPECT_EQ(f.back().offset, 0u);
    EXPECT_FALSE(sym->lookup("no_such_function_anywhere").has_value());
    EXPECT_FALSE(sym->lookup("libnothere.so:write").has_value());
    EXPECT_FALSE(sym->lookup("symbols_fixture:write").has_value());
}

TEST_F(Symbolizer, AddressesOfASourceLine)
{
    int line = markLine("level2-calls-level3");
    auto byName = sym->addressesOf("symbols_fixture.cpp", line);
    ASSERT_FALSE(byName.empty());
    EXPECT_EQ(sym->addressesOf(SYMBOLS_FIXTURE_SOURCE, line), byName);
    for (uint64_t a : byName) {
        auto f = sym->describe(a);
        ASSERT_FALSE(f.empty());
        EXPECT_EQ(f.back().function, "symfix::level2(int)");
        ASSERT_TRUE(f.back().source.has_value());
        EXPECT_EQ(f.back().source->line, line);
        EXPECT_GE(a, run.r.level2);
    }
    // A comment line has no code.
    EXPECT_TRUE(sym->addressesOf("symbols_fixture.cpp", 2).empty());
    EXPECT_TRUE(sym->addressesOf("no_such_file.cpp", line).empty());
}

TEST_F(Symbolizer, ModulesCarryBuildIds)
{
    auto mods = sym->modules();
    bool fixture = false, libc = false;
    for (auto &m : mods) {
        EXPECT_LT(m.start, m.end) << m.path;
        if (endsWith(m.path, "/symbols_fixture")) {
            fixture = true;
            EXPECT_EQ(m.buildId.size(), 40u) << "the fixture is linked with a SHA-1 build-id";
            EXPECT_EQ(sym->lookup("symfix::level1").value_or(0) - m.bias, run.r.level1 - m.bias);
        }
        libc |= m.path.find("libc.so") != std::string::npos;
    }
    EXPECT_TRUE(fixture);
    EXPECT_TRUE(libc);
    EXPECT_TRUE(sym->problems().empty()) << sym->problems().front();
}

TEST_F(Symbolizer, ImagesAreCachedByBuildId)
{
    // While `sym` holds the images, a second Symbolizer finds them by the
    // build-ids it reads from memory and fetches no ELF file again.
    Counters c;
    utrace::Symbolizer second(hostSource(run, &c));
    second.refresh(run.pid);
    for (auto &[path, n] : c.fileReads)
        EXPECT_TRUE(path.find("/usr/lib/debug/") == 0) << path << " read " << n << " times";
    EXPECT_GT(c.memoryReads, 0);
    auto f = second.describe(run.r.level2);
    ASSERT_FALSE(f.empty());
    EXPECT_EQ(f.back().function, "symfix::level2(int)");
}

TEST_F(Symbolizer, RefreshWithAnUnchangedMapReadsNothing)
{
    // The fixture's [vdso] is not in the copy (its memory is a hole here),
    // so it is left out of the map for this part.
    std::string noVdso;
    std::istringstream in(run.maps);
    for (std::string line; std::getline(in, line);)
        if (line.find("[vdso]") == std::string::npos)
            noVdso += line + "\n";
    Counters c;
    auto plain = hostSource(run, &c);
    plain.maps = [&](pid_t) { return noVdso; };
    utrace::Symbolizer s(plain);
    s.refresh(run.pid);
    auto fileReads = [&c] {
        int n = 0;
        for (auto &kv : c.fileReads)
            n += kv.second;
        return n;
    };
    int memoryReads = c.memoryReads;
    int files = fileReads();
    EXPECT_GT(memoryReads, 0);
    s.refresh(run.pid);
    s.refresh(run.pid);
    EXPECT_EQ(c.memoryReads, memoryReads);
    EXPECT_EQ(fileReads(), files);
    EXPECT_EQ(s.describe(run.r.level2).back().function, "symfix::level2(int)");

    // A refresh that could not read everything (here: no [vdso], memory
    // was a hole) is done again on the same map.
    std::string withVdso = noVdso + "10000-12000 r-xp 00000000 00:00 0   [vdso]\n";
    auto src = hostSource(run, &c);
    src.maps = [&](pid_t) { return withVdso; };
    utrace::Symbolizer v(src);
    v.refresh(run.pid);
    memoryReads = c.memoryReads;
    v.refresh(run.pid);
    EXPECT_GT(c.memoryReads, memoryReads);
}

TEST_F(Symbolizer, FileChangedOnDiskIsAProblemNotAWrongAnswer)
{
    sym.reset(); // nothing in the cache now
    auto src = hostSource(run);
    auto realFile = src.file;
    // The "file on the target" is some other executable now; memory still
    // holds the build-id of what was mapped.
    src.file = [realFile](const std::string &path) {
        if (endsWith(path, "/symbols_fixture"))
            return realFile("/proc/self/exe");
        return realFile(path);
    };
    utrace::Symbolizer s(src);
    s.refresh(run.pid);
    ASSERT_FALSE(s.problems().empty());
    EXPECT_NE(s.problems().front().find("changed on disk"), std::string::npos)
        << s.problems().front();
    auto f = s.describe(run.r.level2);
    ASSERT_FALSE(f.empty());
    EXPECT_EQ(f.back().function, "");
}

TEST_F(Symbolizer, RefreshFollowsTheMaps)
{
    // libc unmapped (as after an exec into a static program), then back.
    auto src = hostSource(run);
    std::string withoutLibc;
    std::istringstream in(run.maps);
    for (std::string line; std::getline(in, line);)
        if (line.find("libc.so") == std::string::npos)
            withoutLibc += line + "\n";
    bool full = false;
    src.maps = [&](pid_t) { return full ? run.maps : withoutLibc; };
    utrace::Symbolizer s(src);
    s.refresh(run.pid);
    EXPECT_FALSE(s.lookup("libc.so.6:write").has_value());
    EXPECT_EQ(s.lookup("symfix::level1"), run.r.level1);
    full = true;
    s.refresh(run.pid);
    EXPECT_EQ(s.lookup("libc.so.6:write"), run.r.write);
    EXPECT_EQ(s.lookup("symfix::level1"), run.r.level1);
    auto frames = s.backtrace(run.regs);
    ASSERT_GE(frames.size(), 5u);
    EXPECT_EQ(frames[4].function, "main");
    full = false;
    s.refresh(run.pid);
    EXPECT_FALSE(s.lookup("libc.so.6:write").has_value());
    auto w = s.describe(run.r.write);
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].function, "");
    EXPECT_EQ(w[0].module, "");
}

TEST_F(Symbolizer, OnePerThreadSharingTheCache)
{
    // A GUI symbolizes in background threads: one Symbolizer each, with
    // the images shared through the process-wide cache.
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&] {
            for (int i = 0; i < 3; i++) {
                utrace::Symbolizer s(hostSource(run));
                s.refresh(run.pid);
                auto frames = s.backtrace(run.regs);
                if (frames.size() >= 5 && frames[3].function == "symfix::level1(int)" &&
                    frames[3].source && frames[3].source->line == markLine("level1-calls-level2"))
                    good++;
            }
        });
    for (auto &t : threads)
        t.join();
    EXPECT_EQ(good.load(), 12);
}

TEST_F(Symbolizer, ReplacedFileReadThroughMapFiles)
{
    // The program was rebuilt while running: its path has another build,
    // and the mapped copy is still there under /proc/PID/map_files.
    sym.reset();
    std::string range;
    std::istringstream in(run.maps);
    for (std::string line; std::getline(in, line);)
        if (endsWith(line, "/symbols_fixture")) {
            range = line.substr(0, line.find(' '));
            break;
        }
    ASSERT_FALSE(range.empty());
    std::string mapFile = "/proc/" + std::to_string(run.pid) + "/map_files/" + range;
    std::vector<std::string> asked;
    auto src = hostSource(run);
    src.file = [&](const std::string &path) {
        asked.push_back(path);
        if (path == SYMBOLS_FIXTURE)
            return readLocal("/proc/self/exe");
        if (path == mapFile)
            return readLocal(SYMBOLS_FIXTURE);
        if (path.find("symbols_fixture") != std::string::npos)
            return std::vector<uint8_t>{};
        return readLocal(path);
    };
    utrace::Symbolizer s(src);
    s.refresh(run.pid);
    EXPECT_TRUE(s.problems().empty()) << s.problems().front();
    EXPECT_NE(std::find(asked.begin(), asked.end(), mapFile), asked.end());
    auto f = s.describe(run.r.level2);
    ASSERT_FALSE(f.empty());
    EXPECT_EQ(f.back().function, "symfix::level2(int)");
    EXPECT_TRUE(endsWith(f.back().module, "/symbols_fixture")) << f.back().module;
}

TEST_F(Symbolizer, ErrorsSayWhatToDo)
{
    utrace::Symbolizer fresh(hostSource(run));
    try {
        fresh.describe(run.r.level1);
        FAIL() << "describe before refresh";
    } catch (const utrace::Error &e) {
        EXPECT_EQ(e.errnum(), EINVAL);
        EXPECT_NE(e.sentence().find("refresh"), std::string::npos) << e.sentence();
    }
    utrace::SymbolizerSource gone = hostSource(run);
    gone.maps = [](pid_t) { return std::string(); };
    utrace::Symbolizer g(gone);
    try {
        g.refresh(run.pid);
        FAIL() << "refresh of an empty map";
    } catch (const utrace::Error &e) {
        EXPECT_EQ(e.errnum(), ESRCH);
        EXPECT_NE(e.sentence().find("exited"), std::string::npos) << e.sentence();
    }
}

} // namespace

namespace {

// The fixture's file on the "target" is a stripped copy; its DWARF and
// symbol table are in a separate file that only `debugPath` serves.
utrace::SymbolizerSource strippedSource(const FixtureRun &run, const std::string &debugPath,
                                        std::vector<uint8_t> debugBytes,
                                        std::vector<std::string> *asked)
{
    auto src = hostSource(run);
    src.file = [=](const std::string &path) {
        if (asked)
            asked->push_back(path);
        if (path == SYMBOLS_FIXTURE)
            return readLocal(SYMBOLS_FIXTURE_STRIPPED);
        if (path == debugPath)
            return debugBytes;
        if (path.find("symbols_fixture") != std::string::npos)
            return std::vector<uint8_t>{};
        return readLocal(path);
    };
    return src;
}

std::string fixtureBuildId(utrace::Symbolizer &s)
{
    for (auto &m : s.modules())
        if (endsWith(m.path, "/symbols_fixture"))
            return m.buildId;
    return {};
}

void expectFullSymbols(utrace::Symbolizer &s, const FixtureRun &run)
{
    auto f = s.describe(run.r.level2);
    ASSERT_FALSE(f.empty());
    EXPECT_EQ(f.back().function, "symfix::level2(int)");
    auto frames = s.backtrace(run.regs);
    ASSERT_GE(frames.size(), 4u);
    EXPECT_EQ(frames[0].function, "symfix::leaf(int)");
    EXPECT_TRUE(frames[0].inlined);
    EXPECT_EQ(frames[3].function, "symfix::level1(int)");
    ASSERT_TRUE(frames[3].source.has_value());
    EXPECT_EQ(frames[3].source->line, markLine("level1-calls-level2"));
}

TEST_F(Symbolizer, DebugFileByBuildIdPath)
{
    std::string bid = fixtureBuildId(*sym);
    ASSERT_EQ(bid.size(), 40u);
    sym.reset(); // the unstripped image leaves the cache
    std::string path =
        "/usr/lib/debug/.build-id/" + bid.substr(0, 2) + "/" + bid.substr(2) + ".debug";
    std::vector<std::string> asked;
    utrace::Symbolizer s(strippedSource(run, path, readLocal(SYMBOLS_FIXTURE_DEBUG), &asked));
    s.refresh(run.pid);
    expectFullSymbols(s, run);
    // The stripped file was read (not an unstripped image from the cache),
    // then the debug file.
    EXPECT_NE(std::find(asked.begin(), asked.end(), SYMBOLS_FIXTURE), asked.end());
    EXPECT_NE(std::find(asked.begin(), asked.end(), path), asked.end());
}

TEST_F(Symbolizer, DebugFileByDebuglink)
{
    sym.reset();
    std::string dir = SYMBOLS_FIXTURE;
    dir.resize(dir.rfind('/'));
    std::string path = dir + "/.debug/symbols_fixture.debug";
    std::vector<std::string> asked;
    utrace::Symbolizer s(strippedSource(run, path, readLocal(SYMBOLS_FIXTURE_DEBUG), &asked));
    s.refresh(run.pid);
    expectFullSymbols(s, run);
    EXPECT_NE(std::find(asked.begin(), asked.end(), SYMBOLS_FIXTURE), asked.end());
    EXPECT_NE(std::find(asked.begin(), asked.end(), path), asked.end());
}

TEST_F(Symbolizer, DebugFileOfAnotherBuildIsRefused)
{
    std::string bid = fixtureBuildId(*sym);
    sym.reset();
    std::string path =
        "/usr/lib/debug/.build-id/" + bid.substr(0, 2) + "/" + bid.substr(2) + ".debug";
    // Another program's file under this build-id's name must not be used.
    utrace::Symbolizer s(strippedSource(run, path, readLocal("/proc/self/exe"), nullptr));
    s.refresh(run.pid);
    auto f = s.describe(run.r.level2);
    ASSERT_FALSE(f.empty());
    EXPECT_NE(f.back().function, "symfix::level2(int)");
    EXPECT_FALSE(f.back().source.has_value());
}

} // namespace
