// utrace client library: the one error type.
#pragma once

#include <string>
#include <system_error>

namespace utrace {

// Every failure of the library is an Error: the errno (or 0 when none applies)
// and one sentence a person understands, saying what went wrong and, where
// there is one, what to do ("attach to 1234 refused: ... run as the same user
// or lower kernel.yama.ptrace_scope").
class Error : public std::system_error {
public:
    Error(int err, const std::string &sentence)
        : std::system_error(err, std::generic_category(), sentence), err_(err), sentence_(sentence)
    {
    }
    int errnum() const noexcept { return err_; }
    // The sentence alone, without the strerror() suffix system_error adds.
    const std::string &sentence() const noexcept { return sentence_; }

private:
    int err_;
    std::string sentence_;
};

} // namespace utrace
