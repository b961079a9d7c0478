// Package e2e drives the kago binary the way a user does: it builds
// cmd/kago (with kago-monitor and kago-init) once, imports a busybox image into a temporary --root, and runs
// kago verbs against real namespaces, cgroups, overlayfs, veths and
// nftables. Every test gets its own root, bridge, subnet and nftables table
// (never the real kago0), and checks on cleanup that nothing of its
// containers is left: no mount, no veth on its bridge, no published port,
// no cgroup.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/kago-run/kago/internal/testbundle"
)

var (
	kagoBin  string // built in TestMain
	imageTar string // busybox rootfs tar with /www/index.html
	envSeq   atomic.Int32
)

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			return m.Run() // every test skips with its reason
		}
		if _, err := os.Stat(testbundle.BusyboxPath); err != nil {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "kago-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		// kago and, beside it where kago looks for them, its monitor and
		// container init.
		kagoBin = filepath.Join(dir, "kago")
		build := exec.Command("go", "build", "-o", dir+"/", "github.com/kago-run/kago/cmd/kago",
			"github.com/kago-run/kago/cmd/kago-monitor", "github.com/kago-run/kago/cmd/kago-init", "github.com/kago-run/kago/cmd/kago-compose")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build kago: %v\n%s", err, out)
			return 1
		}
		if imageTar, err = buildImageTar(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func buildImageTar(dir string) (string, error) {
	rootfs := filepath.Join(dir, "rootfs")
	if err := testbundle.Rootfs(rootfs); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "www"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(rootfs, "www", "index.html"), []byte("hello from kago\n"), 0o644); err != nil {
		return "", err
	}
	tarPath := filepath.Join(dir, "busybox.tar")
	out, err := exec.Command("tar", "-C", rootfs, "-cf", tarPath, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("tar rootfs: %v: %s", err, out)
	}
	return tarPath, nil
}

// env is one engine root with its own network configuration.
type env struct {
	t      *testing.T
	root   string
	bridge string
	table  string
	subnet string
	n      int
}

