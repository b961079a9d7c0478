package monitor

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"
)

// trimmer keeps the monitor's resident set small for its whole life. It
// drops the program pages once the container has started (starting ran far
// more code than waiting will), and again after each garbage collection,
// which runs most of the runtime's code and reads the tables it scans
// stacks with; after a collection it also gives the heap that collection
// freed back to the kernel. The monitor makes almost no garbage, so
// collections are rare (see RuntimeEnv); it trims at most once a minute
// all the same, so a monitor that does collect often does not trim all
// the time.
type trimmer struct {
	kicks chan bool // true: after a garbage collection
	last  time.Time
	// mapsFD (/proc/self/maps), maps and ranges are pageOut's, kept
	// from trim to trim.
	mapsFD int
	maps   []byte
	ranges [][2]uintptr
}

// minTrimInterval bounds how often the monitor trims after collections;
// retrimInterval is how often it trims anyway.
const (
	minTrimInterval = time.Minute
	retrimInterval  = 2 * time.Minute
)

func newTrimmer() *trimmer { return &trimmer{kicks: make(chan bool, 1)} }

// kick asks for a trim of the program pages.
func (t *trimmer) kick() { t.send(false) }

func (t *trimmer) send(afterGC bool) {
	select {
	case t.kicks <- afterGC:
	default:
	}
}

// run trims when kicked. It is a goroutine of its own that only parks
// between trims: code that runs right after pageOut brings pages back.
func (t *trimmer) run(ctx context.Context) {
	// A burst of output (or an attached client) runs more of the program
	// than waiting does: trim now and then too.
	tick := time.NewTicker(retrimInterval)
	defer tick.Stop()
	armed := false // a sentinel waits for the next collection
	for {
		var afterGC bool
		select {
		case <-ctx.Done():
			return
		case afterGC = <-t.kicks:
		case <-tick.C:
		}
		if afterGC {
			armed = false // its sentinel was collected
		}
		if !afterGC || time.Since(t.last) >= minTrimInterval {
			if afterGC {
				// Not on the other trims: before its first collection the
				// monitor has little garbage, and a collection leaves more of
				// its own metadata resident than it frees.
				debug.FreeOSMemory()
			}
			t.pageOut()
			t.last = time.Now()
		}
		if !armed {
			t.armAfterGC()
			armed = true
		}
	}
}

// armAfterGC kicks a trim after the next garbage collection: the finalizer
// of an object nothing refers to runs once a collection found it garbage.
// (Armed after FreeOSMemory, so its own collection does not count.)
func (t *trimmer) armAfterGC() {
	sentinel := &struct{ t *trimmer }{t} // a pointer: not a tiny allocation
	runtime.SetFinalizer(sentinel, func(*struct{ t *trimmer }) { t.send(true) })
}

// pageOut drops the monitor's read-only program pages from its resident set
// once its container runs: starting touched all of the binary (the Go
// runtime checks its function tables at start-up), waiting touches a small
// part. MADV_DONTNEED on a private file mapping unmaps the pages from this
// process only, even those other monitors map too (MADV_PAGEOUT would skip
// those); the page cache keeps them, so what is needed again comes back
// with a minor fault.
//
// It makes no garbage: it reads /proc/self/maps into the trimmer's buffer
// and parses it in place. A trim that allocated (it used to make some 12
// KiB of garbage: the file, a scanner and every line's fields) would grow
// the heap of a monitor that never collects, and collecting brings the
// collector's own metadata in for good.
func (t *trimmer) pageOut() {
	if t.maps == nil {
		fd, err := unix.Open("/proc/self/maps", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		// Kept open for the monitor's life and read from offset 0 each
		// time: opening it again would allocate its name.
		t.mapsFD, t.maps = fd, make([]byte, 0, 16<<10)
	}
	buf := t.maps[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // a bigger map: grow once, keep it
		}
		n, err := unix.Pread(t.mapsFD, buf[len(buf):cap(buf)], int64(len(buf)))
		if n <= 0 || err != nil {
			break
		}
		buf = buf[:len(buf)+n]
	}
	t.maps = buf
	// Read every range first, then drop them in one go: code that runs
	// between or after the drops brings pages straight back (a fault maps
	// the 64 KiB around it).
	ranges := t.ranges[:0]
	for len(buf) > 0 {
		line := buf
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			line, buf = buf[:i], buf[i+1:]
		} else {
			buf = nil
		}
		if start, size, ok := programRange(line); ok {
			ranges = append(ranges, [2]uintptr{start, size})
		}
	}
	t.ranges = ranges
	for _, r := range ranges {
		// A raw syscall: the range is not Go memory, so no unsafe slice.
		unix.RawSyscall(unix.SYS_MADVISE, r[0], r[1], unix.MADV_DONTNEED)
	}
}

// programRange parses one line of /proc/self/maps ("start-end perms offset
// dev inode path") and returns the range when it maps a file read-only:
// anonymous memory (the heap and stacks) and written data stay.
func programRange(line []byte) (start, size uintptr, ok bool) {
	var f [6][]byte
	n := 0
	for n < len(f) {
		line = bytes.TrimLeft(line, " ")
		if len(line) == 0 {
			break
		}
		end := bytes.IndexByte(line, ' ')
		if end < 0 || n == len(f)-1 {
			end = len(line) // the path, which may hold spaces
		}
		f[n], line = line[:end], line[end:]
		n++
	}
	if n < 6 || string(f[4]) == "0" || f[5][0] != '/' || bytes.IndexByte(f[1], 'w') >= 0 {
		return 0, 0, false
	}
	lo, hi, found := bytes.Cut(f[0], []byte{'-'})
	if !found {
		return 0, 0, false
	}
	a, ok1 := parseHex(lo)
	b, ok2 := parseHex(hi)
	if !ok1 || !ok2 || b <= a {
		return 0, 0, false
	}
	return a, b - a, true
}

// parseHex is strconv.ParseUint(s, 16, 64) on bytes, without the string.
func parseHex(s []byte) (uintptr, bool) {
	if len(s) == 0 || len(s) > 16 {
		return 0, false
	}
	var v uintptr
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			return 0, false
		}
		v = v<<4 | uintptr(c)
	}
	return v, true
}
