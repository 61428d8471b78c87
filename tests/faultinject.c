/*
 * faultinject.c — an LD_PRELOAD shim that makes system calls and
 * allocations fail on demand, for tests/test_faults.c (issue 14): I/O errors
 * (ENOSPC, EIO, ...) in the state directory and while loading models, and
 * allocation failure, in the real daemon, with no hook in its code.
 *
 * Built only for the tests (check_LTLIBRARIES). What fails is read from the
 * file named by $DN_FAULT_CTL, whenever it changes; no file, nothing fails.
 * Its lines:
 *   write ERRNO PREFIX   opening for writing, creating, write, pwrite,
 *                        fsync, rename, mkdir of a path under PREFIX (for
 *                        a descriptor: the file it is open on) fail with
 *                        ERRNO (a name: ENOSPC, EIO, EDQUOT, EACCES)
 *   read ERRNO PREFIX    opening for reading, read, pread under PREFIX
 *   alloc BYTES          malloc, calloc, realloc, posix_memalign and
 *                        aligned_alloc of BYTES or more return no memory
 * Each line may be there once; later ones of a kind replace earlier ones.
 * The shim counts what it made fail in $DN_FAULT_CTL.count (one line per
 * kind: "write N", "read N", "alloc N") so a test can tell that a fault
 * was hit and not merely armed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* glibc's own allocator, reachable without dlsym (which allocates). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

enum { K_WRITE, K_READ, K_ALLOC, K_COUNT };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct timespec seen_mtime;
static off_t seen_size = -1;
static int err_of[2];
static char prefix_of[2][PATH_MAX];
static size_t alloc_min; /* 0: off */
static atomic_long hits[K_COUNT];
static __thread int inside
    __attribute__((tls_model("initial-exec"))); /* the shim's own calls are never failed */

static int errno_named(const char *s)
{
	static const struct {
		const char *name;
		int e;
	} t[] = {{"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EDQUOT", EDQUOT}, {"EACCES", EACCES}, {"EROFS", EROFS}};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (strcmp(s, t[i].name) == 0)
			return t[i].e;
	return EIO;
}

/* Re-reads the control file when it changed. Caller holds mu. Uses raw
 * system calls and no allocation. */
static void refresh(void)
{
	const char *ctl = getenv("DN_FAULT_CTL");
	struct stat st;
	char buf[4 * PATH_MAX];
	ssize_t n;
	int fd;

	if (!ctl || syscall(SYS_newfstatat, AT_FDCWD, ctl, &st, 0) != 0) {
		err_of[K_WRITE] = err_of[K_READ] = 0;
		alloc_min = 0;
		seen_size = -1;
		return;
	}
	if (st.st_size == seen_size && st.st_mtim.tv_sec == seen_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == seen_mtime.tv_nsec)
		return;
	seen_size = st.st_size;
	seen_mtime = st.st_mtim;
	err_of[K_WRITE] = err_of[K_READ] = 0;
	alloc_min = 0;
	fd = (int)syscall(SYS_openat, AT_FDCWD, ctl, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = syscall(SYS_read, fd, buf, sizeof buf - 1);
	syscall(SYS_close, fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *line = buf, *next; line && *line; line = next) {
		char kind[16], name[16], path[PATH_MAX];
		unsigned long long bytes;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (sscanf(line, "%15s %15s %4095s", kind, name, path) == 3 &&
		    (!strcmp(kind, "write") || !strcmp(kind, "read"))) {
			int k = !strcmp(kind, "write") ? K_WRITE : K_READ;

			err_of[k] = errno_named(name);
			snprintf(prefix_of[k], sizeof prefix_of[k], "%s", path);
		} else if (sscanf(line, "alloc %llu", &bytes) == 1) {
			alloc_min = (size_t)bytes;
		}
	}
}

/* Writes the counts beside the control file. */
static void record(int k)
{
	const char *ctl = getenv("DN_FAULT_CTL");
	char path[PATH_MAX], text[128];
	int fd, len;

	atomic_fetch_add(&hits[k], 1);
	if (!ctl || (size_t)snprintf(path, sizeof path, "%s.count", ctl) >= sizeof path)
		return;
	len = snprintf(text, sizeof text, "write %ld\nread %ld\nalloc %ld\n", atomic_load(&hits[K_WRITE]),
	               atomic_load(&hits[K_READ]), atomic_load(&hits[K_ALLOC]));
	fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (syscall(SYS_write, fd, text, (size_t)len) < 0) {
			/* nothing to do: the count is a courtesy */
		}
		syscall(SYS_close, fd);
	}
}

/* The errno to fail a kind-k call on path with, or 0. */
static int fault_for(int k, const char *path)
{
	int e = 0;

	if (inside || !path)
		return 0;
	inside = 1;
	pthread_mutex_lock(&mu);
	refresh();
	if (err_of[k] && prefix_of[k][0] && strncmp(path, prefix_of[k], strlen(prefix_of[k])) == 0)
		e = err_of[k];
	pthread_mutex_unlock(&mu);
	if (e)
		record(k);
	inside = 0;
	return e;
}

static int fault_fd(int k, int fd)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	if (inside)
		return 0;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = syscall(SYS_readlinkat, AT_FDCWD, link, path, sizeof path - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	return fault_for(k, path);
}

