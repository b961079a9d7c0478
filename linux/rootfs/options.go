package rootfs

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// MountOptions is what the OCI "options" of one mount mean to the kernel.
type MountOptions struct {
	// Flags are passed to mount(2). Options that clear a flag ("rw", "suid",
	// "exec", ...) remove it here, so later options win, as with mount(8).
	Flags uintptr
	// Propagation holds MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE
	// (optionally |MS_REC), applied one by one after the mount exists: the
	// kernel refuses to combine a propagation change with other flags.
	Propagation []uintptr
	// RecAttr holds the recursive ("rro", "rnosuid", ...) attributes for
	// mount_setattr(2) with AT_RECURSIVE; nil when none were asked for.
	RecAttr *unix.MountAttr
	// Data is the comma-joined list of options the kernel's generic mount
	// code does not know (e.g. "size=64k", "mode=755"): the filesystem's own.
	Data string
	// CopyUp ("tmpcopyup") fills a new tmpfs with what the image had at
	// the mount point.
	CopyUp bool
	// IDMap ("idmap", "ridmap") asks for an id-mapped bind mount, which
	// linux/idmap prepares and Prepare attaches (Options.Trees).
	IDMap bool
}

type flagOption struct {
	clear bool
	flag  uintptr
}

// flagOptions is runc's table of mount(8) options that map to MS_* flags.
var flagOptions = map[string]flagOption{
	"acl":           {false, unix.MS_POSIXACL},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"bind":          {false, unix.MS_BIND},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"iversion":      {false, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"loud":          {true, unix.MS_SILENT},
	"mand":          {false, unix.MS_MANDLOCK},
	"noacl":         {true, unix.MS_POSIXACL},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"noiversion":    {true, unix.MS_I_VERSION},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

// propagationOptions are applied with a separate mount(2) call after the mount.
var propagationOptions = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

type recAttrOption struct {
	clear bool
	attr  uint64
}

// recAttrOptions are the recursive variants (runc 1.1+), which mount(2)
// cannot express: MS_REC only makes MS_BIND and propagation recursive.
var recAttrOptions = map[string]recAttrOption{
	"rro":            {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":            {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":        {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":          {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":         {false, unix.MOUNT_ATTR_NODEV},
	"rdev":           {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":        {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":          {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":    {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":      {true, unix.MOUNT_ATTR_NODIRATIME},
	"rnosymfollow":   {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":     {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rrelatime":      {false, unix.MOUNT_ATTR_RELATIME},
	"rnorelatime":    {true, unix.MOUNT_ATTR_RELATIME},
	"rnoatime":       {false, unix.MOUNT_ATTR_NOATIME},
	"ratime":         {true, unix.MOUNT_ATTR_NOATIME},
	"rstrictatime":   {false, unix.MOUNT_ATTR_STRICTATIME},
	"rnostrictatime": {true, unix.MOUNT_ATTR_STRICTATIME},
}

// unsupportedOptions are OCI/runc options with a meaning kago does not
// implement yet; passing them to the kernel as data would fail obscurely.
var unsupportedOptions = map[string]string{
	"x-mount.idmap": "mount(8)'s id mapping syntax is not supported: use the OCI mount's uidMappings/gidMappings with \"idmap\"",
}

// idmapOptions ask for an id-mapped mount (runtime-spec 1.2); "ridmap" maps
// the submounts of an rbind too.
var idmapOptions = []string{"idmap", "ridmap"}

// ParseOptions maps OCI mount options to flags, propagation, recursive
// attributes and data, following runc's table. Unknown options are passed to
// the filesystem as data; empty and "x-" (userspace-only) options are
// ignored. It never panics.
func ParseOptions(options []string) (MountOptions, error) {
	var mo MountOptions
	var data []string
	for _, o := range options {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if f, ok := flagOptions[o]; ok {
			if f.clear {
				mo.Flags &^= f.flag
			} else {
				mo.Flags |= f.flag
			}
			// The atime modes exclude each other: the last one wins.
			switch o {
			case "noatime":
				mo.Flags &^= unix.MS_RELATIME | unix.MS_STRICTATIME
			case "relatime":
				mo.Flags &^= unix.MS_NOATIME | unix.MS_STRICTATIME
			case "strictatime":
				mo.Flags &^= unix.MS_NOATIME | unix.MS_RELATIME
			}
			continue
		}
		if p, ok := propagationOptions[o]; ok {
			mo.Propagation = append(mo.Propagation, p)
			continue
		}
		if r, ok := recAttrOptions[o]; ok {
			if mo.RecAttr == nil {
				mo.RecAttr = &unix.MountAttr{}
			}
			setRecAttr(mo.RecAttr, r)
			continue
		}
		if key, _, _ := strings.Cut(o, "="); unsupportedOptions[key] != "" {
			why := unsupportedOptions[key]
			return MountOptions{}, fmt.Errorf("mount option %q: %s", o, why)
		}
		if o == "idmap" || o == "ridmap" {
			mo.IDMap = true
			continue
		}
		if o == "tmpcopyup" {
			mo.CopyUp = true
			continue
		}
		if strings.HasPrefix(o, "x-") {
			// mount(8): "x-" options are for userspace tools, never
			// passed to the kernel.
			continue
		}
		data = append(data, o)
	}
	mo.Data = strings.Join(data, ",")
	return mo, nil
}

// setRecAttr records one recursive option; atime modes share the
// MOUNT_ATTR__ATIME field, so setting one clears the whole field first.
func setRecAttr(a *unix.MountAttr, r recAttrOption) {
	const atime = unix.MOUNT_ATTR__ATIME
	isAtime := r.attr&atime != 0 || r.attr == unix.MOUNT_ATTR_RELATIME
	switch {
	case isAtime && !r.clear:
		a.Attr_clr |= atime
		a.Attr_set = a.Attr_set&^atime | r.attr
	case isAtime && r.clear:
		// "ratime", "rnorelatime", "rnostrictatime": back to the
		// default (relatime, which is 0 in the field).
		a.Attr_clr |= atime
		a.Attr_set &^= atime
	case r.clear:
		a.Attr_clr |= r.attr
		a.Attr_set &^= r.attr
	default:
		a.Attr_set |= r.attr
		a.Attr_clr &^= r.attr
	}
}

// IsBind reports whether the options ask for a bind mount.
func (mo MountOptions) IsBind() bool { return mo.Flags&unix.MS_BIND != 0 }

// needsRemount reports whether a bind mount must be remounted: mount(2)
// ignores every flag but MS_REC on the first MS_BIND call, so "ro", "nosuid"
// and the like only take effect on a second MS_REMOUNT|MS_BIND call.
func (mo MountOptions) needsRemount() bool {
	return mo.Flags&^(unix.MS_BIND|unix.MS_REC|unix.MS_REMOUNT) != 0
}
