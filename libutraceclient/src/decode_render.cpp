// strace-like rendering of syscalls, signals and events. Memory of the traced
// thread is read through the caller's MemoryReader; what cannot be read is
// shown as its address, as strace does. Struct layouts are x86-64's.
#include "decode_internal.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <type_traits>

namespace utrace {

using namespace detail;

namespace {

constexpr size_t kPathMax = 4096;
constexpr uint64_t kPage = 4096;

bool isErrorReturn(int64_t ret)
{
    return ret < 0 && ret >= -4095;
}

// Reads up to len bytes; the reader may stop early (unmapped page) or throw.
std::vector<uint8_t> readSome(const MemoryReader &mem, uint64_t addr, size_t len)
{
    if (!mem || addr == 0 || len == 0)
        return {};
    try {
        auto v = mem(addr, len);
        if (v.size() > len)
            v.resize(len);
        return v;
    } catch (const std::exception &) {
        return {};
    }
}

bool readExact(const MemoryReader &mem, uint64_t addr, void *out, size_t len)
{
    auto v = readSome(mem, addr, len);
    if (v.size() != len)
        return false;
    std::memcpy(out, v.data(), len);
    return true;
}

template <class T> std::optional<T> readAs(const MemoryReader &mem, uint64_t addr)
{
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    if (!readExact(mem, addr, &v, sizeof(v)))
        return std::nullopt;
    return v;
}

template <class T> T field(const uint8_t *base, size_t off)
{
    T v;
    std::memcpy(&v, base + off, sizeof(v));
    return v;
}

// Reads a NUL-ended string of at most max bytes, page by page so that a
// reader that fails a whole range crossing into an unmapped page still gives
// the readable part. nullopt when nothing at all is readable.
std::optional<std::string> readCString(const MemoryReader &mem, uint64_t addr, size_t max,
                                       bool &truncated)
{
    truncated = false;
    if (!mem || addr == 0)
        return std::nullopt;
    std::string s;
    uint64_t a = addr;
    while (s.size() <= max) {
        size_t want =
            static_cast<size_t>(std::min<uint64_t>(kPage - (a % kPage), max + 1 - s.size()));
        auto chunk = readSome(mem, a, want);
        if (chunk.empty())
            break;
        auto nul = std::find(chunk.begin(), chunk.end(), uint8_t{0});
        s.append(chunk.begin(), nul);
        if (nul != chunk.end())
            return s.size() > max ? (truncated = true, s.substr(0, max)) : s;
        if (chunk.size() < want)
            break;
        a += chunk.size();
    }
    if (s.empty())
        return std::nullopt;
    if (s.size() > max)
        s.resize(max);
    truncated = true; // no NUL within reach
    return s;
}

std::string sdec(int64_t v)
{
    return std::to_string(v);
}
std::string udec(uint64_t v)
{
    return std::to_string(v);
}

struct Ctx {
    const MemoryReader &mem;
    const RenderOptions &o;
    const SyscallInfo *info;
    const std::array<uint64_t, 6> &args;
    bool exiting;
    int64_t ret;