// newEnv makes a root with config.json and the busybox image imported as
// "bb" (CMD httpd on port 80, EXPOSE 80), and registers the cleanup check.
func newEnv(t *testing.T) *env {
	t.Helper()
	testbundle.RequireRoot(t)
	if kagoBin == "" {
		t.Skip("kago binary was not built")
	}
	n := int(envSeq.Add(1)) + os.Getpid()%50*4
	e := &env{t: t, root: t.TempDir(), n: n % 250,
		bridge: fmt.Sprintf("kte%d", n%250), table: fmt.Sprintf("kagoe2e%d", n%250)}
	e.subnet = fmt.Sprintf("10.220.%d.0/24", e.n)
	cfg := fmt.Sprintf(`{"Network":{"BridgeName":%q,"Subnet":%q,"TableName":%q,"UserSubnetPool":"10.221.0.0/16","UserBridgePrefix":"ku%d-"}}`,
		e.bridge, e.subnet, e.table, e.n)
	if err := os.WriteFile(filepath.Join(e.root, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cleanup)
	e.ok("import", "-c", `CMD ["httpd","-f","-p","80","-h","/www"]`, "-c", "EXPOSE 80", imageTar, "bb:latest")
	return e
}

// run runs kago with the env's root and returns stdout, stderr and the
// exit code.
func (e *env) run(args ...string) (string, string, int) {
	e.t.Helper()
	return e.runCmd(nil, args...)
}

// runCmd is run with the command adjusted by configure (stdin,
// environment) before it starts.
func (e *env) runCmd(configure func(*exec.Cmd), args ...string) (string, string, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kagoBin, append([]string{"--root", e.root}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if configure != nil {
		configure(cmd)
	}
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("kago %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// ok runs kago and fails the test unless it succeeds; it returns stdout
// trimmed.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	out, errs, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("kago %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return strings.TrimSpace(out)
}

// fails runs kago, expects failure and returns stderr.
func (e *env) fails(args ...string) string {
	e.t.Helper()
	out, errs, code := e.run(args...)
	if code == 0 {
		e.t.Fatalf("kago %s succeeded, want an error\nstdout: %s", strings.Join(args, " "), out)
	}
	return errs
}

// inspect returns the decoded `kago inspect` of one container.
func (e *env) inspect(ref string) map[string]any {
	e.t.Helper()
	var list []map[string]any
	if err := json.Unmarshal([]byte(e.ok("inspect", ref)), &list); err != nil || len(list) != 1 {
		e.t.Fatalf("inspect %s: %v (%d entries)", ref, err, len(list))
	}
	return list[0]
}

func state(m map[string]any) map[string]any { return m["State"].(map[string]any) }

// eventually polls cond until it holds or the timeout passes.
func (e *env) eventually(what string, timeout time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ids lists every container of the root (full IDs).
func (e *env) ids() []string {
	entries, _ := os.ReadDir(filepath.Join(e.root, "containers"))
	var out []string
	for _, en := range entries {
		if en.IsDir() {
			out = append(out, en.Name())
		}
	}
	return out
}

// cleanup removes every container, checks that nothing of them is left in
// the kernel, then removes the test's bridges and nftables table.
func (e *env) cleanup() {
	t := e.t
	ids := e.ids()
	for _, id := range ids {
		if _, errs, code := e.run("rm", "-f", id); code != 0 {
			t.Errorf("cleanup: rm -f %s: %s", id, errs)
		}
	}
	e.assertClean(ids)
	links, _ := netlink.LinkList()
	for _, l := range links {
		name := l.Attrs().Name
		if name == e.bridge || strings.HasPrefix(name, fmt.Sprintf("ku%d-", e.n)) {
			netlink.LinkDel(l)
		}
	}
	if c, err := nftables.New(); err == nil {
		c.DelTable(&nftables.Table{Name: e.table, Family: nftables.TableFamilyIPv4})
		c.Flush()
	}
}

// assertClean checks that the given containers left no mount, veth,
// published port or cgroup.
func (e *env) assertClean(ids []string) {
	t := e.t
	t.Helper()
	if left := e.ids(); len(left) > 0 {
		t.Errorf("containers left in the store: %v", left)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, e.root) {
			t.Errorf("mount left behind: %s", line)
		}
	}
	for _, br := range e.bridges() {
		if ports, _ := os.ReadDir(filepath.Join("/sys/class/net", br, "brif")); len(ports) > 0 {
			t.Errorf("veths left on bridge %s: %d", br, len(ports))
		}
	}
	for _, id := range ids {
		matches, _ := filepath.Glob("/sys/fs/cgroup/*/kago/" + id)
		m2, _ := filepath.Glob("/sys/fs/cgroup/kago/" + id)
		if len(matches)+len(m2) > 0 {
			t.Errorf("cgroups left for %s: %v", id, append(matches, m2...))
		}
	}
	if n := e.dnatElements(); n > 0 {
		t.Errorf("%d published ports left in nftables table %s", n, e.table)
	}
}

func (e *env) bridges() []string {
	var out []string
	links, _ := netlink.LinkList()
	for _, l := range links {
		name := l.Attrs().Name
		if name == e.bridge || strings.HasPrefix(name, fmt.Sprintf("ku%d-", e.n)) {
			out = append(out, name)
		}
	}
	return out
}

// dnatElements counts the entries of the port maps of the test's table.
func (e *env) dnatElements() int {
	c, err := nftables.New()
	if err != nil {
		return 0
	}
	tbl := &nftables.Table{Name: e.table, Family: nftables.TableFamilyIPv4}
	sets, err := c.GetSets(tbl)
	if err != nil {
		return 0
	}
	n := 0
	for _, s := range sets {
		elems, err := c.GetSetElements(s)
		if err == nil {
			n += len(elems)
		}
	}
	return n
}
