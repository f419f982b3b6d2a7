// faultfs: an LD_PRELOAD shim that makes the file system misbehave for the files under one folder, so tests can stop
// a process at a chosen moment or fill its disk without mounting anything. Inert unless FAULTFS_DIR is set.
//
//   FAULTFS_DIR=PATH           only files whose path starts with PATH are touched (resolved through /proc/self/fd)
//   FAULTFS_BUDGET=BYTES       bytes this process may write or allocate there; past it writes fail with ENOSPC (a
//                              write that crosses it is cut short at the budget, as on a disk that fills up)
//   FAULTFS_SLOW_SUFFIX=NAME   writes to files whose path ends with NAME are split in four pieces with FAULTFS_SLOW_MS
//                              between them, after a line "faultfs: write PATH OFFSET LENGTH" on stderr
//   FAULTFS_RENAME_MATCH=TEXT  a rename onto a path containing TEXT prints "faultfs: renamed PATH" on stderr after it
//                              is done, then waits FAULTFS_SLOW_MS
//
// Interposed: write, pwrite(64), writev, pwritev(64), fallocate(64), posix_fallocate(64), rename, renameat.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t budget_lock = PTHREAD_MUTEX_INITIALIZER;
static long long budget_left = -1; // -1: no budget
static const char *dir, *slow_suffix, *rename_match;
static long slow_ms;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_fallocate64)(int, int, off_t, off_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static int (*real_posix_fallocate64)(int, off_t, off_t);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);

static void init(void)
{
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_pwritev = dlsym(RTLD_NEXT, "pwritev");
    real_pwritev64 = dlsym(RTLD_NEXT, "pwritev64");
    real_fallocate = dlsym(RTLD_NEXT, "fallocate");
    real_fallocate64 = dlsym(RTLD_NEXT, "fallocate64");
    real_posix_fallocate = dlsym(RTLD_NEXT, "posix_fallocate");
    real_posix_fallocate64 = dlsym(RTLD_NEXT, "posix_fallocate64");
    real_rename = dlsym(RTLD_NEXT, "rename");
    real_renameat = dlsym(RTLD_NEXT, "renameat");
    dir = getenv("FAULTFS_DIR");
    if (dir && !*dir) dir = NULL;
    const char *b = getenv("FAULTFS_BUDGET");
    if (b && *b) budget_left = strtoll(b, NULL, 10);
    slow_suffix = getenv("FAULTFS_SLOW_SUFFIX");
    rename_match = getenv("FAULTFS_RENAME_MATCH");
    const char *ms = getenv("FAULTFS_SLOW_MS");
    slow_ms = ms ? strtol(ms, NULL, 10) : 0;
}

static void say(const char *line)
{
    size_t n = strlen(line);
    // Straight to the kernel: one write of a whole line, not through our own write().
    while (n > 0) {
        ssize_t w = syscall(SYS_write, 2, line, n);
        if (w <= 0) return;
        line += w;
        n -= (size_t)w;
    }
}

static void pause_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int under_dir(const char *path) { return dir && strncmp(path, dir, strlen(dir)) == 0; }

// The path an fd is open on, when it lies under FAULTFS_DIR; 0 otherwise.
static int watched(int fd, char *path, size_t size)
{
    pthread_once(&once, init);
    if (!dir) return 0;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, size - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    return under_dir(path);
}

// How many of `want` bytes may be written now: all, fewer (the budget's rest), or -1 with errno ENOSPC.
static ssize_t take_budget(size_t want)
{
    pthread_mutex_lock(&budget_lock);
    ssize_t allowed = (ssize_t)want;
    if (budget_left >= 0) {
        if (want > 0 && budget_left == 0) allowed = -1;
        else if ((long long)want > budget_left) allowed = (ssize_t)budget_left;
        if (allowed > 0) budget_left -= allowed;
    }
    pthread_mutex_unlock(&budget_lock);
    if (allowed < 0) errno = ENOSPC;
    return allowed;
}

static void give_back(size_t unused)
{
    pthread_mutex_lock(&budget_lock);
    if (budget_left >= 0) budget_left += (long long)unused;
    pthread_mutex_unlock(&budget_lock);
}

