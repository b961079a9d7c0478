package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kago-run/kago/internal/testbundle"
	"github.com/kago-run/kago/network"
	"github.com/kago-run/kago/network/link"
	"github.com/kago-run/kago/network/nft"
)

// testNetworkCLI runs `kago --root ROOT network ...` with an engine config
// (ROOT/config.json, the file the engine reads) naming test-only objects:
// bridges kn<hex>, nftables table kagotest_<hex> and subnets inside
// 10.230.0.0/16, so the host's kago0 and "kago" table are never touched.
// Everything is removed in t.Cleanup.
type testNetworkCLI struct {
	t      *testing.T
	root   string
	cfg    network.Config
	prefix string // user network bridge prefix
}

func newTestNetworkCLI(t *testing.T) *testNetworkCLI {
	testbundle.RequireRoot(t)
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	suffix := hex.EncodeToString(b)
	c := &testNetworkCLI{t: t, root: t.TempDir(), prefix: "kn" + suffix[:5]}
	c.cfg = network.Config{
		BridgeName:       "kn" + suffix,
		Subnet:           netip.MustParsePrefix("10.230.0.0/20"),
		TableName:        "kagotest_" + suffix,
		UserSubnetPool:   netip.MustParsePrefix("10.230.64.0/20"),
		UserBridgePrefix: c.prefix,
	}
	conf, err := json.Marshal(map[string]any{"Network": c.cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.root, "config.json"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		links, err := net.Interfaces()
		if err == nil {
			for _, l := range links {
				if strings.HasPrefix(l.Name, c.prefix) {
					if err := link.Delete(l.Name); err != nil {
						t.Errorf("cleanup bridge %s: %v", l.Name, err)
					}
				}
			}
		}
		if err := (nft.Table{Name: c.cfg.TableName}).Delete(); err != nil {
			t.Errorf("cleanup nftables table %s: %v", c.cfg.TableName, err)
		}
	})
	return c
}

// run executes `kago --root ROOT network ARGS...` in-process.
func (c *testNetworkCLI) run(args ...string) (string, error) {
	c.t.Helper()
	return kago(c.t, c.root, "", append([]string{"network"}, args...)...)
}

func (c *testNetworkCLI) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("kago network %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// bridgeAddrs returns the IPv4 prefixes on a host interface.
func bridgeAddrs(t *testing.T, name string) []string {
	t.Helper()
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatalf("interface %s: %v", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			out = append(out, ipn.String())
		}
	}
	return out
}

func inspectOne(t *testing.T, out string) network.NetworkInfo {
	t.Helper()
	var infos []network.NetworkInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil || len(infos) != 1 {
		t.Fatalf("inspect output is not a JSON array of one network (%v):\n%s", err, out)
	}
	return infos[0]
}

// create, ls, inspect and rm work together on the kernel: create makes a
// bridge carrying the gateway address, rm removes it, and every verb reads
// the same state under the root.
func TestNetworkVerbs(t *testing.T) {
	c := newTestNetworkCLI(t)

	if got := strings.TrimSpace(c.must("create", "app")); got != "app" {
		t.Fatalf("create printed %q, want the name", got)
	}
	app := inspectOne(t, c.must("inspect", "app"))
	if !strings.HasPrefix(app.Bridge, c.prefix) || !netip.MustParsePrefix("10.230.64.0/20").Contains(app.Subnet.Addr()) {
		t.Fatalf("app = %+v: want bridge %s* and a subnet from the test pool", app, c.prefix)
	}
	if !link.Exists(app.Bridge) {
		t.Fatalf("bridge %s of network app does not exist after create", app.Bridge)
	}
	wantGW := netip.PrefixFrom(app.Gateway, app.Subnet.Bits()).String()
	if addrs := bridgeAddrs(t, app.Bridge); len(addrs) != 1 || addrs[0] != wantGW {
		t.Fatalf("bridge %s addresses %v, want [%s]", app.Bridge, addrs, wantGW)
	}

	fixedBridge := c.prefix + "fix"
	c.must("create", "-d", "bridge", "--subnet", "10.230.99.0/24", "--bridge", fixedBridge, "db")
	db := inspectOne(t, c.must("inspect", "db"))
	if db.Bridge != fixedBridge || db.Subnet.String() != "10.230.99.0/24" || db.Gateway.String() != "10.230.99.1" {
		t.Fatalf("db = %+v: want bridge %s, subnet 10.230.99.0/24, gateway 10.230.99.1", db, fixedBridge)
	}
	if addrs := bridgeAddrs(t, fixedBridge); len(addrs) != 1 || addrs[0] != "10.230.99.1/24" {
		t.Fatalf("bridge %s addresses %v, want [10.230.99.1/24]", fixedBridge, addrs)
	}

	// ls: the default network first, then user networks by name.
	ls := c.must("ls")
	lines := strings.Split(strings.TrimSpace(ls), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("ls:\n%s\nwant a header and 3 networks", ls)
	}
	for i, want := range []string{"bridge", "app", "db"} {
		if f := strings.Fields(lines[i+1]); f[0] != want {
			t.Errorf("ls line %d = %q, want network %s", i+1, lines[i+1], want)
		}
	}
	if !strings.Contains(lines[3], "10.230.99.0/24") || !strings.Contains(lines[1], c.cfg.BridgeName) {
		t.Errorf("ls does not show bridges and subnets:\n%s", ls)
	}
	if got := c.must("ls", "-q"); got != "bridge\napp\ndb\n" {
		t.Errorf("ls -q = %q", got)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(c.must("ls", "--format", "json")), "\n") {
		var n network.NetworkInfo
		if err := json.Unmarshal([]byte(l), &n); err != nil {
			t.Fatalf("ls --format json line %q: %v", l, err)
		}
		names = append(names, n.Name)
	}
	if strings.Join(names, ",") != "bridge,app,db" {
		t.Errorf("ls --format json names %v", names)
	}
	def := inspectOne(t, c.must("inspect", "bridge"))
	if !def.Default || def.Bridge != c.cfg.BridgeName {
		t.Errorf("inspect bridge = %+v, want the default network on %s", def, c.cfg.BridgeName)
	}

	// rm removes what it can and reports the rest.
	out, err := c.run("rm", "app", "nosuch", "db")
	if err == nil || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Fatalf("rm app nosuch db: err %v, want an error naming nosuch", err)
	}
	if out != "app\ndb\n" {
		t.Errorf("rm printed %q, want app and db", out)
	}
	for _, b := range []string{app.Bridge, fixedBridge} {
		if link.Exists(b) {
			t.Errorf("bridge %s still exists after rm", b)
		}
	}
	if got := c.must("ls", "-q"); got != "bridge\n" {
		t.Errorf("ls -q after rm = %q, want only the default network", got)
	}
}

