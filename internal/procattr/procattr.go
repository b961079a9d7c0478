// Package procattr writes a thread's LSM attributes under
// /proc/thread-self/attr, the interface AppArmor and SELinux share.
package procattr

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Write writes value to the attribute file at path in one write(2), as the
// kernel requires. The file must be on procfs: inside a container, /proc is
// whatever the config mounted there, and a label written to a look-alike
// would be silently lost.
func Write(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("statfs %s: %w", path, err)
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("%s is not on procfs: the container's /proc is not the kernel's", path)
	}
	if _, err := f.WriteString(value); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
