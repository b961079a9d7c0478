// Package testthread runs test code that changes per-thread kernel state
// (scheduling policy, I/O priority, personality, memory policy) on a thread
// of its own, which the Go runtime discards afterwards, so the change never
// reaches the rest of the test binary.
package testthread

import "runtime"

// Run calls f on a fresh OS thread and returns when it is done.
func Run(f func()) {
	done := make(chan struct{})
	go func() {
		// Never unlocked: the thread exits with the goroutine.
		runtime.LockOSThread()
		defer close(done)
		f()
	}()
	<-done
}
