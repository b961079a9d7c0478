package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The attach protocol between a monitor and the CLIs attached to it
// (`kago run` in the foreground, `kago attach`): frames of one type byte, a
// big-endian uint32 length and the payload, both ways on a unix socket.
// The monitor accepts clients on <id>/attach.sock; the `run` that started
// the monitor is its first client from the start, over a socketpair, so no
// output is missed. A client that goes away (detached with Ctrl-P Ctrl-Q,
// or killed) leaves the container running.
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
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(append(hdr[:], payload...)); err != nil {
		return err
	}
	return nil
}

func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("attach frame of %d bytes is larger than the %d allowed", n, maxFrame)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

// hub is the monitor's side: it fans output out to every client and
// routes their input and window sizes to the container.
type hub struct {
	mu      sync.Mutex
	clients map[net.Conn]bool
	stdin   io.Writer // nil when the container has no open stdin
	closeIn func()
	resize  func(rows, cols uint16)
}

func newHub() *hub { return &hub{clients: map[net.Conn]bool{}} }

// add serves one client until it disconnects.
func (h *hub) add(c net.Conn) {
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

func (h *hub) drop(c net.Conn) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	c.Close()
}

// setIO connects the hub to the current run's stdin and pty.
func (h *hub) setIO(stdin io.Writer, closeIn func(), resize func(rows, cols uint16)) {
	h.mu.Lock()
	h.stdin, h.closeIn, h.resize = stdin, closeIn, resize
	h.mu.Unlock()
}

// send writes a frame to every client; one that cannot take it within a
// few seconds is dropped rather than stalling the container's output.
func (h *hub) send(typ byte, p []byte) {
	h.mu.Lock()
	var clients []net.Conn
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()
	for _, c := range clients {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := writeFrame(c, typ, p); err != nil {
			h.drop(c)
		}
	}
}

func (h *hub) sendExit(code int) {
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], uint32(int32(code)))
	h.send(frameExit, p[:])
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		c.Close()
		delete(h.clients, c)
	}
}

// streamWriter sends what the container writes to one stream.
type streamWriter struct {
	h   *hub
	typ byte
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.h.send(w.typ, append([]byte(nil), p...))
	return len(p), nil
}

// inDir returns a short path naming name in dir, for bind and connect:
// unix socket paths are limited to 108 bytes and engine roots can be long,
// so the path goes through /proc/self/fd of an O_PATH descriptor of dir.
func inDir(dir, name string) (string, func(), error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", fd, name), func() { unix.Close(fd) }, nil
}

// listenAttach listens on <dir>/attach.sock and adds every client to h.
func listenAttach(dir string, h *hub) (func(), error) {
	path, done, err := inDir(dir, "attach.sock")
	if err != nil {
		return nil, err
	}
	defer done()
	os.Remove(filepath.Join(dir, "attach.sock"))
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen for attach: %w", err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.add(c)
		}
	}()
	return func() { l.Close(); os.Remove(filepath.Join(dir, "attach.sock")) }, nil
}

// AttachConn connects to a running container's monitor.
func (e *Engine) AttachConn(ref string) (net.Conn, error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	if !e.monitorAlive(rec.ID) {
		return nil, fmt.Errorf("cannot attach to %s: it is not running (it is %s)", rec.Name, rec.State.Status)
	}
	path, done, err := inDir(e.Containers.Dir(rec.ID), "attach.sock")
	if err != nil {
		return nil, err
	}
	defer done()
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", rec.Name, err)
	}
	return c, nil
}

// ErrDetached is what AttachClient returns when the user typed the detach
// keys: the container keeps running.
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

// AttachClient relays between the user's streams and the monitor until the
// container exits (its code is returned), the user detaches (ErrDetached)
// or the monitor goes away.
func AttachClient(c net.Conn, o ClientOptions) (int, error) {
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
