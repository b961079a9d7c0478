package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/specgen"
)

// FuzzSanitizeProjectName: what SanitizeProjectName returns is empty or a
// name CheckProjectName accepts, and sanitising it again changes nothing.
func FuzzSanitizeProjectName(f *testing.F) {
	for _, s := range []string{"My Project", "../../etc", "-_x", "ÄBC", "a/b\x00c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := SanitizeProjectName(s)
		if n == "" {
			return
		}
		if err := CheckProjectName(n); err != nil {
			t.Fatalf("SanitizeProjectName(%q) = %q, refused: %v", s, n, err)
		}
		if SanitizeProjectName(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, SanitizeProjectName(n))
		}
	})
}

// FuzzProject: any compose file either fails to load with an error, or
// every name kago derives from it (containers, networks, volumes) is one
// path element the engine accepts, every bind source is absolute, and
// the requests pass the engine's validation.
func FuzzProject(f *testing.F) {
	for _, s := range []string{
		"services: {web: {image: busybox}}",
		"name: x\nservices: {a: {image: bb, volumes: ['../../etc:/e', 'v:/v'], networks: [n]}}\nvolumes: {v: {name: '../v'}}\nnetworks: {n: {}}",
		"services: {a: {image: bb, container_name: '../x'}}",
		"services: {a: {image: bb, deploy: {replicas: 3}, ports: ['127.0.0.1:8080:80/udp']}}",
		"services: {a: {image: bb, healthcheck: {test: [CMD, x], interval: 1s}}, b: {image: bb, depends_on: {a: {condition: service_healthy}}}}",
		"networks: {n: {name: /etc}}\nservices: {a: {image: bb, networks: [n]}}",
	} {
		f.Add(s, "proj")
	}
	f.Fuzz(func(t *testing.T, yaml, name string) {
		dir := filepath.Join(t.TempDir(), "p")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p, err := Load(ctx, LoadOptions{ProjectDir: dir, Name: name, Env: []string{}})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		if err := CheckProjectName(p.Name); err != nil {
			t.Fatalf("loaded a project named %q: %v", p.Name, err)
		}
		for _, n := range p.Networks {
			if !specgen.IsVolumeName(n.Name) {
				t.Fatalf("network name %q escapes", n.Name)
			}
		}
		for _, v := range p.Volumes {
			if !specgen.IsVolumeName(v.Name) {
				t.Fatalf("volume name %q escapes", v.Name)
			}
		}
		for _, s := range p.Services {
			for n := 1; n <= 2; n++ {
				r, err := Request(p, s, n)
				if err != nil {
					t.Fatalf("service %s loaded but its request fails: %v", s.Name, err)
				}
				if err := containers.ValidateName(r.Name); err != nil || strings.Contains(r.Name, "/") {
					t.Fatalf("container name %q: %v", r.Name, err)
				}
				for _, m := range r.Mounts {
					if m.Type == "bind" && !filepath.IsAbs(m.Source) {
						t.Fatalf("relative bind source %q left unresolved", m.Source)
					}
					if m.Type == "volume" && m.Source != "" && !specgen.IsVolumeName(m.Source) {
						t.Fatalf("volume source %q escapes", m.Source)
					}
				}
			}
		}
	})
}
