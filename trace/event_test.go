package trace

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestSockaddr(t *testing.T) {
	in4 := make([]byte, 28)
	binary.NativeEndian.PutUint16(in4, unix.AF_INET)
	binary.BigEndian.PutUint16(in4[2:], 16201)
	copy(in4[4:], []byte{127, 0, 0, 1})
	in6 := make([]byte, 28)
	binary.NativeEndian.PutUint16(in6, unix.AF_INET6)
	binary.BigEndian.PutUint16(in6[2:], 443)
	in6[23] = 1
	un := make([]byte, 28)
	binary.NativeEndian.PutUint16(un, unix.AF_UNIX)
	copy(un[2:], "/run/x.sock")
	abstract := make([]byte, 28)
	binary.NativeEndian.PutUint16(abstract, unix.AF_UNIX)
	copy(abstract[3:], "kt12")
	for _, tc := range []struct {
		b            []byte
		family, addr string
	}{
		{in4, "inet", "127.0.0.1:16201"},
		{in6, "inet6", "[::1]:443"},
		{un, "unix", "/run/x.sock"},
		{abstract, "unix", "@kt12"},
		{make([]byte, 28), "", ""},
	} {
		if f, a := sockaddr(tc.b); f != tc.family || a != tc.addr {
			t.Errorf("sockaddr = %q %q, want %q %q", f, a, tc.family, tc.addr)
		}
	}
}

func TestParseKinds(t *testing.T) {
	got, err := ParseKinds("exec, open,oom")
	if err != nil || len(got) != 3 || got[0] != KindExec || got[2] != KindOOM {
		t.Errorf("ParseKinds = %v, %v", got, err)
	}
	for _, bad := range []string{"exec,nope", "", ","} {
		if _, err := ParseKinds(bad); err == nil || !strings.Contains(err.Error(), "--events") {
			t.Errorf("ParseKinds(%q) = %v, want an error naming --events", bad, err)
		}
	}
}

func TestDecodeExecJSON(t *testing.T) {
	var r rawEvent
	r.Type = 1
	r.HostPid, r.NsPid = 4242, 7
	for i, c := range "busybox\x00" {
		r.Comm[i] = int8(c)
	}
	args := "busybox\x00echo\x00hi\x00"
	for i, c := range args {
		r.Args[i] = int8(c)
	}
	r.ArgsSize, r.Argc = uint32(len(args)), 3
	var rec bytes.Buffer
	if err := binary.Write(&rec, binary.NativeEndian, &r); err != nil {
		t.Fatal(err)
	}
	e, err := decode(rec.Bytes(), time.Unix(0, 0), "c1")
	if err != nil {
		t.Fatal(err)
	}
	var line bytes.Buffer
	if err := WriteJSON(&line, e); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(line.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["event"] != "exec" || m["pid"] != 7.0 || m["hostPid"] != 4242.0 || m["container"] != "c1" ||
		m["comm"] != "busybox" || m["ret"] != 0.0 || len(m["argv"].([]any)) != 3 {
		t.Errorf("JSON %s", line.String())
	}
	if _, err := decode(rec.Bytes()[:10], time.Unix(0, 0), "c1"); err == nil {
		t.Error("a short record decoded without error")
	}
}

func TestHumanAligned(t *testing.T) {
	fl := unix.O_RDONLY | unix.O_CLOEXEC
	ret := int64(-2)
	var b bytes.Buffer
	WriteHuman(&b, Event{Kind: KindOpen, Pid: 1, HostPid: 99, Comm: "cat", Path: "/x", Flags: &fl, Ret: &ret, Error: "ENOENT"})
	line := b.String()
	if i := strings.Index(line, "open"); i != strings.Index(HumanHeader, "EVENT") {
		t.Errorf("EVENT column at %d, header at %d:\n%s%s", i, strings.Index(HumanHeader, "EVENT"), HumanHeader+"\n", line)
	}
	if !strings.Contains(line, "/x  O_RDONLY|O_CLOEXEC  ENOENT") {
		t.Errorf("open line %q", line)
	}
}

// FuzzDecode: any record, however short or odd, decodes or errors.
func FuzzDecode(f *testing.F) {
	f.Add(make([]byte, 10))
	f.Add(make([]byte, int(unsafe.Sizeof(rawEvent{}))))
	f.Fuzz(func(t *testing.T, rec []byte) {
		if e, err := decode(rec, time.Unix(0, 0), "c"); err == nil {
			var b bytes.Buffer
			WriteHuman(&b, e)
			sameJSON(t, e)
		}
	})
}

// sameJSON fails unless WriteJSON writes e as encoding/json does.
func sameJSON(t *testing.T, e Event) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteJSON(&b, e); err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(b.String(), "\n"); got != string(want) {
		t.Errorf("WriteJSON wrote\n%s\nencoding/json writes\n%s", got, want)
	}
}

// FuzzJSONString: names, paths and argv quoted as encoding/json quotes them,
// whatever bytes the traced process used.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "/etc/passwd", "a\"b\\c\n\t\x00\x1f<>&", "\xff\xfe", "\u2028\u2029é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ret, fl, tg := int64(-2), 0o2000101, 9
		sameJSON(t, Event{Time: time.Unix(1, 5), Container: s, Pid: 1, HostPid: 2, Comm: s, Kind: KindExec,
			Filename: s, Argv: []string{s, "x", s}, Path: s, Flags: &fl, Family: s, Addr: s, Target: &tg,
			Signal: s, VictimHostPid: 3, Ret: &ret, Error: s})
	})
}

// TestWriteJSON: the events of each kind, as encoding/json writes them.
func TestWriteJSON(t *testing.T) {
	ret, fl, tg := int64(3), 0, 1
	for _, e := range []Event{
		{Time: time.Now(), Container: "c", Pid: 1, HostPid: 99, Comm: "sh", Kind: KindExec, Filename: "/bin/sh", Argv: []string{"sh", "-c", "echo <&>"}, Ret: &ret},
		{Time: time.Now(), Container: "c", Pid: 7, HostPid: 100, Comm: "cat", Kind: KindOpen, Path: "/etc/hostname", Flags: &fl, Ret: &ret},
		{Time: time.Now(), Container: "c", Kind: KindSignal, Target: &tg, Signal: "SIGTERM", Ret: &ret, Error: "EPERM"},
		{Time: time.Now(), Container: "c", Kind: KindOOM, VictimHostPid: 5},
		{Time: time.Now(), Container: "c", Kind: KindSyscalls, Syscalls: []SyscallStat{{Name: "read", Count: 2}}},
	} {
		sameJSON(t, e)
	}
}
