package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kk10WebPort is the host port the compose test publishes (its range is
// 16000-16099).
const kk10WebPort = "16010"

// kk10Compose is the test project: web serves ./site (a relative bind)
// on a published port; app writes ${GREETING} (from .env) into a named
// volume and serves it, after web is healthy and seed (a one-shot job
// writing into the same volume) completed successfully. Both run under
// init: true, so SIGTERM stops httpd at once.
const kk10Compose = `
name: kk10demo
services:
  web:
    image: bb
    init: true
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    ports: ["127.0.0.1:${WEB_PORT}:80"]
    volumes: ["./site:/www:ro"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/index.html"]
      interval: 1s
      retries: 30
  seed:
    image: bb
    command: ["sh", "-c", "echo seeded > /data/seed"]
    volumes: ["data:/data"]
  app:
    image: bb
    init: true
    stop_grace_period: 3s
    command: ["sh", "-c", "echo $$GREETING > /data/greeting; exec httpd -f -p 8080 -h /data"]
    environment:
      GREETING: ${GREETING:-unset}
    volumes: ["data:/data"]
    depends_on:
      web: {condition: service_healthy}
      seed: {condition: service_completed_successfully}
volumes:
  data: {}
`

// composeEnv writes the project into a directory and returns it.
func (e *env) composeProject(files map[string]string) string {
	e.t.Helper()
	dir := filepath.Join(e.t.TempDir(), "proj")
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	return dir
}

// composeIDs maps the project's container names to their IDs.
func (e *env) composeIDs(dir string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(e.ok("compose", "--project-directory", dir, "ps", "-a", "--format", "json"), "\n") {
		if line == "" {
			continue
		}
		var c struct{ ID, Name string }
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			e.t.Fatalf("compose ps --format json: %v: %q", err, line)
		}
		out[c.Name] = c.ID
	}
	return out
}

