// Package attach is the protocol between a container's monitor and the CLIs
// attached to it (`kago run` in the foreground, `kago attach`): frames of
// one type byte, a big-endian uint32 length and the payload, both ways on a
// unix socket.
//
// The monitor accepts clients on <id>/attach.sock; the `run` that started
// the monitor is its first client from the start, over a socketpair, so no
// output is missed. A client that goes away (detached with Ctrl-P Ctrl-Q,
// or killed) leaves the container running.
//
// The package imports no networking: the monitor, which must stay small,
// serves *os.File sockets, and the CLI passes a net.Conn.
package attach

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// Frame types.
const (
	frameStdin      = 1 // client -> monitor: input
	frameStdout     = 2 // monitor -> client
	frameStderr     = 3
	frameResize     = 4 // client -> monitor: rows, cols (uint16 each)
	frameStdinClose = 5 // client -> monitor: input ended
	frameExit       = 6 // monitor -> client: int32 exit code of a run
)

// maxFrame bounds a frame's payload; a bigger length is a broken peer.
const maxFrame = 1 << 20

func writeFrame(w io.Writer, typ byte, payload []byte) error {
	_, err := w.Write(appendFrame(make([]byte, 0, 5+len(payload)), typ, payload))
	return err
}

func appendFrame(b []byte, typ byte, payload []byte) []byte {
	b = append(b, typ, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[len(b)-4:], uint32(len(payload)))
	return append(b, payload...)
}

func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, errors.New("attach frame of " + strconv.FormatUint(uint64(n), 10) + " bytes is larger than the " + strconv.Itoa(maxFrame) + " allowed")
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

// Conn is one client's connection as the monitor holds it: an *os.File of
// a non-blocking socket, or a net.Conn.
type Conn interface {
	io.ReadWriteCloser
	SetWriteDeadline(t time.Time) error
}

// Hub is the monitor's side: it fans output out to every client and routes
// their input and window sizes to the container.
type Hub struct {
	sendMu  sync.Mutex // serializes send, which owns frame and sending
	frame   []byte
	sending []Conn
	mu      sync.Mutex
	clients map[Conn]bool
	stdin   io.Writer // nil when the container has no open stdin
	closeIn func()
	resize  func(rows, cols uint16)
}

// NewHub returns a hub without clients.
func NewHub() *Hub { return &Hub{clients: map[Conn]bool{}} }

// Add serves one client until it disconnects.
func (h *Hub) Add(c Conn) {
	h.mu.Lock()
	h.clients[c] = true
	h.mu.Unlock()
	go func() {
		defer h.drop(c)
		for {
			typ, p, err := readFrame(c)
			if err != nil {
				return
			}
			h.mu.Lock()
			switch typ {
			case frameStdin:
				if h.stdin != nil {
					h.stdin.Write(p)
				}
			case frameStdinClose:
				if h.closeIn != nil {
					h.closeIn()
					h.stdin, h.closeIn = nil, nil
				}
			case frameResize:
				if h.resize != nil && len(p) == 4 {
					h.resize(binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:]))
				}
			}
			h.mu.Unlock()
		}
	}()
}

func (h *Hub) drop(c Conn) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	c.Close()
}

// SetIO connects the hub to the current run's stdin (closeIn ends it) and
// pty (resize sets its window size); nils disconnect.
func (h *Hub) SetIO(stdin io.Writer, closeIn func(), resize func(rows, cols uint16)) {
	h.mu.Lock()
	h.stdin, h.closeIn, h.resize = stdin, closeIn, resize
	h.mu.Unlock()
}

