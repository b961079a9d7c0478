package snapshot

import (
	"path/filepath"
	"strings"

	"github.com/kago-run/kago/linux/explain"
)

// recordDirs records the directories Prepare made for a container: the
// overlay's upper and work directories and the mount point.
func recordDirs(rec explain.Recorder, dir string) {
	if rec == nil {
		return
	}
	for _, d := range [][2]string{
		{"upper", "overlayfs's upper directory: the container's own writable layer, where every file it creates or changes goes"},
		{"work", "overlayfs's work directory, on the same filesystem as upper, for atomic copy-ups"},
		{"merged", "the mount point of the container's rootfs"},
	} {
		rec.Record(explain.Step{Feature: "rootfs", Call: "mkdir", Path: filepath.Join(dir, d[0]), Why: d[1], Man: "mkdir(2)"})
	}
}

// recordOverlay records the overlay mount of a container's rootfs; lowers
// are the image's layers, top first, as overlayfs takes them.
func recordOverlay(rec explain.Recorder, lowers []string, upper, work, target string) {
	if rec == nil {
		return
	}
	rec.Record(explain.Step{Feature: "rootfs", Call: "mount", Path: target,
		Value: "type=overlay lowerdir=" + strings.Join(lowers, ":") + " upperdir=" + upper + " workdir=" + work,
		Why:   "the rootfs: the image's read-only layers stacked by overlayfs under the container's writable upper directory", Man: "mount(8)"})
}

// recordUnmount records the rootfs unmounted after create.
func recordUnmount(rec explain.Recorder, target string) {
	if rec == nil {
		return
	}
	rec.Record(explain.Step{Feature: "rootfs", Call: "umount", Path: target,
		Why: "a container's rootfs is mounted only while it runs (as docker does); start mounts it again", Man: "umount(2)"})
}
