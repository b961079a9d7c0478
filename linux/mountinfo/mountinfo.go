// Package mountinfo parses /proc/<pid>/mountinfo (proc(5)), the kernel's
// table of a mount namespace: the rootfs code checks its mounts with it and
// the cgroup code finds the cgroup hierarchies with it.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Info is one line of /proc/<pid>/mountinfo (proc(5)).
type Info struct {
	ID, Parent   int
	Dev          string // "major:minor" of the filesystem
	Root         string // path of the mount's root within its filesystem
	Mountpoint   string
	Options      string // per-mount options
	Optional     []string
	FSType       string
	Source       string
	SuperOptions string
}

// Shared reports whether the mount is in a peer group (propagation shared).
func (m Info) Shared() bool {
	for _, o := range m.Optional {
		if strings.HasPrefix(o, "shared:") {
			return true
		}
	}
	return false
}

// Parse parses mountinfo text. The kernel escapes space, tab,
// newline and backslash in paths as octal (\040); they are unescaped here.
func Parse(r io.Reader) ([]Info, error) {
	var out []Info
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseMountinfoLine(line)
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

func parseMountinfoLine(line string) (Info, error) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 7 || sep < 0 || len(f) < sep+3 {
		return Info{}, fmt.Errorf("malformed line %q: want at least 10 fields with a \"-\" separator", line)
	}
	id, err1 := strconv.Atoi(f[0])
	parent, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return Info{}, fmt.Errorf("malformed mount ids in %q", line)
	}
	m := Info{
		ID: id, Parent: parent, Dev: f[2],
		Root: unescapeOctal(f[3]), Mountpoint: unescapeOctal(f[4]), Options: f[5],
		Optional: f[6:sep],
		FSType:   f[sep+1], Source: unescapeOctal(f[sep+2]),
	}
	if len(f) > sep+3 {
		m.SuperOptions = f[sep+3]
	}
	return m, nil
}

// unescapeOctal undoes the kernel's \ooo escaping; malformed escapes are
// kept as they are.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Read reads the calling process's mount table.
func Read() ([]Info, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f)
}
