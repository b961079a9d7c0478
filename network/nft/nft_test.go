package nft

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/kago-run/kago/internal/testbundle"
)

// testTable returns a table with a test-only random name, deleted at cleanup.
func testTable(t *testing.T) Table {
	t.Helper()
	testbundle.RequireRoot(t)
	b := make([]byte, 4)
	rand.Read(b)
	tb := Table{Name: "kagotest_" + hex.EncodeToString(b)}
	t.Cleanup(func() {
		if err := tb.Delete(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return tb
}

func listTable(t *testing.T, tb Table) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "ip", tb.Name).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table ip %s: %v\n%s", tb.Name, err, out)
	}
	return string(out)
}

func TestEnsureIdempotentAndRules(t *testing.T) {
	tb := testTable(t)
	for i := 0; i < 2; i++ {
		if err := tb.Ensure(); err != nil {
			t.Fatalf("Ensure #%d: %v", i, err)
		}
	}
	got := listTable(t, tb)
	for _, want := range []string{
		"map tcp-any", "map udp-ip", "type ipv4_addr . inet_service : ipv4_addr . inet_service",
		"fib daddr type local jump dnat",
		"dnat ip to ip daddr . tcp dport map @tcp-ip",
		"dnat ip to udp dport map @udp-any",
		"hook output priority -100", "hook postrouting priority srcnat",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "jump dnat"); n != 2 {
		t.Errorf("%d jump rules after two Ensure calls, want 2", n)
	}
}

func TestNetworkRules(t *testing.T) {
	tb := testTable(t)
	if err := tb.Ensure(); err != nil {
		t.Fatal(err)
	}
	n := Network{Name: "n1", Bridge: "ktbr0", Subnet: netip.MustParsePrefix("10.201.5.0/24")}
	for i := 0; i < 2; i++ { // re-adding replaces, never duplicates
		if err := tb.AddNetwork(n); err != nil {
			t.Fatal(err)
		}
	}
	other := Network{Name: "n2", Bridge: "ktbr1", Subnet: netip.MustParsePrefix("10.201.6.0/24")}
	if err := tb.AddNetwork(other); err != nil {
		t.Fatal(err)
	}
	got := listTable(t, tb)
	for _, want := range []string{
		`ip saddr 10.201.5.0/24 oifname != "ktbr0" masquerade`,
		`ip saddr 127.0.0.0/8 oifname "ktbr0" masquerade`,
		`ip saddr 10.201.5.0/24 oifname "ktbr0" ct status dnat masquerade`,
	} {
		if strings.Count(got, want) != 1 {
			t.Errorf("want exactly one %q:\n%s", want, got)
		}
	}
	if err := tb.RemoveNetwork("n1"); err != nil {
		t.Fatal(err)
	}
	got = listTable(t, tb)
	if strings.Contains(got, "ktbr0") || !strings.Contains(got, `oifname != "ktbr1"`) {
		t.Fatalf("after RemoveNetwork(n1):\n%s", got)
	}
}

func TestPortsRoundTrip(t *testing.T) {
	tb := testTable(t)
	if err := tb.Ensure(); err != nil {
		t.Fatal(err)
	}
	ctr := netip.MustParseAddr("10.201.5.2")
	ps := []Port{
		{Protocol: "tcp", HostPort: 18080, ContainerIP: ctr, ContainerPort: 80},
		{Protocol: "udp", HostPort: 15353, ContainerIP: ctr, ContainerPort: 53},
		{Protocol: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 18443, ContainerIP: ctr, ContainerPort: 443},
	}
	if err := tb.AddPorts(ps); err != nil {
		t.Fatal(err)
	}
	got, err := tb.Ports()
	if err != nil {
		t.Fatal(err)
	}
	key := func(s []Port) { sort.Slice(s, func(i, j int) bool { return s[i].HostPort < s[j].HostPort }) }
	want := append([]Port(nil), ps...)
	key(got)
	key(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Ports() = %+v\nwant %+v", got, want)
	}
	listing := listTable(t, tb)
	for _, w := range []string{"18080 : 10.201.5.2 . 80", "127.0.0.1 . 18443 : 10.201.5.2 . 443", "15353 : 10.201.5.2 . 53"} {
		if !strings.Contains(listing, w) {
			t.Errorf("listing lacks %q:\n%s", w, listing)
		}
	}
	if err := tb.RemovePorts(ps[:2]); err != nil {
		t.Fatal(err)
	}
	if got, _ := tb.Ports(); len(got) != 1 || got[0] != ps[2] {
		t.Fatalf("after remove: %+v", got)
	}
	// A batch with a bad mapping changes nothing.
	if err := tb.AddPorts([]Port{{Protocol: "tcp", HostPort: 1, ContainerIP: ctr, ContainerPort: 1}, {Protocol: "sctp", HostPort: 2, ContainerIP: ctr, ContainerPort: 2}}); err == nil {
		t.Fatal("sctp accepted")
	}
	if got, _ := tb.Ports(); len(got) != 1 {
		t.Fatalf("failed batch left %+v", got)
	}
}
