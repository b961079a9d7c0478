package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// makeRaw puts the terminal on fd 0 in raw mode, so keys like Ctrl-C reach
// the container's pty, and returns the restore function (a no-op when stdin
// is not a terminal).
func makeRaw() func() {
	st, err := unix.IoctlGetTermios(0, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	raw := *st
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	if unix.IoctlSetTermios(0, unix.TCSETS, &raw) != nil {
		return func() {}
	}
	return func() { unix.IoctlSetTermios(0, unix.TCSETS, st) }
}

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
