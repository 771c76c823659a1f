// Internal: turning an errno from /dev/utrace or /proc into a utrace::Error
// whose sentence says what went wrong and what to do.
#pragma once

#include "utrace/error.hpp"

#include <string>
#include <sys/types.h>

namespace utrace::detail {

// The device itself could not be opened (open(2) of `path` failed with err).
[[noreturn]] void throwOpenError(int err, const std::string &path);

// An ioctl on an engine failed: `what` names the request ("read registers").
[[noreturn]] void throwEngineError(int err, const std::string &what, uint32_t handle);

// Attaching to tid failed (either opening its /proc/PID/mem proof, or the
// ATTACH ioctl).
[[noreturn]] void throwAttachError(int err, pid_t tid, bool openingProof);

// Anything else: "<what>: <strerror>".
[[noreturn]] void throwSys(int err, const std::string &what);

} // namespace utrace::detail
