package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestNetworkLabels: network create --label, ls --filter label=..., the
// labels in inspect; compose labels the networks it makes as docker
// compose does, finds them by those labels, and refuses a network of the
// same name it did not make.
func TestNetworkLabels(t *testing.T) {
	e := newEnv(t)
	e.useRunflagsNet("nameserver 127.133.0.99\n")
	e.ok("network", "create", "--label", "tier=front", "--label", "s3rf", "s3rfa")
	e.ok("network", "create", "--label", "tier=back", "s3rfb")
	for filter, want := range map[string]string{
		"label=tier":       "s3rfa\ns3rfb",
		"label=tier=front": "s3rfa",
		"label=s3rf":       "s3rfa",
		"label=nosuch":     "",
		"name=rfb":         "s3rfb",
	} {
		if got := e.ok("network", "ls", "-q", "--filter", filter); got != want {
			t.Errorf("network ls --filter %s: %q, want %q", filter, got, want)
		}
	}
	if got := e.ok("network", "ls", "-q", "--filter", "label=tier", "--filter", "name=rfa"); got != "s3rfa" {
		t.Errorf("two filters: %q", got)
	}
	if errs := e.fails("network", "ls", "--filter", "colour=red"); !strings.Contains(errs, "invalid filter") {
		t.Errorf("bad filter: %q", errs)
	}
	var nets []struct{ Labels map[string]string }
	if err := json.Unmarshal([]byte(e.ok("network", "inspect", "s3rfa")), &nets); err != nil || len(nets) != 1 ||
		nets[0].Labels["tier"] != "front" || nets[0].Labels["s3rf"] != "" || len(nets[0].Labels) != 2 {
		t.Errorf("inspect labels: %+v %v", nets, err)
	}
	e.ok("network", "rm", "s3rfa", "s3rfb")

	dir := e.composeProject(map[string]string{"compose.yaml": `
name: s3rfproj
services:
  web:
    image: bb
    command: ["sleep", "300"]
    networks: [back]
networks:
  back:
    labels: {owner: s3rf}
`})
	compose := func(args ...string) string {
		return e.ok(append([]string{"compose", "--project-directory", dir}, args...)...)
	}
	// A network of the name that compose did not make is refused.
	e.ok("network", "create", "s3rfproj_back")
	if errs := e.fails("compose", "--project-directory", dir, "up", "-d"); !strings.Contains(errs, "has incorrect label com.docker.compose.network") {
		t.Errorf("up with a hand-made s3rfproj_back: %q", errs)
	}
	e.ok("network", "rm", "s3rfproj_back")
	compose("up", "-d")
	if got := e.ok("network", "ls", "-q", "--filter", "label=com.docker.compose.project=s3rfproj", "--filter", "label=com.docker.compose.network=back",
		"--filter", "label=owner=s3rf"); got != "s3rfproj_back" {
		t.Fatalf("compose network by its labels: %q", got)
	}
	compose("up", "-d") // finds its network again
	compose("down")
	if got := e.ok("network", "ls", "-q", "--filter", "label=com.docker.compose.project=s3rfproj"); got != "" {
		t.Errorf("networks left after down: %q", got)
	}
}
