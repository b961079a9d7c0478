package containerinit

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// markInheritedCloexec marks every descriptor from `from` up close-on-exec,
// so that none of the runtime's or the caller's descriptors reaches the
// process (CVE-2024-21626). close_range(CLOSE_RANGE_CLOEXEC) does it in one
// call; it is missing before Linux 5.9 (ENOSYS), lacks the flag before 5.11
// (EINVAL), and a seccomp filter already loaded (one with a listener) may
// refuse it (EPERM, ENOSYS or any errno the profile picks): then walk
// /proc/self/fd, as runc does.
func markInheritedCloexec(from int) error {
	err := unix.CloseRange(uint(from), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	entries, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return fmt.Errorf("mark inherited fds close-on-exec: close_range: %w; /proc/self/fd: %w", err, rerr)
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < from {
			continue
		}
		// The directory's own descriptor is listed but closed by now.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("mark fd %d close-on-exec: %w", fd, err)
		}
	}
	return nil
}
