// openTransport(): "where" to a Transport. Kept in its own file so that a
// program that only uses openLocal() does not link the remote transport.
#include "utrace/error.hpp"
#include "utrace/session.hpp"
#include "utrace/transport.hpp"

#include <cerrno>

namespace utrace {

std::unique_ptr<Transport> openTransport(const std::string &where)
{
    if (where.empty() || where == "local")
        return openLocal();
    if (where.front() == '/')
        return openLocal(where);
    if (where.rfind("tcp://", 0) == 0 || where.rfind("exec:", 0) == 0)
        return openRemote(where);
    throw Error(EINVAL, "unknown place to trace \"" + where +
                            "\": use \"local\", a device path such as /dev/utrace, "
                            "tcp://HOST:PORT or exec:COMMAND");
}

std::unique_ptr<Session> Session::open(const std::string &where)
{
    return std::make_unique<Session>(openTransport(where));
}

} // namespace utrace
