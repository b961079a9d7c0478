package compose

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kago-run/kago/engine"
)

// writeProject writes files (name -> content) into a new directory.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "My Project")
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func load(t *testing.T, dir string, o LoadOptions) error {
	t.Helper()
	o.ProjectDir = dir
	if o.Env == nil {
		o.Env = []string{}
	}
	_, err := Load(context.Background(), o)
	return err
}

func TestLoadTranslates(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": `
services:
  web:
    image: busybox:${TAG:-latest}
    command: ["httpd", "-f"]
    environment:
      GREETING: ${GREETING}
    env_file: web.env
    ports: ["127.0.0.1:8080:80"]
    volumes:
      - ./site:/www:ro
      - data:/data
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1048576}
    networks:
      front:
        aliases: [www]
    restart: on-failure:3
    mem_limit: 64m
    cpus: 0.5
    pids_limit: 50
    init: true
    stop_signal: SIGINT
    labels: {app: demo}
    deploy: {replicas: 2}
    extra_hosts: ["db.example=10.1.2.3", "host.docker.internal:host-gateway"]
    dns: [10.9.9.9]
    dns_search: [corp.example]
    dns_opt: ["ndots:2"]
    ulimits:
      nofile: {soft: 1000, hard: 2000}
      nproc: 77
    devices: ["/dev/fuse:/dev/f:r"]
    shm_size: 16m
    sysctls: {net.core.somaxconn: "1024"}
    stop_grace_period: 3s
  db:
    image: busybox
    entrypoint: ["/bin/sh", "-c"]
    command: ["sleep 100"]
    depends_on:
      web: {condition: service_started}
    profiles: [extra]
volumes:
  data: {}
networks:
  front: {}
