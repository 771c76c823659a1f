// SymbolizerSource over a Transport: the same reads for /dev/utrace on this
// machine and for a utrace-agent on another one.
#include "utrace/error.hpp"
#include "utrace/symbolizer.hpp"
#include "utrace/transport.hpp"

namespace utrace {

namespace {

// Whole files in pieces, so a remote transport never has to carry one
// huge reply.
std::vector<uint8_t> wholeFile(Transport &t, const std::string &path)
{
    constexpr uint64_t Piece = 4u << 20;
    constexpr uint64_t Limit = 2ull << 30; // no ELF or debug file we read is larger
    std::vector<uint8_t> out;
    for (;;) {
        std::vector<uint8_t> part = t.readFile(path, out.size(), Piece);
        out.insert(out.end(), part.begin(), part.end());
        if (part.size() < Piece)
            return out;
        if (out.size() >= Limit)
            throw Error(EFBIG, path + " is larger than 2 GiB; the symbolizer does not read it");
    }
}

} // namespace

SymbolizerSource transportSource(Transport &t, std::function<uint32_t()> heldEngine)
{
    SymbolizerSource s;
    s.maps = [&t](pid_t pid) {
        std::vector<uint8_t> b = wholeFile(t, "/proc/" + std::to_string(pid) + "/maps");
        return std::string(b.begin(), b.end());
    };
    s.file = [&t](const std::string &path) { return wholeFile(t, path); };
    s.memory = [&t, heldEngine](uint64_t addr, size_t len) {
        std::vector<uint8_t> out;
        uint32_t h = heldEngine ? heldEngine() : 0;
        if (!h)
            return out;
        out.resize(len);
        out.resize(t.readMemory(h, addr, out));
        return out;
    };
    return s;
}

} // namespace utrace
