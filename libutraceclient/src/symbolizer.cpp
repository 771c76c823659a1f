// Symbolizer on elfutils libdwfl.
//
// Modules come from the target's maps text; every ELF byte comes through
// SymbolizerSource (file or memory), never from this machine's file system
// directly, so the same code serves a process on a remote machine. Images
// are handed to libdwfl as memfds (find_elf / find_debuginfo return an fd,
// and an fd is the one form libdwfl accepts for both), held in a
// process-wide cache keyed by build-id.
#include "utrace/symbolizer.hpp"

#include "utrace/error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <filesystem>
#include <gelf.h>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <sys/mman.h>
#include <sys/user.h>
#include <unistd.h>
#include <zlib.h>

namespace utrace {

namespace {

std::string hex(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    std::string s;
    s.reserve(n * 2);
    for (size_t i = 0; i < n; i++) {
        s += digits[p[i] >> 4];
        s += digits[p[i] & 15];
    }
    return s;
}

// A file name from DWARF, made absolute with the CU's compilation directory
// when it is relative ("../csu/libc-start.c" in /build/glibc-x/csu).
std::string sourcePath(const char *file, const char *compDir)
{
    if (!file)
        return {};
    if (file[0] == '/' || !compDir || !*compDir)
        return file;
    return (std::filesystem::path(compDir) / file).lexically_normal().string();
}

std::string demangle(const char *name)
{
    if (!name)
        return {};
    // Versioned names of a symbol table: "__libc_start_main@@GLIBC_2.34".
    if (const char *at = strchr(name, '@'); at && at != name) {
        std::string bare(name, size_t(at - name));
        return demangle(bare.c_str());
    }
    if (name[0] == '_' && name[1] == 'Z') {
        int status = -1;
        char *d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
        if (status == 0 && d) {
            std::string s(d);
            free(d);
            return s;
        }
        free(d);
    }
    return name;
}

// An ELF file's bytes in a memfd, and what refresh() needs from its headers.
struct Image {
    int fd = -1;
    uint64_t size = 0;
    std::string path;       // where it was read (for names and debuglink dirs)
    std::string buildId;    // hex
    uint16_t type = 0;      // ET_EXEC / ET_DYN
    bool hasDwarf = false;  // a .debug_info section of its own
    std::string altBuildId; // of the dwz file .gnu_debugaltlink names, hex
    struct Load {
        uint64_t vaddr, offset, filesz, align;
    };
    std::vector<Load> loads;
    ~Image()
    {
        if (fd >= 0)
            close(fd);
    }
};

using ImagePtr = std::shared_ptr<const Image>;

// Builds an Image from a file's bytes; nullptr if they are not an ELF file.
ImagePtr makeImage(std::vector<uint8_t> &bytes, const std::string &what)
{
    if (bytes.size() < EI_NIDENT || memcmp(bytes.data(), ELFMAG, SELFMAG) != 0)
        return nullptr;
    Elf *elf = elf_memory(reinterpret_cast<char *>(bytes.data()), bytes.size());
    if (!elf)
        return nullptr;
    auto img = std::make_shared<Image>();
    GElf_Ehdr eh;
    size_t nph = 0;
    if (!gelf_getehdr(elf, &eh) || elf_getphdrnum(elf, &nph) != 0) {
        elf_end(elf);
        return nullptr;
    }
    img->type = eh.e_type;
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, int(i), &ph) && ph.p_type == PT_LOAD)
            img->loads.push_back({ph.p_vaddr, ph.p_offset, ph.p_filesz, ph.p_align});
    }
    const void *bid = nullptr;
    ssize_t n = dwelf_elf_gnu_build_id(elf, &bid);
    if (n > 0)
        img->buildId = hex(static_cast<const uint8_t *>(bid), size_t(n));
    size_t shstrndx = 0;
    if (elf_getshdrstrndx(elf, &shstrndx) == 0) {
        for (Elf_Scn *scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
            GElf_Shdr sh;
            const char *sn =
                gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : nullptr;
            if (!sn)
                continue;
            if (strcmp(sn, ".debug_info") == 0 && sh.sh_type != SHT_NOBITS)
                img->hasDwarf = true;
            // .gnu_debugaltlink: the dwz file's name, a NUL, its build-id.
            Elf_Data *data =
                strcmp(sn, ".gnu_debugaltlink") == 0 ? elf_getdata(scn, nullptr) : nullptr;
            if (data && data->d_buf) {
                const uint8_t *b = static_cast<const uint8_t *>(data->d_buf);
                const uint8_t *nul = static_cast<const uint8_t *>(memchr(b, 0, data->d_size));
                if (nul && nul + 1 < b + data->d_size)
                    img->altBuildId = hex(nul + 1, size_t(b + data->d_size - nul - 1));
            }
        }
    }
    elf_end(elf);
    img->path = what;

    std::string name = "utrace:" + what.substr(what.rfind('/') + 1);
    img->fd = memfd_create(name.c_str(), MFD_CLOEXEC);
    if (img->fd < 0)
        throw Error(errno, "cannot create a memory file for " + what +
                               " (memfd_create failed; the kernel must be 3.17 or newer)");
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t w = write(img->fd, bytes.data() + done, bytes.size() - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            throw Error(errno, "cannot copy " + what + " into a memory file (out of memory?)");
        }
        done += size_t(w);
    }
    img->size = bytes.size();
    return img;
}

