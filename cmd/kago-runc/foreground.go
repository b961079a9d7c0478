package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/console"
	"github.com/kago-run/kago/runtime"
)

// foreground is what `run` and `exec` do while their container process
// lives in the foreground: relay the terminal, forward signals, and report
// the exit code.
type foreground struct {
	master  *os.File
	copied  chan struct{}
	restore func()
}

// onConsole receives the pty master (the runtime closes its own copy).
func (f *foreground) onConsole(master *os.File) error {
	fd, err := unix.FcntlInt(master.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dup pty master: %w", err)
	}
	f.master = os.NewFile(uintptr(fd), "pty-master")
	return nil
}

// start begins relaying: stdin to the pty (stdin in raw mode when it is a
// terminal) and the pty to stdout, with window size changes passed on.
func (f *foreground) start() {
	if f.master == nil {
		return
	}
	var tty bool
	if f.restore, tty = console.MakeRaw(0); tty {
		f.resize()
	}
	f.copied = make(chan struct{})
	go func() {
		io.Copy(os.Stdout, f.master)
		close(f.copied)
	}()
	go io.Copy(f.master, os.Stdin)
}

func (f *foreground) resize() {
	if ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ); err == nil {
		console.SetSize(f.master, ws.Row, ws.Col)
	}
}

// wait forwards signals to p until it exits and returns its exit code.
func (f *foreground) wait(p *runtime.Process) (int, error) {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	var code int
	var err error
	go func() {
		code, err = p.Wait()
		close(done)
	}()
	for {
		select {
		case s := <-sigs:
			sig := s.(unix.Signal)
			switch sig {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
			case unix.SIGWINCH:
				if f.master != nil {
					f.resize()
				}
			default:
				p.Signal(sig)
			}
		case <-done:
			f.finish()
			return code, err
		}
	}
}

// finish drains what the process wrote to the pty and restores the terminal.
func (f *foreground) finish() {
	if f.copied != nil {
		select {
		case <-f.copied:
		case <-time.After(2 * time.Second):
		}
		f.master.Close()
	}
	if f.restore != nil {
		f.restore()
	}
}