    std::string_view name() const { return info ? info->name : std::string_view(); }
};

std::string quoted(const MemoryReader &mem, uint64_t addr, size_t limit)
{
    bool truncated = false;
    auto s = readCString(mem, addr, limit, truncated);
    if (!s)
        return ptr(addr);
    return quoteString(*s, limit, truncated);
}

std::string pathArg(const MemoryReader &mem, uint64_t addr)
{
    return quoted(mem, addr, kPathMax);
}

std::string bufferArg(const MemoryReader &mem, uint64_t addr, uint64_t len, size_t limit)
{
    if (addr == 0)
        return "NULL";
    size_t want = static_cast<size_t>(std::min<uint64_t>(len, limit));
    auto data = readSome(mem, addr, want);
    if (data.size() < want)
        return hex(addr);
    return quoteString(std::string_view(reinterpret_cast<const char *>(data.data()), data.size()),
                       limit, len > limit);
}

std::string devStr(uint64_t dev)
{
    // The kernel's new_encode_dev as stat returns it.
    uint64_t major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~uint64_t{0xfff});
    uint64_t minor = (dev & 0xff) | ((dev >> 12) & ~uint64_t{0xff});
    return "makedev(" + hex(major) + ", " + hex(minor) + ")";
}

std::string statArg(const MemoryReader &mem, uint64_t addr)
{
    uint8_t b[144];
    if (!readExact(mem, addr, b, sizeof(b)))
        return ptr(addr);
    uint32_t mode = field<uint32_t>(b, 24);
    std::string out = "{st_mode=" + modeStr(mode);
    uint32_t type = mode & 0170000;
    if (type == 0020000 || type == 0060000)
        out += ", st_rdev=" + devStr(field<uint64_t>(b, 40));
    else
        out += ", st_size=" + sdec(field<int64_t>(b, 48));
    return out + ", ...}";
}

std::string statxArg(const MemoryReader &mem, uint64_t addr)
{
    uint8_t b[256];
    if (!readExact(mem, addr, b, sizeof(b)))
        return ptr(addr);
    std::string out = "{stx_mask=" + flags(field<uint32_t>(b, 0), table(ArgType::StatxMask));
    static const Named kAttrs[] = {
        {0x4, "STATX_ATTR_COMPRESSED"},    {0x10, "STATX_ATTR_IMMUTABLE"},
        {0x20, "STATX_ATTR_APPEND"},       {0x40, "STATX_ATTR_NODUMP"},
        {0x800, "STATX_ATTR_ENCRYPTED"},   {0x1000, "STATX_ATTR_AUTOMOUNT"},
        {0x2000, "STATX_ATTR_MOUNT_ROOT"}, {0x100000, "STATX_ATTR_VERITY"},
        {0x200000, "STATX_ATTR_DAX"},      {0x400000, "STATX_ATTR_WRITE_ATOMIC"},
    };
    out += ", stx_attributes=" + flags(field<uint64_t>(b, 8), kAttrs);
    out += ", stx_mode=" + modeStr(field<uint16_t>(b, 28));
    uint32_t type = field<uint16_t>(b, 28) & 0170000;
    if (type == 0020000 || type == 0060000)
        out += ", stx_rdev_major=" + udec(field<uint32_t>(b, 128)) +
               ", stx_rdev_minor=" + udec(field<uint32_t>(b, 132));
    else
        out += ", stx_size=" + udec(field<uint64_t>(b, 40));
    return out + ", ...}";
}

std::string statfsArg(const MemoryReader &mem, uint64_t addr)
{
    uint64_t f[11]; // x86-64 struct statfs up to f_flags
    if (!readExact(mem, addr, f, sizeof(f)))
        return ptr(addr);
    static const Named kMagic[] = {
        {0xef53, "EXT2_SUPER_MAGIC"},
        {0x01021994, "TMPFS_MAGIC"},
        {0x9fa0, "PROC_SUPER_MAGIC"},
        {0x62656572, "SYSFS_MAGIC"},
        {0x794c7630, "OVERLAYFS_SUPER_MAGIC"},
        {0x9123683e, "BTRFS_SUPER_MAGIC"},
        {0x58465342, "XFS_SUPER_MAGIC"},
        {0x1cd1, "DEVPTS_SUPER_MAGIC"},
        {0x63677270, "CGROUP2_SUPER_MAGIC"},
        {0x27e0eb, "CGROUP_SUPER_MAGIC"},
        {0xf97cff8c, "SELINUX_MAGIC"},
        {0x6969, "NFS_SUPER_MAGIC"},
        {0x73717368, "SQUASHFS_MAGIC"},
        {0x64626720, "DEBUGFS_MAGIC"},
        {0x74726163, "TRACEFS_MAGIC"},
        {0x858458f6, "RAMFS_MAGIC"},
        {0xcafe4a11, "BPF_FS_MAGIC"},
        {0x01021997, "V9FS_MAGIC"},
        {0x65735546, "FUSE_SUPER_MAGIC"},
        {0x73636673, "SECURITYFS_MAGIC"},
        {0x6e736673, "NSFS_MAGIC"},
        {0x19800202, "MQUEUE_MAGIC"},
        {0x958458f6, "HUGETLBFS_MAGIC"},
        {0x4d44, "MSDOS_SUPER_MAGIC"},
        {0x9660, "ISOFS_SUPER_MAGIC"},
        {0xde5e81e4, "EFIVARFS_MAGIC"},
        {0x2fc12fc1, "ZFS_SUPER_MAGIC"},
        {0xf2f52010, "F2FS_SUPER_MAGIC"},
    };
    static const Named kStFlags[] = {
        {1, "ST_RDONLY"},      {2, "ST_NOSUID"},         {4, "ST_NODEV"},
        {8, "ST_NOEXEC"},      {16, "ST_SYNCHRONOUS"},   {0x20, "ST_VALID"},
        {64, "ST_MANDLOCK"},   {1024, "ST_NOATIME"},     {2048, "ST_NODIRATIME"},
        {4096, "ST_RELATIME"}, {8192, "ST_NOSYMFOLLOW"},
    };
    auto fsid = [&](int i) { return hex(static_cast<uint32_t>(f[7] >> (32 * i))); };
    return "{f_type=" + choice(f[0], kMagic) + ", f_bsize=" + udec(f[1]) +
           ", f_blocks=" + udec(f[2]) + ", f_bfree=" + udec(f[3]) + ", f_bavail=" + udec(f[4]) +
           ", f_files=" + udec(f[5]) + ", f_ffree=" + udec(f[6]) + ", f_fsid={val=[" + fsid(0) +
           ", " + fsid(1) + "]}, f_namelen=" + udec(f[8]) + ", f_frsize=" + udec(f[9]) +
           ", f_flags=" + flags(f[10], kStFlags) + "}";
}

std::string sysinfoArg(const MemoryReader &mem, uint64_t addr)
{
    uint8_t b[112];
    if (!readExact(mem, addr, b, sizeof(b)))
        return ptr(addr);
    auto u = [&](size_t off) { return udec(field<uint64_t>(b, off)); };
    return "{uptime=" + u(0) + ", loads=[" + u(8) + ", " + u(16) + ", " + u(24) +
           "], totalram=" + u(32) + ", freeram=" + u(40) + ", sharedram=" + u(48) +
           ", bufferram=" + u(56) + ", totalswap=" + u(64) + ", freeswap=" + u(72) +
           ", procs=" + udec(field<uint16_t>(b, 80)) + ", totalhigh=" + u(88) +
           ", freehigh=" + u(96) + ", mem_unit=" + udec(field<uint32_t>(b, 104)) + "}";
}

// struct termios (TCGETS/TCSETS*), in strace's abbreviated form.
std::string termiosArg(const MemoryReader &mem, uint64_t addr)
{
    uint32_t t[4]; // c_iflag, c_oflag, c_cflag, c_lflag
    if (addr == 0)
        return "NULL";
    if (!readExact(mem, addr, t, sizeof(t)))
        return hex(addr);
    static const Named kI[] = {
        {01, "IGNBRK"},    {02, "BRKINT"},      {04, "IGNPAR"},    {010, "PARMRK"},
        {020, "INPCK"},    {040, "ISTRIP"},     {0100, "INLCR"},   {0200, "IGNCR"},
        {0400, "ICRNL"},   {01000, "IUCLC"},    {02000, "IXON"},   {04000, "IXANY"},
        {010000, "IXOFF"}, {020000, "IMAXBEL"}, {040000, "IUTF8"},
    };
    static const Named kO[] = {{01, "OPOST"},  {02, "OLCUC"},   {04, "ONLCR"},   {010, "OCRNL"},
                               {020, "ONOCR"}, {040, "ONLRET"}, {0100, "OFILL"}, {0200, "OFDEL"}};
    static const Named kC[] = {
        {0100, "CSTOPB"}, {0200, "CREAD"},   {0400, "PARENB"},         {01000, "PARODD"},
        {02000, "HUPCL"}, {04000, "CLOCAL"}, {010000000000, "CMSPAR"}, {020000000000, "CRTSCTS"}};
    static const Named kL[] = {
        {01, "ISIG"},        {02, "ICANON"},     {04, "XCASE"},      {010, "ECHO"},
        {020, "ECHOE"},      {040, "ECHOK"},     {0100, "ECHONL"},   {0200, "NOFLSH"},
        {0100000, "IEXTEN"}, {01000, "ECHOCTL"}, {02000, "ECHOPRT"}, {04000, "ECHOKE"},
        {010000, "FLUSHO"},  {040000, "PENDIN"}, {0400, "TOSTOP"},   {0200000, "EXTPROC"},
    };
    static const Named kBaud[] = {
        {0, "B0"},
        {1, "B50"},
        {2, "B75"},
        {3, "B110"},
        {4, "B134"},
        {5, "B150"},
        {6, "B200"},
        {7, "B300"},
        {010, "B600"},
        {011, "B1200"},
        {012, "B1800"},
        {013, "B2400"},
        {014, "B4800"},
        {015, "B9600"},
        {016, "B19200"},
        {017, "B38400"},
        {010000, "BOTHER"},
        {010001, "B57600"},
        {010002, "B115200"},
        {010003, "B230400"},
        {010004, "B460800"},
        {010005, "B500000"},
        {010006, "B576000"},
        {010007, "B921600"},
        {010010, "B1000000"},
        {010011, "B1152000"},
        {010012, "B1500000"},
        {010013, "B2000000"},
        {010014, "B2500000"},
        {010015, "B3000000"},
        {010016, "B3500000"},
        {010017, "B4000000"},
    };
    // The delay fields come first, each named even when 0: NL0|CR0|TAB0|BS0|VT0|FF0|OPOST.
    uint32_t o = t[1];
    std::string oflag = std::string(o & 0400 ? "NL1" : "NL0") + "|CR" +
                        std::to_string((o >> 9) & 3) + "|TAB" + std::to_string((o >> 11) & 3) +
                        (o & 020000 ? "|BS1" : "|BS0") + (o & 040000 ? "|VT1" : "|VT0") +
                        (o & 0100000 ? "|FF1" : "|FF0");
    if (uint32_t rest = o & ~uint32_t{0177400})
        oflag += "|" + flags(rest, kO);
    uint32_t c = t[2];
    std::string cflag = choice(c & 010017, kBaud) + "|CS" + std::to_string(5 + ((c >> 4) & 3));
    if (uint32_t rest = c & ~uint32_t{010017 | 060})
        cflag += "|" + flags(rest, kC);
    return "{c_iflag=" + flags(t[0], kI) + ", c_oflag=" + oflag + ", c_cflag=" + cflag +
           ", c_lflag=" + flags(t[3], kL) + ", ...}";
}

std::string winsizeArg(const MemoryReader &mem, uint64_t addr)
{
    uint16_t w[4];
    if (addr == 0)
        return "NULL";
    if (!readExact(mem, addr, w, sizeof(w)))
        return hex(addr);
    return "{ws_row=" + udec(w[0]) + ", ws_col=" + udec(w[1]) + ", ws_xpixel=" + udec(w[2]) +
           ", ws_ypixel=" + udec(w[3]) + "}";
}

// Set members of a bit array, at most kMaxMembers of them: "[0 3]".
constexpr size_t kMaxMembers = 1024;

std::string bitList(const std::vector<uint8_t> &b, uint64_t bits)
{
    std::string out = "[";
    size_t shown = 0;
    for (uint64_t bit = 0; bit < bits && bit / 8 < b.size(); bit++) {
        if (!(b[bit / 8] & (1u << (bit % 8))))
            continue;
        if (shown == kMaxMembers)
            return out + " ...]";
        if (shown++)
            out += ' ';
        out += std::to_string(bit);
    }
    return out + "]";
}

// A bit array (cpu_set_t) of len bytes: "[0 1]".
std::string bitsArg(const MemoryReader &mem, uint64_t addr, uint64_t len)
{
    len = std::min<uint64_t>(len, 8192);
    auto b = readSome(mem, addr, static_cast<size_t>(len));
    if (b.size() < len || addr == 0)
        return ptr(addr);
    return bitList(b, len * 8);
}

std::string timespecArg(const MemoryReader &mem, uint64_t addr)
{
    int64_t t[2];
    if (addr == 0)
        return "NULL";
    if (!readExact(mem, addr, t, sizeof(t)))
        return hex(addr);
    return "{tv_sec=" + sdec(t[0]) + ", tv_nsec=" + sdec(t[1]) + "}";
}

std::string timevalArg(const MemoryReader &mem, uint64_t addr)
{
    int64_t t[2];
    if (addr == 0)
        return "NULL";
    if (!readExact(mem, addr, t, sizeof(t)))
        return hex(addr);
    return "{tv_sec=" + sdec(t[0]) + ", tv_usec=" + sdec(t[1]) + "}";
}

// Arrays show at most limit elements (strace -s applies to arrays too).
std::string pollfdsArg(const MemoryReader &mem, uint64_t addr, uint64_t n, size_t limit,
                       bool revents)
{
    if (addr == 0)
        return "NULL";
    size_t shown = static_cast<size_t>(std::min<uint64_t>(n, limit));
    auto data = readSome(mem, addr, shown * 8);
    if (data.size() < shown * 8)
        return hex(addr);
    std::string out = "[";
    bool first = true;
    for (size_t i = 0; i < shown; i++) {
        int32_t fd = field<int32_t>(data.data(), i * 8);
        uint16_t ev = field<uint16_t>(data.data(), i * 8 + (revents ? 6 : 4));
        if (revents && ev == 0)
            continue;
        if (!first)
            out += ", ";
        first = false;
        out += "{fd=" + sdec(fd) + (revents ? ", revents=" : ", events=") +
               flags(ev, {kPollEvents, kPollEventsCount}) + "}";
    }
    if (n > shown)
        out += first ? "..." : ", ...";
    return out + "]";
}

// dataLimit: bytes of data the buffers hold in all (the return value of a
// read), or UINT64_MAX for a write's full lengths.
std::string iovecArg(const MemoryReader &mem, uint64_t addr, uint64_t n, size_t limit,
                     uint64_t dataLimit)
{
    if (addr == 0)
        return "NULL";
    size_t shown = static_cast<size_t>(std::min<uint64_t>(n, limit));
    auto data = readSome(mem, addr, shown * 16);
    if (data.size() < shown * 16)
        return hex(addr);
    std::string out = "[";
    for (size_t i = 0; i < shown; i++) {
        uint64_t base = field<uint64_t>(data.data(), i * 16);
        uint64_t len = field<uint64_t>(data.data(), i * 16 + 8);
        uint64_t have = std::min(len, dataLimit);
        dataLimit -= have;
        if (i)
            out += ", ";
        out += "{iov_base=" + bufferArg(mem, base, have, limit) + ", iov_len=" + udec(len) + "}";
    }
    if (n > shown)
        out += ", ...";
    return out + "]";
}

std::string sockaddrArg(const MemoryReader &mem, uint64_t addr, uint64_t len, size_t limit)
{
    if (addr == 0)
        return "NULL";
    len = std::min<uint64_t>(len, 128);
    if (len < 2)
        return hex(addr);
    auto b = readSome(mem, addr, static_cast<size_t>(len));
    if (b.size() < len)
        return hex(addr);
    uint16_t family = field<uint16_t>(b.data(), 0);
    std::string out = "{sa_family=" + choice(family, {kAddrFamilies, kAddrFamiliesCount});
    char text[INET6_ADDRSTRLEN] = {};
    if (family == 1) { // AF_UNIX
        if (len <= 2)
            return out + "}";
        const char *path = reinterpret_cast<const char *>(b.data() + 2);
        size_t plen = static_cast<size_t>(len - 2);
        if (path[0] == '\0') // abstract: the name is every byte of the given length
            return out + ", sun_path=@" +
                   quoteString(std::string_view(path + 1, plen - 1), kPathMax) + "}";
        size_t n = strnlen(path, plen);
        return out + ", sun_path=" + quoteString(std::string_view(path, n), kPathMax) + "}";
    }
    if (family == 2 && len >= 16) { // AF_INET
        inet_ntop(AF_INET, b.data() + 4, text, sizeof(text));
        return out + ", sin_port=htons(" + udec(ntohs(field<uint16_t>(b.data(), 2))) +
               "), sin_addr=inet_addr(\"" + text + "\")}";
    }
    if (family == 10 && len >= 24) { // AF_INET6
        inet_ntop(AF_INET6, b.data() + 8, text, sizeof(text));
        out += ", sin6_port=htons(" + udec(ntohs(field<uint16_t>(b.data(), 2))) + ")";
        out += ", sin6_flowinfo=htonl(" + udec(ntohl(field<uint32_t>(b.data(), 4))) + ")";
        out += std::string(", inet_pton(AF_INET6, \"") + text + "\", &sin6_addr)";
        if (len >= 28)
            out += ", sin6_scope_id=" + udec(field<uint32_t>(b.data(), 24));
        return out + "}";
    }
    if (family == 16 && len >= 12) { // AF_NETLINK
        char groups[16];
        std::snprintf(groups, sizeof(groups), "%08x", field<uint32_t>(b.data(), 8));
        return out + ", nl_pid=" + udec(field<uint32_t>(b.data(), 4)) + ", nl_groups=" + groups +
               "}";
    }
    return out + ", sa_data=" +
           quoteString(std::string_view(reinterpret_cast<const char *>(b.data() + 2),
                                        static_cast<size_t>(len - 2)),
                       limit) +
           "}";
}

std::string sigsetArg(const MemoryReader &mem, uint64_t addr)
{
    if (addr == 0)
        return "NULL";
    auto v = readAs<uint64_t>(mem, addr);
    return v ? sigsetStr(*v) : hex(addr);
}

std::string sigactionArg(const MemoryReader &mem, uint64_t addr)
{
    uint64_t sa[4]; // handler, flags, restorer, mask (the kernel's x86-64 layout)
    if (addr == 0)
        return "NULL";
    if (!readExact(mem, addr, sa, sizeof(sa)))
        return hex(addr);
    std::string h = sa[0] == 0 ? "SIG_DFL" : sa[0] == 1 ? "SIG_IGN" : hex(sa[0]);
    std::string out = "{sa_handler=" + h + ", sa_mask=" + sigsetStr(sa[3]) +
                      ", sa_flags=" + flags(sa[1], {kSaFlags, kSaFlagsCount});
    if (sa[1] & 0x04000000)
        out += ", sa_restorer=" + ptr(sa[2]);
    return out + "}";
}

std::string strArrayArg(const MemoryReader &mem, uint64_t addr, size_t limit)
{
    if (addr == 0)
        return "NULL";
    std::string out = "[";
    for (size_t i = 0;; i++) {
        auto p = readAs<uint64_t>(mem, addr + i * 8);
        if (!p)
            return i == 0 ? hex(addr) : out + (i ? ", " : "") + "...]";
        if (*p == 0)
            break;
        if (i == limit)
            return out + ", ...]";
        if (i)
            out += ", ";
        out += quoted(mem, *p, limit);
    }
    return out + "]";
}

std::string envpArg(const MemoryReader &mem, uint64_t addr)
{
    if (addr == 0)
        return "NULL";
    size_t n = 0;
    for (; n < 100000; n++) {
        auto p = readAs<uint64_t>(mem, addr + n * 8);
        if (!p)
            return hex(addr);
        if (*p == 0)
            break;
    }
    return hex(addr) + " /* " + std::to_string(n) + (n == 1 ? " var */" : " vars */");
}

std::string fdsetArg(const MemoryReader &mem, uint64_t addr, uint64_t nfdsArg)
{
    if (addr == 0)
        return "NULL";
    // nfds is an int; the kernel caps it at the process's descriptor table.
    int32_t nfds = static_cast<int32_t>(nfdsArg);
    if (nfds <= 0)
        return hex(addr);
    uint64_t bits = std::min<uint64_t>(static_cast<uint64_t>(nfds), 1u << 20);
    size_t bytes = static_cast<size_t>((bits + 63) / 64 * 8);
    auto b = readSome(mem, addr, bytes);
    if (b.size() < bytes)
        return hex(addr);
    return bitList(b, bits);
}

std::string epollEventStr(const uint8_t *p)
{
    static const Named kEpoll[] = {
        {1, "EPOLLIN"},
        {2, "EPOLLPRI"},
        {4, "EPOLLOUT"},
        {8, "EPOLLERR"},
        {0x10, "EPOLLHUP"},
        {0x20, "EPOLLNVAL"},
        {0x40, "EPOLLRDNORM"},
        {0x80, "EPOLLRDBAND"},
        {0x100, "EPOLLWRNORM"},
        {0x200, "EPOLLWRBAND"},
        {0x400, "EPOLLMSG"},
        {0x2000, "EPOLLRDHUP"},
        {1u << 28, "EPOLLEXCLUSIVE"},
        {1u << 29, "EPOLLWAKEUP"},
        {1u << 30, "EPOLLONESHOT"},
        {1u << 31, "EPOLLET"},
    };
    uint32_t events = field<uint32_t>(p, 0);
    uint64_t data = field<uint64_t>(p, 4); // packed on x86-64: 12 bytes
    return "{events=" + flags(events, kEpoll) + ", data={u32=" + udec(static_cast<uint32_t>(data)) +
           ", u64=" + udec(data) + "}}";
}

std::string epollEventsArg(const MemoryReader &mem, uint64_t addr, uint64_t n, size_t limit,
                           bool array)
{
    if (addr == 0)
        return "NULL";
    size_t shown = static_cast<size_t>(std::min<uint64_t>(n, limit));
    auto b = readSome(mem, addr, shown * 12);
    if (b.size() < shown * 12)
        return hex(addr);
    if (!array)
        return shown ? epollEventStr(b.data()) : hex(addr);
    std::string out = "[";
    for (size_t i = 0; i < shown; i++)
        out += (i ? ", " : "") + epollEventStr(b.data() + i * 12);
    if (n > shown)
        out += ", ...";
    return out + "]";
}

std::string intPairArg(const MemoryReader &mem, uint64_t addr)
{
    int32_t v[2];
    if (addr == 0)
        return "NULL";
    if (!readExact(mem, addr, v, sizeof(v)))
        return hex(addr);
    return "[" + sdec(v[0]) + ", " + sdec(v[1]) + "]";
}

std::string intPtrArg(const MemoryReader &mem, uint64_t addr)
{
    if (addr == 0)
        return "NULL";
    auto v = readAs<int32_t>(mem, addr);
    return v ? "[" + sdec(*v) + "]" : hex(addr);
}

std::string rlimValue(uint64_t v)
{
    if (v == ~uint64_t{0})
        return "RLIM64_INFINITY";
    if (v > 0 && v % 1024 == 0)
        return udec(v / 1024) + "*1024";
    return udec(v);
}

std::string rlimitArg(const MemoryReader &mem, uint64_t addr)
{
    uint64_t r[2];
    if (addr == 0)
        return "NULL";
    if (!readExact(mem, addr, r, sizeof(r)))
        return hex(addr);
    return "{rlim_cur=" + rlimValue(r[0]) + ", rlim_max=" + rlimValue(r[1]) + "}";
}

std::string utsnameArg(const MemoryReader &mem, uint64_t addr)
{
    uint8_t b[65 * 2];
    if (!readExact(mem, addr, b, sizeof(b)))
        return ptr(addr);
    auto f = [&](size_t off) {
        const char *s = reinterpret_cast<const char *>(b + off);
        return quoteString(std::string_view(s, strnlen(s, 65)), 65);
    };
    return "{sysname=" + f(0) + ", nodename=" + f(65) + ", ...}";
}

std::string msghdrArg(const MemoryReader &mem, uint64_t addr, size_t limit, uint64_t dataLimit)
{
    uint8_t b[56];
    if (addr == 0)
        return "NULL";
    if (!readExact(mem, addr, b, sizeof(b)))
        return hex(addr);
    uint64_t name = field<uint64_t>(b, 0);
    uint32_t namelen = field<uint32_t>(b, 8);
    std::string out = "{msg_name=" + (name ? sockaddrArg(mem, name, namelen, limit) : "NULL");
    out += ", msg_namelen=" + udec(namelen);
    out += ", msg_iov=" +
           iovecArg(mem, field<uint64_t>(b, 16), field<uint64_t>(b, 24), limit, dataLimit);
    out += ", msg_iovlen=" + udec(field<uint64_t>(b, 24));
    if (field<uint64_t>(b, 40))
        out += ", msg_control=" + hex(field<uint64_t>(b, 32));
    out += ", msg_controllen=" + udec(field<uint64_t>(b, 40));
    out += ", msg_flags=" +
           flags(static_cast<uint32_t>(field<int32_t>(b, 48)), table(ArgType::MsgFlags));
    return out + "}";
}

std::string cloneArgsArg(const MemoryReader &mem, uint64_t addr, uint64_t size)
{
    uint64_t c[11] = {};
    size_t n = static_cast<size_t>(std::min<uint64_t>(size, sizeof(c)));
    if (addr == 0)
        return "NULL";
    if (n < 64 || !readExact(mem, addr, c, n))
        return hex(addr);
    // clone3 has no exit signal in the flags' low byte: CLONE_NEWTIME (0x80) may be there.
    std::string out = "{flags=" + cloneFlags(c[0] & ~uint64_t{0xff});
    if (c[0] & 0x80)
        out += (c[0] & ~uint64_t{0xff} ? "|" : "") + std::string("CLONE_NEWTIME");
    if (c[0] & 0x7f)
        out += "|" + hex(c[0] & 0x7f);
    if (out.starts_with("{flags=0|"))
        out.erase(7, 2);
    // The pointers show when the flags use them, as strace shows them.
    uint64_t f = c[0];
    if (f & 0x1000) // CLONE_PIDFD
        out += ", pidfd=" + ptr(c[1]);
    if (f & 0x1200000) // CLONE_CHILD_SETTID, CLONE_CHILD_CLEARTID
        out += ", child_tid=" + ptr(c[2]);
    if (f & 0x100000) // CLONE_PARENT_SETTID
        out += ", parent_tid=" + ptr(c[3]);
    out += ", exit_signal=" + (c[4] ? signalName(static_cast<int>(c[4])) : std::string("0"));
    if (c[5])
        out += ", stack=" + hex(c[5]);
    if (c[6])
        out += ", stack_size=" + hex(c[6]);
    if (f & 0x80000) // CLONE_SETTLS
        out += ", tls=" + ptr(c[7]);
    if (n >= 80 && c[9])
        out += ", set_tid=" + ptr(c[8]) + ", set_tid_size=" + udec(c[9]);
    if (n >= 88 && (f & 0x200000000)) // CLONE_INTO_CGROUP
        out += ", cgroup=" + udec(c[10]);
    return out + "}";
}

// What clone3 wrote back for the parent: " => {pidfd=[5], parent_tid=[1234]}".
std::string cloneArgsWritten(const MemoryReader &mem, uint64_t addr, uint64_t size)
{
    uint64_t c[4] = {};
    if (addr == 0 || size < 64 || !readExact(mem, addr, c, sizeof(c)))
        return {};
    std::string out;
    if (c[0] & 0x1000 && c[1])
        out += "pidfd=" + intPtrArg(mem, c[1]);
    if (c[0] & 0x100000 && c[3])
        out += (out.empty() ? "" : ", ") + std::string("parent_tid=") + intPtrArg(mem, c[3]);
    return out.empty() ? out : " => {" + out + "}";
}

std::string waitStatusArg(const MemoryReader &mem, uint64_t addr)
{
    if (addr == 0)
        return "NULL";
    auto v = readAs<int32_t>(mem, addr);
    return v ? waitStatus(*v) : hex(addr);
}

std::string openHowArg(const MemoryReader &mem, uint64_t addr, uint64_t size)
{
    uint64_t h[3];
    if (addr == 0)
        return "NULL";
    if (size < sizeof(h) || !readExact(mem, addr, h, sizeof(h)))
        return hex(addr);
    static const Named kResolve[] = {{1, "RESOLVE_NO_XDEV"},     {2, "RESOLVE_NO_MAGICLINKS"},
                                     {4, "RESOLVE_NO_SYMLINKS"}, {8, "RESOLVE_BENEATH"},
                                     {0x10, "RESOLVE_IN_ROOT"},  {0x20, "RESOLVE_CACHED"}};
    std::string out = "{flags=" + openFlags(h[0], true);
    if (h[0] & 020000100)
        out += ", mode=" + octal(h[1]);
    return out + ", resolve=" + flags(h[2], kResolve) + "}";
}

const Named kFdFlags[] = {{1, "FD_CLOEXEC"}};

std::string gidsArg(const MemoryReader &mem, uint64_t addr, uint64_t n, size_t limit)
{
    if (addr == 0)
        return "NULL";
    size_t shown = static_cast<size_t>(std::min<uint64_t>(n, limit));
    auto b = readSome(mem, addr, shown * 4);
    if (b.size() < shown * 4)
        return hex(addr);
    std::string out = "[";
    for (size_t i = 0; i < shown; i++)
        out += (i ? ", " : "") + udec(field<uint32_t>(b.data(), i * 4));
    if (n > shown)
        out += ", ...";
    return out + "]";
}

const Named kCapabilities[] = {
    {0, "CAP_CHOWN"},
    {1, "CAP_DAC_OVERRIDE"},
    {2, "CAP_DAC_READ_SEARCH"},
    {3, "CAP_FOWNER"},
    {4, "CAP_FSETID"},
    {5, "CAP_KILL"},
    {6, "CAP_SETGID"},
    {7, "CAP_SETUID"},
    {8, "CAP_SETPCAP"},
    {9, "CAP_LINUX_IMMUTABLE"},
    {10, "CAP_NET_BIND_SERVICE"},
    {11, "CAP_NET_BROADCAST"},
    {12, "CAP_NET_ADMIN"},
    {13, "CAP_NET_RAW"},
    {14, "CAP_IPC_LOCK"},
    {15, "CAP_IPC_OWNER"},
    {16, "CAP_SYS_MODULE"},
    {17, "CAP_SYS_RAWIO"},
    {18, "CAP_SYS_CHROOT"},
    {19, "CAP_SYS_PTRACE"},
    {20, "CAP_SYS_PACCT"},
    {21, "CAP_SYS_ADMIN"},
    {22, "CAP_SYS_BOOT"},
    {23, "CAP_SYS_NICE"},
    {24, "CAP_SYS_RESOURCE"},
    {25, "CAP_SYS_TIME"},
    {26, "CAP_SYS_TTY_CONFIG"},
    {27, "CAP_MKNOD"},
    {28, "CAP_LEASE"},
    {29, "CAP_AUDIT_WRITE"},
    {30, "CAP_AUDIT_CONTROL"},
    {31, "CAP_SETFCAP"},
    {32, "CAP_MAC_OVERRIDE"},
    {33, "CAP_MAC_ADMIN"},
    {34, "CAP_SYSLOG"},
    {35, "CAP_WAKE_ALARM"},
    {36, "CAP_BLOCK_SUSPEND"},
    {37, "CAP_AUDIT_READ"},
    {38, "CAP_PERFMON"},
    {39, "CAP_BPF"},
    {40, "CAP_CHECKPOINT_RESTORE"},
};

bool flagsWithAccessMode(std::string_view name)
{
    return name == "open" || name == "openat" || name == "mq_open" || name == "open_by_handle_at" ||
           name == "fanotify_init";
}

// The names a syscall documents for its O_*-valued flags: eventfd2(0, EFD_CLOEXEC).
std::string fdFlags(std::string_view name, uint64_t v)
{
    static const Named kEfd[] = {
        {1, "EFD_SEMAPHORE"}, {02000000, "EFD_CLOEXEC"}, {04000, "EFD_NONBLOCK"}};
    static const Named kIn[] = {{04000, "IN_NONBLOCK"}, {02000000, "IN_CLOEXEC"}};
    static const Named kSfd[] = {{02000000, "SFD_CLOEXEC"}, {04000, "SFD_NONBLOCK"}};
    static const Named kTfd[] = {{02000000, "TFD_CLOEXEC"}, {04000, "TFD_NONBLOCK"}};
    static const Named kEpoll[] = {{02000000, "EPOLL_CLOEXEC"}};
    if (name == "eventfd2")
        return flags(v, kEfd);
    if (name == "inotify_init1")
        return flags(v, kIn);
    if (name == "signalfd4")
        return flags(v, kSfd);
    if (name == "timerfd_create")
        return flags(v, kTfd);
    if (name == "epoll_create1")
        return flags(v, kEpoll);
    return openFlags(v, false);
}

std::string sockTypeStr(uint64_t v)
{
    static const Named kTypes[] = {
        {1, "SOCK_STREAM"},    {2, "SOCK_DGRAM"}, {3, "SOCK_RAW"},     {4, "SOCK_RDM"},
        {5, "SOCK_SEQPACKET"}, {6, "SOCK_DCCP"},  {10, "SOCK_PACKET"},
    };
    static const Named kTypeFlags[] = {{02000000, "SOCK_CLOEXEC"}, {04000, "SOCK_NONBLOCK"}};
    uint64_t type = v & 0xf, rest = v & ~uint64_t{0xf};
    std::string out = type ? choice(type, kTypes) : std::string();
    if (rest) {
        if (!out.empty())
            out += '|';
        out += flags(rest, kTypeFlags);
    }
    return out.empty() ? "0" : out;
}

std::string protocolStr(uint64_t domain, uint64_t proto)
{
    static const Named kIpProto[] = {
        {0, "IPPROTO_IP"},     {1, "IPPROTO_ICMP"},  {6, "IPPROTO_TCP"},
        {17, "IPPROTO_UDP"},   {41, "IPPROTO_IPV6"}, {58, "IPPROTO_ICMPV6"},
        {132, "IPPROTO_SCTP"}, {255, "IPPROTO_RAW"}, {262, "IPPROTO_MPTCP"}};
    static const Named kNetlink[] = {{0, "NETLINK_ROUTE"},
                                     {4, "NETLINK_SOCK_DIAG"},
                                     {9, "NETLINK_AUDIT"},
                                     {15, "NETLINK_KOBJECT_UEVENT"},
                                     {16, "NETLINK_GENERIC"}};
    if (domain == 2 || domain == 10)
        return choice(proto, kIpProto);
    if (domain == 16)
        return choice(proto, kNetlink);
    return sdec(static_cast<int32_t>(proto));
}

std::string sockOptStr(uint64_t level, uint64_t opt)
{
    static const Named kTcp[] = {
        {1, "TCP_NODELAY"},       {2, "TCP_MAXSEG"},        {3, "TCP_CORK"},
        {4, "TCP_KEEPIDLE"},      {5, "TCP_KEEPINTVL"},     {6, "TCP_KEEPCNT"},
        {7, "TCP_SYNCNT"},        {8, "TCP_LINGER2"},       {9, "TCP_DEFER_ACCEPT"},
        {10, "TCP_WINDOW_CLAMP"}, {11, "TCP_INFO"},         {12, "TCP_QUICKACK"},
        {13, "TCP_CONGESTION"},   {18, "TCP_USER_TIMEOUT"}, {23, "TCP_FASTOPEN"},
    };
    if (level == 1)
        return choice(opt, table(ArgType::SockOptName));
    static const Named kIp[] = {
        {1, "IP_TOS"},
        {2, "IP_TTL"},
        {3, "IP_HDRINCL"},
        {4, "IP_OPTIONS"},
        {8, "IP_PKTINFO"},
        {10, "IP_MTU_DISCOVER"},
        {11, "IP_RECVERR"},
        {12, "IP_RECVTTL"},
        {14, "IP_MTU"},
        {15, "IP_FREEBIND"},
        {19, "IP_TRANSPARENT"},
        {32, "IP_MULTICAST_IF"},
        {33, "IP_MULTICAST_TTL"},
        {34, "IP_MULTICAST_LOOP"},
        {35, "IP_ADD_MEMBERSHIP"},
        {36, "IP_DROP_MEMBERSHIP"},
        {49, "IP_BIND_ADDRESS_NO_PORT"},
    };
    static const Named kIpv6[] = {
        {16, "IPV6_UNICAST_HOPS"}, {23, "IPV6_MTU_DISCOVER"}, {24, "IPV6_MTU"},
        {25, "IPV6_RECVERR"},      {26, "IPV6_V6ONLY"},       {49, "IPV6_RECVPKTINFO"},
        {67, "IPV6_TCLASS"},
    };
    if (level == 6)
        return choice(opt, kTcp);
    if (level == 0)
        return choice(opt, kIp);
    if (level == 41)
        return choice(opt, kIpv6);
    return sdec(static_cast<int32_t>(opt));
}

// An integer argument: the kernel reads int-sized values from the register's low half.
std::string intArg(uint64_t v)
{
    return sdec(static_cast<int32_t>(v));
}

std::string renderTyped(ArgType t, uint64_t v, const Ctx &c, size_t i)
{
    const MemoryReader &mem = c.mem;
    size_t limit = c.o.stringLimit;
    uint64_t next = i + 1 < 6 ? c.args[i + 1] : 0;
    switch (t) {
    case ArgType::Int:
    case ArgType::Fd:
    case ArgType::Pid:
        return intArg(v);
    case ArgType::Uint:
        return udec(static_cast<uint32_t>(v));
    case ArgType::Size:
        return udec(v);
    case ArgType::Off:
        return sdec(static_cast<int64_t>(v));
    case ArgType::Hex:
        return hex(v);
    case ArgType::Pointer:
    case ArgType::Other:
        return ptr(v);
    case ArgType::DirFd:
        return static_cast<int32_t>(v) == -100 ? "AT_FDCWD" : intArg(v);
    case ArgType::Path:
        return pathArg(mem, v);
    case ArgType::String:
        return quoted(mem, v, limit);
    case ArgType::Buffer:
        if (c.exiting && c.info && (c.info->outMask >> i) & 1)
            return bufferArg(mem, v, static_cast<uint64_t>(std::max<int64_t>(c.ret, 0)), limit);
        return bufferArg(mem, v, next, limit);
    case ArgType::Signal:
        return v == 0 ? "0" : signalName(static_cast<int32_t>(v));
    case ArgType::OpenFlags:
        if (flagsWithAccessMode(c.name()) || !c.info)
            return openFlags(v, true);
        return fdFlags(c.name(), v);
    case ArgType::Mode:
        return modeStr(v);
    case ArgType::CloneFlags:
        return cloneFlags(v);
    case ArgType::AtFlags:
        if (c.name() == "faccessat2" && (v & 0x200))
            return flags(v & ~uint64_t{0x200}, table(t), "").empty()
                       ? "AT_EACCESS"
                       : "AT_EACCESS|" + flags(v & ~uint64_t{0x200}, table(t));
        return flags(v, table(t));
    case ArgType::AccessMode:
        return flags(v, table(t), "F_OK");
    case ArgType::IoctlReq:
        if (const char *name = lookup(static_cast<uint32_t>(v), table(t)))
            return name;
        return hex(static_cast<uint32_t>(v));
    case ArgType::SockType:
        return sockTypeStr(v);
    case ArgType::Sockaddr:
        if (c.exiting && c.info && (c.info->outMask >> i) & 1) {
            auto len = readAs<uint32_t>(mem, next);
            return len ? sockaddrArg(mem, v, *len, limit) : ptr(v);
        }
        return sockaddrArg(mem, v, next, limit);
    case ArgType::Timespec:
        return timespecArg(mem, v);
    case ArgType::Timeval:
        return timevalArg(mem, v);
    case ArgType::Stat:
        return statArg(mem, v);
    case ArgType::Statx:
        return statxArg(mem, v);
    case ArgType::Statfs:
        return statfsArg(mem, v);
    case ArgType::Sysinfo:
        return sysinfoArg(mem, v);
    case ArgType::Pollfds:
        return pollfdsArg(mem, v, next, limit, false);
    case ArgType::Iovec:
        if (c.exiting && c.info && (c.info->outMask >> i) & 1)
            return iovecArg(mem, v, next, limit,
                            static_cast<uint64_t>(std::max<int64_t>(c.ret, 0)));
        return iovecArg(mem, v, next, limit, UINT64_MAX);
    case ArgType::StrArray:
        return strArrayArg(mem, v, limit);
    case ArgType::Envp:
        return envpArg(mem, v);
    case ArgType::SigSet:
        return sigsetArg(mem, v);
    case ArgType::Sigaction:
        return sigactionArg(mem, v);
    case ArgType::FutexOp:
        return futexOp(v);
    case ArgType::FdSet:
        return fdsetArg(mem, v, c.args[0]);
    case ArgType::EpollEvent:
        if (c.exiting && c.info && (c.info->outMask >> i) & 1)
            return epollEventsArg(mem, v, static_cast<uint64_t>(std::max<int64_t>(c.ret, 0)), limit,
                                  true);
        return epollEventsArg(mem, v, 1, limit, false);
    case ArgType::IntPair:
        return intPairArg(mem, v);
    case ArgType::IntPtr:
        return intPtrArg(mem, v);
    case ArgType::Rlimit:
        return rlimitArg(mem, v);
    case ArgType::Utsname:
        return utsnameArg(mem, v);
    case ArgType::Msghdr:
        return msghdrArg(mem, v, limit,
                         c.exiting ? static_cast<uint64_t>(std::max<int64_t>(c.ret, 0))
                                   : UINT64_MAX);
    case ArgType::WaitStatus:
        return waitStatusArg(mem, v);
    case ArgType::CloneArgs:
        return cloneArgsArg(mem, v, next);
    case ArgType::SockOptName:
        return sockOptStr(i > 0 ? c.args[i - 1] : 1, v);
    case ArgType::SockDomain:
    case ArgType::FcntlCmd:
    case ArgType::Whence:
    case ArgType::PrctlOp:
    case ArgType::SigHow:
    case ArgType::Madvise:
    case ArgType::ClockId:
    case ArgType::EpollCtlOp:
    case ArgType::RlimitResource:
    case ArgType::ShutdownHow:
    case ArgType::SockLevel:
    case ArgType::ArchPrctlCode:
        return choice(t == ArgType::ClockId || t == ArgType::SockLevel ? static_cast<uint32_t>(v)
                                                                       : v,
                      table(t));
    case ArgType::WaitOptions:
    case ArgType::ProtFlags:
    case ArgType::MremapFlags:
    case ArgType::MsgFlags:
    case ArgType::GetrandomFlags:
    case ArgType::FlockOp:
    case ArgType::StatxMask:
        return flags(v, table(t), t == ArgType::ProtFlags ? "PROT_NONE" : "0");
    case ArgType::MmapFlags: {
        static const Named kMapType[] = {
            {1, "MAP_SHARED"}, {2, "MAP_PRIVATE"}, {3, "MAP_SHARED_VALIDATE"}};
        std::string out = choice(v & 0xf, kMapType);
        uint64_t rest = v & ~uint64_t{0xf};
        static const Named kMapFlags[] = {
            {0x10, "MAP_FIXED"},
            {0x20, "MAP_ANONYMOUS"},
            {0x40, "MAP_32BIT"},
            {0x4000, "MAP_NORESERVE"},
            {0x8000, "MAP_POPULATE"},
            {0x10000, "MAP_NONBLOCK"},
            {0x100, "MAP_GROWSDOWN"},
            {0x800, "MAP_DENYWRITE"},
            {0x1000, "MAP_EXECUTABLE"},
            {0x2000, "MAP_LOCKED"},
            {0x20000, "MAP_STACK"},
            {0x40000, "MAP_HUGETLB"},
            {0x80000, "MAP_SYNC"},
            {0x4000000, "MAP_UNINITIALIZED"},
            {0x100000, "MAP_FIXED_NOREPLACE"},
        };
        return rest ? out + "|" + flags(rest, kMapFlags) : out;
    }
    }
    return hex(v);
}

bool isOut(const SyscallInfo *info, size_t i)
{
    return info && ((info->outMask >> i) & 1);
}

// The arguments strace shows, which for some calls depend on an earlier one.
size_t visibleArgs(const SyscallInfo &s, const std::array<uint64_t, 6> &a)
{
    std::string_view n = s.name;
    if (n == "open" || n == "mq_open")
        return (a[1] & 020000100) ? s.argc : 2; // O_CREAT or O_TMPFILE take a mode
    if (n == "openat")
        return (a[2] & 020000100) ? 4 : 3;
    if (n == "fcntl") {
        switch (a[1]) {
        case 1:
        case 3:
        case 9:
        case 11:
        case 1025:
        case 1032:
        case 1034:
            return 2;
        default:
            return 3;
        }
    }
    if (n == "futex") {
        switch (a[1] & 0x7f) {
        case 1: // WAKE
        case 7: // UNLOCK_PI
        case 8: // TRYLOCK_PI
            return 3;
        case 0:
        case 6:
        case 13: // WAIT, LOCK_PI(2): timeout
            return 4;
        case 3: // REQUEUE
            return 5;
        default:
            return 6;
        }
    }
    if (n == "prctl") {
        switch (a[0]) {
        case 3:
        case 5:
        case 7:
        case 9:
        case 11:
        case 13:
        case 19:
        case 21:
        case 25:
        case 27:
        case 30:
        case 37:
        case 39:
        case 42:
        case 46:
            return 1; // the plain getters
        case 1:
        case 2:
        case 4:
        case 8:
        case 15:
        case 16:
        case 23:
        case 24:
        case 36:
        case 40:
            return 2;
        default:
            return 5;
        }
    }
    return s.argc;
}

// The socklen_t * arguments the caller fills and the kernel rewrites.
size_t valueResultLength(std::string_view n)
{
    if (n == "accept" || n == "accept4" || n == "getsockname" || n == "getpeername")
        return 2;
    if (n == "recvfrom")
        return 5;
    if (n == "getsockopt")
        return 4;
    return SIZE_MAX;
}

// Arguments written by the kernel only for some requests.
bool rerenderAtExit(std::string_view n, size_t i, const std::array<uint64_t, 6> &a)
{
    if (n == "getsockopt" && i == 3)
        return true;
    if (n == "ioctl" && i == 2) // the requests that write through the pointer
        return a[1] == 0x541B || a[1] == 0x5411 || a[1] == 0x540F || a[1] == 0x5429 ||
               a[1] == 0x80045430 || a[1] == 0x5401 || a[1] == 0x5413;
    return false;
}

std::string specialArg(const SyscallInfo &s, size_t i, const Ctx &c, bool &handled)
{
    handled = true;
    std::string_view n = s.name;
    const auto &a = c.args;
    if (n == "fcntl" && i == 2) {
        switch (a[1]) {
        case 2: // F_SETFD
            return flags(a[2], kFdFlags);
        case 4: // F_SETFL
            return openFlags(a[2], true);
        case 0:
        case 8:
        case 10:
        case 1024:
        case 1026:
        case 1030:
        case 1031:
        case 1033:
            return intArg(a[2]);
        default:
            return ptr(a[2]);
        }
    }
    if (n == "futex") {
        uint64_t cmd = a[1] & 0x7f;
        bool timeout = cmd == 0 || cmd == 6 || cmd == 9 || cmd == 11 || cmd == 13;
        if (i == 3 && !timeout)
            return udec(static_cast<uint32_t>(a[3])); // val2
        if (i == 5 && (cmd == 9 || cmd == 10))
            return static_cast<uint32_t>(a[5]) == 0xffffffff ? "FUTEX_BITSET_MATCH_ANY"
                                                             : hex(static_cast<uint32_t>(a[5]));
        if (i == 5)
            return hex(static_cast<uint32_t>(a[5]));
    }
    if (n == "prctl" && i == 1) {
        if (a[0] == 15) // PR_SET_NAME
            return quoted(c.mem, a[1], 16);
        if (a[0] == 1) // PR_SET_PDEATHSIG
            return a[1] ? signalName(static_cast<int>(a[1])) : "0";
        if (a[0] == 23 || a[0] == 24) // PR_CAPBSET_READ/DROP
            return choice(a[1], kCapabilities, "CAP_");
        if (a[0] == 4 || a[0] == 8 || a[0] == 36 || a[0] == 38)
            return udec(a[1]);
    }
    if (n == "socket" && i == 2)
        return protocolStr(a[0], a[2]);
    if (n == "socketpair" && i == 2)
        return protocolStr(a[0], a[2]);
    if (n == "setsockopt" && i == 3 && a[4] == 4)
        return intPtrArg(c.mem, a[3]);
    if (n == "getsockopt" && i == 3 && c.exiting && c.ret == 0) {
        auto len = readAs<uint32_t>(c.mem, a[4]);
        auto v = readAs<int32_t>(c.mem, a[3]);
        if (len && *len == 4 && v && a[1] == 1 && a[2] == 4 && *v > 0) // SO_ERROR: an errno
            return "[" + errnoName(*v) + "]";
        if (len && *len == 4)
            return intPtrArg(c.mem, a[3]);
    }
    if (n == "ioctl" && i == 2) {
        uint32_t req = static_cast<uint32_t>(a[1]);
        bool written = c.exiting && c.ret >= 0;
        if (req == 0x5401 && written) // TCGETS
            return termiosArg(c.mem, a[2]);
        if (req >= 0x5402 && req <= 0x5404) // TCSETS, TCSETSW, TCSETSF
            return termiosArg(c.mem, a[2]);
        if (req == 0x5413 && written) // TIOCGWINSZ
            return winsizeArg(c.mem, a[2]);
        if (req == 0x5414) // TIOCSWINSZ
            return winsizeArg(c.mem, a[2]);
        if (written && rerenderAtExit(n, i, a))
            return intPtrArg(c.mem, a[2]);
    }
    if ((n == "accept" || n == "accept4" || n == "getsockname" || n == "getpeername") && i == 2)
        return intPtrArg(c.mem, a[2]);
    if (n == "recvfrom" && i == 5)
        return intPtrArg(c.mem, a[5]);
    if (n == "getsockopt" && i == 4)
        return intPtrArg(c.mem, a[4]);
    if (n == "openat2" && i == 2)
        return openHowArg(c.mem, a[2], a[3]);
    if ((n == "execve" && i == 0) || (n == "execveat" && i == 1))
        return pathArg(c.mem, a[i]);
    if (n == "mmap" && i == 4)
        return intArg(a[4]);
    if ((n == "kill" || n == "tkill") && i == 0)
        return intArg(a[0]);
    if ((n == "getdents64" || n == "getdents") && i == 1 && c.exiting && c.ret >= 0) {
        // Count the records: each has its length at offset 16 (both formats).
        auto d = readSome(c.mem, a[1], static_cast<size_t>(std::min<int64_t>(c.ret, 1 << 20)));
        if (static_cast<int64_t>(d.size()) == c.ret) {
            size_t count = 0;
            for (size_t off = 0; off + 18 <= d.size(); count++) {
                uint16_t reclen = field<uint16_t>(d.data(), off + 16);
                if (reclen == 0)
                    break;
                off += reclen;
            }
            return hex(a[1]) + " /* " + std::to_string(count) +
                   (count == 1 ? " entry */" : " entries */");
        }
        return hex(a[1]);
    }
    if (n == "getrandom" && i == 0 && c.exiting && c.ret >= 0) {
        // Random bytes: strace quotes them all in hex.
        size_t want =
            static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(c.ret), c.o.stringLimit));
        auto d = readSome(c.mem, a[0], want);
        if (d.size() < want)
            return hex(a[0]);
        std::string out = "\"";
        char b[8];
        for (uint8_t ch : d) {
            std::snprintf(b, sizeof(b), "\\x%02x", ch);
            out += b;
        }
        return out + "\"" + (static_cast<uint64_t>(c.ret) > want ? "..." : "");
    }
    if (n == "memfd_create" && i == 1) {
        static const Named kMfd[] = {{1, "MFD_CLOEXEC"},
                                     {2, "MFD_ALLOW_SEALING"},
                                     {4, "MFD_HUGETLB"},
                                     {8, "MFD_NOEXEC_SEAL"},
                                     {0x10, "MFD_EXEC"}};
        return flags(static_cast<uint32_t>(a[1]), kMfd);
    }
    if (n == "sigaltstack" && (i == 0 || c.exiting)) {
        uint64_t st[3]; // ss_sp, ss_flags (int), ss_size
        if (a[i] == 0)
            return "NULL";
        if ((i == 1 && (!c.exiting || c.ret < 0)) || !readExact(c.mem, a[i], st, sizeof(st)))
            return hex(a[i]);
        static const Named kSs[] = {
            {1, "SS_ONSTACK"}, {2, "SS_DISABLE"}, {0x80000000, "SS_AUTODISARM"}};
        return "{ss_sp=" + ptr(st[0]) + ", ss_flags=" + flags(static_cast<uint32_t>(st[1]), kSs) +
               ", ss_size=" + udec(st[2]) + "}";
    }
    if (n == "waitid" && i == 0) {
        static const Named kIdType[] = {{0, "P_ALL"}, {1, "P_PID"}, {2, "P_PGID"}, {3, "P_PIDFD"}};
        return choice(static_cast<uint32_t>(a[0]), kIdType);
    }
    if (n == "waitid" && i == 2 && c.exiting && c.ret == 0 && a[2]) {
        Signal si;
        if (!readExact(c.mem, a[2], si.siginfo.data(), si.siginfo.size()))
            return hex(a[2]);
        si.signo = field<int32_t>(si.siginfo.data(), 0);
        si.err = field<int32_t>(si.siginfo.data(), 4);
        si.code = field<int32_t>(si.siginfo.data(), 8);
        return si.signo == 0 ? "{}" : renderSiginfo(si); // WNOHANG with nothing to report
    }
    if (n == "fadvise64" && i == 3) {
        static const Named kAdvice[] = {{0, "POSIX_FADV_NORMAL"},     {1, "POSIX_FADV_RANDOM"},
                                        {2, "POSIX_FADV_SEQUENTIAL"}, {3, "POSIX_FADV_WILLNEED"},
                                        {4, "POSIX_FADV_DONTNEED"},   {5, "POSIX_FADV_NOREUSE"}};
        return choice(static_cast<uint32_t>(a[3]), kAdvice);
    }
    if (n == "renameat2" && i == 4) {
        static const Named kRename[] = {
            {1, "RENAME_NOREPLACE"}, {2, "RENAME_EXCHANGE"}, {4, "RENAME_WHITEOUT"}};
        return flags(a[4], kRename);
    }
    if (n == "sched_getaffinity" && i == 2 && c.exiting && c.ret > 0)
        return bitsArg(c.mem, a[2], static_cast<uint64_t>(c.ret));
    if (n == "sched_setaffinity" && i == 2)
        return bitsArg(c.mem, a[2], a[1]);
    if (n == "getgroups" && i == 1) {
        if (!c.exiting || c.ret < 0 || a[1] == 0)
            return ptr(a[1]);
        if (a[0] == 0) // a size query: nothing written
            return "[]";
        return gidsArg(c.mem, a[1], static_cast<uint64_t>(c.ret), c.o.stringLimit);
    }
    if (n == "setgroups" && i == 1)
        return gidsArg(c.mem, a[1], a[0], c.o.stringLimit);
    if ((n == "nanosleep" && i == 1) || (n == "clock_nanosleep" && i == 3)) {
        // The remaining time is written only when a signal cut the sleep short.
        if (!c.exiting || c.ret != -4)
            return ptr(a[i]);
        return timespecArg(c.mem, a[i]);
    }
    if (n == "statx" && i == 2) {
        // Neither sync flag means the default, which strace names.
        std::string f = flags(a[2] & ~uint64_t{0x6000}, table(ArgType::AtFlags), "");
        if (a[2] & 0x6000)
            return flags(a[2], table(ArgType::AtFlags));
        return f.empty() ? "AT_STATX_SYNC_AS_STAT" : "AT_STATX_SYNC_AS_STAT|" + f;
    }
    if ((n == "rt_sigprocmask" || n == "rt_sigaction") && i == 3)
        return udec(a[3]);
    handled = false;
    return {};
}

