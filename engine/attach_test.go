package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
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
	_, err := AttachClient(client, ClientOptions{Stdin: in, Stdout: io.Discard, Stderr: io.Discard})
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
	code, err := AttachClient(client, ClientOptions{Stdout: &out, Stderr: &errb})
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
