package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

func mustAny(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestParseTaskOptions: SystemdCgroup reaches the shim in both shapes
// containerd sends it, other keys are ignored, and what is not options
// for this shim is refused with a message naming the type.
func TestParseTaskOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kago.toml")
	if err := os.WriteFile(file, []byte("SystemdCgroup = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts *anypb.Any
		want bool
		err  string
	}{
		{"none", nil, false, ""},
		{"runc options", mustAny(t, &runcoptions.Options{SystemdCgroup: true, BinaryName: "x"}), true, ""},
		{"runc options, cgroupfs", mustAny(t, &runcoptions.Options{Root: "/r"}), false, ""},
		// What containerd 1.6-2.x's CRI plugin sends for runtime_type io.containerd.kago.v2.
		{"CRI options table", mustAny(t, &runtimeoptions.Options{ConfigBody: []byte("BinaryName = \"kago-runc\"\nSystemdCgroup = true\n")}), true, ""},
		{"CRI options table, false", mustAny(t, &runtimeoptions.Options{ConfigBody: []byte("SystemdCgroup = false\n")}), false, ""},
		{"CRI options file", mustAny(t, &runtimeoptions.Options{ConfigPath: file}), true, ""},
		{"missing options file", mustAny(t, &runtimeoptions.Options{ConfigPath: file + ".missing"}), false, "ConfigPath"},
		{"not a bool", mustAny(t, &runtimeoptions.Options{ConfigBody: []byte("SystemdCgroup = \"yes\"\n")}), false, "SystemdCgroup = true or false"},
		{"foreign type", mustAny(t, &emptypb.Empty{}), false, "not for the kago shim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseTaskOptions(tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("parseTaskOptions = %+v, %v; want a one-line error containing %q", o, err, tc.err)
				}
				return
			}
			if err != nil || o.SystemdCgroup != tc.want {
				t.Fatalf("parseTaskOptions = %+v, %v; want SystemdCgroup %v", o, err, tc.want)
			}
		})
	}
}

// FuzzParseTaskOptions: any options table body is read without a panic.
func FuzzParseTaskOptions(f *testing.F) {
	for _, seed := range []string{"SystemdCgroup = true\n", "SystemdCgroup = 1", "[a]\nb = [1, {c = 2}]", "SystemdCgroup = tr"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := anypb.New(&runtimeoptions.Options{ConfigBody: body})
		if err != nil {
			t.Skip()
		}
		parseTaskOptions(a) //nolint:errcheck // only panics matter
	})
}
