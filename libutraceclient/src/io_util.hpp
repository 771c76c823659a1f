// Small stream helpers shared by the agent loop and RemoteTransport.
#pragma once

#include "utrace/error.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <poll.h>
#include <span>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace utrace::io {

// Writes all of data to fd. A socket is written without SIGPIPE and without
// blocking, waiting for room in poll() together with stopFd (if >= 0): a
// peer that stops reading cannot keep the agent from shutting down. A pipe
// (ssh's stdio) is written with plain blocking write(); the agent ignores
// SIGPIPE. Throws Error naming `peer` when the stream is gone, or
// Error(ESHUTDOWN) when stopFd became readable first.
inline void writeAll(int fd, std::span<const uint8_t> data, const std::string &peer,
                     int stopFd = -1)
{
    bool sock = true;
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n =
            sock ? ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT)
                 : ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && sock && errno == ENOTSOCK) {
            sock = false;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p[2] = {{fd, POLLOUT, 0}, {stopFd, POLLIN, 0}};
            int r = ::poll(p, stopFd >= 0 ? 2 : 1, -1);
            if (r > 0 && stopFd >= 0 && p[1].revents)
                throw Error(ESHUTDOWN,
                            "stopped while writing to " + peer + ", which is not reading");
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