std::string renderArg(const SyscallInfo &s, size_t i, const Ctx &c)
{
    bool handled = false;
    std::string sp = specialArg(s, i, c, handled);
    if (handled)
        return sp;
    if (isOut(&s, i) && (!c.exiting || isErrorReturn(c.ret)))
        return ptr(c.args[i]);
    return renderTyped(s.args[i], c.args[i], c, i);
}

std::vector<std::string> cloneArgs(const Ctx &c)
{
    // x86-64 clone(flags, stack, parent_tid, child_tid, tls), strace's named form.
    const auto &a = c.args;
    std::vector<std::string> v;
    v.push_back("child_stack=" + ptr(a[1]));
    v.push_back("flags=" + cloneFlags(a[0]));
    if (a[0] & 0x101000) // CLONE_PARENT_SETTID, CLONE_PIDFD: written for the parent
        v.push_back("parent_tid=" + (c.exiting && c.ret > 0 ? intPtrArg(c.mem, a[2]) : ptr(a[2])));
    if (a[0] & 0x1200000)
        v.push_back("child_tidptr=" + ptr(a[3]));
    if (a[0] & 0x80000)
        v.push_back("tls=" + ptr(a[4]));
    return v;
}

std::string join(const std::vector<std::string> &v)
{
    std::string out;
    for (size_t i = 0; i < v.size(); i++)
        out += (i ? ", " : "") + v[i];
    return out;
}

