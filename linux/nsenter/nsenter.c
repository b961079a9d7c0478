// kago's namespace entry, run before the Go runtime starts.
//
// setns(2) into a mount or user namespace is refused to a multi-threaded process,
// and the Go runtime has several threads before main() runs. So a process that
// must join namespaces (kago-runc exec, or a create that joins a namespace by
// path) is re-executed with _KAGO_NSENTER in its environment, and this
// constructor does the joining while the process is still single-threaded.
//
// Protocol (all set by runtime/process.go):
//   _KAGO_NSENTER=TYPE:PATH,TYPE:PATH...   namespaces to join, in order (user first)
//   _KAGO_NSENTER_UNSHARE=FLAGS            decimal clone flags to unshare after joining
//   _KAGO_NSENTER_PIPE=FD                  where to report a forked child's pid or an error
//   _KAGO_NSENTER_TIMENS=TEXT              written to /proc/self/timens_offsets after the
//                                          unshare of a time namespace, before anything enters it
//
// Joining a pid or time namespace only affects children, so in that case the
// constructor forks: the parent writes "pid N\n" to the pipe and exits, and the
// child goes on into Go as the process that will become the container's.
// On failure it writes "error MESSAGE\n" and exits 1.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

#define MAX_NS 16

static int report_fd = -1;

static void report(const char *fmt, const char *a, const char *b, int err) {
	char buf[1024];
	int n;
	if (report_fd < 0)
		report_fd = 2;
	n = snprintf(buf, sizeof(buf), fmt, a, b, err ? strerror(err) : "");
	if (n > 0) {
		if (n >= (int)sizeof(buf))
			n = sizeof(buf) - 1;
		(void)!write(report_fd, buf, n);
	}
}

static void fail(const char *what, const char *arg, int err) {
	report("error %s %s: %s\n", what, arg, err);
	_exit(1);
}

/* The offsets of a new time namespace can be set only until a process enters
 * it: here, between unshare(CLONE_NEWTIME) and the fork below. */
static void write_timens_offsets(const char *text) {
	size_t len = strlen(text);
	int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open", "/proc/self/timens_offsets", errno);
	if (write(fd, text, len) != (ssize_t)len)
		fail("write linux.timeOffsets to", "/proc/self/timens_offsets", errno);
	close(fd);
}

__attribute__((constructor)) static void kago_nsenter(void) {
	char *spec = getenv("_KAGO_NSENTER");
	char *unshare_env = getenv("_KAGO_NSENTER_UNSHARE");
	char *pipe_env = getenv("_KAGO_NSENTER_PIPE");
	char *timens_env = getenv("_KAGO_NSENTER_TIMENS");
	int fds[MAX_NS];
	char *types[MAX_NS];
	int n = 0, fork_needed = 0, i;
	long unshare_flags = 0;

	if (spec == NULL && unshare_env == NULL)
		return;
	if (pipe_env != NULL)
		report_fd = atoi(pipe_env);

	/* Open every namespace file first: after joining the mount namespace the
	 * host's /proc paths may no longer resolve. */
	if (spec != NULL && *spec) {
		char *copy = strdup(spec), *save = NULL, *tok;
		if (copy == NULL)
			fail("nsenter", "strdup", errno);
		for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
			char *colon = strchr(tok, ':');
			if (colon == NULL || n >= MAX_NS)
				fail("nsenter", "malformed _KAGO_NSENTER", EINVAL);
			*colon = '\0';
			types[n] = tok;
			fds[n] = open(colon + 1, O_RDONLY | O_CLOEXEC);
			if (fds[n] < 0)
				fail("open namespace", colon + 1, errno);
			n++;
		}
	}
	for (i = 0; i < n; i++) {
		if (setns(fds[i], 0) < 0)
			fail("setns", types[i], errno);
		close(fds[i]);
		if (strcmp(types[i], "pid") == 0 || strcmp(types[i], "time") == 0)
			fork_needed = 1;
	}
	if (unshare_env != NULL) {
		unshare_flags = strtol(unshare_env, NULL, 10);
		if (unshare_flags != 0 && unshare(unshare_flags) < 0)
			fail("unshare", unshare_env, errno);
		if (unshare_flags & (CLONE_NEWPID | CLONE_NEWTIME))
			fork_needed = 1;
		if ((unshare_flags & CLONE_NEWTIME) && timens_env != NULL)
			write_timens_offsets(timens_env);
	}
	unsetenv("_KAGO_NSENTER");
	unsetenv("_KAGO_NSENTER_UNSHARE");
	unsetenv("_KAGO_NSENTER_TIMENS");

	if (fork_needed) {
		pid_t child = fork();
		if (child < 0)
			fail("fork", "into namespaces", errno);
		if (child > 0) {
			char buf[64];
			int len = snprintf(buf, sizeof(buf), "pid %d\n", (int)child);
			(void)!write(report_fd, buf, len);
			_exit(0);
		}
	}
	if (pipe_env != NULL) {
		close(report_fd);
		unsetenv("_KAGO_NSENTER_PIPE");
	}
}