`,
		".env":    "GREETING=hello\nTAG=1.36\n",
		"web.env": "FROM_FILE=yes\n",
	})
	p, err := Load(context.Background(), LoadOptions{ProjectDir: dir, Env: []string{}, Profiles: []string{"extra"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "myproject" {
		t.Errorf("project name %q, want myproject (the directory's name sanitised)", p.Name)
	}
	r, err := Request(p, p.Services["web"], 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "myproject-web-2" || r.Image != "busybox:1.36" || r.Network != "myproject_front" {
		t.Errorf("name %q image %q network %q", r.Name, r.Image, r.Network)
	}
	if !slices.Equal(r.NetworkAliases, []string{"web", "www"}) {
		t.Errorf("aliases %v", r.NetworkAliases)
	}
	if !slices.Contains(r.Env, "GREETING=hello") || !slices.Contains(r.Env, "FROM_FILE=yes") {
		t.Errorf("env %v: want .env interpolation and env_file", r.Env)
	}
	wantMounts := []engine.Mount{
		{Type: engine.MountBind, Source: filepath.Join(dir, "site"), Target: "/www", ReadOnly: true},
		{Type: engine.MountVolume, Source: "myproject_data", Target: "/data"},
		{Type: engine.MountTmpfs, Target: "/scratch", TmpfsOptions: []string{"size=1048576"}},
	}
	for i, m := range wantMounts {
		if i >= len(r.Mounts) || r.Mounts[i].Type != m.Type || r.Mounts[i].Source != m.Source || r.Mounts[i].Target != m.Target ||
			r.Mounts[i].ReadOnly != m.ReadOnly || !slices.Equal(r.Mounts[i].TmpfsOptions, m.TmpfsOptions) {
			t.Errorf("mounts %+v, want %+v", r.Mounts, wantMounts)
			break
		}
	}
	if len(r.Ports) != 1 || r.Ports[0].HostPort != 8080 || r.Ports[0].ContainerPort != 80 || r.Ports[0].HostIP.String() != "127.0.0.1" {
		t.Errorf("ports %+v", r.Ports)
	}
	if r.Restart.Name != engine.RestartOnFailure || r.Restart.MaximumRetryCount != 3 || !r.Init || r.StopSignal != "SIGINT" {
		t.Errorf("restart %+v init %v stop signal %q", r.Restart, r.Init, r.StopSignal)
	}
	if fmt.Sprint(r.ExtraHosts) != "[db.example:10.1.2.3 host.docker.internal:host-gateway]" || fmt.Sprint(r.DNS) != "{[10.9.9.9] [corp.example] [ndots:2]}" {
		t.Errorf("extra hosts %v dns %v", r.ExtraHosts, r.DNS)
	}
	if fmt.Sprint(r.Ulimits) != "[{nofile 1000 2000} {nproc 77 77}]" || fmt.Sprint(r.Devices) != "[{/dev/fuse /dev/f r}]" {
		t.Errorf("ulimits %v devices %v", r.Ulimits, r.Devices)
	}
	if r.ShmSize != 16<<20 || r.Sysctls["net.core.somaxconn"] != "1024" || r.StopTimeout == nil || *r.StopTimeout != 3 {
		t.Errorf("shm %d sysctls %v stop timeout %v", r.ShmSize, r.Sysctls, r.StopTimeout)
	}
	if r.Resources.Memory != 64<<20 || r.Resources.NanoCPUs != 5e8 || r.Resources.PidsLimit != 50 {
		t.Errorf("resources %+v", r.Resources)
	}
	for k, v := range map[string]string{LabelProject: "myproject", LabelService: "web", LabelNumber: "2", LabelOneoff: "False", "app": "demo", LabelWorkingDir: dir} {
		if r.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, r.Labels[k], v)
		}
	}
	if web := p.Services["web"]; web.GetScale() != 2 {
		t.Errorf("replicas %d", web.GetScale())
	}
	db, err := Request(p, p.Services["db"], 1)
	if err != nil {
		t.Fatal(err)
	}
	if db.Entrypoint == nil || *db.Entrypoint != "/bin/sh" || !slices.Equal(db.Cmd, []string{"-c", "sleep 100"}) {
		t.Errorf("entrypoint %v cmd %q", db.Entrypoint, db.Cmd)
	}
	if db.Network != "myproject_default" {
		t.Errorf("db network %q, want the project's default network", db.Network)
	}
	order, err := DependencyOrder(p, nil)
	if err != nil || !slices.Equal(order, []string{"web", "db"}) {
		t.Errorf("order %v %v", order, err)
	}
}

func TestLoadRefusesUnsupportedKeys(t *testing.T) {
	for key, svc := range map[string]string{
		"cgroup_parent":    "cgroup_parent: x",
		"deploy.resources": "deploy: {resources: {limits: {cpus: '1'}}}",
		"vm.swappiness":    "sysctls: {vm.swappiness: 1}",
		"volumes.volume.nocopy": `volumes:
      - type: volume
        source: v
        target: /v
        volume: {nocopy: true}`,
		"networks.default.ipv4_address": "networks: {default: {ipv4_address: 10.0.0.5}}",
		"network_mode":                  "network_mode: container:other",
	} {
		dir := writeProject(t, map[string]string{"compose.yaml": "services:\n  s:\n    image: busybox\n    " + svc + "\nvolumes: {v: {}}\n"})
		err := load(t, dir, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), `service "s"`) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v, want one naming the service and the key", key, err)
		}
	}
}

func TestProjectNames(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": "name: demo\nservices: {s: {image: busybox}}\n"})
	o := LoadOptions{ProjectDir: dir, Env: []string{}}
	p, err := Load(context.Background(), o)
	if err != nil || p.Name != "demo" {
		t.Fatalf("name: %v %v", p, err)
	}
	o.Name = "other"
	if p, err = Load(context.Background(), o); err != nil || p.Name != "other" {
		t.Fatalf("-p: %v %v", p, err)
	}
	for _, bad := range []string{"../x", "UP", "a/b", "-x"} {
		o.Name = bad
		if _, err := Load(context.Background(), o); err == nil {
			t.Errorf("-p %q accepted", bad)
		}
	}
}

// TestLoadMergesFilesProfilesExtends: -f files merge in order, extends and
// profiles are compose-go's, healthcheck fields reach the request, and a
// service left out by its profile is not in the project.
func TestLoadMergesFilesProfilesExtends(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"base.yaml": `
services:
  common:
    image: busybox
    environment: {FROM_BASE: "1"}
  web:
    extends: common
    command: ["httpd"]
    healthcheck:
      test: ["CMD-SHELL", "wget -q http://127.0.0.1/"]
      interval: 2s
      retries: 4
  debug:
    image: busybox
    profiles: [debug]
`,
		"override.yaml": "services:\n  web:\n    environment: {FROM_OVERRIDE: \"2\"}\n",
	})
	p, err := Load(context.Background(), LoadOptions{ProjectDir: dir, Env: []string{},
		Files: []string{filepath.Join(dir, "base.yaml"), filepath.Join(dir, "override.yaml")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Services["debug"]; ok {
		t.Error("service of a disabled profile loaded")
	}
	r, err := Request(p, p.Services["web"], 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Env, []string{"FROM_BASE=1", "FROM_OVERRIDE=2"}) {
		t.Errorf("env %v: want extends and the override merged", r.Env)
	}
	if h := r.Healthcheck; h == nil || !slices.Equal(h.Test, []string{"CMD-SHELL", "wget -q http://127.0.0.1/"}) || h.Interval != 2*time.Second || h.Retries != 4 || h.Timeout != 0 {
		t.Errorf("healthcheck %+v: want the set fields, the rest inherited (zero)", h)
	}
	if r.Labels[LabelConfigFiles] != filepath.Join(dir, "base.yaml")+","+filepath.Join(dir, "override.yaml") {
		t.Errorf("config_files label %q", r.Labels[LabelConfigFiles])
	}
	// The hash changes with the service's configuration, not with replicas.
	web := p.Services["web"]
	h1, _ := ConfigHash(web)
	web.SetScale(3)
	h2, _ := ConfigHash(web)
	web.Environment["NEW"] = nil
	h3, _ := ConfigHash(web)
	if h1 != h2 || h1 == h3 {
		t.Errorf("config hash: scale changed it (%v) or environment did not (%v)", h1 != h2, h1 == h3)
	}
}
