package specgen

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Volume kinds.
const (
	KindBind      = "bind"
	KindVolume    = "volume" // named volume
	KindAnonymous = "anonymous"
)

// Volume is one parsed -v value.
type Volume struct {
	Kind        string
	Source      string // host path (bind, possibly relative) or volume name
	Destination string
	ReadOnly    bool
}

var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// IsVolumeName tells whether s can name a volume.
func IsVolumeName(s string) bool { return volumeName.MatchString(s) }

// ParseVolume parses -v SRC:DST[:ro|rw] or -v DST (an anonymous volume).
// SRC starting with / or . is a host path; otherwise it names a volume.
func ParseVolume(s string) (Volume, error) {
	bad := func(why string) (Volume, error) {
		return Volume{}, fmt.Errorf("invalid volume %q: %s (use HOST_PATH:CONTAINER_PATH[:ro] or NAME:CONTAINER_PATH)", s, why)
	}
	if strings.ContainsRune(s, 0) {
		return bad("it contains a NUL byte")
	}
	parts := strings.Split(s, ":")
	var v Volume
	switch len(parts) {
	case 1:
		v = Volume{Kind: KindAnonymous, Destination: parts[0]}
	case 2, 3:
		v = Volume{Source: parts[0], Destination: parts[1]}
		if len(parts) == 3 {
			for _, o := range strings.Split(parts[2], ",") {
				switch o {
				case "ro":
					v.ReadOnly = true
				case "rw", "z", "Z":
				default:
					return bad(fmt.Sprintf("unknown option %q; known: ro, rw", o))
				}
			}
		}
		switch {
		case v.Source == "":
			return bad("the host path is empty")
		case strings.HasPrefix(v.Source, "/") || strings.HasPrefix(v.Source, "."):
			v.Kind = KindBind
		case volumeName.MatchString(v.Source):
			v.Kind = KindVolume
		default:
			return bad(fmt.Sprintf("%q is neither a path (start it with / or ./) nor a volume name", v.Source))
		}
	default:
		return bad("too many colons")
	}
	if !strings.HasPrefix(v.Destination, "/") {
		return bad("the container path must be absolute")
	}
	if path.Clean(v.Destination) == "/" {
		return bad("the container path must not be /")
	}
	v.Destination = path.Clean(v.Destination)
	return v, nil
}

// ParseBytes parses a size like docker's --memory: a number with an optional
// b, k, m or g suffix (case-insensitive, binary units).
func ParseBytes(s string) (int64, error) {
	bad := fmt.Errorf("invalid size %q: use a number with an optional unit b, k, m or g, like 512m", s)
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	if t == "" {
		return 0, bad
	}
	mult := int64(1)
	switch t[len(t)-1] {
	case 'k':
		mult = 1 << 10
	case 'm':
		mult = 1 << 20
	case 'g':
		mult = 1 << 30
	case 't':
		mult = 1 << 40
	}
	if mult != 1 {
		t = t[:len(t)-1]
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f*float64(mult) > math.MaxInt64/2 {
		return 0, bad
	}
	return int64(f * float64(mult)), nil
}

// ParseCPUs parses --cpus (a positive decimal).
func ParseCPUs(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 4096 || math.IsNaN(f) {
		return 0, fmt.Errorf("invalid --cpus %q: use a positive number like 1.5", s)
	}
	return f, nil
}

// ParseEnvFile reads an --env-file: KEY=VALUE lines, # comments and blank
// lines skipped; a bare KEY takes its value from lookup (the host's env) and
// is dropped if unset there, as docker does.
func ParseEnvFile(name string, data []byte, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kv, err := ParseEnv(line, lookup)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, n, err)
		}
		if kv != "" {
			out = append(out, kv)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read env file %s: %w", name, err)
	}
	return out, nil
}

// ParseEnv checks one -e value; a bare KEY takes the host's value ("" if
// the host has none, meaning: skip it).
func ParseEnv(s string, lookup func(string) (string, bool)) (string, error) {
	k, _, hasVal := strings.Cut(s, "=")
	if k == "" || strings.ContainsAny(k, " \t\x00") || strings.ContainsRune(s, 0) {
		return "", fmt.Errorf("invalid environment variable %q: use KEY=VALUE with a non-empty KEY without spaces", s)
	}
	if hasVal {
		return s, nil
	}
	if v, ok := lookup(k); ok {
		return k + "=" + v, nil
	}
	return "", nil
}

// ResolveUser turns -u USER[:GROUP] (names or numbers) into ids using the
// image's /etc/passwd and /etc/group contents (either may be nil). A
// numeric user not in passwd runs with gid 0, as in docker.
func ResolveUser(s string, passwd, group []byte) (specs.User, error) {
	if err := CheckUser(s); err != nil {
		return specs.User{}, err
	}
	userPart, groupPart, hasGroup := strings.Cut(s, ":")
	var u specs.User
	if uid, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u.UID = uint32(uid)
		if f := findEntry(passwd, 2, userPart); f != nil {
			gid, _ := strconv.ParseUint(f[3], 10, 32)
			u.GID = uint32(gid)
		}
	} else {
		f := findEntry(passwd, 0, userPart)
		if len(f) < 4 {
			return specs.User{}, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return specs.User{}, fmt.Errorf("the image's /etc/passwd entry for %s has a bad uid or gid", userPart)
		}
		u.UID, u.GID = uint32(uid), uint32(gid)
	}
	if hasGroup {
		if gid, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.GID = uint32(gid)
		} else {
			f := findEntry(group, 0, groupPart)
			if len(f) < 3 {
				return specs.User{}, fmt.Errorf("unable to find group %s: no matching entries in group file", groupPart)
			}
			gid, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil {
				return specs.User{}, fmt.Errorf("the image's /etc/group entry for %s has a bad gid", groupPart)
			}
			u.GID = uint32(gid)
		}
	}
	return u, nil
}

// CheckUser checks the form of -u USER[:GROUP] without an image.
func CheckUser(s string) error {
	userPart, groupPart, hasGroup := strings.Cut(s, ":")
	if userPart == "" || hasGroup && groupPart == "" || strings.ContainsAny(s, "\x00\n") || strings.Count(s, ":") > 1 {
		return fmt.Errorf("invalid user %q: use NAME|UID[:GROUP|GID]", s)
	}
	return nil
}

// findEntry returns the fields of the first colon-separated line whose
// field col equals key.
func findEntry(data []byte, col int, key string) []string {
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) > col && len(f) >= 4 && f[col] == key {
			return f
		}
	}
	return nil
}

// TmpfsDefaults are the options of every --tmpfs mount, before the user's.
var TmpfsDefaults = []string{"nosuid", "nodev", "noexec"}

// ParseTmpfs parses --tmpfs DST[:OPTIONS] into a mount.
func ParseTmpfs(s string) (specs.Mount, error) {
	dst, opts, _ := strings.Cut(s, ":")
	if !strings.HasPrefix(dst, "/") || path.Clean(dst) == "/" || strings.ContainsRune(s, 0) {
		return specs.Mount{}, fmt.Errorf("invalid --tmpfs %q: use an absolute container path other than /, then optional :OPTIONS", s)
	}
	o := append([]string{}, TmpfsDefaults...)
	for _, opt := range strings.Split(opts, ",") {
		if opt != "" {
			o = append(o, opt)
		}
	}
	return specs.Mount{Destination: path.Clean(dst), Type: "tmpfs", Source: "tmpfs", Options: o}, nil
}