// The process-wide caches. Entries are weak: an image lives as long as some
// Symbolizer's module uses it, and is found again by build-id meanwhile.
struct Cache {
    std::mutex lock;
    std::map<std::string, std::weak_ptr<const Image>> byBuildId;
    std::map<std::string, std::weak_ptr<const Image>> debugByBuildId;
    // path + device + inode from maps -> the image last read from there.
    std::map<std::string, std::weak_ptr<const Image>> byFileId;
};

Cache &cache()
{
    static Cache c;
    return c;
}

template <class M> ImagePtr cacheGet(M &m, const std::string &key)
{
    std::lock_guard<std::mutex> g(cache().lock);
    auto it = m.find(key);
    if (it == m.end())
        return nullptr;
    ImagePtr p = it->second.lock();
    if (!p)
        m.erase(it);
    return p;
}

template <class M> void cachePut(M &m, const std::string &key, const ImagePtr &p)
{
    std::lock_guard<std::mutex> g(cache().lock);
    // Forget expired entries now and then, so a long-lived client that
    // symbolizes many processes does not keep every key it ever saw.
    if (m.size() >= 256 && m.size() % 64 == 0)
        std::erase_if(m, [](const auto &kv) { return kv.second.expired(); });
    m[key] = p;
}

struct MapLine {
    uint64_t start, end, offset;
    std::string perms, dev, path;
    uint64_t inode;
};

std::vector<MapLine> parseMaps(const std::string &text)
{
    std::vector<MapLine> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        MapLine m{};
        char perms[8] = {}, dev[32] = {};
        unsigned long long s, e, off, ino;
        int pathAt = 0;
        if (sscanf(line.c_str(), "%llx-%llx %7s %llx %31s %llu %n", &s, &e, perms, &off, dev, &ino,
                   &pathAt) < 6)
            continue;
        m.start = s;
        m.end = e;
        m.offset = off;
        m.inode = ino;
        m.perms = perms;
        m.dev = dev;
        if (pathAt > 0 && size_t(pathAt) <= line.size())
            m.path = line.substr(size_t(pathAt));
        while (!m.path.empty() && (m.path.back() == ' ' || m.path.back() == '\n'))
            m.path.pop_back();
        out.push_back(std::move(m));
    }
    return out;
}

std::vector<uint8_t> readFileVia(const SymbolizerSource &src, const std::string &path)
{
    if (!src.file)
        return {};
    try {
        return src.file(path);
    } catch (...) {
        return {}; // missing or unreadable: the caller decides what that means
    }
}

std::vector<uint8_t> readMemVia(const SymbolizerSource &src, uint64_t addr, size_t len)
{
    if (!src.memory)
        return {};
    try {
        return src.memory(addr, len);
    } catch (...) {
        return {};
    }
}

// DWARF register numbers of x86-64: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip.
void dwarfRegs(const user_regs_struct &r, Dwarf_Word out[17])
{
    const unsigned long long v[17] = {r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8,
                                      r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip};
    for (int i = 0; i < 17; i++)
        out[i] = v[i];
}

} // namespace

struct Symbolizer::Impl {
    SymbolizerSource src;
    Dwfl_Callbacks callbacks{};
    Dwfl *dwfl = nullptr;
    char *debugPath = nullptr; // Dwfl_Callbacks wants one; our find_debuginfo ignores it
    pid_t pid = 0;

    struct Mod {
        ModuleInfo info;
        ImagePtr image;
        ImagePtr debug; // once find_debuginfo found one
        ImagePtr alt;   // the dwz file the debug data refers to
        bool debugRequested = false;
    };
    std::map<Dwfl_Module *, Mod> mods;
    std::vector<std::string> problems;
    std::string lastMaps; // of the last complete refresh()

    // Backtrace state (dwfl_attach_state is once per Dwfl).
    bool attached = false;
    Elf *ebl = nullptr; // the Elf libdwfl takes the architecture from
    ImagePtr eblImage;
    const user_regs_struct *regs = nullptr;
    std::map<uint64_t, std::vector<uint8_t>> memCache; // 256-byte blocks
    static constexpr uint64_t Block = 256;

    explicit Impl(SymbolizerSource s) : src(std::move(s))
    {
        elf_version(EV_CURRENT);
        callbacks.find_elf = &Impl::findElf;
        callbacks.find_debuginfo = &Impl::findDebuginfo;
        callbacks.section_address = dwfl_offline_section_address;
        callbacks.debuginfo_path = &debugPath;
    }

    ~Impl() { reset(); }

    void reset()
    {
        if (dwfl)
            dwfl_end(dwfl);
        dwfl = nullptr;
        mods.clear();
        lastMaps.clear();
        attached = false;
        if (ebl)
            elf_end(ebl);
        ebl = nullptr;
        eblImage.reset();
    }

    // libdwfl hands each module's userdata slot to find_elf/find_debuginfo;
    // refresh() stores the owning Impl there.
    static Impl *owner(void **userdata)
    {
        return userdata ? static_cast<Impl *>(*userdata) : nullptr;
    }

    static int findElf(Dwfl_Module *mod, void **userdata, const char *, Dwarf_Addr, char **fileName,
                       Elf **elfp)
    {
        Impl *me = owner(userdata);
        auto it = me ? me->mods.find(mod) : decltype(me->mods.end()){};
        if (!me || it == me->mods.end() || !it->second.image)
            return -1;
        *elfp = nullptr;
        *fileName = strdup(it->second.info.path.c_str());
        return fcntl(it->second.image->fd, F_DUPFD_CLOEXEC, 0);
    }

