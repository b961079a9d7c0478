package network

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kago-run/kago/network/link"
)

// TestSeveralNetworks: a container attached to two networks has eth0 with
// the default route and eth1 with only its subnet's, its hosts file lists
// its peers of both networks, and DetachNetwork takes one away, Detach the
// rest.
func TestSeveralNetworks(t *testing.T) {
	ctx := context.Background()
	m := testManager(t, "10.133.60.0/24", func(c *Config) { c.UserSubnetPool = mustPrefix("10.133.64.0/20") })
	a, err := m.CreateNetwork(ctx, "s3rfa", NetworkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.CreateNetwork(ctx, "s3rfb", NetworkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsW, pathW := testNetns(t)
	_, pathP := testNetns(t)
	dir := t.TempDir()
	hostsW, hostsP := filepath.Join(dir, "hostsW"), filepath.Join(dir, "hostsP")
	epA, err := m.Attach(ctx, AttachRequest{ContainerID: "s3rfweb", Network: "s3rfa", NetnsPath: pathW, Hostname: "web", HostsPath: hostsW})
	if err != nil {
		t.Fatal(err)
	}
	epB, err := m.Attach(ctx, AttachRequest{ContainerID: "s3rfweb", Network: "s3rfb", NetnsPath: pathW, Hostname: "web", HostsPath: hostsW})
	if err != nil {
		t.Fatal(err)
	}
	if epA.IfName != "eth0" || epB.IfName != "eth1" || epA.HostVeth == epB.HostVeth || !a.Subnet.Contains(epA.IP) || !b.Subnet.Contains(epB.IP) {
		t.Fatalf("endpoints %+v and %+v", epA, epB)
	}
	if _, err := m.Attach(ctx, AttachRequest{ContainerID: "s3rfweb", Network: "s3rfb", NetnsPath: pathW}); err == nil {
		t.Fatal("a second attach to the same network succeeded")
	}
	routes, err := inNetns(nsW, "ip", "route")
	if err != nil || strings.Count(routes, "default") != 1 || !strings.Contains(routes, "default via "+a.Gateway.String()+" dev eth0") ||
		!strings.Contains(routes, b.Subnet.String()+" dev eth1") {
		t.Fatalf("routes: %v\n%s", err, routes)
	}
	if _, err := m.Attach(ctx, AttachRequest{ContainerID: "s3rfpeer", Network: "s3rfb", NetnsPath: pathP, Hostname: "peer", HostsPath: hostsP}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(hostsW)
	if err := contains(string(data), epA.IP.String()+"\tweb", epB.IP.String()+"\tweb", "\tpeer"); err != nil {
		t.Errorf("hosts of the container on two networks: %v\n%s", err, data)
	}
	if err := m.DetachNetwork(ctx, "s3rfweb", "s3rfb"); err != nil {
		t.Fatal(err)
	}
	if link.Exists(epB.HostVeth) || !link.Exists(epA.HostVeth) {
		t.Errorf("after DetachNetwork: veth b exists %v, veth a exists %v", link.Exists(epB.HostVeth), link.Exists(epA.HostVeth))
	}
	if data, _ := os.ReadFile(hostsW); strings.Contains(string(data), "peer") || strings.Contains(string(data), epB.IP.String()) {
		t.Errorf("hosts after DetachNetwork still has network b:\n%s", data)
	}
	if data, _ := os.ReadFile(hostsP); strings.Contains(string(data), "web") {
		t.Errorf("the peer's hosts still names web:\n%s", data)
	}
	if err := m.DetachNetwork(ctx, "s3rfweb", "s3rfb"); err == nil {
		t.Error("DetachNetwork of a network the container left succeeded")
	}
	for _, id := range []string{"s3rfweb", "s3rfpeer"} {
		if err := m.Detach(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if link.Exists(epA.HostVeth) {
		t.Error("Detach left eth0's veth")
	}
}

// TestEndpointsStateRekeyed: a state file of endpoints keyed by container
// ID (before several networks) is read with endpoints keyed by container
// and network.
func TestEndpointsStateRekeyed(t *testing.T) {
	dir := t.TempDir()
	m, err := New(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := json.Marshal(map[string]Endpoint{"c1": {ContainerID: "c1", Network: "bridge", IfName: "eth0"}})
	if err := os.WriteFile(m.endpointsPath(), old, 0o600); err != nil {
		t.Fatal(err)
	}
	ep, err := m.Endpoint(context.Background(), "c1")
	if err != nil || ep.Network != "bridge" {
		t.Fatalf("Endpoint of an old state file: %+v %v", ep, err)
	}
	err = m.locked(context.Background(), false, func(s *state) error {
		if _, ok := s.Endpoints[epKey("c1", "bridge")]; !ok || len(s.Endpoints) != 1 {
			t.Errorf("endpoints %v", s.Endpoints)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