std::vector<std::string> argsAt(const SyscallEntry &e, const MemoryReader &mem,
                                const RenderOptions &o, bool exiting, int64_t ret)
{
    const SyscallInfo *s = syscallInfo(e.nr);
    std::vector<std::string> out;
    if (!e.hasArgs) {
        out.push_back("...");
        return out;
    }
    if (!s || o.raw) {
        size_t n = s ? s->argc : 6;
        for (size_t i = 0; i < n; i++)
            out.push_back(hex(e.args[i]));
        return out;
    }
    Ctx c{mem, o, s, e.args, exiting, ret};
    if (s->name == "clone")
        return cloneArgs(c);
    size_t n = visibleArgs(*s, e.args);
    for (size_t i = 0; i < n; i++)
        out.push_back(renderArg(*s, i, c));
    // The bitset futex ops ignore uaddr2: strace shows val3 in its place.
    if (s->name == "futex" && ((e.args[1] & 0x7f) == 9 || (e.args[1] & 0x7f) == 10) && n == 6)
        out.erase(out.begin() + 4);
    return out;
}

std::string resultAnnotation(const SyscallEntry &e, int64_t ret, const MemoryReader &mem,
                             const RenderOptions &o)
{
    const SyscallInfo *s = syscallInfo(e.nr);
    if (!s || !e.hasArgs || o.raw || isErrorReturn(ret))
        return {};
    if (s->name == "fcntl" && e.args[1] == 1)
        return ret == 0 ? std::string()
                        : " (flags " + flags(static_cast<uint64_t>(ret), kFdFlags) + ")";
    if (s->name == "fcntl" && e.args[1] == 3)
        return " (flags " + openFlags(static_cast<uint64_t>(ret), true) + ")";
    if ((s->name == "poll" || s->name == "ppoll") && ret > 0)
        return " (" + pollfdsArg(mem, e.args[0], e.args[1], o.stringLimit, true) + ")";
    if (s->name == "poll" && ret == 0)
        return " (Timeout)";
    if ((s->name == "select" || s->name == "pselect6") && ret == 0)
        return " (Timeout)";
    if ((s->name == "select" || s->name == "pselect6") && ret > 0) {
        // The sets as the call left them, and the time left.
        std::string out;
        static const char *const names[] = {"in", "out", "except"};
        for (int i = 0; i < 3; i++) {
            uint64_t set = e.args[static_cast<size_t>(i) + 1];
            if (!set)
                continue;
            std::string members = fdsetArg(mem, set, e.args[0]);
            if (members == "[]" || !members.starts_with("["))
                continue;
            out += (out.empty() ? "" : ", ") + std::string(names[i]) + " " + members;
        }
        if (e.args[4]) {
            std::string left =
                s->name == "select" ? timevalArg(mem, e.args[4]) : timespecArg(mem, e.args[4]);
            out += (out.empty() ? "" : ", ") + std::string("left ") + left;
        }
        return out.empty() ? std::string() : " (" + out + ")";
    }
    return {};
}