// TestCompose: up starts a two-service project on its own network (web
// healthy before app starts), serves a relative bind mount on a published
// port, resolves services by name before and after a restart, interpolates
// .env, recreates nothing on a second up and only the changed service on a
// third, and down -v leaves nothing behind.
func TestCompose(t *testing.T) {
	e := newEnv(t)
	dir := e.composeProject(map[string]string{
		"compose.yaml":    kk10Compose,
		".env":            "WEB_PORT=" + kk10WebPort + "\nGREETING=hello-from-env\n",
		"site/index.html": "served from a relative bind\n",
	})
	c := func(args ...string) []string { return append([]string{"compose", "--project-directory", dir}, args...) }
	t.Cleanup(func() { e.run(c("down", "-v")...) })

	_, progress, code := e.run(c("up", "-d")...)
	if code != 0 {
		t.Fatalf("compose up -d: exit %d: %s", code, progress)
	}
	for _, want := range []string{"Network kk10demo_default  Created", "Container kk10demo-web-1  Started", "Container kk10demo-web-1  Healthy", "Container kk10demo-seed-1  Exited", "Container kk10demo-app-1  Started"} {
		if !strings.Contains(progress, want) {
			t.Errorf("up progress lacks %q:\n%s", want, progress)
		}
	}
	if i, j := strings.Index(progress, "kk10demo-web-1  Healthy"), strings.Index(progress, "kk10demo-app-1  Creat"); i < 0 || j < i {
		t.Errorf("app was created before web was healthy:\n%s", progress)
	}
	first := e.composeIDs(dir)
	if len(first) != 3 || first["kk10demo-web-1"] == "" || first["kk10demo-app-1"] == "" {
		t.Fatalf("containers after up: %v", first)
	}
	if body, err := get("http://127.0.0.1:" + kk10WebPort + "/index.html"); err != nil || body != "served from a relative bind\n" {
		t.Errorf("published port: %q %v", body, err)
	}
	fromApp := func() string {
		out, errs, code := e.run(c("exec", "-T", "app", "wget", "-q", "-O", "-", "http://web/index.html")...)
		if code != 0 {
			return "error: " + errs
		}
		return out
	}
	if got := fromApp(); got != "served from a relative bind\n" {
		t.Errorf("app reaching web by service name: %q", got)
	}
	if got := e.ok(c("exec", "-T", "web", "wget", "-q", "-O", "-", "http://kk10demo-app-1:8080/greeting")...); got != "hello-from-env" {
		t.Errorf("greeting from .env through the named volume: %q", got)
	}
	if got := e.ok(c("exec", "-T", "web", "wget", "-q", "-O", "-", "http://app:8080/seed")...); got != "seeded" {
		t.Errorf("what seed wrote into the shared volume before app started: %q", got)
	}

	// up again: nothing changes.
	_, progress, _ = e.run(c("up", "-d")...)
	if strings.Contains(progress, "Recreate") || strings.Contains(progress, "Created") {
		t.Errorf("second up recreated something:\n%s", progress)
	}
	if again := e.composeIDs(dir); again["kk10demo-web-1"] != first["kk10demo-web-1"] || again["kk10demo-app-1"] != first["kk10demo-app-1"] {
		t.Errorf("second up changed containers: %v -> %v", first, again)
	}

	// restart web: app still reaches it by name.
	e.ok(c("restart", "web")...)
	e.eventually("web reachable by name after restart", 10*time.Second, func() bool { return fromApp() == "served from a relative bind\n" })

	// change only app's configuration: only app is recreated.
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("WEB_PORT="+kk10WebPort+"\nGREETING=changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, progress, code = e.run(c("up", "-d")...)
	if code != 0 {
		t.Fatalf("third up: %s", progress)
	}
	third := e.composeIDs(dir)
	if third["kk10demo-web-1"] != first["kk10demo-web-1"] || third["kk10demo-app-1"] == first["kk10demo-app-1"] || third["kk10demo-app-1"] == "" {
		t.Errorf("third up: want only app recreated: %v -> %v\n%s", first, third, progress)
	}
	e.eventually("app serving the new greeting", 10*time.Second, func() bool {
		out, _, _ := e.run(c("exec", "-T", "web", "wget", "-q", "-O", "-", "http://app:8080/greeting")...)
		return out == "changed\n"
	})
	logs := e.ok(c("logs", "web")...)
	if !strings.Contains(logs, "kk10demo-web-1 | ") && logs != "" {
		t.Errorf("logs lines are not prefixed with the container name: %q", logs)
	}

	out, errs, code := e.run(c("down", "-v")...)
	if code != 0 {
		t.Fatalf("compose down -v: %s%s", out, errs)
	}
	if ids := e.ids(); len(ids) > 0 {
		t.Errorf("containers left after down: %v", ids)
	}
	if nets := e.ok("network", "ls"); strings.Contains(nets, "kk10demo") {
		t.Errorf("network left after down:\n%s", nets)
	}
	if _, err := os.Stat(filepath.Join(e.root, "volumes", "kk10demo_data")); !os.IsNotExist(err) {
		t.Errorf("volume kk10demo_data left after down -v: %v", err)
	}
	e.assertClean(nil)
	if br := e.bridges(); len(br) > 1 {
		t.Errorf("bridges left after down: %v", br)
	}
}

// TestComposeRefusesUnsupported: a key kago does not implement fails
// naming the service and the key, and makes nothing.
func TestComposeRefusesUnsupported(t *testing.T) {
	e := newEnv(t)
	dir := e.composeProject(map[string]string{"compose.yaml": "services:\n  s:\n    image: bb\n    cgroup_parent: elsewhere\n"})
	errs := e.fails("compose", "--project-directory", dir, "up", "-d")
	if !strings.Contains(errs, `service "s"`) || !strings.Contains(errs, "cgroup_parent") || strings.Contains(errs, "goroutine") {
		t.Errorf("error %q, want one line naming the service and the key", errs)
	}
	if ids := e.ids(); len(ids) > 0 {
		t.Errorf("a refused project made containers: %v", ids)
	}
}

// TestComposeBuild: a service with build: is built with kago build (its
// args passed) when up finds no image, runs in the foreground with its
// output prefixed by the container's name, runs one-off with compose run,
// and down --rmi local removes the built image.
func TestComposeBuild(t *testing.T) {
	e := newEnv(t)
	dir := e.composeProject(map[string]string{
		"compose.yaml":   "services:\n  hello:\n    build:\n      context: ./app\n      args: {MSG: built-by-compose}\n",
		"app/Dockerfile": "FROM bb\nARG MSG\nRUN echo \"$MSG\" > /hello\nCMD [\"cat\", \"/hello\"]\n",
	})
	c := func(args ...string) []string { return append([]string{"compose", "--project-directory", dir}, args...) }
	t.Cleanup(func() { e.run(c("down", "--rmi", "local")...) })
	if help := e.ok("compose", "--help"); !strings.Contains(help, "kago compose [command]") || !strings.Contains(help, "--project-directory") {
		t.Errorf("kago compose --help (kago-compose's):\n%s", help)
	}
	if out := e.ok(c("up")...); !strings.Contains(out, "proj-hello-1 | built-by-compose") {
		t.Errorf("foreground up output %q, want the built image's output prefixed with the container name", out)
	}
	// A foreground one-off container (kago-compose hands it to kago to
	// attach): its output, its exit code, and with --rm nothing left.
	if out, errs, code := e.run(c("run", "--rm", "hello", "sh", "-c", "cat /hello; exit 3")...); code != 3 || out != "built-by-compose\n" {
		t.Errorf("compose run --rm: exit %d, output %q (%s); want 3 and the built file", code, out, errs)
	}
	if names := e.ok("ps", "-a", "--format", "{{.Names}}"); names != "proj-hello-1" {
		t.Errorf("containers after compose run --rm: %q, want only proj-hello-1", names)
	}
	e.ok(c("down", "--rmi", "local")...)
	if imgs := e.ok("images"); strings.Contains(imgs, "proj-hello") {
		t.Errorf("built image left after down --rmi local:\n%s", imgs)
	}
}