// A write of `count` bytes at `offset` (-1: the file position) to a watched file.
static ssize_t faulty_write(int fd, const char *path, const void *buf, size_t count, off_t offset,
    ssize_t (*pw)(int, const void *, size_t, off_t))
{
    ssize_t allowed = take_budget(count);
    if (allowed < 0) return -1;
    if (slow_suffix && slow_ms > 0 && ends_with(path, slow_suffix) && allowed >= 4) {
        char line[PATH_MAX + 80];
        snprintf(line, sizeof line, "faultfs: write %s %lld %lld\n", path, (long long)offset, (long long)allowed);
        say(line);
        size_t piece = ((size_t)allowed + 3) / 4, done = 0;
        while (done < (size_t)allowed) {
            size_t n = (size_t)allowed - done < piece ? (size_t)allowed - done : piece;
            ssize_t w = offset >= 0 ? pw(fd, (const char *)buf + done, n, offset + (off_t)done) : real_write(fd, (const char *)buf + done, n);
            if (w < 0) {
                give_back((size_t)allowed - done);
                return done > 0 ? (ssize_t)done : -1;
            }
            done += (size_t)w;
            if (done < (size_t)allowed) pause_ms(slow_ms);
        }
        return (ssize_t)done;
    }
    ssize_t w = offset >= 0 ? pw(fd, buf, (size_t)allowed, offset) : real_write(fd, buf, (size_t)allowed);
    if (w < allowed) give_back((size_t)(allowed - (w < 0 ? 0 : w)));
    return w;
}

EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
    char path[PATH_MAX];
    if (!watched(fd, path, sizeof path)) return real_write(fd, buf, count);
    return faulty_write(fd, path, buf, count, -1, real_pwrite64);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    char path[PATH_MAX];
    if (!watched(fd, path, sizeof path)) return real_pwrite(fd, buf, count, offset);
    return faulty_write(fd, path, buf, count, offset, real_pwrite);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset)
{
    char path[PATH_MAX];
    if (!watched(fd, path, sizeof path)) return real_pwrite64(fd, buf, count, offset);
    return faulty_write(fd, path, buf, count, offset, real_pwrite64);
}

// Vectored writes to a watched file go out one buffer at a time through the checks above.
static ssize_t faulty_writev(int fd, const char *path, const struct iovec *iov, int n, off_t offset)
{
    ssize_t total = 0;
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len == 0) continue;
        ssize_t w = faulty_write(fd, path, iov[i].iov_base, iov[i].iov_len, offset >= 0 ? offset + total : -1, real_pwrite64);
        if (w < 0) return total > 0 ? total : -1;
        total += w;
        if ((size_t)w < iov[i].iov_len) break;
    }
    return total;
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
    char path[PATH_MAX];
    if (!watched(fd, path, sizeof path)) return real_writev(fd, iov, n);
    return faulty_writev(fd, path, iov, n, -1);
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t offset)
{
    char path[PATH_MAX];
    if (!watched(fd, path, sizeof path)) return real_pwritev(fd, iov, n, offset);
    return faulty_writev(fd, path, iov, n, offset);
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t offset)
{
    char path[PATH_MAX];
    if (!watched(fd, path, sizeof path)) return real_pwritev64(fd, iov, n, offset);
    return faulty_writev(fd, path, iov, n, offset);
}

// Allocation takes from the budget only to check it: the bytes are counted when written.
static int allocation_fits(off_t len)
{
    pthread_mutex_lock(&budget_lock);
    int fits = budget_left < 0 || (long long)len <= budget_left;
    pthread_mutex_unlock(&budget_lock);
    return fits;
}

EXPORT int fallocate(int fd, int mode, off_t offset, off_t len)
{
    char path[PATH_MAX];
    if (watched(fd, path, sizeof path) && !allocation_fits(len)) {
        errno = ENOSPC;
        return -1;
    }
    return real_fallocate(fd, mode, offset, len);
}

EXPORT int fallocate64(int fd, int mode, off_t offset, off_t len)
{
    char path[PATH_MAX];
    if (watched(fd, path, sizeof path) && !allocation_fits(len)) {
        errno = ENOSPC;
        return -1;
    }
    return real_fallocate64(fd, mode, offset, len);
}

EXPORT int posix_fallocate(int fd, off_t offset, off_t len)
{
    char path[PATH_MAX];
    if (watched(fd, path, sizeof path) && !allocation_fits(len)) return ENOSPC;
    return real_posix_fallocate(fd, offset, len);
}

EXPORT int posix_fallocate64(int fd, off_t offset, off_t len)
{
    char path[PATH_MAX];
    if (watched(fd, path, sizeof path) && !allocation_fits(len)) return ENOSPC;
    return real_posix_fallocate64(fd, offset, len);
}

static void after_rename(const char *to)
{
    if (!rename_match || !*rename_match || !dir || !strstr(to, rename_match)) return;
    char full[PATH_MAX];
    if (!realpath(to, full) || !under_dir(full)) return;
    char line[PATH_MAX + 32];
    snprintf(line, sizeof line, "faultfs: renamed %s\n", full);
    say(line);
    if (slow_ms > 0) pause_ms(slow_ms);
}

EXPORT int rename(const char *from, const char *to)
{
    pthread_once(&once, init);
    int rc = real_rename(from, to);
    if (rc == 0) after_rename(to);
    return rc;
}

EXPORT int renameat(int fromdir, const char *from, int todir, const char *to)
{
    pthread_once(&once, init);
    int rc = real_renameat(fromdir, from, todir, to);
    if (rc == 0 && to[0] == '/') after_rename(to);
    return rc;
}
