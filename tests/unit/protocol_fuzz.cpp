// libFuzzer target for the utrace agent protocol decoder: the frame
// reassembler (FrameDecoder) fed in arbitrary pieces, and every payload
// decoder on what comes out. Anything but a ProtocolError (EPROTO) escaping,
// a crash, an over-read (ASan) or undefined behaviour (UBSan) is a finding.
// Built with clang++ -fsanitize=fuzzer,address,undefined by tests/unit/CMakeLists.txt.
#include "protocol.hpp"

#include <cstdlib>

using namespace utrace;
using namespace utrace::proto;

namespace {

void decodePayload(const Frame &f)
{
    auto p = std::span<const uint8_t>(f.payload);
    switch (f.kind) {
    case Kind::Hello:
        decodeHello(p);
        return;
    case Kind::Error:
        decodeError(p);
        return;
    case Kind::Ack:
        decodeAck(p);
        return;
    case Kind::Event:
        splitRecords(p, 256);
        return;
    case Kind::Request:
    case Kind::Response:
        break;
    }
    Reader r(p, opName(f.op));
    switch (f.op) {
    case Op::Version: {
        DeviceInfo v;
        get(r, v);
        break;
    }
    case Op::SetEvents: {
        r.u32();
        EngineSettings v;
        get(r, v);
        break;
    }
    case Op::Control: {
        r.u32();
        ControlRequest v;
        get(r, v);
        break;
    }
    case Op::List: {
        std::vector<EngineInfo> v;
        get(r, v);
        break;
    }
    case Op::Processes: {
        std::vector<ProcessInfo> v;
        get(r, v);
        break;
    }
    case Op::Launch: {
        LaunchSpec v;
        get(r, v);
        break;
    }
    case Op::ReadFile:
        r.str();
        r.u64();
        r.u64();
        break;
    case Op::SetRegs:
    case Op::WriteMemory:
        r.u32();
        r.u64();
        r.bytes();
        break;
    default:
        r.u32();
        r.flag();
        break;
    }
    r.finish();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    // First byte: how to cut the rest into pieces and whether a hello is due.
    size_t step = 1 + data[0] % 64;
    bool hello = data[0] & 0x80;
    std::span<const uint8_t> in(data + 1, size - 1);
    FrameDecoder d;
    d.expectHello(hello);
    try {
        for (size_t i = 0; i < in.size(); i += step) {
            d.feed(in.subspan(i, std::min(step, in.size() - i)));
            while (auto f = d.next()) {
                try {
                    decodePayload(*f);
                } catch (const ProtocolError &e) {
                    if (e.errnum() != EPROTO)
                        std::abort();
                }
            }
        }
    } catch (const ProtocolError &e) {
        if (e.errnum() != EPROTO)
            std::abort();
    }
    return 0;
}
