package shim

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/fifo"

	"github.com/kago-run/kago/runtime"
)

// stdio are the FIFO paths containerd gives for one process; empty means
// none (/dev/null).
type stdio struct {
	stdin, stdout, stderr string
	terminal              bool
}

func (s stdio) check() error {
	for _, p := range []string{s.stdin, s.stdout, s.stderr} {
		if strings.Contains(p, "://") && !strings.HasPrefix(p, "fifo://") {
			return fmt.Errorf("stdio %q: only FIFO paths are supported by the kago shim (use the default log driver)", p)
		}
	}
	return nil
}

func fifoPath(p string) string { return strings.TrimPrefix(p, "fifo://") }

// procIO copies between containerd's FIFOs and one container process, as
// the runc shim does: through pipes, so that CloseIO can end the process's
// stdin and the shim knows when all output has been written out; or
// through the pty master for a terminal.
type procIO struct {
	mu      sync.Mutex
	stdinW  io.Closer // end the process's stdin (CloseIO)
	console *os.File  // pty master, for ResizePty
	copies  sync.WaitGroup
	closers []io.Closer // what to close in the shim once the process started
	done    []io.Closer // what to close when the process is gone
}

// setup opens the FIFOs and returns the runtime.IO for the process.
func (p *procIO) setup(ctx context.Context, s stdio) (runtime.IO, error) {
	if err := s.check(); err != nil {
		return runtime.IO{}, err
	}
	var rio runtime.IO
	if s.terminal {
		rio.OnConsole = func(master *os.File) error {
			return p.attachConsole(ctx, master, s)
		}
		return rio, nil
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return rio, err
	}
	p.closers = append(p.closers, null)
	rio.Stdin, rio.Stdout, rio.Stderr = null, null, null
	if s.stdin != "" {
		in, err := fifo.OpenFifo(ctx, fifoPath(s.stdin), syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return rio, fmt.Errorf("open stdin fifo %s: %w", s.stdin, err)
		}
		r, w, err := os.Pipe()
		if err != nil {
			in.Close()
			return rio, err
		}
		rio.Stdin = r
		p.closers = append(p.closers, r)
		p.stdinW = w
		p.done = append(p.done, in)
		go func() {
			io.Copy(w, in) //nolint:errcheck // ends with the FIFO or CloseIO
			p.closeStdin()
		}()
	}
	for _, o := range []struct {
		path string
		dst  **os.File
	}{{s.stdout, &rio.Stdout}, {s.stderr, &rio.Stderr}} {
		if o.path == "" {
			continue
		}
		out, err := fifo.OpenFifo(ctx, fifoPath(o.path), syscall.O_WRONLY, 0)
		if err != nil {
			return rio, fmt.Errorf("open output fifo %s: %w", o.path, err)
		}
		r, w, err := os.Pipe()
		if err != nil {
			out.Close()
			return rio, err
		}
		*o.dst = w
		p.closers = append(p.closers, w)
		p.copies.Add(1)
		go func() {
			defer p.copies.Done()
			io.Copy(out, r) //nolint:errcheck // ends when every writer is gone
			r.Close()
			out.Close()
		}()
	}
	return rio, nil
}

// attachConsole keeps a copy of the pty master (the runtime closes its own)
// and copies it to and from the FIFOs.
func (p *procIO) attachConsole(ctx context.Context, master *os.File, s stdio) error {
	fd, err := syscall.Dup(int(master.Fd()))
	if err != nil {
		return fmt.Errorf("keep pty master: %w", err)
	}
	con := os.NewFile(uintptr(fd), "pty-master")
	p.mu.Lock()
	p.console = con
	p.mu.Unlock()
	p.done = append(p.done, con)
	if s.stdin != "" {
		in, err := fifo.OpenFifo(ctx, fifoPath(s.stdin), syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open stdin fifo %s: %w", s.stdin, err)
		}
		p.done = append(p.done, in)
		go io.Copy(con, in) //nolint:errcheck // ends with the FIFO or the pty
	}
	if s.stdout != "" {
		out, err := fifo.OpenFifo(ctx, fifoPath(s.stdout), syscall.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("open stdout fifo %s: %w", s.stdout, err)
		}
		p.copies.Add(1)
		go func() {
			defer p.copies.Done()
			io.Copy(out, con) //nolint:errcheck // EIO once the pty's last user is gone
			out.Close()
		}()
	}
	return nil
}

// started closes the shim's copies of the process's ends of the pipes, so
// that output copying ends when the process's side closes.
func (p *procIO) started() {
	for _, c := range p.closers {
		c.Close()
	}
	p.closers = nil
}

func (p *procIO) closeStdin() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stdinW != nil {
		p.stdinW.Close()
		p.stdinW = nil
	}
}

// finish waits for the output to be copied out, then releases everything.
func (p *procIO) finish() {
	p.copies.Wait()
	p.closeStdin()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.done {
		c.Close()
	}
	p.done = nil
}

func (p *procIO) pty() *os.File {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.console
}
