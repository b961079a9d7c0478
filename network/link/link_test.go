package link

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kago-run/kago/internal/testbundle"
)

func TestHostVethName(t *testing.T) {
	id := "4f2a9c0e1b7d3a5c9e8f0a1b2c3d4e5f"
	if got := HostVethName(id); got != "veth4f2a9c0e1b7" {
		t.Fatalf("HostVethName(hex) = %q", got)
	}
	for _, id := range []string{"web", "My_Container", strings.Repeat("z", 100)} {
		got := HostVethName(id)
		if len(got) != 15 || ValidateName(got) != nil || got != HostVethName(id) {
			t.Errorf("HostVethName(%q) = %q", id, got)
		}
	}
	if HostVethName("a") == HostVethName("b") {
		t.Error("different IDs, same name")
	}
}

func TestValidateName(t *testing.T) {
	for _, bad := range []string{"", "0123456789abcdef", "a/b", "a b", "..", "a:b"} {
		if ValidateName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func randName(t *testing.T) string {
	b := make([]byte, 5)
	rand.Read(b)
	return "kt" + hex.EncodeToString(b)
}

// EnsureBridge twice leaves one bridge, up, with the gateway once and
// route_localnet on; a non-bridge with the name is refused.
func TestEnsureBridge(t *testing.T) {
	testbundle.RequireRoot(t)
	name := randName(t)
	t.Cleanup(func() { _ = Delete(name) })
	gw := netip.MustParsePrefix("10.201.30.1/24")
	for i := 0; i < 2; i++ {
		if err := EnsureBridge(name, gw); err != nil {
			t.Fatalf("EnsureBridge #%d: %v", i, err)
		}
	}
	out, err := exec.Command("ip", "-o", "-4", "addr", "show", "dev", name).CombinedOutput()
	if err != nil || strings.Count(string(out), "inet 10.201.30.1/24") != 1 {
		t.Fatalf("addresses: %s %v", out, err)
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/conf/" + name + "/route_localnet"); strings.TrimSpace(string(b)) != "1" {
		t.Fatal("route_localnet not set")
	}
	if err := Delete(name); err != nil || Exists(name) {
		t.Fatalf("Delete: %v", err)
	}
	if err := Delete(name); err != nil {
		t.Fatalf("Delete of missing: %v", err)
	}

	dummy := randName(t) // a veth: any interface that is not a bridge
	if out, err := exec.Command("ip", "link", "add", dummy, "type", "veth", "peer", "name", randName(t)).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() { _ = Delete(dummy) })
	if err := EnsureBridge(dummy, gw); err == nil || !strings.Contains(err.Error(), "not a bridge") {
		t.Fatalf("EnsureBridge on a veth: %v", err)
	}
}

// A failing AddVeth (bad netns) leaves no host interface.
func TestAddVethFailureLeavesNothing(t *testing.T) {
	testbundle.RequireRoot(t)
	br := randName(t)
	t.Cleanup(func() { _ = Delete(br) })
	if err := EnsureBridge(br, netip.MustParsePrefix("10.201.31.1/24")); err != nil {
		t.Fatal(err)
	}
	host := randName(t)
	t.Cleanup(func() { _ = Delete(host) })
	err := AddVeth(Veth{HostName: host, Bridge: br, NetnsPath: "/nonexistent/ns", IfName: "eth0",
		MAC: net.HardwareAddr{2, 0x42, 10, 201, 31, 2}, Addr: netip.MustParsePrefix("10.201.31.2/24"), Gateway: netip.MustParseAddr("10.201.31.1")})
	if err == nil || Exists(host) {
		t.Fatalf("AddVeth with bad netns: err=%v, host end exists=%v", err, Exists(host))
	}
	// A gateway outside the subnet makes the route step fail after the pair
	// exists: the rollback must delete it.
	ns := randName(t)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	err = AddVeth(Veth{HostName: host, Bridge: br, NetnsPath: "/run/netns/" + ns, IfName: "eth0",
		MAC: net.HardwareAddr{2, 0x42, 10, 201, 31, 2}, Addr: netip.MustParsePrefix("10.201.31.2/24"), Gateway: netip.MustParseAddr("192.0.2.254")})
	if err == nil || Exists(host) {
		t.Fatalf("AddVeth with unreachable gateway: err=%v, host end exists=%v", err, Exists(host))
	}
	if out, _ := exec.Command("ip", "netns", "exec", ns, "ip", "link", "show", "eth0").CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Fatalf("peer left in netns: %s", out)
	}
}
