// Package reap collects exited children, for the processes that are
// parents or subreapers of processes they did not start themselves (a
// container's init, kago-init; the engine's per-container monitor).
package reap

import "golang.org/x/sys/unix"

// Exited collects, without blocking, every child that has exited, and calls
// fn with each one's pid and exit code. Call it on SIGCHLD: signals of
// several exits can arrive as one.
func Exited(fn func(pid, code int)) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		fn(pid, Code(ws))
	}
}

// Code is the exit code of a wait status as shells report it: 128+N for a
// process killed by signal N.
func Code(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
