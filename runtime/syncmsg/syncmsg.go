// Package syncmsg is the conversation between the runtime (the parent) and a
// container's init or exec process (the child) while the container is made.
//
// They talk over a SOCK_SEQPACKET socketpair, so each message keeps its
// boundaries and may carry a file descriptor (the pty master, a seccomp
// listener) as SCM_RIGHTS. Every message is one JSON object.
package syncmsg

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Message types.
const (
	TypeConfig    = "config"     // parent -> child: what to build (Body is the init config)
	TypeMountTree = "mount-tree" // parent -> child, after config: fd is a detached (id-mapped) mount
	TypeHooks     = "hooks"      // child -> parent: mounts are ready, run createRuntime/prestart hooks
	TypeHooksDone = "hooks-done" // parent -> child
	TypeConsole   = "console"    // child -> parent: fd is the pty master
	TypeSeccomp   = "seccomp"    // child -> parent: fd is the seccomp listener
	TypeReady     = "ready"      // child -> parent: waiting for start (init) or about to exec (exec)
	TypeError     = "error"      // child -> parent: Error says what failed
	TypeExplain   = "explain"    // child -> parent, before ready: Body is init's explain steps
)

// maxMessage bounds one message; a config with a large seccomp profile is a
// few hundred KiB at most.
const maxMessage = 4 << 20

// Message is one unit of the conversation.
type Message struct {
	Type  string          `json:"type"`
	Error string          `json:"error,omitempty"`
	Body  json.RawMessage `json:"body,omitempty"`
}

// Conn is one end of the socketpair.
type Conn struct{ f *os.File }

// Pair makes a connected socketpair: the parent's end and the child's end.
func Pair() (parent *Conn, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	for _, fd := range fds {
		// Root may exceed wmem_max; a failure just leaves the default size.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, maxMessage)
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, maxMessage)
	}
	return &Conn{os.NewFile(uintptr(fds[0]), "sync-parent")}, os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

// NewConn wraps an inherited socket.
func NewConn(f *os.File) *Conn { return &Conn{f} }

// File is the underlying socket.
func (c *Conn) File() *os.File { return c.f }

// Close closes the socket.
func (c *Conn) Close() error { return c.f.Close() }

// Send sends a message of type typ with body marshalled as JSON, and fd (if
// not nil) as SCM_RIGHTS.
func (c *Conn) Send(typ string, body any, fd *os.File) error {
	m := Message{Type: typ}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s message: %w", typ, err)
		}
		m.Body = raw
	}
	return c.send(m, fd)
}

// SendError reports a failure to the other side.
func (c *Conn) SendError(err error) error {
	return c.send(Message{Type: TypeError, Error: err.Error()}, nil)
}

func (c *Conn) send(m Message, fd *os.File) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(data) > maxMessage {
		return fmt.Errorf("%s message of %d bytes is larger than %d", m.Type, len(data), maxMessage)
	}
	var oob []byte
	if fd != nil {
		oob = unix.UnixRights(int(fd.Fd()))
	}
	if err := unix.Sendmsg(int(c.f.Fd()), data, oob, nil, 0); err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, err)
	}
	return nil
}

// ErrClosed is returned by Recv when the other side closed the socket (for
// the parent: the child died or exec'd).
var ErrClosed = errors.New("sync socket closed")

// Recv receives the next message and the fd it carried, if any. An error
// message from the other side is returned as an error.
func (c *Conn) Recv() (*Message, *os.File, error) {
	// The message's length first: MSG_PEEK|MSG_TRUNC reports a whole
	// datagram's length without taking it, so the buffer fits the message
	// (a maxMessage buffer for every message was most of a create's memory).
	var one [1]byte
	size, _, err := c.recvmsg(one[:], nil, unix.MSG_PEEK|unix.MSG_TRUNC)
	if err != nil {
		return nil, nil, err
	}
	if size == 0 {
		return nil, nil, ErrClosed
	}
	if size > maxMessage {
		return nil, nil, fmt.Errorf("sync message of %d bytes is larger than %d", size, maxMessage)
	}
	buf := make([]byte, size)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, err := c.recvmsg(buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return nil, nil, ErrClosed
	}
	var fd *os.File
	if oobn > 0 {
		msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
		if perr == nil {
			for _, cm := range msgs {
				if fds, err := unix.ParseUnixRights(&cm); err == nil && len(fds) > 0 {
					fd = os.NewFile(uintptr(fds[0]), "received-fd")
				}
			}
		}
	}
	var m Message
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		if fd != nil {
			fd.Close()
		}
		return nil, nil, fmt.Errorf("decode sync message: %w", err)
	}
	if m.Type == TypeError {
		return &m, nil, errors.New(m.Error)
	}
	return &m, fd, nil
}

func (c *Conn) recvmsg(buf, oob []byte, flags int) (n, oobn int, err error) {
	for {
		n, oobn, _, _, err = unix.Recvmsg(int(c.f.Fd()), buf, oob, flags)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("receive sync message: %w", err)
	}
	return n, oobn, nil
}

// Expect receives a message and checks its type.
func (c *Conn) Expect(typ string) (*Message, *os.File, error) {
	m, fd, err := c.Recv()
	if err != nil {
		return nil, nil, err
	}
	if m.Type != typ {
		if fd != nil {
			fd.Close()
		}
		return nil, nil, fmt.Errorf("sync: expected %s message, got %s", typ, m.Type)
	}
	return m, fd, nil
}
