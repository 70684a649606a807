/* A power cut, simulated: LD_PRELOAD this into a process writing files under
 * POWERLOSS_DIR. What reached the disk is kept in POWERLOSS_SHADOW: on fsync or
 * fdatasync of a file in the directory, the file's whole content at that moment is
 * copied there (what a sync makes durable); writes never synced are not. A file
 * created in the directory is marked "<name>.new" in the shadow until the directory
 * itself is synced: after a cut its entry may be gone, content synced or not.
 * Unlinking a file removes its copy. tests/support/powerloss.py reads the shadow
 * back as the files a machine would find after the cut. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_unlink)(const char *);

static const char *dir_of(void) { return getenv("POWERLOSS_DIR"); }
static const char *shadow_of(void) { return getenv("POWERLOSS_SHADOW"); }

static void resolve(void) {
    if (real_fsync) return;
    real_open = dlsym(RTLD_NEXT, "open");
    real_open64 = dlsym(RTLD_NEXT, "open64");
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_unlink = dlsym(RTLD_NEXT, "unlink");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
}

/* The name of path inside the watched directory, or NULL when it is elsewhere. */
static const char *watched_name(const char *path) {
    const char *dir = dir_of();
    if (dir == NULL || shadow_of() == NULL || path == NULL) return NULL;
    size_t n = strlen(dir);
    if (strncmp(path, dir, n) != 0 || path[n] != '/') return NULL;
    const char *name = path + n + 1;
    if (*name == '\0' || strchr(name, '/') != NULL) return NULL;
    return name;
}

static int fd_path(int fd, char *out, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, out, size - 1);
    if (len < 0) return -1;
    out[len] = '\0';
    return 0;
}

/* Every change to the shadow holds this lock: copies land in the order taken. */
static int lock_shadow(void) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/.lock", shadow_of());
    int fd = real_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) flock(fd, LOCK_EX);
    return fd;
}

static void unlock_shadow(int fd) {
    if (fd >= 0) close(fd);
}

static void copy_to_shadow(const char *source, const char *name) {
    char target[PATH_MAX], temporary[PATH_MAX];
    snprintf(target, sizeof target, "%s/%s", shadow_of(), name);
    snprintf(temporary, sizeof temporary, "%s/.%s.%ld", shadow_of(), name,
             (long)syscall(SYS_gettid));
    int in = real_open(source, O_RDONLY | O_CLOEXEC);
    if (in < 0) return;
    int out = real_open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) { close(in); return; }
    char buffer[1 << 16];
    ssize_t got;
    while ((got = read(in, buffer, sizeof buffer)) > 0) {
        ssize_t at = 0;
        while (at < got) {
            ssize_t put = write(out, buffer + at, got - at);
            if (put < 0) { if (errno == EINTR) continue; goto done; }
            at += put;
        }
    }
done:
    close(in);
    close(out);
    rename(temporary, target);
}

static void forget_new_entries(void) {
    DIR *shadow = opendir(shadow_of());
    if (shadow == NULL) return;
    struct dirent *entry;
    char path[PATH_MAX];
    while ((entry = readdir(shadow)) != NULL) {
        size_t n = strlen(entry->d_name);
        if (n > 4 && strcmp(entry->d_name + n - 4, ".new") == 0) {
            snprintf(path, sizeof path, "%s/%s", shadow_of(), entry->d_name);
            real_unlink(path);
        }
    }
    closedir(shadow);
}

static void synced(int fd) {
    char path[PATH_MAX];
    if (dir_of() == NULL || shadow_of() == NULL || fd_path(fd, path, sizeof path) != 0)
        return;
    int saved = errno;
    if (strcmp(path, dir_of()) == 0) {
        int lock = lock_shadow();
        forget_new_entries();
        unlock_shadow(lock);
    } else {
        const char *name = watched_name(path);
        struct stat st;
        if (name != NULL && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            int lock = lock_shadow();
            copy_to_shadow(path, name);
            unlock_shadow(lock);
        }
    }
    errno = saved;
}

int fsync(int fd) {
    resolve();
    int result = real_fsync(fd);
    if (result == 0) synced(fd);
    return result;
}

int fdatasync(int fd) {
    resolve();
    int result = real_fdatasync(fd);
    if (result == 0) synced(fd);
    return result;
}

/* Before a file of the directory is created, its entry is marked as not yet durable. */
static void creating(const char *path, int flags) {
    const char *name = watched_name(path);
    if (name == NULL || !(flags & O_CREAT) || access(path, F_OK) == 0) return;
    char marker[PATH_MAX];
    snprintf(marker, sizeof marker, "%s/%s.new", shadow_of(), name);
    int lock = lock_shadow();
    int fd = real_open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
    unlock_shadow(lock);
}

#define MODE_OF(flags, mode) do { \
    if ((flags) & (O_CREAT | __O_TMPFILE)) { va_list args; va_start(args, flags); \
        mode = va_arg(args, int); va_end(args); } } while (0)

static int open_with(int (*real)(const char *, int, ...), const char *path, int flags,
                     int mode) {
    int saved = errno;
    creating(path, flags);
    errno = saved;
    return real(path, flags, mode);
}

int open(const char *path, int flags, ...) {
    resolve();
    int mode = 0;
    MODE_OF(flags, mode);
    return open_with(real_open, path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    resolve();
    int mode = 0;
    MODE_OF(flags, mode);
    return open_with(real_open64, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    resolve();
    int mode = 0;
    MODE_OF(flags, mode);
    if (path[0] == '/') {
        int saved = errno;
        creating(path, flags);
        errno = saved;
    }
    return real_openat(dirfd, path, flags, mode);
}

int unlink(const char *path) {
    resolve();
    int result = real_unlink(path);
    const char *name = watched_name(path);
    if (result == 0 && name != NULL) {
        int saved = errno;
        char copy[PATH_MAX];
        int lock = lock_shadow();
        snprintf(copy, sizeof copy, "%s/%s", shadow_of(), name);
        real_unlink(copy);
        snprintf(copy, sizeof copy, "%s/%s.new", shadow_of(), name);
        real_unlink(copy);
        unlock_shadow(lock);
        errno = saved;
    }
    return result;
}
