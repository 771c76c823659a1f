// UtraceDevice: /dev/utrace as the foundation provides it, in the test VM.
#include <linux/utrace.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <gtest/gtest.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace {

const char *const kDev = "/dev/" UTRACE_DEVICE_NAME;

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd()
    {
        if (fd_ >= 0)
            close(fd_);
    }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

int openDev()
{
    return open(kDev, O_RDWR | O_CLOEXEC);
}

std::string readFile(const std::string &path)
{
    std::ifstream in(path);
    std::string s;
    std::getline(in, s);
    return s;
}

int moduleRefcnt()
{
    return std::stoi(readFile("/sys/module/utrace/refcnt"));
}

} // namespace

TEST(UtraceDevice, NodeIsRootOnlyCharDevice)
{
    struct stat st {};
    ASSERT_EQ(stat(kDev, &st), 0) << strerror(errno);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(st.st_uid, 0u);
}

TEST(UtraceDevice, VersionReportsApiKernelAndFeatures)
{
    Fd fd(openDev());
    ASSERT_GE(fd.get(), 0) << strerror(errno);
    utrace_version v{};
    v.size = sizeof(v);
    ASSERT_EQ(ioctl(fd.get(), UTRACE_IOC_VERSION, &v), 0) << strerror(errno);
    EXPECT_EQ(v.size, sizeof(v));
    EXPECT_EQ(v.api_version, static_cast<__u32>(UTRACE_DEV_API_VERSION));
    EXPECT_TRUE(v.features & UTRACE_FEAT_DEVICE);
    EXPECT_TRUE(v.features & UTRACE_FEAT_CORE);
    // Both Debian kernels re-read the syscall number after sys_enter; the
    // module proves it at load time on the loading process's next syscall.
    EXPECT_TRUE(v.features & UTRACE_FEAT_SYSCALL_STOP_BEFORE);
    struct utsname u {};
    ASSERT_EQ(uname(&u), 0);
    EXPECT_STREQ(v.kernel_release, u.release);
    EXPECT_GT(std::strlen(v.module_version), 0u);
    EXPECT_EQ(std::string(v.module_version), readFile("/sys/module/utrace/version"));
}

TEST(UtraceDevice, VersionFromANewerCallerFillsOnlyWhatItKnows)
{
    Fd fd(openDev());
    ASSERT_GE(fd.get(), 0);
    // A future caller passes a bigger struct: the kernel fills its own size
    // and leaves the rest alone.
    alignas(8) unsigned char buf[sizeof(utrace_version) + 64];
    std::memset(buf, 0xA5, sizeof(buf));
    __u32 size = sizeof(buf);
    std::memcpy(buf, &size, sizeof(size));
    ASSERT_EQ(ioctl(fd.get(), UTRACE_IOC_VERSION, buf), 0) << strerror(errno);
    utrace_version v;
    std::memcpy(&v, buf, sizeof(v));
    EXPECT_EQ(v.size, sizeof(utrace_version));
    EXPECT_EQ(v.api_version, static_cast<__u32>(UTRACE_DEV_API_VERSION));
    for (size_t i = sizeof(utrace_version); i < sizeof(buf); i++)
        ASSERT_EQ(buf[i], 0xA5) << "byte " << i << " past the kernel's struct was written";
}

TEST(UtraceDevice, VersionRejectsATooSmallSize)
{
    Fd fd(openDev());
    ASSERT_GE(fd.get(), 0);
    utrace_version v{};
    v.size = UTRACE_VERSION_SIZE_VER0 - 1;
    errno = 0;
    EXPECT_EQ(ioctl(fd.get(), UTRACE_IOC_VERSION, &v), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(v.api_version, 0u) << "a rejected call must not write";
}

TEST(UtraceDevice, VersionRejectsBadPointersWithEfault)
{
    Fd fd(openDev());
    ASSERT_GE(fd.get(), 0);
    // A page whose size field is valid but which cannot be written back.
    void *rw = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(rw, MAP_FAILED);
    *static_cast<__u32 *>(rw) = sizeof(utrace_version);
    ASSERT_EQ(mprotect(rw, 4096, PROT_READ), 0);
    // Last, so that no later mapping reuses the hole.
    void *unmapped = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(unmapped, MAP_FAILED);
    munmap(unmapped, 4096);

    const unsigned long bad[] = {0UL, reinterpret_cast<unsigned long>(unmapped),
                                 0xffffffff81000000UL, reinterpret_cast<unsigned long>(rw)};
    for (unsigned long p : bad) {
        errno = 0;
        EXPECT_EQ(ioctl(fd.get(), UTRACE_IOC_VERSION, p), -1) << std::hex << p;
        EXPECT_EQ(errno, EFAULT) << std::hex << p;
    }
    EXPECT_EQ(*static_cast<__u32 *>(rw), sizeof(utrace_version));
    munmap(rw, 4096);
}

TEST(UtraceDevice, UnknownIoctlIsEnotty)
{
    Fd fd(openDev());
    ASSERT_GE(fd.get(), 0);
    utrace_version v{};
    errno = 0;
    EXPECT_EQ(ioctl(fd.get(), _IOWR(UTRACE_IOC_MAGIC, 0x7f, utrace_version), &v), -1);
    EXPECT_EQ(errno, ENOTTY);
    errno = 0;
    EXPECT_EQ(ioctl(fd.get(), _IOWR('x', 0x00, utrace_version), &v), -1);
    EXPECT_EQ(errno, ENOTTY);
}

TEST(UtraceDevice, TwoOpenFilesAreIndependent)
{
    Fd a(openDev());
    Fd b(openDev());
    ASSERT_GE(a.get(), 0);
    ASSERT_GE(b.get(), 0);
    utrace_version va{}, vb{};
    va.size = vb.size = sizeof(utrace_version);
    ASSERT_EQ(ioctl(a.get(), UTRACE_IOC_VERSION, &va), 0);
    ASSERT_EQ(ioctl(b.get(), UTRACE_IOC_VERSION, &vb), 0);
    EXPECT_EQ(std::memcmp(&va, &vb, sizeof(va)), 0);
    close(dup(a.get()));
    // Closing one leaves the other working.
    {
        Fd gone(dup(a.get()));
    }
    utrace_version again{};
    again.size = sizeof(again);
    EXPECT_EQ(ioctl(b.get(), UTRACE_IOC_VERSION, &again), 0);
}

TEST(UtraceDevice, NotSeekable)
{
    Fd fd(openDev());
    ASSERT_GE(fd.get(), 0);
    errno = 0;
    EXPECT_EQ(lseek(fd.get(), 0, SEEK_SET), -1);
    EXPECT_EQ(errno, ESPIPE);
}

TEST(UtraceDevice, AnOpenFilePinsTheModule)
{
    int before = moduleRefcnt();
    {
        Fd fd(openDev());
        ASSERT_GE(fd.get(), 0);
        EXPECT_EQ(moduleRefcnt(), before + 1);
        errno = 0;
        EXPECT_EQ(syscall(SYS_delete_module, "utrace", O_NONBLOCK), -1);
        EXPECT_EQ(errno, EWOULDBLOCK) << strerror(errno);
    }
    EXPECT_EQ(moduleRefcnt(), before);
}
