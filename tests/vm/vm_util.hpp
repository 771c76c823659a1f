// Helpers shared by the suites that run in the test VM.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace vmtest {

// Polls `cond` every millisecond until it holds or `ms` have passed.
inline bool waitFor(const std::function<bool()> &cond, int ms)
{
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > end)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

// Loads a module from /lib/modules/<name>.ko; "" on success, else why not.
inline std::string loadModule(const std::string &name)
{
    std::string path = "/lib/modules/" + name + ".ko";
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return path + ": " + std::strerror(errno);
    long r = syscall(SYS_finit_module, fd, "", 0);
    int err = errno;
    close(fd);
    if (r != 0 && err != EEXIST)
        return "finit_module " + name + ": " + std::strerror(err);
    return "";
}

// Unloads a module, retrying while it is still in use; true once it is gone.
inline bool unloadModule(const std::string &name, int ms)
{
    return waitFor(
        [&] {
            return syscall(SYS_delete_module, name.c_str(), O_NONBLOCK) == 0 || errno == ENOENT;
        },
        ms);
}

// One of the core's live-object counters (module parameters).
inline long coreCounter(const std::string &name)
{
    std::ifstream in("/sys/module/utrace/parameters/" + name);
    long v = -1;
    in >> v;
    return v;
}

// Waits for engines, per-thread states and pending works to drain to zero;
// also checks that no syscall entry report has ever been missed in this boot
// (the first test after such a core bug fails, and every later one).
inline bool coreCountersDrain(int ms, std::string *why)
{
    bool ok = waitFor(
        [] {
            return coreCounter("live_engines") == 0 && coreCounter("live_threads") == 0 &&
                   coreCounter("pending_works") == 0;
        },
        ms);
    long misses = coreCounter("entry_misses");
    if ((!ok || misses != 0) && why)
        *why = "live_engines=" + std::to_string(coreCounter("live_engines")) +
               " live_threads=" + std::to_string(coreCounter("live_threads")) +
               " pending_works=" + std::to_string(coreCounter("pending_works")) +
               " entry_misses=" + std::to_string(misses);
    return ok && misses == 0;
}

// The one-letter state of a thread from /proc/<pid>/task/<tid>/stat, or 0.
inline char threadState(pid_t pid, pid_t tid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat");
    std::string s;
    std::getline(in, s);
    auto p = s.rfind(')');
    return p == std::string::npos || p + 2 >= s.size() ? 0 : s[p + 2];
}

} // namespace vmtest
