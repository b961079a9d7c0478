package trace

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kind names an event kind, as --events and the JSON "event" field spell it.
type Kind string

// The event kinds; their order matches the EV_* numbers in bpf/trace.bpf.c.
const (
	KindExec    Kind = "exec"
	KindOpen    Kind = "open"
	KindConnect Kind = "connect"
	KindAccept  Kind = "accept"
	KindBind    Kind = "bind"
	KindSignal  Kind = "signal"
	KindOOM     Kind = "oom"
	// KindSyscalls is the per-syscall count and latency summary, emitted
	// every interval rather than per call; not in the default kinds.
	KindSyscalls Kind = "syscalls"
)

var kindByNumber = []Kind{1: KindExec, KindOpen, KindConnect, KindAccept, KindBind, KindSignal, KindOOM, KindSyscalls}

// Kinds are every event kind, in the order --events lists them.
var Kinds = kindByNumber[1:]

// DefaultKinds are the kinds traced without --events: all but the summary.
var DefaultKinds = kindByNumber[1:evSyscalls]

// evSyscalls is KindSyscalls' EV_* number.
const evSyscalls = 8

// ParseKinds reads a comma-separated --events value.
func ParseKinds(s string) ([]Kind, error) {
	var out []Kind
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		found := false
		for _, k := range Kinds {
			if string(k) == name {
				out, found = append(out, k), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown event %q in --events: use some of %s", name, joinKinds(Kinds))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--events is empty: use some of %s", joinKinds(Kinds))
	}
	return out, nil
}

func joinKinds(ks []Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

// Event is one thing a process of the container did. Fields that do not
// apply to an event's kind are left out of its JSON.
type Event struct {
	Time      time.Time `json:"time"`
	Container string    `json:"container"`
	Pid       int       `json:"pid"`     // as the container sees it
	HostPid   int       `json:"hostPid"` // as the host sees it
	Comm      string    `json:"comm"`
	Kind      Kind      `json:"event"`
	// exec
	Filename string   `json:"filename,omitempty"`
	Argv     []string `json:"argv,omitempty"`
	// open
	Path  string `json:"path,omitempty"`
	Flags *int   `json:"flags,omitempty"`
	// connect, accept, bind
	Family string `json:"family,omitempty"`
	Addr   string `json:"addr,omitempty"`
	// signal: the sender is Pid; Target is the pid as the sender named it.
	Target *int   `json:"target,omitempty"`
	Signal string `json:"signal,omitempty"`
	// oom: the process the OOM killer chose, by host pid.
	VictimHostPid int `json:"victimHostPid,omitempty"`
	// syscalls: the calls since the previous summary, most frequent first.
	Syscalls []SyscallStat `json:"syscalls,omitempty"`
	// Ret is the system call's return value; Error names a negative one.
	Ret   *int64 `json:"ret,omitempty"`
	Error string `json:"error,omitempty"`
}

// SyscallStat is one system call's line of a syscalls summary.
type SyscallStat struct {
	Name    string `json:"name"`
	Count   uint64 `json:"count"`
	Errors  uint64 `json:"errors"`
	TotalNs uint64 `json:"totalNs"`
}

// rawEvent mirrors struct event in bpf/trace.bpf.c.
type rawEvent = kagotraceEvent

// decode turns a ring buffer record into an Event. boot is the wall time of
// the boot clock's zero.
func decode(rec []byte, boot time.Time, container string) (Event, error) {
	// The record is struct event as the kernel laid it out (same machine,
	// same layout: kagotraceEvent is generated with structs.HostLayout);
	// events other than exec come without their args buffer. A cast, not
	// encoding/binary: its reflection cost more per event than the BPF side.
	var r rawEvent
	full := int(unsafe.Sizeof(r))
	if len(rec) < full-len(r.Args)-4 || len(rec) > full {
		return Event{}, fmt.Errorf("decode a trace event of %d bytes: want %d", len(rec), full)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&r)), full), rec)
	if int(r.Type) >= len(kindByNumber) || r.Type == 0 {
		return Event{}, fmt.Errorf("decode a trace event: unknown kind %d", r.Type)
	}
	e := Event{
		Time: boot.Add(time.Duration(r.TimeNs)), Container: container,
		Pid: int(r.NsPid), HostPid: int(r.HostPid), Comm: cString(r.Comm[:]),
		Kind: kindByNumber[r.Type],
	}
	if e.Kind != KindOOM {
		ret := r.Ret
		e.Ret = &ret
		if ret < 0 {
			e.Error = unix.ErrnoName(unix.Errno(-ret))
		}
	}
	switch e.Kind {
	case KindExec:
		e.Filename = cString(r.Path[:])
		args := int8Bytes(r.Args[:min(int(r.ArgsSize), len(r.Args))])
		for _, a := range bytes.Split(bytes.TrimSuffix(args, []byte{0}), []byte{0}) {
			if len(e.Argv) < int(r.Argc) {
				e.Argv = append(e.Argv, string(a))
			}
		}
	case KindOpen:
		e.Path = cString(r.Path[:])
		fl := int(r.Flags)
		e.Flags = &fl
	case KindConnect, KindAccept, KindBind:
		e.Family, e.Addr = sockaddr(r.Addr[:])
	case KindSignal:
		t := int(r.Target)
		e.Target = &t
		e.Signal = unix.SignalName(unix.Signal(r.Flags))
		if e.Signal == "" {
			e.Signal = strconv.Itoa(int(r.Flags))
		}
	case KindOOM:
		e.VictimHostPid = int(r.Flags)
	}
	return e, nil
}

