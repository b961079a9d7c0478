package image

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// progress shows one line per layer. On a terminal the lines are redrawn in
// place with byte counts; anywhere else (logs, pipes, tests) each layer prints
// a plain line when its state changes, so the output stays readable.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	order []digest.Digest
	rows  map[digest.Digest]*progressRow
	drawn int
	last  time.Time
	// fetching and done name a layer's two main states: "Downloading" and
	// "Pull complete" for pulls, "Loading" and "Loaded" for archives.
	fetching, done string
}

type progressRow struct {
	status string
	done   int64
	total  int64
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, rows: map[digest.Digest]*progressRow{}, fetching: "Downloading", done: "Pull complete"}
	if w == nil {
		p.w = io.Discard
	}
	if f, ok := w.(*os.File); ok {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			p.tty = true
		}
	}
	return p
}

// Printf writes a plain message line.
func (p *progress) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drawn = 0
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *progress) row(d digest.Digest) *progressRow {
	r, ok := p.rows[d]
	if !ok {
		r = &progressRow{}
		p.rows[d] = r
		p.order = append(p.order, d)
	}
	return r
}

// Status sets a layer's state ("Waiting", "Downloading", "Pull complete").
func (p *progress) Status(d digest.Digest, status string, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.row(d)
	if r.status == status {
		return
	}
	r.status, r.total = status, total
	if p.tty {
		p.redraw()
		return
	}
	fmt.Fprintf(p.w, "%s: %s\n", shortID(d), status)
}

// Add counts downloaded bytes of a layer.
func (p *progress) Add(d digest.Digest, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.row(d).done += n
	if p.tty && time.Since(p.last) > 100*time.Millisecond {
		p.redraw()
	}
}

func (p *progress) redraw() {
	p.last = time.Now()
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	for _, d := range p.order {
		r := p.rows[d]
		line := fmt.Sprintf("%s: %-16s", shortID(d), r.status)
		if r.status == p.fetching && r.total > 0 {
			line += fmt.Sprintf(" %s / %s", humanSize(r.done), humanSize(r.total))
		}
		fmt.Fprintf(p.w, "\x1b[2K%s\n", line)
	}
	p.drawn = len(p.order)
}

// countingReader reports bytes read to the progress display.
type countingReader struct {
	r io.Reader
	p *progress
	d digest.Digest
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.Add(c.d, int64(n))
	return n, err
}

// humanSize formats bytes the way docker does (decimal units).
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}

// HumanSize formats a byte count as docker images does.
func HumanSize(n int64) string { return humanSize(n) }
