// Engine::setSyscallFilter by name, through the decoder's syscall table.
// In its own file: only programs that filter by name link the table.
#include "utrace/decode.hpp"
#include "utrace/session.hpp"

#include <cerrno>

namespace utrace {

void Engine::setSyscallFilter(const std::vector<std::string> &names)
{
    std::vector<int> nrs;
    for (const auto &n : names) {
        auto nr = syscallNumber(n);
        if (!nr)
            throw Error(EINVAL, "unknown system call \"" + n +
                                    "\": use an x86-64 syscall name such as openat or read");
        nrs.push_back(*nr);
    }
    setSyscallFilterNumbers(nrs);
}

} // namespace utrace
