// Small stream helpers shared by the agent loop and RemoteTransport.
#pragma once

#include "utrace/error.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace utrace::io {

// Writes all of data to fd (a socket: without SIGPIPE; a pipe: the caller
// ignores SIGPIPE). Throws Error naming `peer` when the stream is gone.
inline void writeAll(int fd, std::span<const uint8_t> data, const std::string &peer)
{
    bool sock = true;
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = sock ? ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL)
                         : ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && sock && errno == ENOTSOCK) {
            sock = false;
            continue;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int err = errno;
            throw Error(err, "writing to " + peer + " failed: " + std::strerror(err) +
                                 "; the connection is closed");
        }
        done += size_t(n);
    }
}

} // namespace utrace::io
