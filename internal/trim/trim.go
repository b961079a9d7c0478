// Package trim keeps a long-lived, mostly idle Go process's resident set
// small: kago-monitor (one per container) and containerd-shim-kago-v2 (one
// per pod) use it. Starting a Go program touches all of its binary (the
// runtime checks its function tables), and a burst of work touches code
// and heap that idling never needs again; trim gives those pages back.
package trim

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
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
	pager pager
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
			t.pager.pageOut()
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
// minor fault. A Trimmer's trims make no garbage (see pager); PageOut
// allocates its buffers each time.
func PageOut() {
	var p pager
	p.pageOut()
	if p.open {
		syscall.Close(p.fd)
	}
}

// pager is PageOut's state, kept by a Trimmer from trim to trim so that a
// trim makes no garbage: it reads /proc/self/maps through a kept
// descriptor into a kept buffer and parses it in place. A trim that
// allocated (some 12 KiB: the file, a scanner, every line's fields) grew
// the heap of a process that never collects (kago-monitor), and collecting
// brings the collector's own metadata in for good.
type pager struct {
	fd           int
	open         bool
	maps         []byte
	ranges, text [][2]uintptr
}

func (p *pager) pageOut() {
	if !p.open {
		fd, err := syscall.Open("/proc/self/maps", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		p.fd, p.open = fd, true
		if p.maps == nil {
			p.maps = make([]byte, 0, 16<<10)
		}
	}
	buf := p.maps[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // a bigger map: grow once, keep it
		}
		// From offset 0 each time: opening the file again would allocate
		// its name.
		n, err := syscall.Pread(p.fd, buf[len(buf):cap(buf)], int64(len(buf)))
		if n <= 0 || err != nil {
			break
		}
		buf = buf[:len(buf)+n]
	}
	p.maps = buf
	// Read every range first, then drop them in one go: code that runs
	// between or after the drops brings pages straight back (a fault maps
	// the 64 KiB around it, or more, see below).
	ranges, text := p.ranges[:0], p.text[:0]
	for len(buf) > 0 {
		line := buf
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			line, buf = buf[:i], buf[i+1:]
		} else {
			buf = nil
		}
		start, size, exec, ok := programRange(line)
		switch {
		case !ok:
		case exec:
			text = append(text, [2]uintptr{start, size})
		default:
			ranges = append(ranges, [2]uintptr{start, size})
		}
	}
	p.ranges, p.text = ranges, text
	// Program text last: since Linux 6.18 a fault maps the whole large
	// folio of the page cache around it (up to a MiB or more of a binary
	// read ahead at exec), so code that runs between the drops would bring
	// back much more than itself.
	for _, rs := range [2][][2]uintptr{ranges, text} {
		for _, r := range rs {
			// A raw syscall: the range is not Go memory, so no unsafe
			// slice; package syscall's, the fewest frames (and folios) to
			// return through after the last drop.
			syscall.RawSyscall(syscall.SYS_MADVISE, r[0], r[1], syscall.MADV_DONTNEED)
		}
	}
}

// programRange parses one line of /proc/self/maps ("start-end perms offset
// dev inode path") and returns the range when it maps a file read-only,
// and whether it is program text: anonymous memory (the heap and stacks)
// and written data stay.
func programRange(line []byte) (start, size uintptr, exec, ok bool) {
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
		return 0, 0, false, false
	}
	lo, hi, found := bytes.Cut(f[0], []byte{'-'})
	if !found {
		return 0, 0, false, false
	}
	a, ok1 := parseHex(lo)
	b, ok2 := parseHex(hi)
	if !ok1 || !ok2 || b <= a {
		return 0, 0, false, false
	}
	return a, b - a, bytes.IndexByte(f[1], 'x') >= 0, true
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