const char *sigCodeName(int signo, int code)
{
    static const Named kGeneric[] = {
        {0, "SI_USER"},
        {0x80, "SI_KERNEL"},
        {static_cast<uint32_t>(-1), "SI_QUEUE"},
        {static_cast<uint32_t>(-2), "SI_TIMER"},
        {static_cast<uint32_t>(-3), "SI_MESGQ"},
        {static_cast<uint32_t>(-4), "SI_ASYNCIO"},
        {static_cast<uint32_t>(-5), "SI_SIGIO"},
        {static_cast<uint32_t>(-6), "SI_TKILL"},
        {static_cast<uint32_t>(-7), "SI_DETHREAD"},
        {static_cast<uint32_t>(-60), "SI_ASYNCNL"},
    };
    static const Named kIll[] = {{1, "ILL_ILLOPC"}, {2, "ILL_ILLOPN"}, {3, "ILL_ILLADR"},
                                 {4, "ILL_ILLTRP"}, {5, "ILL_PRVOPC"}, {6, "ILL_PRVREG"},
                                 {7, "ILL_COPROC"}, {8, "ILL_BADSTK"}, {9, "ILL_BADIADDR"}};
    static const Named kFpe[] = {{1, "FPE_INTDIV"},   {2, "FPE_INTOVF"}, {3, "FPE_FLTDIV"},
                                 {4, "FPE_FLTOVF"},   {5, "FPE_FLTUND"}, {6, "FPE_FLTRES"},
                                 {7, "FPE_FLTINV"},   {8, "FPE_FLTSUB"}, {14, "FPE_FLTUNK"},
                                 {15, "FPE_CONDTRAP"}};
    static const Named kSegv[] = {{1, "SEGV_MAPERR"},  {2, "SEGV_ACCERR"},  {3, "SEGV_BNDERR"},
                                  {4, "SEGV_PKUERR"},  {5, "SEGV_ACCADI"},  {6, "SEGV_ADIDERR"},
                                  {7, "SEGV_ADIPERR"}, {8, "SEGV_MTEAERR"}, {9, "SEGV_MTESERR"},
                                  {10, "SEGV_CPERR"}};
    static const Named kBus[] = {{1, "BUS_ADRALN"},
                                 {2, "BUS_ADRERR"},
                                 {3, "BUS_OBJERR"},
                                 {4, "BUS_MCEERR_AR"},
                                 {5, "BUS_MCEERR_AO"}};
    static const Named kTrap[] = {{1, "TRAP_BRKPT"},  {2, "TRAP_TRACE"}, {3, "TRAP_BRANCH"},
                                  {4, "TRAP_HWBKPT"}, {5, "TRAP_UNK"},   {6, "TRAP_PERF"}};
    static const Named kChld[] = {{1, "CLD_EXITED"},  {2, "CLD_KILLED"},  {3, "CLD_DUMPED"},
                                  {4, "CLD_TRAPPED"}, {5, "CLD_STOPPED"}, {6, "CLD_CONTINUED"}};
    static const Named kPoll[] = {{1, "POLL_IN"},  {2, "POLL_OUT"}, {3, "POLL_MSG"},
                                  {4, "POLL_ERR"}, {5, "POLL_PRI"}, {6, "POLL_HUP"}};
    static const Named kSys[] = {{1, "SYS_SECCOMP"}, {2, "SYS_USER_DISPATCH"}};
    if (code > 0 && code != 0x80) {
        std::span<const Named> t;
        switch (signo) {
        case 4:
            t = kIll;
            break;
        case 8:
            t = kFpe;
            break;
        case 11:
            t = kSegv;
            break;
        case 7:
            t = kBus;
            break;
        case 5:
            t = kTrap;
            break;
        case 17:
            t = kChld;
            break;
        case 29:
            t = kPoll;
            break;
        case 31:
            t = kSys;
            break;
        default:
            break;
        }
        if (const char *n = lookup(static_cast<uint32_t>(code), t))
            return n;
    }
    return lookup(static_cast<uint32_t>(code), kGeneric);
}

} // namespace

