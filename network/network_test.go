package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kago-run/kago/network/ipam"
	"github.com/kago-run/kago/network/link"
	"github.com/kago-run/kago/network/mac"
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// The whole life of a published container: attach, reach it from the host on
// 0.0.0.0:P (via 127.0.0.1 and the bridge IP) and on a 127.0.0.1-only port,
// see its interface set up inside, then detach and find everything gone.
func TestAttachPublishDetach(t *testing.T) {
	ctx := context.Background()
	m := testManager(t, "10.201.20.0/24", nil)
	ns, nsPath := testNetns(t)
	body := startHTTPD(t, ns)
	pAny, pLocal := freePort(t), freePort(t)
	ps := append(mustPorts(t, fmt.Sprintf("%d:80", pAny)), mustPorts(t, fmt.Sprintf("127.0.0.1:%d:80/tcp", pLocal))...)
	files := t.TempDir()
	req := AttachRequest{ContainerID: "c1" + randHex(20), NetnsPath: nsPath, Hostname: "web", Ports: ps,
		HostsPath: filepath.Join(files, "hosts"), HostnamePath: filepath.Join(files, "hostname"), ResolvConfPath: filepath.Join(files, "resolv.conf")}
	ep, err := m.Attach(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	subnet := m.Config().Subnet
	if !subnet.Contains(ep.IP) || ep.IP == ep.Gateway || ep.Gateway != netip.MustParseAddr("10.201.20.1") || ep.Prefix != 24 {
		t.Fatalf("endpoint %+v", ep)
	}
	if ep.MAC != mac.FromIP(ep.IP).String() {
		t.Fatalf("MAC %s, want %s", ep.MAC, mac.FromIP(ep.IP))
	}
	if len(ep.HostVeth) > 15 || !strings.HasPrefix(ep.HostVeth, "veth") {
		t.Fatalf("host veth name %q", ep.HostVeth)
	}

	// Inside: eth0 with address and MAC, lo up, default route via gateway.
	out, err := inNetns(ns, "ip", "-j", "addr", "show")
	if err != nil {
		t.Fatal(err, out)
	}
	var ifs []struct {
		IfName   string   `json:"ifname"`
		Address  string   `json:"address"`
		Flags    []string `json:"flags"`
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(out), &ifs); err != nil {
		t.Fatal(err, out)
	}
	seen := map[string]bool{}
	for _, i := range ifs {
		up := strings.Contains(strings.Join(i.Flags, ","), "UP")
		switch i.IfName {
		case "lo":
			seen["lo"] = up
		case "eth0":
			seen["eth0"] = up && i.Address == ep.MAC && len(i.AddrInfo) > 0 && i.AddrInfo[0].Local == ep.IP.String() && i.AddrInfo[0].PrefixLen == 24
		}
	}
	if !seen["lo"] || !seen["eth0"] {
		t.Fatalf("interfaces inside not as expected (%v):\n%s", seen, out)
	}
	if out, _ := inNetns(ns, "ip", "route", "show", "default"); !strings.Contains(out, "default via 10.201.20.1 dev eth0") {
		t.Fatalf("default route: %q", out)
	}
	// Host end is on the bridge.
	if out, _ := exec.Command("ip", "-o", "link", "show", ep.HostVeth).CombinedOutput(); !strings.Contains(string(out), "master "+m.Config().BridgeName) {
		t.Fatalf("host veth: %s", out)
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		t.Fatal("ip_forward not enabled")
	}

	// The page: directly, through the published port on 127.0.0.1 (output
	// chain DNAT + route_localnet + masquerade), on the bridge address, and on
	// the 127.0.0.1-only mapping.
	waitGet(t, fmt.Sprintf("http://%s:80/", ep.IP), body)
	waitGet(t, fmt.Sprintf("http://127.0.0.1:%d/", pAny), body)
	waitGet(t, fmt.Sprintf("http://%s:%d/", ep.Gateway, pAny), body)
	waitGet(t, fmt.Sprintf("http://127.0.0.1:%d/", pLocal), body)
	if _, err := httpGet(fmt.Sprintf("http://%s:%d/", ep.Gateway, pLocal)); err == nil {
		t.Fatal("127.0.0.1-only port answered on the bridge address")
	}

	// Hairpin: a peer container reaches the published port through the host's
	// bridge address. Replies must return through the host for the reverse NAT:
	// the "ct status dnat" masquerade ensures it (with bridge-nf-call-iptables=1
	// conntrack on the bridge also would).
	peerNS, peerPath := testNetns(t)
	if _, err := m.Attach(ctx, AttachRequest{ContainerID: "peer" + randHex(8), NetnsPath: peerPath}); err != nil {
		t.Fatal(err)
	}
	if out, err := inNetns(peerNS, "curl", "-sS", "--noproxy", "*", "-m", "3", fmt.Sprintf("http://%s:%d/", ep.Gateway, pAny)); err != nil || out != body {
		t.Fatalf("peer -> gateway:%d: %q, %v", pAny, out, err)
	}

	if err := contains(nftList(t, m),
		fmt.Sprintf(`ip saddr 10.201.20.0/24 oifname != "%s" masquerade`, m.Config().BridgeName),
		fmt.Sprintf(`ip saddr 127.0.0.0/8 oifname "%s" masquerade`, m.Config().BridgeName),
		fmt.Sprintf("%d : %s . 80", pAny, ep.IP),
		fmt.Sprintf("127.0.0.1 . %d : %s . 80", pLocal, ep.IP)); err != nil {
		t.Fatal(err)
	}
	// Files for the container.
	hosts, _ := os.ReadFile(req.HostsPath)
	hostname, _ := os.ReadFile(req.HostnamePath)
	resolv, _ := os.ReadFile(req.ResolvConfPath)
	if err := contains(string(hosts), "127.0.0.1\tlocalhost", ep.IP.String()+"\tweb"); err != nil {
		t.Error(err)
	}
	if string(hostname) != "web\n" {
		t.Errorf("hostname file %q", hostname)
	}
	if strings.Contains(string(resolv), "127.0.0.53") || !strings.Contains(string(resolv), "nameserver 10.201.255.53") {
		t.Errorf("resolv.conf:\n%s", resolv)
	}
	if got, err := m.Endpoint(ctx, req.ContainerID); err != nil || got.IP != ep.IP {
		t.Fatalf("Endpoint() = %+v, %v", got, err)
	}

	// Detach removes veth, map elements and the address; twice is fine.
	for i := 0; i < 2; i++ {
		if err := m.Detach(ctx, req.ContainerID); err != nil {
			t.Fatalf("Detach #%d: %v", i, err)
		}
	}
	if link.Exists(ep.HostVeth) {
		t.Fatal("host veth survived Detach")
	}
	if ports, err := m.Table().Ports(); err != nil || len(ports) != 0 {
		t.Fatalf("ports after Detach: %+v, %v", ports, err)
	}
	pool, _ := ipam.New(m.ipamPath(DefaultNetwork), subnet, netip.Addr{})
	if a, _ := pool.Allocations(ctx); len(a) != 1 || a[ep.IP] != "" { // only the peer remains
		t.Fatalf("addresses after Detach: %v", a)
	}
	if _, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", pAny)); err == nil {
		t.Fatal("published port still answers after Detach")
	}
	if _, err := m.Endpoint(ctx, req.ContainerID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Endpoint after Detach: %v", err)
	}
}

