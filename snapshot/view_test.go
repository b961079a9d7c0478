package snapshot_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kago-run/kago/archive/tartest"
	"github.com/kago-run/kago/snapshot"
)

// TestViewReadsMergedLayersAndLeavesNoMount: a view shows the layers as
// the container would (the top layer wins, whiteouts hide), for zero, one
// and several layers, and closing it leaves nothing in mountinfo.
func TestViewReadsMergedLayersAndLeavesNoMount(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	img := newImage([][]byte{
		tartest.Tar(E{Name: "etc/passwd", Body: "base"}, E{Name: "etc/group", Body: "g"}),
		tartest.Tar(E{Name: "etc/.wh.group"}),
		tartest.Tar(E{Name: "etc/passwd", Body: "top"}),
	}, nil)
	img.unpack(t, s)
	before := mountinfo(t)
	for _, tc := range []struct {
		layers        int
		passwd, group string
	}{{0, "", ""}, {1, "base", "g"}, {2, "base", ""}, {3, "top", ""}} {
		view, err := s.View(ctx, img.chainIDs[:tc.layers])
		if err != nil {
			t.Fatalf("%d layers: %v", tc.layers, err)
		}
		root := fmt.Sprintf("/proc/self/fd/%d", view.Fd())
		for file, want := range map[string]string{"passwd": tc.passwd, "group": tc.group} {
			b, _ := os.ReadFile(root + "/etc/" + file)
			if string(b) != want {
				t.Errorf("%d layers: etc/%s = %q, want %q", tc.layers, file, b, want)
			}
		}
		if err := os.WriteFile(root+"/etc/new", []byte("x"), 0o644); err == nil {
			t.Errorf("%d layers: a view is writable", tc.layers)
		}
		view.Close()
	}
	if after := mountinfo(t); after != before {
		t.Errorf("views left mounts behind:\n%s", strings.TrimPrefix(after, before))
	}
	missing := newImage([][]byte{tartest.Tar(E{Name: "x", Body: "y"})}, nil)
	if _, err := s.View(ctx, missing.chainIDs); err == nil || !strings.Contains(err.Error(), snapshot.ErrNotFound.Error()) {
		t.Errorf("view of a layer not unpacked: %v", err)
	}
}
