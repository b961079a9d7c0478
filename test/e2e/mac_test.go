package e2e

import (
	"strings"
	"testing"
)

// TestMacAddress: by default the MAC is locally administered and derived
// from the IP; --mac-address is honoured inside the container; multicast
// and malformed addresses are refused before anything is made.
func TestMacAddress(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "auto", "bb", "sleep", "100")
	ns := e.inspect("auto")["NetworkSettings"].(map[string]any)
	auto := ns["MacAddress"].(string)
	if !strings.HasPrefix(auto, "02:42:") {
		t.Errorf("default MAC %s is not 02:42:<ip>", auto)
	}
	if inside := e.ok("exec", "auto", "cat", "/sys/class/net/eth0/address"); inside != auto {
		t.Errorf("eth0 has %s, inspect says %s", inside, auto)
	}

	e.ok("run", "-d", "--name", "fixed", "--mac-address", "02:AA:bb:cc:dd:ee", "bb", "sleep", "100")
	if inside := e.ok("exec", "fixed", "cat", "/sys/class/net/eth0/address"); inside != "02:aa:bb:cc:dd:ee" {
		t.Errorf("--mac-address: eth0 has %s", inside)
	}

	before := e.ok("ps", "-aq")
	for _, bad := range []string{"01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "02:42:zz:00:00:01"} {
		if errs := e.fails("run", "-d", "--mac-address", bad, "bb", "sleep", "100"); !strings.Contains(errs, "mac") && !strings.Contains(errs, "MAC") {
			t.Errorf("--mac-address %s: %q", bad, errs)
		}
	}
	if errs := e.fails("run", "-d", "--network", "none", "--mac-address", "02:00:00:00:00:01", "bb", "true"); !strings.Contains(errs, "--network none") {
		t.Errorf("--mac-address with --network none: %q", errs)
	}
	if after := e.ok("ps", "-aq"); after != before {
		t.Errorf("refused runs left containers: %q -> %q", before, after)
	}
}