std::string quoteString(std::string_view bytes, size_t limit, bool truncated)
{
    size_t n = std::min(bytes.size(), limit);
    if (bytes.size() > limit)
        truncated = true;
    std::string out = "\"";
    for (size_t i = 0; i < n; i++) {
        auto ch = static_cast<unsigned char>(bytes[i]);
        switch (ch) {
        case '"':
            out += "\\\"";
            continue;
        case '\\':
            out += "\\\\";
            continue;
        case '\t':
            out += "\\t";
            continue;
        case '\n':
            out += "\\n";
            continue;
        case '\v':
            out += "\\v";
            continue;
        case '\f':
            out += "\\f";
            continue;
        case '\r':
            out += "\\r";
            continue;
        default:
            break;
        }
        if (ch >= 0x20 && ch < 0x7f) {
            out += static_cast<char>(ch);
            continue;
        }
        // Octal, as short as it can be unless an octal digit follows.
        bool digitNext = i + 1 < n && bytes[i + 1] >= '0' && bytes[i + 1] <= '7';
        char b[8];
        std::snprintf(b, sizeof(b), digitNext ? "\\%03o" : "\\%o", ch);
        out += b;
    }
    out += '"';
    if (truncated)
        out += "...";
    return out;
}

std::string renderValue(ArgType t, uint64_t v, const MemoryReader &mem, const RenderOptions &o)
{
    static const std::array<uint64_t, 6> defaults = {1024, 4096, 0, 0, 0, 0};
    // Length-taking types get a neighbour: one element, or the string limit of bytes.
    std::array<uint64_t, 6> args = defaults;
    args[0] = v;
    switch (t) {
    case ArgType::Buffer:
        args[1] = o.stringLimit + 1;
        break;
    case ArgType::Sockaddr:
        args[1] = 128;
        break;
    case ArgType::Pollfds:
    case ArgType::Iovec:
        args[1] = 1;
        break;
    case ArgType::CloneArgs:
        args[1] = 88;
        break;
    default:
        break;
    }
    if (t == ArgType::FdSet)
        args[0] = 1024;
    Ctx c{mem, o, nullptr, args, false, 0};
    if (o.raw)
        return hex(v);
    return renderTyped(t, v, c, 0);
}

