// Internals shared by decode.cpp (names, flags) and decode_render.cpp (memory, structs).
#pragma once

#include "utrace/decode.hpp"

#include <cstdint>
#include <span>
#include <string>

namespace utrace::detail {

struct Named {
    uint64_t value;
    const char *name;
};

std::string hex(uint64_t v);   // "0x1f"
std::string ptr(uint64_t v);   // "NULL" or "0x7f..."
std::string octal(uint64_t v); // "0644", "000"
// OR of the names whose bits are all set (in table order), the rest as hex; zeroName when v == 0.
std::string flags(uint64_t v, std::span<const Named> t, const char *zeroName = "0");
// The name of the value, or fallback (decimal when null).
std::string choice(uint64_t v, std::span<const Named> t, const char *fallbackPrefix = nullptr);
const char *lookup(uint64_t v, std::span<const Named> t);

std::string openFlags(uint64_t v, bool withAccessMode);
std::string modeStr(uint64_t mode); // "S_IFREG|0644"
std::string cloneFlags(uint64_t v);
std::string sigsetStr(uint64_t bits);
std::string signalShort(int signo); // "INT", "RTMIN+2" (sets)
std::string waitStatus(int status);
std::string futexOp(uint64_t v);

std::span<const Named> table(ArgType t); // the flag/enum table of simple types, or empty
bool isFlagType(ArgType t);              // OR of names (else an enumeration)

extern const Named kFcntlCmds[];
extern const size_t kFcntlCmdsCount;
extern const Named kPollEvents[];
extern const size_t kPollEventsCount;
extern const Named kSaFlags[];
extern const size_t kSaFlagsCount;
extern const Named kAddrFamilies[];
extern const size_t kAddrFamiliesCount;

} // namespace utrace::detail
