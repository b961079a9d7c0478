package main

import (
	"github.com/kago-run/kago/internal/psrow"
	"strings"
	"testing"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/internal/format"
)

func TestPsFilters(t *testing.T) {
	web := &containers.Record{ID: "abc123", Name: "web", Image: "httpd:2.4", ImageID: "sha256:0123456789abcdef", Network: "bridge"}
	web.State.Status = containers.StatusRunning
	job := &containers.Record{ID: "def456", Name: "nightly-job", Image: "bb", ImageID: "sha256:fedcba9876543210", Network: "none"}
	job.State.Status, job.State.ExitCode = containers.StatusExited, 3
	for _, tc := range []struct {
		filters []string
		want    string
	}{
		{nil, "web job"},
		{[]string{"status=exited"}, "job"},
		{[]string{"status=exited", "status=running"}, "web job"},
		{[]string{"name=job"}, "job"},
		{[]string{"name=web", "status=exited"}, ""},
		{[]string{"id=abc"}, "web"},
		{[]string{"ancestor=bb:latest"}, "job"},
		{[]string{"ancestor=0123456789ab"}, "web"},
		{[]string{"network=none"}, "job"},
		{[]string{"exited=3"}, "job"},
		{[]string{"exited=0"}, ""},
	} {
		f, err := parsePsFilters(tc.filters)
		if err != nil {
			t.Fatalf("%v: %v", tc.filters, err)
		}
		var got []string
		for _, r := range []*containers.Record{web, job} {
			if f.matches(r) {
				got = append(got, strings.Split(r.Name, "-")[len(strings.Split(r.Name, "-"))-1])
			}
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("filters %v matched %v, want %q", tc.filters, got, tc.want)
		}
	}
	for _, bad := range []string{"status", "status=sleeping", "exited=x", "color=red"} {
		if _, err := parsePsFilters([]string{bad}); err == nil || !strings.Contains(err.Error(), "filter") {
			t.Errorf("filter %q: %v", bad, err)
		}
	}
}

// ps rows carry docker's field names: a label by key, the command quoted and
// cut at 20 characters, the volumes counted.
func TestPsRowTemplates(t *testing.T) {
	r := &containers.Record{ID: strings.Repeat("ab", 32), Name: "web", Image: "bb", Network: "front",
		Command: []string{"sh", "-c", "while true; do sleep 1; done"}, Labels: map[string]string{"tier": "web", "a": "1"},
		Mounts: []containers.Mount{{Type: "volume", Name: "data"}, {Type: "bind", Source: "/srv"}}}
	r.State.Status, r.State.Paused = containers.StatusRunning, true
	f, err := format.New(`table {{.ID}}\t{{.Label "tier"}}|{{.Labels}}|{{.Command}}|{{.Mounts}}|{{.LocalVolumes}}|{{.State}}`, psDefaultFormat)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if err := f.Write(&buf, []any{psrow.New(r, true)}, psrow.Headers); err != nil {
		t.Fatal(err)
	}
	want := "CONTAINER ID   LABEL|LABELS|COMMAND|MOUNTS|LOCAL VOLUMES|STATE\n" +
		"abababababab   web|a=1,tier=web|\"sh -c while true; d…\"|data,/srv|1|paused\n"
	if buf.String() != want {
		t.Errorf("got\n%q\nwant\n%q", buf.String(), want)
	}
}