    // Called for the module's separate debug file, and again (debuglink =
    // the name in .gnu_debugaltlink) for the dwz file that debug data refers
    // to. Every candidate comes through src.file and must carry the
    // expected build-id (or, for a debuglink without one, the CRC).
    static int findDebuginfo(Dwfl_Module *mod, void **userdata, const char *, Dwarf_Addr,
                             const char *fileName, const char *debuglink, GElf_Word crc,
                             char **debugFileName)
    {
        Impl *me = owner(userdata);
        if (!me)
            return -1;
        auto it = me->mods.find(mod);
        if (it == me->mods.end())
            return -1;
        Mod &m = it->second;
        bool alt = m.debugRequested || (m.image && m.image->hasDwarf);
        m.debugRequested = true;
        std::string bid = m.info.buildId;
        if (alt) {
            const Image *holder = m.debug ? m.debug.get() : m.image.get();
            bid = holder ? holder->altBuildId : "";
            if (bid.empty())
                return -1;
            crc = 0;
        }
        ImagePtr found;
        if (!bid.empty())
            found = cacheGet(cache().debugByBuildId, bid);
        std::vector<std::string> candidates;
        if (!found) {
            if (bid.size() > 2)
                candidates.push_back("/usr/lib/debug/.build-id/" + bid.substr(0, 2) + "/" +
                                     bid.substr(2) + ".debug");
            std::string file = fileName ? fileName : m.info.path;
            if (debuglink && *debuglink == '/') {
                candidates.push_back(debuglink);
            } else if (debuglink && *debuglink && file[0] == '/') {
                std::string dir = file.substr(0, file.rfind('/'));
                candidates.push_back(dir + "/" + debuglink);
                if (!alt) {
                    candidates.push_back(dir + "/.debug/" + debuglink);
                    candidates.push_back("/usr/lib/debug" + dir + "/" + debuglink);
                }
            }
        }
        for (const std::string &path : candidates) {
            if (path == m.info.path)
                continue;
            std::vector<uint8_t> bytes = readFileVia(me->src, path);
            if (bytes.empty())
                continue;
            uLong fileCrc = crc32(0L, bytes.data(), uInt(bytes.size()));
            ImagePtr img = makeImage(bytes, path);
            if (!img)
                continue;
            if (!bid.empty() ? img->buildId != bid : (crc && fileCrc != crc))
                continue;
            found = img;
            if (!bid.empty())
                cachePut(cache().debugByBuildId, bid, img);
            break;
        }
        if (!found)
            return -1;
        (alt ? m.alt : m.debug) = found;
        *debugFileName = strdup(found->path.c_str());
        return fcntl(found->fd, F_DUPFD_CLOEXEC, 0);
    }

    // The build-id of an ELF file mapped at `start` (file offset 0), read
    // from the target's memory: its headers and notes are in the first
    // loaded segment. Empty when memory cannot be read or has none;
    // notElf set when the bytes there are readable and not an ELF header.
    std::string buildIdFromMemory(uint64_t start, bool &notElf)
    {
        notElf = false;
        std::vector<uint8_t> eh = readMemVia(src, start, sizeof(Elf64_Ehdr));
        if (eh.size() < sizeof(Elf64_Ehdr))
            return {};
        if (memcmp(eh.data(), ELFMAG, SELFMAG) != 0) {
            notElf = true;
            return {};
        }
        Elf64_Ehdr h;
        memcpy(&h, eh.data(), sizeof h);
        if (h.e_ident[EI_CLASS] != ELFCLASS64 || h.e_phentsize != sizeof(Elf64_Phdr) ||
            h.e_phnum == 0 || h.e_phnum > 256)
            return {};
        std::vector<uint8_t> ph =
            readMemVia(src, start + h.e_phoff, h.e_phnum * sizeof(Elf64_Phdr));
        if (ph.size() < h.e_phnum * sizeof(Elf64_Phdr))
            return {};
        std::vector<Elf64_Phdr> phdrs(h.e_phnum);
        memcpy(phdrs.data(), ph.data(), ph.size());
        uint64_t firstVaddr = ~0ull;
        for (auto &p : phdrs)
            if (p.p_type == PT_LOAD && p.p_offset == 0)
                firstVaddr = p.p_vaddr;
        if (firstVaddr == ~0ull)
            return {};
        uint64_t bias = start - firstVaddr;
        for (auto &p : phdrs) {
            if (p.p_type != PT_NOTE || p.p_filesz > 4096)
                continue;
            std::vector<uint8_t> notes = readMemVia(src, bias + p.p_vaddr, p.p_filesz);
            size_t off = 0;
            while (off + sizeof(Elf64_Nhdr) <= notes.size()) {
                Elf64_Nhdr n;
                memcpy(&n, notes.data() + off, sizeof n);
                size_t nameAt = off + sizeof n;
                size_t descAt = nameAt + ((n.n_namesz + 3) & ~3u);
                size_t next = descAt + ((n.n_descsz + 3) & ~3u);
                if (next > notes.size())
                    break;
                if (n.n_type == NT_GNU_BUILD_ID && n.n_namesz == 4 &&
                    memcmp(notes.data() + nameAt, "GNU", 4) == 0)
                    return hex(notes.data() + descAt, n.n_descsz);
                off = next;
            }
        }
        return {};
    }

