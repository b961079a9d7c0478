package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// followWindowSize passes the terminal's size to set now and on every
// SIGWINCH, until stop is called.
func followWindowSize(set func(rows, cols uint16)) (stop func()) {
	resize := func() {
		if ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ); err == nil {
			set(ws.Row, ws.Col)
		}
	}
	resize()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				resize()
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