// Bad input is refused with an error that names the problem and the way out,
// and leaves nothing behind.
func TestNetworkVerbErrors(t *testing.T) {
	c := newTestNetworkCLI(t)
	c.must("create", "--subnet", "10.230.70.0/24", "one")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "one"}, "already exists"},
		{[]string{"create", "--subnet", "10.230.70.128/25", "two"}, "overlaps"},
		{[]string{"create", "--subnet", "nonsense", "two"}, "--subnet"},
		{[]string{"create", "--subnet", "10.230.71.5/24", "two"}, "10.230.71.0/24"},
		{[]string{"create", "bad/name"}, "network name"},
		{[]string{"create", "bridge"}, "reserved"},
		{[]string{"create", "--bridge", "this-name-is-too-long", "two"}, "bridge"},
		{[]string{"inspect", "nosuch"}, "kago network create"},
		{[]string{"rm", "bridge"}, "built in"},
		{[]string{"ls", "--format", "{{.Name"}, `"{{.Name"`},
		{[]string{"ls", "--format", "{{.Nosuch}}"}, "Nosuch"},
		{[]string{"create", "--driver", "overlay", "two"}, "--driver bridge"},
	} {
		out, err := c.run(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("kago network %s: err %v (output %q), want an error containing %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
	}
	if got := c.must("ls", "-q"); got != "bridge\none\n" {
		t.Errorf("after refused creates ls -q = %q, want bridge and one", got)
	}
}

// The engine config decides the default network; a broken one is reported
// with the file's name instead of silently falling back to kago0.
func TestNetworkEngineConfig(t *testing.T) {
	testbundle.RequireRoot(t)
	root := t.TempDir()
	if out := mustKago(t, root, "network", "ls", "-q"); out != "bridge\n" {
		t.Fatalf("ls -q without config = %q", out)
	}
	def := inspectOne(t, mustKago(t, root, "network", "inspect", "bridge"))
	if def.Bridge != "kago0" || def.Subnet.String() != "10.89.0.0/16" {
		t.Errorf("default network without config = %+v, want kago0 on 10.89.0.0/16", def)
	}
	conf := filepath.Join(root, "config.json")
	for _, bad := range []string{`{"Network": {"Subnet": "not-a-subnet"}}`, `{"Network": {"Subnet": "10.230.0.1/24"}}`, `[`} {
		if err := os.WriteFile(conf, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := kago(t, root, "", "network", "ls"); err == nil || !strings.Contains(err.Error(), conf) {
			t.Errorf("config %s: ls gave %q, %v; want an error naming %s", bad, out, err, conf)
		}
	}
}

// FuzzEngineNetworkConfig: whatever <root>/config.json holds, kago network
// either gets a configuration network.New accepts or a clear error; it never
// panics. Needs no root: nothing is created in the kernel.
func FuzzEngineNetworkConfig(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"Network":{}}`, `[`, `null`, `{"Network":null}`,
		`{"Network":{"BridgeName":"kt0","Subnet":"10.220.0.0/16","TableName":"kt"}}`,
		`{"Network":{"Subnet":"10.220.0.1/16"}}`, `{"Network":{"Subnet":"::/0"}}`,
		`{"Network":{"BridgeName":"a-name-much-too-long-for-linux"}}`,
		`{"Network":{"UserSubnetBits":-1,"UserBridgePrefix":"12345678"}}`,
		`{"Network":{"OUI":"zz:zz"}}`, `{"LogMaxSize":1,"Network":{"Subnet":7}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, "config.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := engineNetworkConfig(root)
		if err != nil {
			if !strings.Contains(err.Error(), "config.json") {
				t.Fatalf("error %q does not name the config file", err)
			}
			return
		}
		m, err := network.New(filepath.Join(root, "network"), cfg)
		if err != nil {
			return
		}
		if got := m.Config(); got.BridgeName == "" || got.TableName == "" || !got.Subnet.IsValid() {
			t.Fatalf("accepted config %+v left defaults unset", got)
		}
	})
}
