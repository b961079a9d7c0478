package systemd

import (
	"fmt"
	"strings"
)

// Defaults for the parts a cgroupsPath leaves empty, and for an empty
// cgroupsPath, which means ":kago:<container id>" (runc says ":runc:<id>").
const (
	DefaultSlice  = "system.slice"
	DefaultPrefix = "kago"
)

// unitNameMax is systemd's UNIT_NAME_MAX less the terminating NUL.
const unitNameMax = 255

// Unit is where a container goes under systemd: the transient scope unit
// Name placed in the slice unit Slice.
type Unit struct {
	Slice string // "system.slice", "kubepods-burstable.slice", "-.slice" (the root)
	Name  string // "cri-containerd-<id>.scope"
}

// ParsePath reads an OCI linux.cgroupsPath given with --systemd-cgroup the
// way runc does: "slice:prefix:name" names the scope "prefix-name.scope" in
// the slice; an empty slice is system.slice; an empty cgroupsPath is
// ":kago:<containerID>". A slice name may hold dashes, each of which nests it
// one level ("a-b.slice" lives in "a.slice"), but no "/".
//
// Where runc would start a slice unit instead of a scope (a name ending in
// ".slice") there is no process to place: that form is how kubelet makes pod
// slices, never containers, so it is refused with a message saying so.
func ParsePath(cgroupsPath, containerID string) (Unit, error) {
	slice, prefix, name := "", DefaultPrefix, containerID
	if cgroupsPath != "" {
		parts := strings.Split(cgroupsPath, ":")
		if len(parts) != 3 {
			return Unit{}, fmt.Errorf("cgroupsPath %q: with --systemd-cgroup it must be \"slice:prefix:name\" (for example \"system.slice:kago:<id>\"), or empty", cgroupsPath)
		}
		slice, prefix, name = parts[0], parts[1], parts[2]
	}
	if slice == "" {
		slice = DefaultSlice
	}
	if _, err := ExpandSlice(slice); err != nil {
		return Unit{}, fmt.Errorf("cgroupsPath %q: %w", cgroupsPath, err)
	}
	if name == "" {
		return Unit{}, fmt.Errorf("cgroupsPath %q names no unit: the part after the second ':' (the container's name) is empty", cgroupsPath)
	}
	if strings.HasSuffix(name, ".slice") {
		return Unit{}, fmt.Errorf("cgroupsPath %q names a slice (%s) as the container's unit; a container needs a scope: use \"%s:%s:<name>\" with a name not ending in .slice", cgroupsPath, name, slice, prefix)
	}
	u := Unit{Slice: slice, Name: prefix + "-" + name + ".scope"}
	if err := checkUnitName(u.Name); err != nil {
		return Unit{}, fmt.Errorf("cgroupsPath %q: %w", cgroupsPath, err)
	}
	return u, nil
}

// CgroupPath is the unit's cgroup, from the root of the cgroup tree, where
// systemd puts it: "/system.slice/kago-abc.scope".
func (u Unit) CgroupPath() string {
	dir, _ := ExpandSlice(u.Slice) // checked by ParsePath
	if dir == "/" {
		return "/" + u.Name
	}
	return dir + "/" + u.Name
}

// ExpandSlice turns a slice unit name into its cgroup path the way systemd
// nests slices by their dashes: "a-b-c.slice" is /a.slice/a-b.slice/a-b-c.slice,
// and "-.slice" is the root. Names that systemd would refuse ("a--b.slice",
// "-a.slice", "a/b.slice", no ".slice") are errors.
func ExpandSlice(slice string) (string, error) {
	const suffix = ".slice"
	base, ok := strings.CutSuffix(slice, suffix)
	if !ok || base == "" {
		return "", fmt.Errorf("slice %q is not a slice unit name: it must end in %q, like system.slice", slice, suffix)
	}
	if base == "-" {
		return "/", nil
	}
	if err := checkUnitName(slice); err != nil {
		return "", err
	}
	var path, prefix strings.Builder
	for part := range strings.SplitSeq(base, "-") {
		if part == "" {
			return "", fmt.Errorf("slice %q is not valid: a dash at either end or two in a row leave an empty level (a-b.slice nests b in a)", slice)
		}
		prefix.WriteString(part)
		path.WriteString("/" + prefix.String() + suffix)
		prefix.WriteString("-")
	}
	return path.String(), nil
}

// checkUnitName applies systemd's rules for a unit name (unit_name_is_valid):
// at most 255 bytes of letters, digits and ":-_.\", and no leading ".".
func checkUnitName(name string) error {
	if len(name) > unitNameMax {
		return fmt.Errorf("systemd unit name %.40q... is %d bytes long: systemd allows %d", name, len(name), unitNameMax)
	}
	if strings.HasPrefix(name, ".") {
		return fmt.Errorf("systemd unit name %q starts with '.': systemd refuses that", name)
	}
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(":-_.\\", c) >= 0:
		default:
			return fmt.Errorf("systemd unit name %q has the character %q: use only letters, digits and \":-_.\\\"", name, c)
		}
	}
	return nil
}
