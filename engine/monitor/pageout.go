package monitor

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pageOut drops the monitor's read-only program pages from its resident set
// once its container runs: starting touched all of the binary (the Go
// runtime checks its function tables at start-up), waiting touches a small
// part. MADV_DONTNEED on a private file mapping unmaps the pages from this
// process only, even those other monitors map too (MADV_PAGEOUT would skip
// those); the page cache keeps them, so what is needed again comes back
// with a minor fault.
func pageOut() {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	// Read every range first, then drop them in one go: code that runs
	// between or after the drops brings pages straight back (a fault maps
	// the 64 KiB around it).
	var ranges [][2]uintptr
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[4] == "0" || !strings.HasPrefix(fields[5], "/") {
			continue // anonymous memory: the heap and stacks stay
		}
		if strings.Contains(fields[1], "w") {
			continue // written data: dropping it would lose the writes
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
		ranges = append(ranges, [2]uintptr{uintptr(start), uintptr(end - start)})
	}
	for _, r := range ranges {
		// A raw syscall: the range is not Go memory, so no unsafe slice.
		unix.RawSyscall(unix.SYS_MADVISE, r[0], r[1], unix.MADV_DONTNEED)
	}
}
