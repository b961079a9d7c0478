package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kago-run/kago/internal/testbundle"
	"github.com/kago-run/kago/network/link"
)

// Tests run in the host network namespace but only touch objects with random
// test names: bridges kt<hex>, nftables tables kagotest_<hex>, subnets inside
// 10.201.0.0/16, and network namespaces kt<hex>. Everything is removed in
// t.Cleanup whatever the outcome.

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// testManager returns a Manager whose default network is bridge kt<hex> on
// subnet, with its own table and state dir, and cleans up everything a test
// may have created through it (including user network bridges).
func testManager(t testing.TB, subnet string, tweak func(*Config)) *Manager {
	t.Helper()
	testbundle.RequireRoot(t)
	suffix := randHex(8)
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 127.0.0.53\nnameserver 10.201.255.53\nsearch test.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		BridgeName:       "kt" + suffix,
		Subnet:           mustPrefix(subnet),
		TableName:        "kagotest_" + suffix,
		UserSubnetPool:   mustPrefix("10.201.64.0/20"),
		UserBridgePrefix: "kt" + suffix[:5],
		ResolvConf:       resolv,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	m, err := New(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if nets, err := m.Networks(ctx); err == nil {
			for _, n := range nets {
				if info, err := m.Inspect(ctx, n.Name); err == nil {
					for _, ep := range info.Endpoints {
						_ = link.Delete(ep.HostVeth)
					}
				}
				_ = link.Delete(n.Bridge)
			}
		}
		if err := m.Table().Delete(); err != nil {
			t.Errorf("cleanup table: %v", err)
		}
	})
	return m
}

// testNetns creates a network namespace standing in for a container and
// returns its name and path.
func testNetns(t testing.TB) (name, path string) {
	t.Helper()
	name = "kt" + randHex(10)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	return name, "/run/netns/" + name
}

// inNetns runs a command inside netns ns and returns its combined output.
func inNetns(ns string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out), err
}

// startHTTPD serves a page with body from inside ns on port 80 and returns
// the body. The server is killed (by its PID) at cleanup.
func startHTTPD(t testing.TB, ns string) string {
	t.Helper()
	dir := t.TempDir()
	body := "hello from " + ns + "\n"
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, testbundle.BusyboxPath, "httpd", "-f", "-p", "80", "-h", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return body
}

var httpClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

func httpGet(url string) (string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// waitGet polls url until it serves want or the deadline passes.
func waitGet(t testing.TB, url, want string) {
	t.Helper()
	var got string
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got, err = httpGet(url); err == nil && got == want {
			return
		}
	}
	t.Fatalf("GET %s: got %q, %v; want %q", url, got, err, want)
}

// freePort returns a TCP port nothing listens on right now.
func freePort(t testing.TB) uint16 {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func nftList(t *testing.T, m *Manager) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "ip", m.Table().Name).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	return string(out)
}

func mustPorts(t testing.TB, spec string) []PortMapping {
	t.Helper()
	ps, err := ParsePort(spec)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func contains(s string, subs ...string) error {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return fmt.Errorf("missing %q in:\n%s", sub, s)
		}
	}
	return nil
}