std::string renderSyscallEntry(const SyscallEntry &e, const MemoryReader &mem,
                               const RenderOptions &o)
{
    return syscallName(e.nr) + "(" + join(argsAt(e, mem, o, false, 0)) + ")";
}

std::string renderSyscallResult(int64_t nr, int64_t ret)
{
    const SyscallInfo *s = syscallInfo(nr);
    if (s && (s->name == "exit" || s->name == "exit_group"))
        return "= ?";
    if (ret <= -512 && ret >= -531) // restart codes: the call is not finished
        return "= ? " + errnoName(static_cast<int>(-ret)) + " (" +
               std::string(errnoMessage(static_cast<int>(-ret))) + ")";
    bool addr = s && s->ret == ArgType::Hex;
    if (isErrorReturn(ret) && !(s && s->name == "brk"))
        return "= -1 " + errnoName(static_cast<int>(-ret)) + " (" +
               std::string(errnoMessage(static_cast<int>(-ret))) + ")";
    if (addr)
        return "= " + hex(static_cast<uint64_t>(ret));
    if (s && s->ret == ArgType::Mode)
        return "= " + octal(static_cast<uint64_t>(ret));
    return "= " + std::to_string(ret);
}

std::vector<std::string> renderEntryArgs(const SyscallEntry &e, const MemoryReader &mem,
                                         const RenderOptions &o)
{
    return argsAt(e, mem, o, false, 0);
}

