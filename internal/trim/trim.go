// Package trim keeps a long-lived, mostly idle Go process's resident set
// small: kago-monitor (one per container) and containerd-shim-kago-v2 (one
// per pod) use it. Starting a Go program touches all of its binary (the
// runtime checks its function tables), and a burst of work touches code
// and heap that idling never needs again; trim gives those pages back.
package trim

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Trimmer keeps a process's resident set small for its whole life. It
// drops the program pages when kicked (after work that ran far more code
// than waiting will), and again after each garbage collection, which runs
// most of the runtime's code and reads the tables it scans stacks with;
// after a collection it also gives the heap that collection freed back to
// the kernel. Its users make little garbage, so collections are rare; it
// trims at most once a minute after collections all the same, so a
// process that does collect often does not trim all the time.
type Trimmer struct {
	kicks chan bool // true: after a garbage collection
	last  time.Time
}

// minTrimInterval bounds how often a Trimmer trims after collections;
// retrimInterval is how often it trims anyway.
const (
	minTrimInterval = time.Minute
	retrimInterval  = 2 * time.Minute
)

// New returns a Trimmer; Run does the trimming.
func New() *Trimmer { return &Trimmer{kicks: make(chan bool, 1)} }

// Kick asks for a trim of the program pages.
func (t *Trimmer) Kick() { t.send(false) }

func (t *Trimmer) send(afterGC bool) {
	select {
	case t.kicks <- afterGC:
	default:
	}
}

// Run trims when kicked, until ctx ends. Run it as a goroutine of its own
// that only parks between trims: code that runs right after PageOut brings
// pages back.
func (t *Trimmer) Run(ctx context.Context) {
	// A burst of work (output, an attached client, a request) runs more
	// of the program than waiting does: trim now and then too.
	tick := time.NewTicker(retrimInterval)
	defer tick.Stop()
	armed := false // a sentinel waits for the next collection
	// Read once: after a trim only this loop and the runtime should run,
	// not the context package's code (see PageOut).
	done := ctx.Done()
	for {
		var afterGC bool
		select {
		case <-done:
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
				// process has little garbage, and a collection leaves more of
				// its own metadata resident than it frees.
				debug.FreeOSMemory()
			}
			PageOut()
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
func (t *Trimmer) armAfterGC() {
	sentinel := &struct{ t *Trimmer }{t} // a pointer: not a tiny allocation
	runtime.SetFinalizer(sentinel, func(*struct{ t *Trimmer }) { t.send(true) })
}

// PageOut drops the process's read-only file pages (program text and data,
// shared libraries) from its resident set: starting touched all of the
// binary, waiting touches a small part. MADV_DONTNEED on a private file
// mapping unmaps the pages from this process only, even those other
// processes of the same binary map too (MADV_PAGEOUT would skip those);
// the page cache keeps them, so what is needed again comes back with a
// minor fault.
func PageOut() {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	// Read every range first, then drop them in one go: code that runs
	// between or after the drops brings pages straight back (a fault maps
	// the 64 KiB around it, or more, see below).
	var ranges, text [][2]uintptr
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
		r := [2]uintptr{uintptr(start), uintptr(end - start)}
		if strings.Contains(fields[1], "x") {
			text = append(text, r)
		} else {
			ranges = append(ranges, r)
		}
	}
	// Program text last: since Linux 6.18 a fault maps the whole large
	// folio of the page cache around it (up to a MiB or more of a binary
	// read ahead at exec), so code that runs between the drops would bring
	// back much more than itself.
	ranges = append(ranges, text...)
	for _, r := range ranges {
		// A raw syscall: the range is not Go memory, so no unsafe slice;
		// package syscall's, the fewest frames (and folios) to return
		// through after the last drop.
		syscall.RawSyscall(syscall.SYS_MADVISE, r[0], r[1], syscall.MADV_DONTNEED)
	}
}