static int alloc_fails(size_t size)
{
	int fail;

	if (inside || size == 0)
		return 0;
	inside = 1;
	pthread_mutex_lock(&mu);
	refresh();
	fail = alloc_min && size >= alloc_min;
	pthread_mutex_unlock(&mu);
	if (fail)
		record(K_ALLOC);
	inside = 0;
	return fail;
}

#define REAL(type, name, args)                                                                               \
	static type(*real_##name) args;                                                                      \
	if (!real_##name)                                                                                    \
	real_##name = (type(*) args)dlsym(RTLD_NEXT, #name)

#define FAIL_WITH(e)                                                                                         \
	do {                                                                                                 \
		errno = (e);                                                                                 \
		return -1;                                                                                   \
	} while (0)

static int opens_for_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) ||
	       (flags & O_TMPFILE) == O_TMPFILE;
}

/* ---- files ---- */

static int open_common(const char *path, int flags)
{
	return fault_for(opens_for_write(flags) ? K_WRITE : K_READ, path);
}

/* open and open64, fopen and fopen64: the same but for the name. */
#define OPEN_LIKE(name)                                                                                      \
	int name(const char *path, int flags, ...)                                                           \
	{                                                                                                    \
		REAL(int, name, (const char *, int, ...));                                                   \
		mode_t mode = 0;                                                                             \
		int e = open_common(path, flags);                                                            \
                                                                                                             \
		if (flags & (O_CREAT | O_TMPFILE)) {                                                         \
			va_list ap;                                                                          \
                                                                                                             \
			va_start(ap, flags);                                                                 \
			mode = (mode_t)va_arg(ap, int);                                                      \
			va_end(ap);                                                                          \
		}                                                                                            \
		if (e)                                                                                       \
			FAIL_WITH(e);                                                                        \
		return real_##name(path, flags, mode);                                                       \
	}
OPEN_LIKE(open)
OPEN_LIKE(open64)

#define FOPEN_LIKE(name)                                                                                     \
	FILE *name(const char *path, const char *mode)                                                       \
	{                                                                                                    \
		REAL(FILE *, name, (const char *, const char *));                                            \
		int e = fault_for(mode[0] == 'r' && !strchr(mode, '+') ? K_READ : K_WRITE, path);            \
                                                                                                             \
		if (e) {                                                                                     \
			errno = e;                                                                           \
			return NULL;                                                                         \
		}                                                                                            \
		return real_##name(path, mode);                                                              \
	}
FOPEN_LIKE(fopen)
FOPEN_LIKE(fopen64)

ssize_t write(int fd, const void *buf, size_t n)
{
	REAL(ssize_t, write, (int, const void *, size_t));
	int e = fd > 2 ? fault_fd(K_WRITE, fd) : 0;

	if (e)
		FAIL_WITH(e);
	return real_write(fd, buf, n);
}

/* pread, pwrite and their 64-bit names. */
#define PIO_LIKE(name, buf_t, kind)                                                                          \
	ssize_t name(int fd, buf_t buf, size_t n, off_t at)                                                  \
	{                                                                                                    \
		REAL(ssize_t, name, (int, buf_t, size_t, off_t));                                            \
		int e = fault_fd(kind, fd);                                                                  \
                                                                                                             \
		if (e)                                                                                       \
			FAIL_WITH(e);                                                                        \
		return real_##name(fd, buf, n, at);                                                          \
	}
PIO_LIKE(pwrite, const void *, K_WRITE)
PIO_LIKE(pwrite64, const void *, K_WRITE)
PIO_LIKE(pread, void *, K_READ)
PIO_LIKE(pread64, void *, K_READ)

int fsync(int fd)
{
	REAL(int, fsync, (int));
	int e = fault_fd(K_WRITE, fd);

	if (e)
		FAIL_WITH(e);
	return real_fsync(fd);
}

int rename(const char *from, const char *to)
{
	REAL(int, rename, (const char *, const char *));
	int e = fault_for(K_WRITE, to);

	if (!e)
		e = fault_for(K_WRITE, from);
	if (e)
		FAIL_WITH(e);
	return real_rename(from, to);
}

int renameat2(int dfrom, const char *from, int dto, const char *to, unsigned int flags)
{
	REAL(int, renameat2, (int, const char *, int, const char *, unsigned int));
	int e = fault_for(K_WRITE, to);

	if (e)
		FAIL_WITH(e);
	return real_renameat2(dfrom, from, dto, to, flags);
}

int mkdir(const char *path, mode_t mode)
{
	REAL(int, mkdir, (const char *, mode_t));
	int e = fault_for(K_WRITE, path);

	if (e)
		FAIL_WITH(e);
	return real_mkdir(path, mode);
}

/* ---- memory ---- */

void *malloc(size_t n)
{
	if (alloc_fails(n)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	if (size && n > (size_t)-1 / size)
		return __libc_calloc(n, size); /* its own overflow answer */
	if (alloc_fails(n * size)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	if (alloc_fails(n)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (alloc_fails(n))
		return ENOMEM;
	p = __libc_memalign(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
	if (alloc_fails(n)) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_memalign(align, n);
}
