package systemd

import (
	"reflect"
	"strings"
	"testing"
)

func TestAnnotationProperties(t *testing.T) {
	got, err := annotationProperties(map[string]string{
		"org.systemd.property.TimeoutStopSec": "uint32 2",       // seconds -> TimeoutStopUSec
		"org.systemd.property.RuntimeMaxUSec": "uint64 5000000", // already microseconds
		"org.systemd.property.CollectMode":    "'inactive-or-failed'",
		"org.systemd.property.ABCSec":         "uint64 1",  // "Sec" after a capital: not seconds
		"io.kubernetes.cri.container-type":    "container", // not ours
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"TimeoutStopUSec": uint64(2000000),
		"RuntimeMaxUSec":  uint64(5000000),
		"CollectMode":     "inactive-or-failed",
		"ABCSec":          uint64(1),
	}
	if p := props(got); !reflect.DeepEqual(p, want) {
		t.Errorf("properties %v, want %v", p, want)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Name > got[i].Name {
			t.Errorf("properties not sorted: %v", got)
		}
	}
	for k, v := range map[string]string{
		"org.systemd.property.Ab":           "true",     // too short
		"org.systemd.property.Bad-Name":     "true",     // not letters
		"org.systemd.property.Delegate":     "yes",      // not GVariant
		"org.systemd.property.TimeoutSec":   "'ten'",    // seconds, not a number
		"org.systemd.property.TimeoutUSec2": "uint64 1", // digit
		"org.systemd.property.IdleSec":      "-5",       // negative seconds
	} {
		if _, err := annotationProperties(map[string]string{k: v}); err == nil || !strings.Contains(err.Error(), k) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%s: error %v, want one line naming the annotation", k, v, err)
		}
	}
}

// FuzzAnnotationProperties: annotations come from config.json; any of
// them yields properties or a one-line error, never a panic.
func FuzzAnnotationProperties(f *testing.F) {
	for _, s := range [][2]string{{"TimeoutStopSec", "uint32 2"}, {"Sec", "1"}, {"CollectMode", "'x'"}, {"XSec", "1.5e300"}, {"ASec", "@ay []"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		props, err := annotationProperties(map[string]string{AnnotationPrefix + name: value})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if len(props) != 1 || !isPropertyName(props[0].Name) {
			t.Fatalf("%s=%s gave %v", name, value, props)
		}
	})
}