// Every kind of bad input fails with a clear error before changing anything.
func TestAttachRejectsAndLeavesNothing(t *testing.T) {
	ctx := context.Background()
	m := testManager(t, "10.201.21.0/30", nil) // room for exactly one container
	_, ns1 := testNetns(t)
	_, ns2 := testNetns(t)

	// A port bound by a host process.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bound := l.Addr().(*net.TCPAddr).Port
	free := freePort(t)

	cases := []struct {
		name string
		req  AttachRequest
		want error
	}{
		{"bound port", AttachRequest{ContainerID: "bad1", NetnsPath: ns1, Ports: mustPorts(t, fmt.Sprintf("%d:80", bound))}, ErrPortInUse},
		{"duplicate port in request", AttachRequest{ContainerID: "bad2", NetnsPath: ns1, Ports: append(mustPorts(t, fmt.Sprintf("%d:80", free)), mustPorts(t, fmt.Sprintf("127.0.0.1:%d:81", free))...)}, ErrPortInUse},
		{"multicast MAC", AttachRequest{ContainerID: "bad3", NetnsPath: ns1, MAC: "01:00:5e:00:00:01"}, nil},
		{"bad hostname", AttachRequest{ContainerID: "bad4", NetnsPath: ns1, Hostname: "a b"}, nil},
		{"bad ID", AttachRequest{ContainerID: "../x", NetnsPath: ns1}, nil},
		{"no netns", AttachRequest{ContainerID: "bad5", NetnsPath: "/proc/no/such/ns"}, nil},
		{"unknown network", AttachRequest{ContainerID: "bad6", NetnsPath: ns1, Network: "nope"}, ErrNotFound},
		{"static IP is gateway", AttachRequest{ContainerID: "bad7", NetnsPath: ns1, IP: netip.MustParseAddr("10.201.21.1")}, ipam.ErrNotUsable},
	}
	for _, c := range cases {
		_, err := m.Attach(ctx, c.req)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: got %v, want error %v", c.name, err, c.want)
			continue
		}
		t.Logf("%s: %v", c.name, err)
		if link.Exists(link.HostVethName(c.req.ContainerID)) {
			t.Errorf("%s: veth left behind", c.name)
		}
	}
	pool, _ := ipam.New(m.ipamPath(DefaultNetwork), m.Config().Subnet, netip.Addr{})
	if a, _ := pool.Allocations(ctx); len(a) != 0 {
		t.Fatalf("failed attaches left addresses: %v", a)
	}

	// The one free address goes to c1 with a published port ...
	ep, err := m.Attach(ctx, AttachRequest{ContainerID: "c1", NetnsPath: ns1, Ports: mustPorts(t, fmt.Sprintf("%d:80", free))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Attach(ctx, AttachRequest{ContainerID: "c1", NetnsPath: ns2}); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second attach of c1: %v", err)
	}
	// ... so c2 cannot publish the same port, and then finds the subnet full.
	if _, err := m.Attach(ctx, AttachRequest{ContainerID: "c2", NetnsPath: ns2, Ports: mustPorts(t, fmt.Sprintf("127.0.0.1:%d:8080", free))}); !errors.Is(err, ErrPortInUse) {
		t.Fatalf("port published by c1: %v", err)
	}
	if _, err := m.Attach(ctx, AttachRequest{ContainerID: "c2", NetnsPath: ns2, Ports: mustPorts(t, "81")}); !errors.Is(err, ipam.ErrFull) {
		t.Fatalf("full subnet: %v", err)
	} else {
		t.Logf("full subnet: %v", err)
	}
	if link.Exists(link.HostVethName("c2")) {
		t.Fatal("c2 veth left behind")
	}
	ports, _ := m.Table().Ports()
	if len(ports) != 1 || ports[0].ContainerIP != ep.IP {
		t.Fatalf("kernel ports after failures: %+v", ports)
	}
	if a, _ := pool.Allocations(ctx); len(a) != 1 || a[ep.IP] != "c1" {
		t.Fatalf("allocations: %v", a)
	}
	if err := m.Detach(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
}

// MACs: default 02:42:<ip>, operator OUI, explicit --mac-address; checked on
// the real interface inside the namespace.
func TestMACAddresses(t *testing.T) {
	ctx := context.Background()
	m := testManager(t, "10.201.22.0/24", func(c *Config) { c.OUI = "00:16:3e" })
	ns1, p1 := testNetns(t)
	ns2, p2 := testNetns(t)
	ep1, err := m.Attach(ctx, AttachRequest{ContainerID: "m1", NetnsPath: p1, IP: netip.MustParseAddr("10.201.22.9")})
	if err != nil {
		t.Fatal(err)
	}
	ep2, err := m.Attach(ctx, AttachRequest{ContainerID: "m2", NetnsPath: p2, MAC: "02:aa:bb:cc:dd:ee"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ns, want string
	}{{ns1, "00:16:3e:c9:16:09"}, {ns2, "02:aa:bb:cc:dd:ee"}} {
		out, err := inNetns(c.ns, "cat", "/sys/class/net/eth0/address")
		if err != nil || strings.TrimSpace(out) != c.want {
			t.Errorf("MAC in %s = %q (%v), want %s", c.ns, out, err, c.want)
		}
		hw, _ := net.ParseMAC(c.want)
		if hw[0]&1 != 0 {
			t.Errorf("%s multicast", c.want)
		}
	}
	if ep1.MAC != "00:16:3e:c9:16:09" || ep2.MAC != "02:aa:bb:cc:dd:ee" {
		t.Fatalf("endpoint MACs %s %s", ep1.MAC, ep2.MAC)
	}
	if _, err := New(t.TempDir(), Config{OUI: "02:16:3e"}); err == nil {
		t.Fatal("locally administered OUI accepted")
	}
}

// Two Managers on one state dir (as two kago processes would be) attach and
// detach containers concurrently: unique addresses, nothing lost.
func TestConcurrentAttachDetach(t *testing.T) {
	ctx := context.Background()
	m1 := testManager(t, "10.201.26.0/24", nil)
	m2, err := New(m1.dir, m1.Config())
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	paths := make([]string, n)
	for i := range paths {
		_, paths[i] = testNetns(t)
	}
	type result struct {
		ep  *Endpoint
		err error
	}
	res := make(chan result, n)
	for i := 0; i < n; i++ {
		m := m1
		if i%2 == 1 {
			m = m2
		}
		go func(i int, m *Manager) {
			ep, err := m.Attach(ctx, AttachRequest{ContainerID: fmt.Sprintf("cc%d", i), NetnsPath: paths[i], Ports: mustPorts(t, "80")})
			res <- result{ep, err}
		}(i, m)
	}
	ips, hostPorts := map[netip.Addr]bool{}, map[uint16]bool{}
	for i := 0; i < n; i++ {
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		if ips[r.ep.IP] || hostPorts[r.ep.Ports[0].HostPort] {
			t.Fatalf("duplicate address or host port in %+v", r.ep)
		}
		ips[r.ep.IP], hostPorts[r.ep.Ports[0].HostPort] = true, true
	}
	if ports, _ := m1.Table().Ports(); len(ports) != n {
		t.Fatalf("%d ports in kernel, want %d", len(ports), n)
	}
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) { errs <- m2.Detach(ctx, fmt.Sprintf("cc%d", i)) }(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if ports, _ := m1.Table().Ports(); len(ports) != 0 {
		t.Fatalf("ports left: %+v", ports)
	}
	info, _ := m1.Inspect(ctx, DefaultNetwork)
	if len(info.Endpoints) != 0 {
		t.Fatalf("endpoints left: %+v", info.Endpoints)
	}
}