std::string renderSyscallExit(const SyscallEntry &e, const std::vector<std::string> &entryArgs,
                              int64_t ret, const MemoryReader &mem, const RenderOptions &o)
{
    std::vector<std::string> args = entryArgs;
    const SyscallInfo *s = syscallInfo(e.nr);
    if (s && e.hasArgs && !o.raw && s->name == "clone") {
        Ctx c{mem, o, s, e.args, true, ret};
        args = cloneArgs(c);
    } else if (s && e.hasArgs && !o.raw && s->name == "clone3") {
        if (ret > 0 && !args.empty())
            args[0] += cloneArgsWritten(mem, e.args[0], e.args[1]);
    } else if (s && e.hasArgs && !o.raw) {
        Ctx c{mem, o, s, e.args, true, ret};
        size_t lenArg = valueResultLength(s->name);
        for (size_t i = 0; i < args.size() && i < s->argc; i++) {
            if (i == lenArg && !isErrorReturn(ret)) {
                // A length the caller gave and the kernel changed: [28 => 16].
                std::string now = intPtrArg(mem, e.args[i]);
                if (args[i].starts_with("[") && now.starts_with("[") && now != args[i])
                    args[i] = args[i].substr(0, args[i].size() - 1) + " => " + now.substr(1);
                else
                    args[i] = now;
            } else if (isOut(s, i) || rerenderAtExit(s->name, i, e.args)) {
                args[i] = renderArg(*s, i, c);
            }
        }
    }
    std::string result = renderSyscallResult(e.nr, ret);
    // fcntl's flag getters return flags: strace shows them in hex.
    if (s && e.hasArgs && !o.raw && s->name == "fcntl" && (e.args[1] == 1 || e.args[1] == 3) &&
        !isErrorReturn(ret))
        result = "= " + hex(static_cast<uint64_t>(ret));
    return syscallName(e.nr) + "(" + join(args) + ") " + result + resultAnnotation(e, ret, mem, o);
}

std::string renderSyscall(const SyscallEntry &entry, int64_t ret, const MemoryReader &mem,
                          const RenderOptions &o)
{
    return renderSyscallExit(entry, renderEntryArgs(entry, mem, o), ret, mem, o);
}

std::string renderSiginfo(const Signal &s)
{
    const uint8_t *b = s.siginfo.data();
    std::string out = "{si_signo=" + signalName(s.signo) + ", si_code=";
    if (const char *n = sigCodeName(s.signo, s.code))
        out += n;
    else
        out += std::to_string(s.code);
    if (s.err)
        out += ", si_errno=" + errnoName(s.err);
    auto pidUid = [&] {
        out += ", si_pid=" + std::to_string(field<int32_t>(b, 16)) +
               ", si_uid=" + std::to_string(field<uint32_t>(b, 20));
    };
    int sig = s.signo, code = s.code;
    if (code <= 0 || code == 0x80) {
        switch (code) {
        case 0:  // SI_USER
        case -6: // SI_TKILL
            pidUid();
            break;
        case -1: // SI_QUEUE
        case -3: // SI_MESGQ
            pidUid();
            out += ", si_int=" + std::to_string(field<int32_t>(b, 24)) +
                   ", si_ptr=" + ptr(field<uint64_t>(b, 24));
            break;
        case -2: // SI_TIMER
            out += ", si_timerid=" + hex(field<uint32_t>(b, 16)) +
                   ", si_overrun=" + std::to_string(field<int32_t>(b, 20)) +
                   ", si_int=" + std::to_string(field<int32_t>(b, 24)) +
                   ", si_ptr=" + ptr(field<uint64_t>(b, 24));
            break;
        case 0x80: // SI_KERNEL
            if (sig == 11 || sig == 7 || sig == 4 || sig == 8 || sig == 5)
                out += ", si_addr=" + ptr(field<uint64_t>(b, 16));
            break;
        default:
            break;
        }
        return out + "}";
    }
    switch (sig) {
    case 4:
    case 7:
    case 8:
    case 11:
    case 5:
        out += ", si_addr=" + ptr(field<uint64_t>(b, 16));
        break;
    case 17:
        pidUid();
        out += ", si_status=" + (code == 1 ? std::to_string(field<int32_t>(b, 24))
                                           : signalName(field<int32_t>(b, 24)));
        out += ", si_utime=" + std::to_string(field<int64_t>(b, 32)) +
               ", si_stime=" + std::to_string(field<int64_t>(b, 40));
        break;
    case 29:
        out += ", si_band=" + std::to_string(field<int64_t>(b, 16)) +
               ", si_fd=" + std::to_string(field<int32_t>(b, 24));
        break;
    case 31:
        out += ", si_call_addr=" + ptr(field<uint64_t>(b, 16)) + ", si_syscall=__NR_" +
               syscallName(field<int32_t>(b, 24)) + ", si_arch=" +
               (field<uint32_t>(b, 28) == 0xc000003e ? std::string("AUDIT_ARCH_X86_64")
                                                     : hex(field<uint32_t>(b, 28)));
        break;
    default:
        pidUid();
        break;
    }
    return out + "}";
}

std::string renderEvent(const Event &e, const MemoryReader &mem, const RenderOptions &o)
{
    struct V {
        const MemoryReader &mem;
        const RenderOptions &o;
        std::string operator()(const SyscallEntry &s) const
        {
            return renderSyscallEntry(s, mem, o);
        }
        std::string operator()(const SyscallExit &s) const
        {
            if (s.nr == -1)
                return "<... syscall aborted at entry> " + renderSyscallResult(-1, s.ret);
            return "<... " + syscallName(s.nr) + " resumed> " + renderSyscallResult(s.nr, s.ret);
        }
        std::string operator()(const Signal &s) const
        {
            return "--- " + signalName(s.signo) + " " + renderSiginfo(s) + " ---";
        }
        std::string operator()(const Clone &c) const
        {
            return "--- clone: child " + std::to_string(c.childTid) + ", " +
                   cloneFlags(c.cloneFlags) +
                   (c.childHandle ? ", followed (engine " + std::to_string(c.childHandle) + ")"
                                  : "") +
                   " ---";
        }
        std::string operator()(const Exec &x) const
        {
            return "--- exec " + quoteString(x.path, kPathMax) + " ---";
        }
        std::string operator()(const Exit &x) const
        {
            int st = static_cast<int>(x.code);
            if ((st & 0x7f) == 0)
                return "+++ exiting with " + std::to_string((st >> 8) & 0xff) + " +++";
            return "+++ killed by " + signalName(st & 0x7f) + (st & 0x80 ? " (core dumped)" : "") +
                   " +++";
        }
        std::string operator()(const Death &d) const
        {
            std::string out =
                d.groupDead ? "+++ dead, the last thread of its process" : "+++ dead (thread)";
            if (d.signal == -1)
                out += ", self-reaping";
            else if (d.signal > 0)
                out += ", parent notified with " + signalName(d.signal);
            return out + " +++";
        }
        std::string operator()(const Reap &) const { return "+++ reaped +++"; }
        std::string operator()(const Quiesce &) const { return "--- stopped ---"; }
        std::string operator()(const Step &) const { return "--- single-step ---"; }
        std::string operator()(const Lost &l) const
        {
            return "--- " + std::to_string(l.count) +
                   (l.count == 1 ? " event lost" : " events lost") + " ---";
        }
    };
    return std::visit(V{mem, o}, e.payload);
}

} // namespace utrace
