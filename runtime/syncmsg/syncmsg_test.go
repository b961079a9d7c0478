package syncmsg

import (
	"errors"
	"os"
	goruntime "runtime"
	"strings"
	"testing"
)

// pair is Pair for a test: both ends as Conns, closed when it ends.
func pair(t *testing.T) (parent, child *Conn) {
	t.Helper()
	parent, childFile, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	child = NewConn(childFile)
	t.Cleanup(func() { parent.Close(); child.Close() })
	return parent, child
}

func TestMessagesCarryBodiesFdsAndErrors(t *testing.T) {
	parent, child := pair(t)

	big := strings.Repeat("x", 300<<10) // a config with a large seccomp profile
	if err := parent.Send(TypeConfig, map[string]string{"k": big}, nil); err != nil {
		t.Fatal(err)
	}
	m, _, err := child.Expect(TypeConfig)
	if err != nil || !strings.Contains(string(m.Body), big) {
		t.Fatalf("config message: %v", err)
	}

	r, w, _ := os.Pipe()
	defer r.Close()
	if err := child.Send(TypeConsole, nil, w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	_, fd, err := parent.Expect(TypeConsole)
	if err != nil || fd == nil {
		t.Fatalf("fd message: %v %v", fd, err)
	}
	fd.Write([]byte("through"))
	fd.Close()
	buf := make([]byte, 16)
	n, _ := r.Read(buf)
	if string(buf[:n]) != "through" {
		t.Errorf("received fd is not the pipe: %q", buf[:n])
	}

	child.SendError(errors.New("mount /proc: permission denied"))
	if _, _, err := parent.Recv(); err == nil || err.Error() != "mount /proc: permission denied" {
		t.Errorf("error message = %v", err)
	}
	child.Send(TypeReady, nil, nil)
	if _, _, err := parent.Expect(TypeHooks); err == nil || !strings.Contains(err.Error(), "expected hooks") {
		t.Errorf("wrong message type accepted: %v", err)
	}
	child.Close()
	if _, _, err := parent.Recv(); !errors.Is(err, ErrClosed) {
		t.Errorf("after the child closed: %v, want ErrClosed", err)
	}
}

// Every create receives a handful of messages in kago-runc and in init:
// Recv must size its buffer to the message, not to maxMessage.
func TestRecvAllocatesForTheMessageOnly(t *testing.T) {
	parent, child := pair(t)
	const n = 8
	for i := 0; i < n; i++ {
		if err := parent.Send(TypeHooks, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		if _, _, err := child.Expect(TypeHooks); err != nil {
			t.Fatal(err)
		}
	}
	goruntime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Errorf("%d small messages allocated %d bytes, want under 64 KiB", n, got)
	}
	parent.Close()
	if _, _, err := child.Recv(); !errors.Is(err, ErrClosed) {
		t.Errorf("Recv after the peer closed: %v, want ErrClosed", err)
	}
}