    // The image of one mapped file, from the caches or through src.file.
    // The image of one mapped file, from the caches or through src.file:
    // its path; else the path inside the process's root (another mount
    // namespace); else the mapped file itself through /proc/PID/map_files
    // (a file deleted or replaced since it was mapped: a rebuilt program).
    ImagePtr imageFor(pid_t p, const MapLine &first, uint64_t start0)
    {
        const std::string &path = first.path;
        bool notElf = false;
        std::string bid;
        if (start0 != ~0ull)
            bid = buildIdFromMemory(start0, notElf);
        if (notElf)
            return nullptr;
        if (!bid.empty())
            if (ImagePtr img = cacheGet(cache().byBuildId, bid))
                return img;
        std::string fileId = path + "\n" + first.dev + "\n" + std::to_string(first.inode);
        if (ImagePtr img = cacheGet(cache().byFileId, fileId))
            if (bid.empty() || img->buildId == bid)
                return img;
        std::string onDisk = path;
        const std::string deleted = " (deleted)";
        if (onDisk.size() > deleted.size() &&
            onDisk.compare(onDisk.size() - deleted.size(), deleted.size(), deleted) == 0)
            onDisk.resize(onDisk.size() - deleted.size());
        char range[64];
        snprintf(range, sizeof range, "%llx-%llx", static_cast<unsigned long long>(first.start),
                 static_cast<unsigned long long>(first.end));
        const std::string proc = "/proc/" + std::to_string(p);
        const std::string candidates[] = {onDisk, proc + "/root" + onDisk,
                                          proc + "/map_files/" + range};
        std::string firstError, otherBuildId;
        for (const std::string &c : candidates) {
            std::vector<uint8_t> bytes;
            try {
                bytes = src.file ? src.file(c) : std::vector<uint8_t>{};
            } catch (const std::exception &e) {
                if (firstError.empty())
                    firstError = e.what();
                continue;
            }
            if (bytes.empty())
                continue;
            ImagePtr img = makeImage(bytes, c);
            if (!img)
                return nullptr; // a mapped data file, not ELF
            if (!bid.empty() && img->buildId != bid) {
                if (otherBuildId.empty())
                    otherBuildId = img->buildId;
                continue;
            }
            cachePut(cache().byFileId, fileId, img);
            if (!img->buildId.empty())
                cachePut(cache().byBuildId, img->buildId, img);
            return img;
        }
        if (!otherBuildId.empty())
            problems.push_back(onDisk + " changed on disk since the process mapped it (build-id " +
                               otherBuildId + ", mapped " + bid +
                               ") and the mapped copy is not readable (" + proc +
                               "/map_files needs root on the target); its symbols are not "
                               "shown: restart the process");
        else
            problems.push_back(
                "cannot read " + onDisk + ": " +
                (firstError.empty() ? "the file is missing or empty on the target" : firstError));
        return nullptr;
    }

    ImagePtr vdsoImage(const MapLine &m)
    {
        bool notElf = false;
        std::string bid = buildIdFromMemory(m.start, notElf);
        if (!bid.empty())
            if (ImagePtr p = cacheGet(cache().byBuildId, bid))
                return p;
        std::vector<uint8_t> bytes = readMemVia(src, m.start, m.end - m.start);
        if (bytes.size() < m.end - m.start)
            return nullptr;
        ImagePtr img = makeImage(bytes, "[vdso]");
        if (img && !img->buildId.empty())
            cachePut(cache().byBuildId, img->buildId, img);
        return img;
    }

    struct Planned {
        ModuleInfo info;
        ImagePtr image;
        uint64_t low;
    };

