// Package console creates pseudo-terminals for containers and passes their
// master side between processes.
//
// runc's protocol, which containerd, Docker and Podman speak: when
// process.terminal is true, the runtime creates the pty inside the container (so
// the slave belongs to the container's devpts) and sends the master fd over the
// unix socket named by --console-socket, as SCM_RIGHTS on a message whose data is
// the pty's name.
package console

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Pty is a new pseudo-terminal pair.
type Pty struct {
	Master *os.File
	// SlavePath is the /dev/pts/N name of the slave.
	SlavePath string
}

// New opens /dev/ptmx (the one of the mount namespace the caller is in) and
// unlocks the slave.
func New() (*Pty, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("get pty number: %w", err)
	}
	return &Pty{Master: master, SlavePath: fmt.Sprintf("/dev/pts/%d", n)}, nil
}

// OpenSlave opens the slave side of the pty.
func (p *Pty) OpenSlave() (*os.File, error) {
	f, err := os.OpenFile(p.SlavePath, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open pty slave %s: %w", p.SlavePath, err)
	}
	return f, nil
}

// SetSize sets the window size of a terminal.
func SetSize(f *os.File, rows, cols uint16) error {
	return unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
}

// IsTerminal tells whether w is a terminal (where a redrawn table
// replaces the previous one, and a container may get a pty).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// MakeRaw puts the terminal on fd in raw mode, as a terminal attached to a
// container's pty must be (keys like Ctrl-C go to the container, which
// echoes), and returns the function that restores it. isTerminal reports
// whether fd is a terminal at all; if it is not, or raw mode cannot be set,
// restore does nothing.
func MakeRaw(fd int) (restore func(), isTerminal bool) {
	st, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}, false
	}
	raw := *st
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	if unix.IoctlSetTermios(fd, unix.TCSETS, &raw) != nil {
		return func() {}, true
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, st) }, true
}

// MakeControlling makes tty the stdin, stdout, stderr and controlling terminal of
// the calling process, which must be a session leader (setsid) already.
func MakeControlling(tty *os.File) error {
	fd := int(tty.Fd())
	for _, target := range []int{0, 1, 2} {
		if err := unix.Dup3(fd, target, 0); err != nil {
			return fmt.Errorf("dup pty slave onto fd %d: %w", target, err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("make pty the controlling terminal: %w", err)
	}
	return nil
}

// SendFd sends f over a unix socket connection as SCM_RIGHTS, with name as the
// message body.
func SendFd(sock *os.File, name string, f *os.File) error {
	oob := unix.UnixRights(int(f.Fd()))
	if err := unix.Sendmsg(int(sock.Fd()), []byte(name), oob, nil, 0); err != nil {
		return fmt.Errorf("send fd over socket: %w", err)
	}
	return nil
}

// RecvFd receives one fd sent by SendFd, returning it with the message body.
// kago-monitor calls it, which is why it builds its errors without fmt.
func RecvFd(sock *os.File) (*os.File, string, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, "", os.NewSyscallError("receive fd: recvmsg", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, "", os.NewSyscallError("receive fd: parse control message", err)
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil || len(fds) == 0 {
			continue
		}
		for _, extra := range fds[1:] {
			unix.Close(extra)
		}
		return os.NewFile(uintptr(fds[0]), string(buf[:n])), string(buf[:n]), nil
	}
	return nil, "", errors.New("receive fd: message " + strconv.Quote(string(buf[:n])) + " carried no file descriptor")
}

// SendToSocket connects to the unix socket at path (a --console-socket) and
// sends the pty master over it.
func SendToSocket(path string, master *os.File) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	sock := os.NewFile(uintptr(fd), "console-socket")
	defer sock.Close()
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return fmt.Errorf("connect to console socket %s: %w", path, err)
	}
	return SendFd(sock, master.Name(), master)
}
