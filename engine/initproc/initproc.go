// Package initproc is the minimal init `kago run --init` puts at PID 1 of a
// container (docker's tini): it starts the command, forwards every signal
// it receives to it, reaps every zombie re-parented to it, and exits with
// the command's exit status (128+N when a signal N killed it).
//
// Limit: the Go runtime starts before Run can ask for signals, so a signal
// in the first milliseconds of the container ends the init (status 2)
// instead of being forwarded.
//
// Why it is needed: PID 1 gets no default signal actions, so a program not
// written to be init ignores SIGTERM and `kago stop` has to wait for its
// timeout; and orphans left by a program that never calls wait(2) stay
// zombies for the container's lifetime.
//
// It is the kago binary itself, run under the name kago-init from a
// read-only bundle (see Bundle), so no second binary has to be shipped.
package initproc

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/kago-run/kago/linux/reap"
	"golang.org/x/sys/unix"
)

// Name is the argv[0] base name that makes the kago binary act as init.
const Name = "kago-init"

// Run runs args as the init's child and returns the status to exit with.
func Run(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, Name+": no command given")
		return 127
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs)
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", Name, err)
		return 127
	}
	child, err := os.StartProcess(path, args, &os.ProcAttr{
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Env:   os.Environ(),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: start %s: %v\n", Name, args[0], err)
		return 126
	}
	for sig := range sigs {
		s, ok := sig.(syscall.Signal)
		if !ok {
			continue
		}
		if s != unix.SIGCHLD {
			// SIGURG is the Go runtime's own preemption signal.
			if s != unix.SIGURG {
				unix.Kill(child.Pid, s)
			}
			continue
		}
		if code, done := reapMain(child.Pid); done {
			return code
		}
	}
	return 1
}

// reapMain collects every exited child and reports whether the main one was
// among them, with its status.
func reapMain(main int) (code int, done bool) {
	reap.Exited(func(pid, c int) {
		if pid == main {
			code, done = c, true
		}
	})
	return code, done
}
