// Decode fixture: a fixed sequence of raw syscalls whose strace lines are
// known. The Decode suite traces it with ptrace and renders each call with
// the decoder, and compares with strace's own output when strace is there.
// Everything before the write(-1, "BEGIN", 5) marker (the dynamic loader) is
// not compared.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

int main()
{
    // Descriptors from 3 up are the fixture's alone, so their numbers are known.
    syscall(SYS_close_range, 3, ~0U, 0);
    syscall(SYS_write, -1, "BEGIN", 5);

    syscall(SYS_openat, AT_FDCWD, "/nonexistent/utrace-decode", O_RDONLY | O_CLOEXEC);
    long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY | O_CLOEXEC);
    syscall(SYS_write, fd, "hello\n", 6);
    struct stat st;
    syscall(SYS_fstat, fd, &st);
    syscall(SYS_close, fd);

    int p[2];
    syscall(SYS_pipe2, p, O_CLOEXEC);
    struct timespec ts = {0, 1000};
    syscall(SYS_nanosleep, &ts, nullptr);
    uint64_t set = (1ull << (SIGINT - 1)) | (1ull << (SIGTERM - 1)), old = 0;
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, &old, 8);
    syscall(SYS_access, "/", R_OK | X_OK);
    syscall(SYS_lseek, p[0], 0, SEEK_CUR);
    syscall(SYS_chdir, "/");
    char cwd[4096];
    syscall(SYS_getcwd, cwd, sizeof(cwd));
    struct utsname u;
    syscall(SYS_uname, &u);

    long us = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::strcpy(un.sun_path, "/nonexistent/sock");
    syscall(SYS_connect, us, &un, sizeof(un));
    long is = syscall(SYS_socket, AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(9);
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    syscall(SYS_connect, is, &in, sizeof(in));

    syscall(SYS_wait4, -1, nullptr, WNOHANG, nullptr);
    syscall(SYS_prctl, PR_SET_NAME, "decodefix", 0, 0, 0);
    struct pollfd pf = {p[0], POLLIN, 0};
    syscall(SYS_poll, &pf, 1, 0);
    syscall(SYS_write, p[1], "x", 1);
    syscall(SYS_poll, &pf, 1, 0);
    char b[8];
    struct iovec iov = {b, sizeof(b)};
    syscall(SYS_readv, p[0], &iov, 1);
    syscall(SYS_fcntl, p[0], F_GETFD);
    syscall(SYS_fcntl, p[1], F_GETFL);
    syscall(SYS_fcntl, p[1], F_SETFL, O_WRONLY | O_NONBLOCK);
    uint64_t rl[2];
    syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, rl);
    syscall(SYS_mprotect, nullptr, 0, PROT_READ);
    syscall(SYS_munmap, nullptr, 0);
    uint64_t ignore[4] = {1 /* SIG_IGN */, 0, 0, 0};
    syscall(SYS_rt_sigaction, SIGUSR1, ignore, nullptr, 8);
    syscall(SYS_newfstatat, AT_FDCWD, "/dev/null", &st, AT_SYMLINK_NOFOLLOW);
    syscall(SYS_kill, 0, 0);
    syscall(SYS_dup3, p[0], 10, O_CLOEXEC);
    syscall(SYS_futex, &set, 0x81 /* FUTEX_WAKE_PRIVATE */, 1, 0, 0, 0);
    syscall(SYS_fadvise64, p[0], 0, 0, POSIX_FADV_SEQUENTIAL);
    syscall(SYS_renameat2, AT_FDCWD, "/nonexistent/a", AT_FDCWD, "/nonexistent/b",
            1 /* RENAME_NOREPLACE */);
    syscall(SYS_prctl, PR_CAPBSET_READ, 21 /* CAP_SYS_ADMIN */, 0, 0, 0);
    uint64_t cpus[16] = {};
    syscall(SYS_sched_getaffinity, 0, sizeof(cpus), cpus);
    syscall(SYS_getgroups, 0, nullptr);
    syscall(SYS_umask, 022);
    syscall(SYS_brk, 0);

    // Messages, epoll, select, a memfd.
    int sv[2];
    syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    char data[] = "hi there";
    struct iovec dio = {data, 8};
    struct msghdr mh {};
    mh.msg_iov = &dio;
    mh.msg_iovlen = 1;
    syscall(SYS_sendmsg, sv[0], &mh, MSG_NOSIGNAL);
    char rb[16];
    struct iovec rio = {rb, sizeof(rb)};
    struct msghdr rh {};
    rh.msg_iov = &rio;
    rh.msg_iovlen = 1;
    syscall(SYS_recvmsg, sv[1], &rh, 0);
    long ep = syscall(SYS_epoll_create1, EPOLL_CLOEXEC);
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.u64 = 7;
    syscall(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, sv[1], &ev);
    syscall(SYS_write, sv[0], "x", 1);
    struct epoll_event evs[4];
    syscall(SYS_epoll_wait, ep, evs, 4, 0);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(sv[1], &rs);
    struct timeval tv = {0, 0};
    syscall(SYS_select, sv[1] + 1, &rs, nullptr, nullptr, &tv);
    long mfd = syscall(SYS_memfd_create, "decode", MFD_CLOEXEC);
    syscall(SYS_ftruncate, mfd, 4096);
    syscall(SYS_pwrite64, mfd, "abc", 3, 10);
    char pb[4];
    syscall(SYS_pread64, mfd, pb, 3, 10);
    long map = syscall(SYS_mmap, nullptr, 4096, PROT_READ, MAP_SHARED, mfd, 0);
    syscall(SYS_munmap, map, 4096);
    int type = 0;
    socklen_t typeLen = sizeof(type);
    syscall(SYS_getsockopt, sv[0], SOL_SOCKET, SO_TYPE, &type, &typeLen);
    syscall(SYS_shutdown, sv[0], SHUT_WR);
    syscall(SYS_writev, sv[1], &dio, 1);

    stack_t oldStack;
    syscall(SYS_sigaltstack, nullptr, &oldStack);
    siginfo_t child;
    syscall(SYS_waitid, P_ALL, 0, &child, WEXITED | WNOHANG, nullptr);

    // Signals: SIGUSR1 is ignored, which a tracer is still told about.
    long pid = syscall(SYS_getpid);
    syscall(SYS_kill, pid, SIGUSR1);
    syscall(SYS_tgkill, pid, pid, SIGUSR1);
    syscall(SYS_exit_group, 3);
}
