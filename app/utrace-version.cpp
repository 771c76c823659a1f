// utrace-version: prints the API version and feature bits of the loaded
// utrace module, or says in one sentence why it cannot.
#include <linux/utrace.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace {

struct Feature {
    __u64 bit;
    const char *name;
};

constexpr Feature kFeatures[] = {
    {UTRACE_FEAT_DEVICE, "device"},
    {UTRACE_FEAT_CORE, "core"},
    {UTRACE_FEAT_SYSCALL_STOP_BEFORE, "syscall-stop-before"},
    {UTRACE_FEAT_SINGLESTEP, "singlestep"},
    {UTRACE_FEAT_BLOCKSTEP, "blockstep"},
    {UTRACE_FEAT_SIGNAL_INTERCEPT, "signal-intercept"},
    {UTRACE_FEAT_EXIT_MM_INTACT, "exit-mm-intact"},
    {UTRACE_FEAT_JCTL, "jctl"},
};

} // namespace

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/dev/" UTRACE_DEVICE_NAME;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT)
            std::fprintf(stderr,
                         "utrace-version: %s does not exist: the utrace module is not loaded "
                         "(load it with `sudo modprobe utrace`, or try the demo VM: tools/demo).\n",
                         path);
        else if (err == EACCES || err == EPERM)
            std::fprintf(stderr,
                         "utrace-version: no permission to open %s: run as root or join the "
                         "device's group.\n",
                         path);
        else
            std::fprintf(stderr, "utrace-version: cannot open %s: %s.\n", path, std::strerror(err));
        return 1;
    }
    struct utrace_version v {};
    v.size = sizeof(v);
    if (ioctl(fd, UTRACE_IOC_VERSION, &v) != 0) {
        std::fprintf(stderr, "utrace-version: the VERSION request failed: %s.\n",
                     std::strerror(errno));
        close(fd);
        return 1;
    }
    close(fd);
    std::printf("utrace module %s, API version %u, kernel %s\n", v.module_version, v.api_version,
                v.kernel_release);
    std::printf("features:");
    for (const Feature &f : kFeatures)
        if (v.features & f.bit)
            std::printf(" %s", f.name);
    std::printf("\n");
    return 0;
}