    void refresh(pid_t p)
    {
        if (!src.maps)
            throw Error(EINVAL, "the symbolizer has no maps source: set SymbolizerSource::maps");
        std::string text;
        try {
            text = src.maps(p);
        } catch (const Error &) {
            throw;
        } catch (const std::exception &e) {
            throw Error(ESRCH, "cannot read the memory map of process " + std::to_string(p) + ": " +
                                   e.what());
        }
        // Clients refresh at every stop; the same map is the same modules
        // (a replaced file has a new inode, an exec new addresses or files).
        if (dwfl && p == pid && text == lastMaps)
            return;
        std::vector<MapLine> lines = parseMaps(text);
        if (lines.empty())
            throw Error(ESRCH, "process " + std::to_string(p) +
                                   " has no memory map: it has exited or is a kernel thread");
        problems.clear();
        lastMaps.clear();

        // Group the lines of each file: consecutive mappings of the same
        // file (anonymous .bss lines in between do not split a module).
        std::vector<Planned> plan;
        bool incomplete = false;
        for (size_t i = 0; i < lines.size();) {
            const MapLine &m = lines[i];
            if (m.path == "[vdso]") {
                if (ImagePtr img = vdsoImage(m))
                    addPlanned(plan, m.path, img, m.end, m.start, 0);
                else
                    incomplete = true; // memory unreadable now: retry next time
                i++;
                continue;
            }
            // Devices, memfds and SysV shared memory are never ELF modules.
            if (m.path.empty() || m.path[0] != '/' || m.inode == 0 ||
                m.path.compare(0, 5, "/dev/") == 0 || m.path.compare(0, 7, "/memfd:") == 0 ||
                m.path.compare(0, 5, "/SYSV") == 0) {
                i++;
                continue;
            }
            size_t j = i + 1;
            uint64_t end = m.end;
            uint64_t start0 = m.offset == 0 ? m.start : ~0ull;
            for (; j < lines.size(); j++) {
                if (lines[j].path.empty())
                    continue;
                if (lines[j].path != m.path || lines[j].inode != m.inode)
                    break;
                end = lines[j].end;
                if (lines[j].offset == 0 && start0 == ~0ull)
                    start0 = lines[j].start;
            }
            if (ImagePtr img = imageFor(p, m, start0))
                addPlanned(plan, m.path, img, end, m.start, m.offset);
            i = j;
        }

        // A module whose file changed under the same name and addresses
        // would be kept by dwfl_report_module with its old contents: start
        // over then.
        bool restart = dwfl == nullptr || p != pid;
        if (!restart) {
            for (auto &pl : plan)
                for (auto &[mod, old] : mods)
                    if (old.info.path == pl.info.path && old.info.start == pl.low &&
                        old.image != pl.image)
                        restart = true;
        }
        if (restart) {
            reset();
            dwfl = dwfl_begin(&callbacks);
            if (!dwfl)
                throw Error(ENOMEM, std::string("cannot start libdwfl: ") + dwfl_errmsg(-1));
        }
        pid = p;
        dwfl_report_begin(dwfl);
        std::map<Dwfl_Module *, Mod> next;
        for (auto &pl : plan) {
            Dwfl_Module *mod = dwfl_report_module(dwfl, pl.info.path.c_str(), pl.low, pl.info.end);
            if (!mod) {
                problems.push_back("libdwfl refused module " + pl.info.path + ": " +
                                   dwfl_errmsg(-1));
                continue;
            }
            void **ud = nullptr;
            dwfl_module_info(mod, &ud, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
            *ud = this;
            Mod m;
            auto old = mods.find(mod);
            if (old != mods.end())
                m = old->second;
            m.info = pl.info;
            m.image = pl.image;
            next[mod] = std::move(m);
        }
        // find_elf may run for new modules at any later call: it looks them
        // up in mods, so install the new table before report_end.
        std::map<Dwfl_Module *, Mod> previous;
        previous.swap(mods);
        mods = std::move(next);
        if (dwfl_report_end(dwfl, nullptr, nullptr) != 0)
            throw Error(EIO,
                        std::string("libdwfl could not take the module list: ") + dwfl_errmsg(-1));
        // Removed modules are gone now; their images may be released.
        previous.clear();
        // Only a refresh that got everything may be skipped next time.
        if (!incomplete && problems.empty())
            lastMaps = std::move(text);
    }

    // Plans the module of `img` whose first mapping (at file offset
    // lineOffset) starts at lineStart and whose last one ends at end.
    void addPlanned(std::vector<Planned> &plan, const std::string &path, const ImagePtr &img,
                    uint64_t end, uint64_t lineStart, uint64_t lineOffset)
    {
        if (img->loads.empty())
            return;
        // bias: where the segment holding lineOffset is, minus where it was linked.
        uint64_t bias = 0;
        bool found = false;
        for (auto &l : img->loads) {
            uint64_t pageOff = l.offset & ~(uint64_t(4095));
            if (lineOffset >= pageOff && lineOffset < l.offset + std::max<uint64_t>(l.filesz, 1)) {
                bias = lineStart - lineOffset - ((l.vaddr - l.offset) & ~uint64_t(4095));
                found = true;
                break;
            }
        }
        if (!found)
            bias = lineStart - lineOffset;
        if (img->type == ET_EXEC)
            bias = 0;
        const Image::Load &first = img->loads.front();
        uint64_t align = first.align ? first.align : 1;
        uint64_t low = bias + (first.vaddr & ~(align - 1));
        Planned pl;
        pl.info.path = path;
        pl.info.start = low;
        pl.info.end = end;
        pl.info.bias = bias;
        pl.info.buildId = img->buildId;
        pl.image = img;
        pl.low = low;
        plan.push_back(std::move(pl));
    }

    void needModules(const char *what) const
    {
        if (!dwfl)
            throw Error(EINVAL, std::string(what) +
                                    " needs the process's modules: call refresh(pid) first");
    }

    // A function's name from DWARF: the demangled linkage name where there
    // is one; else (functions with internal linkage) the name qualified
    // by its namespaces and classes, with the parameter types for C++, as
    // the demangler would write it.
    static std::string dieName(Dwarf_Die *die)
    {
        Dwarf_Attribute a;
        const char *n = nullptr;
        if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) ||
            dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a))
            n = dwarf_formstring(&a);
        if (n)
            return demangle(n);
        if (dwarf_attr_integrate(die, DW_AT_name, &a))
            n = dwarf_formstring(&a);
        if (!n)
            return "";
        // The declaration: through the abstract origin and specification.
        Dwarf_Die decl = *die;
        for (int hop = 0; hop < 4; hop++) {
            Dwarf_Die next;
            if ((dwarf_attr(&decl, DW_AT_abstract_origin, &a) ||
                 dwarf_attr(&decl, DW_AT_specification, &a)) &&
                dwarf_formref_die(&a, &next))
                decl = next;
            else
                break;
        }
        Dwarf_Die cu;
        bool cxx = false;
        if (dwarf_diecu(&decl, &cu, nullptr, nullptr)) {
            Dwarf_Word lang = 0;
            if (dwarf_formudata(dwarf_attr(&cu, DW_AT_language, &a), &lang) == 0)
                cxx = lang == DW_LANG_C_plus_plus || lang == DW_LANG_C_plus_plus_11 ||
                      lang == DW_LANG_C_plus_plus_14 || lang == DW_LANG_C_plus_plus_03;
        }
        std::string name = n;
        if (!cxx)
            return name;
        std::string scope = qualifier(&decl);
        std::string params;
        Dwarf_Die child;
        if (dwarf_child(&decl, &child) == 0) {
            do {
                if (dwarf_tag(&child) != DW_TAG_formal_parameter)
                    continue;
                if (dwarf_attr_integrate(&child, DW_AT_artificial, &a))
                    continue; // `this`
                Dwarf_Die type;
                if (!params.empty())
                    params += ", ";
                params +=
                    dwarf_attr_integrate(&child, DW_AT_type, &a) && dwarf_formref_die(&a, &type)
                        ? typeName(&type, 0)
                        : "?";
            } while (dwarf_siblingof(&child, &child) == 0);
        }
        return scope + name + "(" + params + ")";
    }

    // "ns::Class::" for a DIE inside namespaces and classes.
    static std::string qualifier(Dwarf_Die *die)
    {
        Dwarf_Die *scopes = nullptr;
        int n = dwarf_getscopes_die(die, &scopes);
        std::string q;
        for (int i = n - 1; i >= 1; i--) {
            int tag = dwarf_tag(&scopes[i]);
            if (tag != DW_TAG_namespace && tag != DW_TAG_class_type &&
                tag != DW_TAG_structure_type && tag != DW_TAG_union_type)
                continue;
            const char *sn = dwarf_diename(&scopes[i]);
            q += sn ? sn : "(anonymous namespace)";
            q += "::";
        }
        free(scopes);
        return q;
    }

    static std::string typeName(Dwarf_Die *t, int depth)
    {
        if (depth > 8)
            return "?";
        Dwarf_Attribute a;
        Dwarf_Die inner;
        bool hasInner = dwarf_attr_integrate(t, DW_AT_type, &a) && dwarf_formref_die(&a, &inner);
        auto under = [&] { return hasInner ? typeName(&inner, depth + 1) : std::string("void"); };
        switch (dwarf_tag(t)) {
        case DW_TAG_pointer_type:
            return under() + "*";
        case DW_TAG_reference_type:
            return under() + "&";
        case DW_TAG_rvalue_reference_type:
            return under() + "&&";
        case DW_TAG_const_type:
            return under() + " const";
        case DW_TAG_volatile_type:
            return under() + " volatile";
        case DW_TAG_base_type: {
            const char *bn = dwarf_diename(t);
            return bn ? bn : "?";
        }
        default: {
            const char *tn = dwarf_diename(t);
            return tn ? qualifier(t) + tn : "?";
        }
        }
    }

    std::string modulePath(Dwfl_Module *mod) const
    {
        auto it = mods.find(mod);
        if (it != mods.end())
            return it->second.info.path;
        const char *n =
            dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
        return n ? n : "";
    }

    // The frames at pc: lookup is pc, or pc - 1 for a return address (the
    // call instruction's line and inline chain, not the next one's).
    void symbolize(uint64_t pc, uint64_t lookup, std::vector<Frame> &out)
    {
        Frame base;
        base.pc = pc;
        Dwfl_Module *mod = dwfl_addrmodule(dwfl, lookup);
        if (!mod) {
            out.push_back(base);
            return;
        }
        base.module = modulePath(mod);
        GElf_Off symOff = 0;
        GElf_Sym sym;
        const char *symName =
            dwfl_module_addrinfo(mod, lookup, &symOff, &sym, nullptr, nullptr, nullptr);
        std::optional<SourceLocation> loc;
        if (Dwfl_Line *l = dwfl_module_getsrc(mod, lookup)) {
            int line = 0, col = 0;
            const char *f = dwfl_lineinfo(l, nullptr, &line, &col, nullptr, nullptr);
            if (f)
                loc = SourceLocation{sourcePath(f, dwfl_line_comp_dir(l)), line, col};
        }

        Dwarf_Addr bias = 0;
        Dwarf_Die *cu = dwfl_module_addrdie(mod, lookup, &bias);
        Dwarf_Die *scopes = nullptr;
        int n = cu ? dwarf_getscopes(cu, lookup - bias, &scopes) : 0;
        Dwarf_Die *chain = nullptr;
        int nchain = 0;
        if (n > 0) {
            // dwarf_getscopes mixes in the abstract definition's scopes;
            // the concrete nesting around the innermost scope is what holds
            // the inlined instances and their call sites.
            Dwarf_Die inner = scopes[0];
            nchain = dwarf_getscopes_die(&inner, &chain);
        }
        free(scopes);
        Dwarf_Files *files = nullptr;
        const char *compDir = nullptr;
        if (cu) {
            dwarf_getsrcfiles(cu, &files, nullptr);
            Dwarf_Attribute ca;
            compDir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &ca));
        }

        bool haveFunction = false;
        for (int i = 0; i < nchain; i++) {
            Dwarf_Die *d = &chain[i];
            int tag = dwarf_tag(d);
            if (tag == DW_TAG_inlined_subroutine) {
                Frame f = base;
                f.function = dieName(d);
                f.inlined = true;
                f.source = loc;
                Dwarf_Addr entry = 0;
                if (dwarf_entrypc(d, &entry) == 0)
                    f.offset = pc - (entry + bias);
                out.push_back(f);
                // The caller's location is this instance's call site.
                Dwarf_Attribute a;
                Dwarf_Word v = 0;
                SourceLocation call;
                if (files && dwarf_formudata(dwarf_attr(d, DW_AT_call_file, &a), &v) == 0)
                    if (const char *cf = dwarf_filesrc(files, v, nullptr, nullptr))
                        call.file = sourcePath(cf, compDir);
                if (dwarf_formudata(dwarf_attr(d, DW_AT_call_line, &a), &v) == 0)
                    call.line = int(v);
                if (dwarf_formudata(dwarf_attr(d, DW_AT_call_column, &a), &v) == 0)
                    call.column = int(v);
                loc = call.line ? std::optional<SourceLocation>(call) : std::nullopt;
            } else if (tag == DW_TAG_subprogram) {
                Frame f = base;
                f.source = loc;
                if (symName && lookup - symOff <= pc) {
                    f.function = demangle(symName);
                    f.offset = symOff + (pc - lookup);
                } else {
                    f.function = dieName(d);
                    Dwarf_Addr entry = 0;
                    if (dwarf_entrypc(d, &entry) == 0)
                        f.offset = pc - (entry + bias);
                }
                out.push_back(f);
                haveFunction = true;
                break;
            }
        }
        free(chain);
        if (!haveFunction) {
            Frame f = base;
            f.source = loc;
            if (symName) {
                f.function = demangle(symName);
                f.offset = symOff + (pc - lookup);
            }
            out.push_back(f);
        }
    }

    // Dwfl_Thread_Callbacks: one thread, registers from `regs`, memory
    // through src.memory (cached in blocks for the length of one backtrace).
    static pid_t nextThread(Dwfl *, void *arg, void **threadArg)
    {
        Impl *me = static_cast<Impl *>(arg);
        if (*threadArg)
            return 0;
        *threadArg = me;
        return me->pid;
    }
    static bool getThread(Dwfl *, pid_t, void *arg, void **threadArg)
    {
        *threadArg = arg;
        return true;
    }
    static bool memoryRead(Dwfl *, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
    {
        Impl *me = static_cast<Impl *>(arg);
        uint8_t buf[sizeof(Dwarf_Word)];
        for (size_t i = 0; i < sizeof buf;) {
            uint64_t a = addr + i;
            uint64_t blk = a & ~(Block - 1);
            auto it = me->memCache.find(blk);
            if (it == me->memCache.end())
                it = me->memCache.emplace(blk, readMemVia(me->src, blk, Block)).first;
            uint64_t at = a - blk;
            if (at >= it->second.size())
                return false;
            size_t take = std::min<size_t>(sizeof buf - i, it->second.size() - at);
            memcpy(buf + i, it->second.data() + at, take);
            i += take;
        }
        memcpy(result, buf, sizeof buf);
        return true;
    }
    static bool setInitialRegisters(Dwfl_Thread *thread, void *arg)
    {
        Impl *me = static_cast<Impl *>(arg);
        Dwarf_Word r[17];
        dwarfRegs(*me->regs, r);
        return dwfl_thread_state_registers(thread, 0, 17, r);
    }
    static const Dwfl_Thread_Callbacks threadCallbacks;

    struct Walk {
        Impl *me;
        std::vector<Frame> *out;
        size_t max;
    };
    static int onFrame(Dwfl_Frame *state, void *arg)
    {
        Walk *w = static_cast<Walk *>(arg);
        Dwarf_Addr pc = 0;
        bool activation = false;
        if (!dwfl_frame_pc(state, &pc, &activation))
            return DWARF_CB_ABORT;
        w->me->symbolize(pc, activation || pc == 0 ? pc : pc - 1, *w->out);
        if (w->out->size() >= w->max) {
            w->out->resize(w->max);
            return DWARF_CB_ABORT;
        }
        return DWARF_CB_OK;
    }

    std::vector<Frame> backtrace(const user_regs_struct &r, size_t maxFrames)
    {
        needModules("a backtrace");
        std::vector<Frame> out;
        if (maxFrames == 0)
            return out;
        if (!attached) {
            // The architecture comes from an Elf that must outlive the
            // Dwfl; modules may be dropped by a later refresh, so use one
            // of our own.
            for (auto &[mod, m] : mods) {
                if (!m.image)
                    continue;
                eblImage = m.image;
                ebl = elf_begin(eblImage->fd, ELF_C_READ_MMAP, nullptr);
                break;
            }
            if (!ebl)
                throw Error(ENOEXEC, "cannot unwind: the process has no readable ELF module");
            if (!dwfl_attach_state(dwfl, ebl, pid, &threadCallbacks, this))
                throw Error(ENOTSUP,
                            std::string("libdwfl cannot unwind this process: ") + dwfl_errmsg(-1));
            attached = true;
        }
        regs = &r;
        memCache.clear();
        Walk w{this, &out, maxFrames};
        // A non-zero result is the normal end of the stack on x86-64 as
        // often as it is an error; the frames so far are the answer.
        dwfl_getthread_frames(dwfl, pid, &Impl::onFrame, &w);
        regs = nullptr;
        memCache.clear();
        if (out.empty())
            symbolize(r.rip, r.rip, out);
        return out;
    }

    static bool nameMatches(const char *raw, const std::string &want)
    {
        if (!raw)
            return false;
        if (want == raw)
            return true;
        if (raw[0] != '_' || raw[1] != 'Z')
            return false;
        std::string d = demangle(raw);
        if (d == want)
            return true;
        // "ns::f" names "ns::f(int)" (the first of its overloads).
        return d.size() > want.size() && d.compare(0, want.size(), want) == 0 &&
               d[want.size()] == '(';
    }

    std::vector<Dwfl_Module *> orderedModules() const
    {
        std::vector<std::pair<uint64_t, Dwfl_Module *>> v;
        for (auto &[mod, m] : mods)
            v.push_back({m.info.start, mod});
        std::sort(v.begin(), v.end());
        std::vector<Dwfl_Module *> out;
        for (auto &p : v)
            out.push_back(p.second);
        return out;
    }

    std::optional<uint64_t> lookup(const std::string &symbol)
    {
        needModules("looking up a symbol");
        // "lib:name" names a module; the "::" of C++ names does not.
        std::string modName, name = symbol;
        for (size_t i = 0; i < symbol.size(); i++) {
            if (symbol[i] != ':')
                continue;
            if (i + 1 < symbol.size() && symbol[i + 1] == ':') {
                i++;
                continue;
            }
            modName = symbol.substr(0, i);
            name = symbol.substr(i + 1);
            break;
        }
        if (name.empty())
            return std::nullopt;
        // The executable is the first module, so "main" is its main.
        std::vector<Dwfl_Module *> order = orderedModules();
        std::stable_partition(order.begin(), order.end(), [&](Dwfl_Module *m) {
            return mods.at(m).image && mods.at(m).image->type == ET_EXEC;
        });
        for (Dwfl_Module *mod : order) {
            const std::string &path = mods.at(mod).info.path;
            if (!modName.empty()) {
                std::string baseName = path.substr(path.rfind('/') + 1);
                bool match = path == modName || baseName == modName ||
                             (baseName.size() > modName.size() &&
                              baseName.compare(0, modName.size(), modName) == 0 &&
                              (baseName[modName.size()] == '.' || baseName[modName.size()] == '-'));
                if (!match)
                    continue;
            }
            int n = dwfl_module_getsymtab(mod);
            int bestRank = -1;
            uint64_t best = 0;
            for (int i = 1; i < n; i++) {
                GElf_Sym sym;
                GElf_Addr addr = 0;
                GElf_Word shndx = 0;
                const char *s =
                    dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx, nullptr, nullptr);
                if (!s || shndx == SHN_UNDEF || sym.st_value == 0)
                    continue;
                int type = GELF_ST_TYPE(sym.st_info);
                if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_OBJECT)
                    continue;
                if (!nameMatches(s, name))
                    continue;
                int bind = GELF_ST_BIND(sym.st_info);
                int rank = (bind == STB_GLOBAL ? 4
                            : bind == STB_WEAK ? 2
                                               : 0) +
                           (type == STT_OBJECT ? 0 : 1);
                if (rank > bestRank) {
                    bestRank = rank;
                    best = addr;
                }
            }
            if (bestRank >= 0)
                return best;
        }
        return std::nullopt;
    }

    std::vector<uint64_t> addressesOf(const std::string &file, int line)
    {
        needModules("finding a source line");
        std::set<uint64_t> out;
        for (auto &[mod, m] : mods) {
            Dwfl_Line **lines = nullptr;
            size_t n = 0;
            if (dwfl_module_getsrc_file(mod, file.c_str(), line, 0, &lines, &n) != 0)
                continue;
            for (size_t i = 0; i < n; i++) {
                Dwarf_Addr addr = 0;
                int l = 0;
                if (!dwfl_lineinfo(lines[i], &addr, &l, nullptr, nullptr, nullptr) || l != line)
                    continue;
                Dwarf_Addr b = 0;
                bool stmt = true;
                if (Dwarf_Line *dl = dwfl_dwarf_line(lines[i], &b))
                    dwarf_linebeginstatement(dl, &stmt);
                if (stmt)
                    out.insert(addr);
            }
            free(lines);
        }
        return {out.begin(), out.end()};
    }
};

