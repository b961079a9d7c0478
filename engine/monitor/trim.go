package monitor

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
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
			pageOut()
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
