package e2e

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// networksOf is inspect's NetworkSettings.Networks: name -> IP address.
func (e *env) networksOf(name string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	nets, _ := e.inspect(name)["NetworkSettings"].(map[string]any)["Networks"].(map[string]any)
	for n, v := range nets {
		out[n], _ = v.(map[string]any)["IPAddress"].(string)
	}
	return out
}

func (e *env) subnetOf(network string) netip.Prefix {
	e.t.Helper()
	var nets []struct{ Subnet netip.Prefix }
	if err := json.Unmarshal([]byte(e.ok("network", "inspect", network)), &nets); err != nil || len(nets) != 1 {
		e.t.Fatalf("network inspect %s: %v", network, err)
	}
	return nets[0].Subnet
}

// TestMultiNetwork: a container on two networks (run --network a
// --network b) has an interface and an address on each, its names resolve
// on each, and it resolves the names of both; network connect and
// disconnect do the same for a running container; compose gives a service
// every network it lists.
func TestMultiNetwork(t *testing.T) {
	e := newEnv(t)
	e.useRunflagsNet("nameserver 127.133.0.99\n")
	e.ok("network", "create", "s3rfa")
	e.ok("network", "create", "s3rfb")
	subA, subB := e.subnetOf("s3rfa"), e.subnetOf("s3rfb")
	e.ok("run", "-d", "--name", "web", "--network", "s3rfa", "--network", "s3rfb", "--network-alias", "www", "bb")
	e.ok("run", "-d", "--name", "ca", "--network", "s3rfa", "bb", "sleep", "300")
	e.ok("run", "-d", "--name", "cb", "--network", "s3rfb", "bb", "sleep", "300")
	nets := e.networksOf("web")
	ipA, ipB := netip.MustParseAddr(nets["s3rfa"]), netip.MustParseAddr(nets["s3rfb"])
	if len(nets) != 2 || !subA.Contains(ipA) || !subB.Contains(ipB) {
		t.Fatalf("web's networks %v, want one address in %v and one in %v", nets, subA, subB)
	}
	if got := e.ok("exec", "web", "sh", "-c", "ls /sys/class/net | tr '\\n' ' '"); got != "eth0 eth1 lo" {
		t.Errorf("web's interfaces: %q", got)
	}
	for _, c := range []struct{ in, name, want string }{
		{"ca", "web", ipA.String()}, {"ca", "www", ipA.String()}, {"cb", "web", ipB.String()}, {"cb", "www", ipB.String()},
		{"web", "ca", e.ipOf("ca")}, {"web", "cb", e.ipOf("cb")},
	} {
		if out, ok, _ := e.lookup(c.in, c.name); !ok || !strings.Contains(out, "Address: "+c.want) {
			t.Errorf("nslookup %s in %s: want %s:\n%s", c.name, c.in, c.want, out)
		}
	}
	if out := e.ok("exec", "cb", "wget", "-qO-", "http://www/index.html"); !strings.Contains(out, "hello from kago") {
		t.Errorf("wget www from network b: %q", out)
	}
	if out, ok, _ := e.lookup("ca", "cb"); ok {
		t.Errorf("ca (network a only) resolved cb (network b only):\n%s", out)
	}

	// network connect/disconnect on a running container.
	e.ok("run", "-d", "--name", "late", "--network", "s3rfa", "bb", "sleep", "300")
	e.ok("network", "connect", "--alias", "lateb", "s3rfb", "late")
	lateB := e.networksOf("late")["s3rfb"]
	if !subB.Contains(netip.MustParseAddr(lateB)) {
		t.Fatalf("late after connect: %v", e.networksOf("late"))
	}
	if out, ok, _ := e.lookup("cb", "lateb"); !ok || !strings.Contains(out, "Address: "+lateB) {
		t.Errorf("nslookup lateb after connect: want %s:\n%s", lateB, out)
	}
	if got := e.ok("exec", "late", "sh", "-c", "ls /sys/class/net | tr '\\n' ' '"); got != "eth0 eth1 lo" {
		t.Errorf("late's interfaces after connect: %q", got)
	}
	if errs := e.fails("network", "connect", "s3rfb", "late"); !strings.Contains(errs, "already exists in network s3rfb") {
		t.Errorf("second connect: %q", errs)
	}
	if errs := e.fails("network", "disconnect", "s3rfa", "late"); !strings.Contains(errs, "first network") {
		t.Errorf("disconnect of a running container's first network: %q", errs)
	}
	e.ok("network", "disconnect", "s3rfb", "late")
	if out, ok, _ := e.lookup("cb", "lateb"); ok {
		t.Errorf("lateb resolves after disconnect:\n%s", out)
	}
	if got := e.ok("exec", "late", "sh", "-c", "ls /sys/class/net | tr '\\n' ' '"); got != "eth0 lo" {
		t.Errorf("late's interfaces after disconnect: %q", got)
	}
	if nets := e.networksOf("late"); len(nets) != 1 {
		t.Errorf("late's networks after disconnect: %v", nets)
	}
	// A restart attaches every network again.
	e.ok("restart", "-t", "0", "web")
	if nets := e.networksOf("web"); len(nets) != 2 || nets["s3rfa"] == "" || nets["s3rfb"] == "" {
		t.Errorf("web's networks after restart: %v", nets)
	}

	// compose: a service on two networks gets both.
	dir := e.composeProject(map[string]string{"compose.yaml": `
name: s3rfmn
services:
  app:
    image: bb
    command: ["sleep", "300"]
    networks:
      front: {aliases: [fronty]}
      back: {}
networks:
  front: {}
  back: {}
`})
	e.ok("compose", "--project-directory", dir, "up", "-d")
	if nets := e.networksOf("s3rfmn-app-1"); len(nets) != 2 || nets["s3rfmn_front"] == "" || nets["s3rfmn_back"] == "" {
		t.Errorf("compose service on two networks: %v", nets)
	}
	e.ok("compose", "--project-directory", dir, "down")
	for _, c := range []string{"web", "ca", "cb", "late"} {
		e.ok("rm", "-f", c)
	}
	e.eventually("the resolvers to exit", 5*time.Second, func() bool { return len(e.resolverPids()) == 0 })
	e.ok("network", "rm", "s3rfa", "s3rfb")
}