const Dwfl_Thread_Callbacks Symbolizer::Impl::threadCallbacks = {
    &Impl::nextThread,          &Impl::getThread, &Impl::memoryRead,
    &Impl::setInitialRegisters, nullptr,          nullptr,
};

std::string formatFrame(const Frame &f)
{
    std::string s = f.function.empty() ? "??" : f.function;
    if (f.inlined) {
        s += " [inlined]";
    } else if (!f.function.empty() && f.offset) {
        char off[32];
        snprintf(off, sizeof off, "+0x%llx", static_cast<unsigned long long>(f.offset));
        s += off;
    }
    if (f.source) {
        s += " at " + f.source->file + ":" + std::to_string(f.source->line);
        if (f.source->column)
            s += ":" + std::to_string(f.source->column);
    }
    if (!f.module.empty())
        s += " (" + f.module.substr(f.module.rfind('/') + 1) + ")";
    return s;
}

Symbolizer::Symbolizer(SymbolizerSource src) : d_(std::make_unique<Impl>(std::move(src))) {}

Symbolizer::~Symbolizer() = default;

void Symbolizer::refresh(pid_t pid)
{
    d_->refresh(pid);
}

std::vector<Frame> Symbolizer::describe(uint64_t pc)
{
    d_->needModules("describing an address");
    std::vector<Frame> out;
    d_->symbolize(pc, pc, out);
    return out;
}

std::vector<Frame> Symbolizer::backtrace(const user_regs_struct &regs, size_t maxFrames)
{
    return d_->backtrace(regs, maxFrames);
}

std::optional<uint64_t> Symbolizer::lookup(const std::string &symbol)
{
    return d_->lookup(symbol);
}

std::vector<uint64_t> Symbolizer::addressesOf(const std::string &file, int line)
{
    return d_->addressesOf(file, line);
}

std::vector<ModuleInfo> Symbolizer::modules() const
{
    std::vector<ModuleInfo> out;
    for (Dwfl_Module *m : d_->orderedModules())
        out.push_back(d_->mods.at(m).info);
    return out;
}

std::vector<std::string> Symbolizer::problems() const
{
    return d_->problems;
}

} // namespace utrace
