package attach

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// chunks is a reader that returns one chunk per Read, like a raw terminal.
type chunks struct{ parts [][]byte }

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		time.Sleep(time.Hour) // a terminal that stays open
	}
	n := copy(p, c.parts[0])
	c.parts = c.parts[1:]
	return n, nil
}

func TestAttachClientDetachAcrossReads(t *testing.T) {
	client, server := net.Pipe()
	got := make(chan []byte, 1)
	go func() {
		var in []byte
		for {
			typ, p, err := readFrame(server)
			if err != nil {
				got <- in
				return
			}
			if typ == frameStdin {
				in = append(in, p...)
			}
		}
	}()
	// Ctrl-P alone is held back, then sent when no Ctrl-Q follows; the
	// final Ctrl-P Ctrl-Q detaches.
	in := &chunks{parts: [][]byte{[]byte("ab"), {0x10}, []byte("c"), {0x10}, {0x11}, []byte("never")}}
	_, err := Client(client, ClientOptions{Stdin: in, Stdout: io.Discard, Stderr: io.Discard})
	if !errors.Is(err, ErrDetached) {
		t.Fatalf("AttachClient: %v, want ErrDetached", err)
	}
	if sent := <-got; !bytes.Equal(sent, []byte("ab\x10c")) {
		t.Fatalf("the container got %q, want %q", sent, "ab\x10c")
	}
}

func TestAttachClientOutputAndExit(t *testing.T) {
	client, server := net.Pipe()
	go func() {
		writeFrame(server, frameStdout, []byte("out"))
		writeFrame(server, frameStderr, []byte("err"))
		var p [4]byte
		binary.BigEndian.PutUint32(p[:], uint32(int32(42)))
		writeFrame(server, frameExit, p[:])
	}()
	var out, errb bytes.Buffer
	code, err := Client(client, ClientOptions{Stdout: &out, Stderr: &errb})
	if err != nil || code != 42 || out.String() != "out" || errb.String() != "err" {
		t.Fatalf("code %d err %v out %q stderr %q", code, err, out.String(), errb.String())
	}
}

func FuzzReadFrame(f *testing.F) {
	var good bytes.Buffer
	writeFrame(&good, frameStdout, []byte("hello"))
	f.Add(good.Bytes())
	f.Add([]byte{6, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, p, err := readFrame(bytes.NewReader(data))
		if err == nil {
			var again bytes.Buffer
			writeFrame(&again, typ, p)
			if !bytes.HasPrefix(data, again.Bytes()) {
				t.Fatalf("frame did not round-trip")
			}
		}
	})
}

// socketpair returns the monitor's end as the monitor makes it (a
// non-blocking *os.File, served by Go's poller) and the client's end.
func socketpair(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "monitor"), os.NewFile(uintptr(fds[1]), "client")
}

// TestHubServesClients: two clients see the container's output; input and
// window sizes from a client reach the container; both hear the exit code;
// a client that leaves does not stop the others.
func TestHubServesClients(t *testing.T) {
	h := NewHub()
	defer h.CloseAll()
	stdinR, stdinW := io.Pipe()
	resized := make(chan [2]uint16, 1)
	closed := make(chan struct{})
	h.SetIO(stdinW, func() { close(closed) }, func(r, c uint16) { resized <- [2]uint16{r, c} })

	var results [2]chan string
	for i := range results {
		mon, cli := socketpair(t)
		h.Add(mon)
		results[i] = make(chan string, 1)
		var in io.Reader
		var sizes chan [2]uint16
		if i == 0 {
			in = strings.NewReader("typed")
			sizes = make(chan [2]uint16, 1)
			sizes <- [2]uint16{24, 80}
		}
		go func() {
			var out, errb bytes.Buffer
			code, err := Client(cli, ClientOptions{Stdin: in, Stdout: &out, Stderr: &errb, Resize: sizes})
			results[i] <- fmt.Sprintf("%d %v %s|%s", code, err, out.String(), errb.String())
		}()
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(stdinR, got); err != nil || string(got) != "typed" {
		t.Fatalf("container stdin got %q, %v", got, err)
	}
	select {
	case <-closed: // the client's stdin ended: so does the container's
	case <-time.After(5 * time.Second):
		t.Fatal("end of the client's input did not close the container's stdin")
	}
	if sz := <-resized; sz != [2]uint16{24, 80} {
		t.Fatalf("resize %v", sz)
	}
	// Clients are added asynchronously; wait until both are in.
	for deadline := time.Now().Add(5 * time.Second); ; {
		h.mu.Lock()
		n := len(h.clients)
		h.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d clients, want 2", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.Stdout().Write([]byte("out"))
	h.Stderr().Write([]byte("err"))
	h.SendExit(7)
	for i, r := range results {
		select {
		case s := <-r:
			if s != "7 <nil> out|err" {
				t.Fatalf("client %d: %s", i, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("client %d did not hear the exit", i)
		}
	}
}

// TestHubSendMakesNoGarbage: output to attached clients is the monitor's
// steady work; it must not allocate (the monitor runs without collecting).
func TestHubSendMakesNoGarbage(t *testing.T) {
	h := NewHub()
	defer h.CloseAll()
	mon, cli := socketpair(t)
	defer cli.Close()
	h.Add(mon)
	go io.Copy(io.Discard, cli)
	line := []byte("some output\n")
	h.Stdout().Write(line) // grows the buffers once
	if n := testing.AllocsPerRun(100, func() { h.Stdout().Write(line) }); n != 0 {
		t.Fatalf("%v allocations per send", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) != 1 {
		t.Fatal("the client was dropped")
	}
}
