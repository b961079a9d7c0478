package netdev

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func TestValidateNamesTheField(t *testing.T) {
	netNS := []specs.LinuxNamespace{{Type: specs.NetworkNamespace}}
	for name, tc := range map[string]struct {
		devs map[string]specs.LinuxNetDevice
		ns   []specs.LinuxNamespace
		want string
	}{
		"no netns":       {map[string]specs.LinuxNetDevice{"eth0": {}}, nil, "needs a network namespace"},
		"bad host name":  {map[string]specs.LinuxNetDevice{"a/b": {}}, netNS, `"a/b"`},
		"long name":      {map[string]specs.LinuxNetDevice{"eth0": {Name: "abcdefghijklmnop"}}, netNS, "linux.netDevices.eth0.name"},
		"dotdot renamed": {map[string]specs.LinuxNetDevice{"eth0": {Name: ".."}}, netNS, `".."`},
	} {
		if err := Validate(tc.devs, tc.ns); err == nil || !strings.Contains(err.Error(), "linux.netDevices") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming linux.netDevices and %q", name, err, tc.want)
		}
	}
	if err := Validate(map[string]specs.LinuxNetDevice{"eth0": {Name: "eth%d"}}, netNS); err != nil {
		t.Errorf("valid device refused: %v", err)
	}
}

// newNetNS starts a process in a new network namespace and returns the
// namespace's path; the process (and with it the namespace) ends with the test.
func newNetNS(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
}

// TestMoveAllRenamesKeepsAddressesAndSetsUp moves one end of a veth pair
// (this kernel may lack the dummy driver) named with the tag kr6, and reads
// the result back from the namespace through netlink.
func TestMoveAllRenamesKeepsAddressesAndSetsUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "kr6nt0"}, PeerName: "kr6nt0p"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName("kr6nt0p"); err == nil {
			netlink.LinkDel(l)
		}
	})
	link, _ := netlink.LinkByName("kr6nt0")
	addr, _ := netlink.ParseAddr("10.216.6.1/24")
	if err := netlink.AddrAdd(link, addr); err != nil {
		t.Fatal(err)
	}
	nsPath := newNetNS(t)
	if err := MoveAll(map[string]specs.LinuxNetDevice{"kr6nt0": {Name: "kr6in0"}}, nsPath); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName("kr6nt0"); err == nil {
		t.Error("kr6nt0 is still on the host")
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	in, err := h.LinkByName("kr6in0")
	if err != nil {
		t.Fatalf("renamed device not in the namespace: %v", err)
	}
	if in.Attrs().Flags&net.FlagUp == 0 {
		t.Error("device is not up after the move")
	}
	addrs, _ := h.AddrList(in, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "10.216.6.1/24" {
		t.Errorf("addresses after the move: %v, want 10.216.6.1/24", addrs)
	}
	// A name with %d is a template: the kernel picks a free number.
	veth3 := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "kr6nt2"}, PeerName: "kr6nt2p"}
	if err := netlink.LinkAdd(veth3); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName("kr6nt2p"); err == nil {
			netlink.LinkDel(l)
		}
	})
	if err := MoveAll(map[string]specs.LinuxNetDevice{"kr6nt2": {Name: "kr6in%d"}}, nsPath); err != nil {
		t.Fatalf("template name: %v", err)
	}
	if l, err := h.LinkByName("kr6in1"); err != nil || l.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("template kr6in%%d: kr6in1 in the namespace: %v (up: %v)", err, err == nil && l.Attrs().Flags&net.FlagUp != 0)
	}
	// A second device may not take a name the namespace already has.
	veth2 := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "kr6nt1"}, PeerName: "kr6nt1p"}
	if err := netlink.LinkAdd(veth2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName("kr6nt1"); err == nil {
			netlink.LinkDel(l)
		}
	})
	err = MoveAll(map[string]specs.LinuxNetDevice{"kr6nt1": {Name: "kr6in0"}}, nsPath)
	if err == nil || !strings.Contains(err.Error(), "already has an interface named kr6in0") {
		t.Errorf("name clash: %v", err)
	}
}