func int8Bytes(s []int8) []byte {
	b := make([]byte, len(s))
	for i, c := range s {
		b[i] = byte(c)
	}
	return b
}

func cString(s []int8) string {
	b := int8Bytes(s)
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// sockaddr reads a struct sockaddr as the caller passed it.
func sockaddr(b []byte) (family, addr string) {
	fam := binary.NativeEndian.Uint16(b)
	port := binary.BigEndian.Uint16(b[2:])
	switch fam {
	case unix.AF_INET:
		ip := netip.AddrFrom4([4]byte(b[4:8]))
		return "inet", netip.AddrPortFrom(ip, port).String()
	case unix.AF_INET6:
		ip := netip.AddrFrom16([16]byte(b[8:24]))
		return "inet6", netip.AddrPortFrom(ip, port).String()
	case unix.AF_UNIX:
		p := b[2:]
		if i := bytes.IndexByte(p, 0); i >= 0 {
			if i == 0 && len(p) > 1 { // abstract socket
				q := p[1:]
				if j := bytes.IndexByte(q, 0); j >= 0 {
					q = q[:j]
				}
				return "unix", "@" + string(q)
			}
			p = p[:i]
		}
		return "unix", string(p)
	case unix.AF_UNSPEC:
		return "", ""
	}
	return strconv.Itoa(int(fam)), ""
}

// WriteJSON writes e as one line of JSON.
func WriteJSON(w io.Writer, e Event) error {
	b, err := appendJSON(make([]byte, 0, 256), e)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// HumanHeader is the first line of the human format.
const HumanHeader = "TIME         EVENT    PID     HOSTPID COMM             RET  DETAILS"

// WriteHuman writes e as one aligned line, like execsnoop and opensnoop.
func WriteHuman(w io.Writer, e Event) error {
	ret := ""
	if e.Ret != nil {
		ret = strconv.FormatInt(*e.Ret, 10)
	}
	var details string
	switch e.Kind {
	case KindExec:
		details = e.Filename + "  " + strings.Join(e.Argv, " ")
	case KindOpen:
		details = e.Path
		if e.Flags != nil {
			details += "  " + openFlags(*e.Flags)
		}
	case KindConnect, KindAccept, KindBind:
		details = strings.TrimSpace(e.Family + " " + e.Addr)
	case KindSignal:
		details = e.Signal
		if e.Target != nil {
			details += fmt.Sprintf(" to pid %d", *e.Target)
		}
	case KindOOM:
		details = fmt.Sprintf("killed host pid %d", e.VictimHostPid)
	case KindSyscalls:
		return writeSyscalls(w, e)
	}
	if e.Error != "" {
		details += "  " + e.Error
	}
	_, err := fmt.Fprintf(w, "%-12s %-8s %-7d %-7d %-16s %4s  %s\n",
		e.Time.Format("15:04:05.000"), e.Kind, e.Pid, e.HostPid, e.Comm, ret, details)
	return err
}

var openFlagNames = []struct {
	bit  int
	name string
}{
	{unix.O_CREAT, "O_CREAT"}, {unix.O_EXCL, "O_EXCL"}, {unix.O_NOCTTY, "O_NOCTTY"},
	{unix.O_TRUNC, "O_TRUNC"}, {unix.O_APPEND, "O_APPEND"}, {unix.O_NONBLOCK, "O_NONBLOCK"},
	{unix.O_DIRECTORY, "O_DIRECTORY"}, {unix.O_NOFOLLOW, "O_NOFOLLOW"}, {unix.O_CLOEXEC, "O_CLOEXEC"},
	{unix.O_PATH, "O_PATH"},
}

// openFlags spells open(2) flags as the C source would.
func openFlags(f int) string {
	parts := []string{[]string{"O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"}[f&unix.O_ACCMODE]}
	for _, n := range openFlagNames {
		if f&n.bit == n.bit {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, "|")
}

// writeSyscalls writes a summary as a table under a line of its own.
func writeSyscalls(w io.Writer, e Event) error {
	var total uint64
	for _, s := range e.Syscalls {
		total += s.Count
	}
	fmt.Fprintf(w, "%-12s %-8s %d calls\n", e.Time.Format("15:04:05.000"), e.Kind, total)
	fmt.Fprintf(w, "    %-24s %10s %8s %12s %12s\n", "SYSCALL", "COUNT", "ERRORS", "AVG(us)", "TOTAL(ms)")
	for _, s := range e.Syscalls {
		_, err := fmt.Fprintf(w, "    %-24s %10d %8d %12.1f %12.3f\n", s.Name, s.Count, s.Errors,
			float64(s.TotalNs)/float64(max(s.Count, 1))/1e3, float64(s.TotalNs)/1e6)
		if err != nil {
			return err
		}
	}
	return nil
}
