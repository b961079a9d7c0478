package build

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress reports a build the way BuildKit does. Plain mode prints
// numbered lines: "#N label", RUN output as "#N SECONDS LINE", then
// "#N CACHED", "#N DONE 0.3s" or "#N ERROR: ...". Terminal mode prints one
// line per step with its time; while a single step runs, its last output
// lines show under it and are erased when it is done (all of them stay on
// an error). Steps of independent stages may run at the same time.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	n       int
	steps   map[int]*stepProgress
	running int
	last    int // the step whose line was printed last (tty)
	shown   int // output lines drawn under it (tty)
}

type stepProgress struct {
	label string
	start time.Time
	tail  []string // last output lines (tty)
}

// ttyWindow is how many output lines of a running step a terminal shows.
const ttyWindow = 6

func newProgress(w io.Writer, tty bool) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, tty: tty, steps: map[int]*stepProgress{}}
}

// begin numbers and announces a new step.
func (p *progress) begin(label string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.steps[p.n] = &stepProgress{label: label, start: time.Now()}
	p.running++
	if p.tty {
		p.erase()
		fmt.Fprintf(p.w, "=> %s\n", label)
		p.last = p.n
	} else {
		fmt.Fprintf(p.w, "#%d %s\n", p.n, label)
	}
	return p.n
}

// output is one line a step's command printed, at elapsed since it began.
func (p *progress) output(n int, elapsed time.Duration, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		fmt.Fprintf(p.w, "#%d %.3f %s\n", n, elapsed.Seconds(), line)
		return
	}
	s := p.steps[n]
	if s.tail = append(s.tail, line); len(s.tail) > outputTail {
		s.tail = s.tail[1:]
	}
	if p.running != 1 || p.last != n {
		return // several steps run: their output shows on an error only
	}
	p.erase()
	win := s.tail[max(0, len(s.tail)-ttyWindow):]
	for _, l := range win {
		fmt.Fprintf(p.w, "\x1b[2m  %s\x1b[0m\n", clip(l, 160))
	}
	p.shown = len(win)
}

// erase removes the output lines drawn under the last step line.
func (p *progress) erase() {
	if p.shown > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA\x1b[J", p.shown)
		p.shown = 0
	}
}

// end finishes step n: status is "CACHED", "DONE" or an error.
func (p *progress) end(n int, status string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.steps[n]
	delete(p.steps, n)
	p.running--
	secs := time.Since(s.start).Seconds()
	if !p.tty {
		switch {
		case err != nil:
			fmt.Fprintf(p.w, "#%d ERROR: %v\n", n, err)
		case status == "CACHED":
			fmt.Fprintf(p.w, "#%d CACHED\n", n)
		default:
			fmt.Fprintf(p.w, "#%d %s %.1fs\n", n, status, secs)
		}
		return
	}
	p.erase()
	if p.last == n { // rewrite the step's line with its outcome
		fmt.Fprintf(p.w, "\x1b[1A\x1b[2K")
	}
	p.last = 0
	switch {
	case err != nil:
		fmt.Fprintf(p.w, "=> ERROR %s %.1fs\n", s.label, secs)
		for _, l := range s.tail {
			fmt.Fprintf(p.w, "  %s\n", clip(l, 1000))
		}
	case status == "CACHED":
		fmt.Fprintf(p.w, "=> CACHED %s\n", s.label)
	default:
		fmt.Fprintf(p.w, "=> %s %.1fs\n", s.label, secs)
	}
}

// note prints a remark about step n.
func (p *progress) note(n int, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if p.tty {
		p.erase()
		p.last = 0
		fmt.Fprintf(p.w, "   %s\n", msg)
		return
	}
	fmt.Fprintf(p.w, "#%d %s\n", n, msg)
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\x1b", "^[") // the build's output must not drive the terminal
	if len(s) > n {
		return s[:n]
	}
	return s
}
