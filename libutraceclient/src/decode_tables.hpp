// Tables of the decoder, generated into decode_tables.cpp by tools/gen-decode-tables.
#pragma once

#include "utrace/decode.hpp"

#include <cstddef>
#include <string_view>

namespace utrace::detail {

struct ErrnoInfo {
    int nr;
    std::string_view name;
    std::string_view message;
};

extern const SyscallInfo kSyscalls[];
extern const size_t kSyscallCount;
extern const ErrnoInfo kErrnos[];
extern const size_t kErrnoCount;
extern const std::string_view kArgTypeNames[];
extern const size_t kArgTypeCount;

} // namespace utrace::detail
