package engine

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trimMemory shrinks a monitor's resident set once the container runs:
// the monitor then only waits and copies output, so the Go heap it used to
// set the container up is returned to the kernel, and the pages of the kago
// binary it executed are paged out (MADV_PAGEOUT; clean file pages cost a
// re-read from the page cache, not disk I/O, if they are needed again). This
// is what keeps a big Go binary's monitor small per container.
func trimMemory() {
	debug.FreeOSMemory()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[4] == "0" || !strings.HasPrefix(fields[5], "/") {
			continue // anonymous memory: the heap and stacks stay
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// Plain syscall: the range is not Go memory, so no unsafe slice.
		unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_PAGEOUT)
	}
}
