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
// line per step with its time and shows a RUN step's last output lines
// only while it runs, erasing them when it is done (all of them stay on
// an error).
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	step  int
	label string    // the running step (tty)
	start time.Time // when it started (tty)
	shown int       // output lines drawn under it (tty)
	tail  []string  // its last output lines (tty)
	noted bool      // a note was printed under it (tty)
}

// ttyWindow is how many output lines of a running step a terminal shows.
const ttyWindow = 6

func newProgress(w io.Writer, tty bool) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, tty: tty}
}

// begin numbers and announces a new step.
func (p *progress) begin(label string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.step++
	p.label, p.start, p.shown, p.tail, p.noted = label, time.Now(), 0, nil, false
	if p.tty {
		fmt.Fprintf(p.w, "=> %s\n", label)
	} else {
		fmt.Fprintf(p.w, "#%d %s\n", p.step, label)
	}
	return p.step
}

// output is one line a step's command printed, at elapsed since it began.
func (p *progress) output(n int, elapsed time.Duration, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		fmt.Fprintf(p.w, "#%d %.3f %s\n", n, elapsed.Seconds(), line)
		return
	}
	if p.tail = append(p.tail, line); len(p.tail) > outputTail {
		p.tail = p.tail[1:]
	}
	p.erase()
	win := p.tail[max(0, len(p.tail)-ttyWindow):]
	for _, l := range win {
		fmt.Fprintf(p.w, "\x1b[2m  %s\x1b[0m\n", clip(l, 160))
	}
	p.shown = len(win)
}

// erase removes the output lines drawn under the running step.
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
	if !p.tty {
		switch {
		case err != nil:
			fmt.Fprintf(p.w, "#%d ERROR: %v\n", n, err)
		case status == "CACHED":
			fmt.Fprintf(p.w, "#%d CACHED\n", n)
		default:
			fmt.Fprintf(p.w, "#%d %s %.1fs\n", n, status, time.Since(p.start).Seconds())
		}
		return
	}
	p.erase()
	if !p.noted { // rewrite the step's line with its outcome
		fmt.Fprintf(p.w, "\x1b[1A\x1b[2K")
	}
	switch {
	case err != nil:
		fmt.Fprintf(p.w, "=> ERROR %s %.1fs\n", p.label, time.Since(p.start).Seconds())
		for _, l := range p.tail {
			fmt.Fprintf(p.w, "  %s\n", l)
		}
	case status == "CACHED":
		fmt.Fprintf(p.w, "=> CACHED %s\n", p.label)
	default:
		fmt.Fprintf(p.w, "=> %s %.1fs\n", p.label, time.Since(p.start).Seconds())
	}
	p.tail = nil
}

// note prints a remark about step n.
func (p *progress) note(n int, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if p.tty {
		p.erase()
		p.noted = true
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
