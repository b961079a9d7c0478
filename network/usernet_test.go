package network

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kago-run/kago/internal/testbundle"
	"github.com/kago-run/kago/network/link"
)

// Two containers on a user network reach each other by name through the
// /etc/hosts files kago keeps up to date; the network's life cycle
// (create/list/inspect/remove) is checked on the way.
func TestUserNetworkByName(t *testing.T) {
	ctx := context.Background()
	m := testManager(t, "10.201.23.0/24", nil)
	front, err := m.CreateNetwork(ctx, "front", NetworkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Config().UserSubnetPool.Contains(front.Subnet.Addr()) || front.Subnet.Bits() != 24 || !link.Exists(front.Bridge) {
		t.Fatalf("front = %+v", front)
	}
	back, err := m.CreateNetwork(ctx, "back", NetworkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Subnet.Overlaps(front.Subnet) || back.Bridge == front.Bridge {
		t.Fatalf("back %+v collides with front %+v", back, front)
	}
	for name, opts := range map[string]NetworkOptions{
		"front":  {},                                       // exists
		"bridge": {},                                       // reserved
		"-bad":   {},                                       // name
		"other":  {Subnet: front.Subnet},                   // overlap
		"other2": {Subnet: mustPrefix("10.201.23.128/25")}, // overlaps default
		"other3": {Bridge: front.Bridge},                   // bridge taken
	} {
		if _, err := m.CreateNetwork(ctx, name, opts); err == nil {
			t.Errorf("CreateNetwork(%q, %+v) succeeded", name, opts)
		} else {
			t.Logf("CreateNetwork(%q): %v", name, err)
		}
	}
	nets, err := m.Networks(ctx)
	if err != nil || len(nets) != 3 || nets[0].Name != DefaultNetwork || nets[1].Name != "back" || nets[2].Name != "front" {
		t.Fatalf("Networks() = %+v, %v", nets, err)
	}

	nsA, pathA := testNetns(t)
	nsB, pathB := testNetns(t)
	body := startHTTPD(t, nsA)
	dir := t.TempDir()
	hostsA, hostsB := filepath.Join(dir, "hostsA"), filepath.Join(dir, "hostsB")
	epA, err := m.Attach(ctx, AttachRequest{ContainerID: "ua", Network: "front", NetnsPath: pathA, Hostname: "web", Aliases: []string{"www"}, HostsPath: hostsA})
	if err != nil {
		t.Fatal(err)
	}
	epB, err := m.Attach(ctx, AttachRequest{ContainerID: "ub", Network: "front", NetnsPath: pathB, Hostname: "db", HostsPath: hostsB})
	if err != nil {
		t.Fatal(err)
	}
	readHosts := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	if err := contains(readHosts(hostsA), epA.IP.String()+"\tweb www\n", epB.IP.String()+"\tdb\n"); err != nil {
		t.Fatalf("A's hosts not updated with peer B: %v", err)
	}
	if err := contains(readHosts(hostsB), epA.IP.String()+"\tweb www\n", epB.IP.String()+"\tdb\n"); err != nil {
		t.Fatal(err)
	}
	// B fetches A's page by name, resolving through its /etc/hosts (bind
	// mounted inside the private mount namespace of `ip netns exec`).
	script := fmt.Sprintf("mount --bind %s /etc/hosts && curl -sS --noproxy '*' -m 3 http://www/", hostsB)
	var out string
	for i := 0; i < 30; i++ {
		if out, err = inNetns(nsB, "sh", "-c", script); err == nil {
			break
		}
	}
	if err != nil || out != body {
		t.Fatalf("B -> http://www/: %q, %v", out, err)
	}
	info, err := m.Inspect(ctx, "front")
	if err != nil || len(info.Endpoints) != 2 {
		t.Fatalf("Inspect = %+v, %v", info, err)
	}
	if err := m.RemoveNetwork(ctx, "front"); !errors.Is(err, ErrInUse) {
		t.Fatalf("RemoveNetwork with containers: %v", err)
	}
	if err := m.Detach(ctx, "ub"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(readHosts(hostsA), "db") {
		t.Fatalf("A still lists detached B:\n%s", readHosts(hostsA))
	}
	if err := m.Detach(ctx, "ua"); err != nil {
		t.Fatal(err)
	}
	_ = nsA
	for _, n := range []*NetworkInfo{front, back} {
		if err := m.RemoveNetwork(ctx, n.Name); err != nil {
			t.Fatal(err)
		}
		if link.Exists(n.Bridge) {
			t.Fatalf("bridge %s survived RemoveNetwork", n.Bridge)
		}
	}
	if l := nftList(t, m); strings.Contains(l, front.Bridge) || strings.Contains(l, back.Bridge) {
		t.Fatalf("rules of removed networks remain:\n%s", l)
	}
	if err := m.RemoveNetwork(ctx, "front"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second RemoveNetwork: %v", err)
	}
}

// On the default network containers do not see each other's names (docker's
// behaviour for the default bridge).
func TestDefaultNetworkHostsHaveNoPeers(t *testing.T) {
	ctx := context.Background()
	m := testManager(t, "10.201.25.0/24", nil)
	_, p1 := testNetns(t)
	_, p2 := testNetns(t)
	dir := t.TempDir()
	h1 := filepath.Join(dir, "h1")
	ep2 := AttachRequest{ContainerID: "d2", NetnsPath: p2, Hostname: "two"}
	if _, err := m.Attach(ctx, AttachRequest{ContainerID: "d1", NetnsPath: p1, Hostname: "one", HostsPath: h1}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Attach(ctx, ep2); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(h1)
	if !strings.Contains(string(b), "\tone\n") || strings.Contains(string(b), "\ttwo") {
		t.Fatalf("hosts:\n%s", b)
	}
	for _, id := range []string{"d1", "d2"} {
		if err := m.Detach(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// A container's outbound traffic leaves masqueraded: a server in a separate
// "outside" namespace, routed through the host, sees the host's address, not
// the container's.
func TestOutboundMasquerade(t *testing.T) {
	ctx := context.Background()
	m := testManager(t, "10.201.24.0/24", nil)
	ext, _ := testNetns(t)
	hostEnd := "kt" + randHex(8) + "x"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("ip", "link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", ext)
	t.Cleanup(func() { _ = link.Delete(hostEnd) })
	run("ip", "addr", "add", "10.201.250.1/30", "dev", hostEnd)
	run("ip", "link", "set", hostEnd, "up")
	run("ip", "netns", "exec", ext, "ip", "addr", "add", "10.201.250.2/30", "dev", "eth0")
	run("ip", "netns", "exec", ext, "ip", "link", "set", "eth0", "up")

	// A CGI that answers with the client address the server sees.
	www := t.TempDir()
	if err := os.MkdirAll(filepath.Join(www, "cgi-bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "cgi-bin", "ip"), []byte("#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"$REMOTE_ADDR\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := exec.Command("ip", "netns", "exec", ext, testbundle.BusyboxPath, "httpd", "-f", "-p", "80", "-h", www)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })

	ns, path := testNetns(t)
	ep, err := m.Attach(ctx, AttachRequest{ContainerID: "out1", NetnsPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Detach(ctx, "out1") })
	var out string
	for i := 0; i < 30; i++ {
		if out, err = inNetns(ns, "curl", "-sS", "--noproxy", "*", "-m", "3", "http://10.201.250.2/cgi-bin/ip"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("container -> outside: %v %s", err, out)
	}
	// busybox httpd reports IPv4 clients as [::ffff:a.b.c.d].
	got := strings.TrimPrefix(strings.Trim(strings.TrimSpace(out), "[]"), "::ffff:")
	if got != "10.201.250.1" {
		t.Fatalf("outside server saw %q, want the host's 10.201.250.1 (container is %v)", got, ep.IP)
	}
}