// send writes a frame to every client; one that cannot take it within a
// few seconds is dropped rather than stalling the container's output. The
// frame is built in one reused buffer: output is the monitor's steady work,
// and garbage would make it collect and grow.
func (h *Hub) send(typ byte, p []byte) {
	h.sendMu.Lock()
	defer h.sendMu.Unlock()
	h.mu.Lock()
	h.sending = h.sending[:0]
	for c := range h.clients {
		h.sending = append(h.sending, c)
	}
	h.mu.Unlock()
	if len(h.sending) == 0 {
		return
	}
	h.frame = appendFrame(h.frame[:0], typ, p)
	for _, c := range h.sending {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(h.frame); err != nil {
			h.drop(c)
		}
	}
	clear(h.sending) // no references to clients that go away
}

// SendExit tells every client the exit code of the container's run.
func (h *Hub) SendExit(code int) {
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], uint32(int32(code)))
	h.send(frameExit, p[:])
}

// CloseAll disconnects every client.
func (h *Hub) CloseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		c.Close()
		delete(h.clients, c)
	}
}

// Stdout and Stderr are writers of what the container writes to each
// stream, sent to every client.
func (h *Hub) Stdout() io.Writer { return streamWriter{h, frameStdout} }
func (h *Hub) Stderr() io.Writer { return streamWriter{h, frameStderr} }

type streamWriter struct {
	h   *Hub
	typ byte
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.h.send(w.typ, p)
	return len(p), nil
}

// ErrDetached is what Client returns when the user typed the detach keys:
// the container keeps running.
var ErrDetached = errors.New("detached")

// detachKeys is docker's default, Ctrl-P Ctrl-Q.
var detachKeys = []byte{0x10, 0x11}

// ClientOptions are the attached CLI's streams.
type ClientOptions struct {
	Stdin          io.Reader // nil: no input
	Stdout, Stderr io.Writer
	// Resize delivers terminal sizes (rows, cols) to pass on.
	Resize <-chan [2]uint16
}

// Client relays between the user's streams and the monitor until the
// container exits (its code is returned), the user detaches (ErrDetached)
// or the monitor goes away.
func Client(c io.ReadWriteCloser, o ClientOptions) (int, error) {
	defer c.Close()
	var wmu sync.Mutex
	send := func(typ byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return writeFrame(c, typ, p)
	}
	detached := make(chan struct{})
	if o.Stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			// A Ctrl-P at the end of a read is held back until the next
			// read shows whether Ctrl-Q follows (keys arrive one by one
			// from a raw terminal).
			held := false
			for {
				n, err := o.Stdin.Read(buf)
				if n > 0 {
					chunk := buf[:n]
					if held {
						chunk, held = append([]byte{detachKeys[0]}, chunk...), false
					}
					if i := bytes.Index(chunk, detachKeys); i >= 0 {
						if i > 0 {
							send(frameStdin, chunk[:i])
						}
						close(detached)
						c.Close()
						return
					}
					if chunk[len(chunk)-1] == detachKeys[0] {
						chunk, held = chunk[:len(chunk)-1], true
					}
					if len(chunk) > 0 && send(frameStdin, chunk) != nil {
						return
					}
				}
				if err != nil {
					if held {
						send(frameStdin, detachKeys[:1])
					}
					send(frameStdinClose, nil)
					return
				}
			}
		}()
	}
	if o.Resize != nil {
		go func() {
			for sz := range o.Resize {
				var p [4]byte
				binary.BigEndian.PutUint16(p[:], sz[0])
				binary.BigEndian.PutUint16(p[2:], sz[1])
				if send(frameResize, p[:]) != nil {
					return
				}
			}
		}()
	}
	for {
		typ, p, err := readFrame(c)
		if err != nil {
			select {
			case <-detached:
				return -1, ErrDetached
			default:
			}
			return -1, fmt.Errorf("lost the container's monitor: %w", err)
		}
		switch typ {
		case frameStdout:
			o.Stdout.Write(p)
		case frameStderr:
			o.Stderr.Write(p)
		case frameExit:
			if len(p) == 4 {
				return int(int32(binary.BigEndian.Uint32(p))), nil
			}
		}
	}
}
