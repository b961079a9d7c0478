package build

import (
	"fmt"
	"io"
	"sync"
)

// progress prints BuildKit's plain progress: "#N" step lines, RUN output
// under its step, and each step's time.
type progress struct {
	mu   sync.Mutex
	w    io.Writer
	step int
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w}
}

// next numbers a new step.
func (p *progress) next() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.step++
	return p.step
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}
