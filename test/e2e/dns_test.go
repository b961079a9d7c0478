package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kd9Upstream is the address of the test's stand-in for the host's
// resolver: a loopback address of this test's own, port 53.
const kd9Upstream = "127.219.0.53"

// useOwnSubnets points the env's networks at 10.219.0.0/16 and the host
// resolver configuration at resolv (a file), keeping the env's bridge and
// table names so its cleanup finds them.
func (e *env) useOwnSubnets(resolv string) {
	e.t.Helper()
	e.subnet = fmt.Sprintf("10.219.%d.0/24", e.n%128)
	cfg := fmt.Sprintf(`{"Network":{"BridgeName":%q,"Subnet":%q,"TableName":%q,"UserSubnetPool":"10.219.128.0/17","UserBridgePrefix":"ku%d-","ResolvConf":%q}}`,
		e.bridge, e.subnet, e.table, e.n, resolv)
	if err := os.WriteFile(filepath.Join(e.root, "config.json"), []byte(cfg), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// startUpstream serves ext.kd9.test (10.219.200.7) on kd9Upstream:53 and
// NXDOMAIN for every other name, and returns a resolv.conf naming it.
func startUpstream(t *testing.T) string {
	t.Helper()
	serveTestDNS(t, kd9Upstream, "ext.kd9.test.", "10.219.200.7")
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("options timeout:2\nnameserver "+kd9Upstream+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return resolv
}

func (e *env) ipOf(name string) string {
	e.t.Helper()
	return e.inspect(name)["NetworkSettings"].(map[string]any)["IPAddress"].(string)
}

// lookup runs busybox nslookup in a container and returns its output and
// whether it succeeded, and how long it took.
func (e *env) lookup(in, name string, server ...string) (string, bool, time.Duration) {
	e.t.Helper()
	start := time.Now()
	out, errs, code := e.run(append([]string{"exec", in, "nslookup", name}, server...)...)
	return out + errs, code == 0, time.Since(start)
}

// resolverPids are the pids of the root's running resolvers.
func (e *env) resolverPids() []string {
	files, _ := filepath.Glob(filepath.Join(e.root, "network", "dns", "*.pid"))
	var out []string
	for _, f := range files {
		data, _ := os.ReadFile(f)
		pid := strings.TrimSpace(string(data))
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if pid == "" || err != nil {
			continue
		}
		if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 0 && f[0] != "Z" {
			cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			if strings.Contains(string(cmdline), "network-resolver") {
				out = append(out, pid)
			}
		}
	}
	return out
}

// TestDNSNames: containers on a user network resolve each other by name
// and alias through the network's resolver; the name follows a recreated
// container; unknown names fail fast; other names are forwarded to the
// host's resolver; another network does not get the names; and the
// resolver is gone once the last container left.
func TestDNSNames(t *testing.T) {
	e := newEnv(t)
	e.useOwnSubnets(startUpstream(t))
	e.ok("network", "create", "kd9app")
	e.ok("run", "-d", "--name", "web", "--network", "kd9app", "--network-alias", "www", "bb")
	e.ok("run", "-d", "--name", "client", "--network", "kd9app", "bb", "sleep", "300")
	webIP := e.ipOf("web")
	gw := e.inspect("client")["NetworkSettings"].(map[string]any)["Gateway"].(string)
	if rc := e.ok("exec", "client", "cat", "/etc/resolv.conf"); !strings.Contains(rc, "nameserver "+gw) || strings.Contains(rc, kd9Upstream) {
		t.Fatalf("client's resolv.conf does not name its network's resolver %s:\n%s", gw, rc)
	}
	for _, name := range []string{"web", "www", "WEB"} {
		out, ok, _ := e.lookup("client", name)
		if !ok || !strings.Contains(out, "Address: "+webIP) {
			t.Fatalf("nslookup %s: want %s:\n%s", name, webIP, out)
		}
	}
	// Reverse lookup of the web container's address names it.
	if out, ok, _ := e.lookup("client", webIP); !ok || !strings.Contains(out, "web") {
		t.Fatalf("reverse lookup of %s:\n%s", webIP, out)
	}
	if out := e.ok("exec", "client", "wget", "-qO-", "http://www/index.html"); !strings.Contains(out, "hello from kago") {
		t.Fatalf("wget by alias: %q", out)
	}
	for _, name := range []string{"nosuchname", "nosuch.kd9.test"} {
		out, ok, took := e.lookup("client", name)
		if ok || !strings.Contains(out, "NXDOMAIN") || took > 3*time.Second {
			t.Fatalf("nslookup %s: want a fast NXDOMAIN, got ok=%v after %s:\n%s", name, ok, took, out)
		}
	}
	if out, ok, _ := e.lookup("client", "ext.kd9.test"); !ok || !strings.Contains(out, "10.219.200.7") {
		t.Fatalf("forwarded name ext.kd9.test:\n%s", out)
	}

	// Recreated, with another address (a filler takes the freed one).
	e.ok("rm", "-f", "web")
	e.ok("run", "-d", "--name", "filler", "--network", "kd9app", "bb", "sleep", "300")
	e.ok("run", "-d", "--name", "web", "--network", "kd9app", "bb")
	newIP := e.ipOf("web")
	if newIP == webIP {
		t.Fatalf("recreated web kept %s; the test needs another address", webIP)
	}
	if out, ok, _ := e.lookup("client", "web"); !ok || !strings.Contains(out, "Address: "+newIP) || strings.Contains(out, webIP+"\n") {
		t.Fatalf("nslookup web after recreate: want %s:\n%s", newIP, out)
	}

	// Another network's container does not get kd9app's names, neither
	// from its own resolver nor by asking kd9app's.
	e.ok("network", "create", "kd9other")
	e.ok("run", "-d", "--name", "outsider", "--network", "kd9other", "bb", "sleep", "300")
	if out, ok, _ := e.lookup("outsider", "web"); ok || strings.Contains(out, newIP) {
		t.Fatalf("outsider resolved web:\n%s", out)
	}
	if out, ok, _ := e.lookup("outsider", "web", gw); ok || strings.Contains(out, "Address: "+newIP) {
		t.Fatalf("outsider resolved web through kd9app's resolver:\n%s", out)
	}
	if n := len(e.resolverPids()); n != 2 {
		t.Fatalf("%d resolvers run, want one per network (2)", n)
	}
	for _, c := range []string{"web", "client", "filler", "outsider"} {
		e.ok("rm", "-f", c)
	}
	e.eventually("the resolvers to exit", 5*time.Second, func() bool { return len(e.resolverPids()) == 0 })
	e.ok("network", "rm", "kd9app")
	e.ok("network", "rm", "kd9other")
}

// TestNetworkAliasNeedsUserNetwork: an alias on the default bridge is
// refused before anything is made.
func TestNetworkAliasNeedsUserNetwork(t *testing.T) {
	e := newEnv(t)
	if errs := e.fails("run", "-d", "--network-alias", "x", "bb"); !strings.Contains(errs, "user-defined networks") {
		t.Fatalf("alias on the default bridge: %q", errs)
	}
	if len(e.ids()) != 0 {
		t.Fatal("a refused run left a container")
	}
}

// TestDNSResolverPortTaken: when the network's resolver cannot listen (a
// host DNS server holds the gateway's port 53), the container still starts
// and resolves through the host's nameservers, as on the default bridge.
func TestDNSResolverPortTaken(t *testing.T) {
	e := newEnv(t)
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(resolv, []byte("nameserver 10.219.250.250\n"), 0o644)
	e.useOwnSubnets(resolv)
	e.ok("network", "create", "kd9busy")
	var nets []struct{ Gateway string }
	if err := json.Unmarshal([]byte(e.ok("network", "inspect", "kd9busy")), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("network inspect: %v", err)
	}
	pc, err := net.ListenPacket("udp4", net.JoinHostPort(nets[0].Gateway, "53"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	e.ok("run", "-d", "--name", "c", "--network", "kd9busy", "bb", "sleep", "300")
	if rc := e.ok("exec", "c", "cat", "/etc/resolv.conf"); !strings.Contains(rc, "nameserver 10.219.250.250") || strings.Contains(rc, nets[0].Gateway) {
		t.Fatalf("resolv.conf with the resolver's port taken:\n%s", rc)
	}
	e.ok("rm", "-f", "c")
	e.ok("network", "rm", "kd9busy")
}
