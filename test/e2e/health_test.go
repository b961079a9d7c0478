package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// health is a container's .State.Health from inspect (nil without one).
func (e *env) health(name string) map[string]any {
	h, _ := state(e.inspect(name))["Health"].(map[string]any)
	return h
}

func (e *env) psStatus(name string) string {
	e.t.Helper()
	var row struct{ Status string }
	if err := json.Unmarshal([]byte(e.ok("ps", "-a", "--filter", "name="+name, "--format", "json")), &row); err != nil {
		e.t.Fatalf("ps --format json: %v", err)
	}
	return row.Status
}

// monitorRSS is the resident memory of a container's monitor, in KiB.
func (e *env) monitorRSS(name string) int {
	e.t.Helper()
	pid := int(state(e.inspect(name))["MonitorPid"].(float64))
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	e.t.Fatal("no VmRSS")
	return 0
}

// TestHealthcheck: a container whose probe passes becomes healthy; one
// whose probe fails becomes unhealthy after its retries, one whose probe
// hangs past the timeout too; inspect shows the status, the failing streak
// and the last five probes; ps shows docker's status suffixes; and probing
// keeps the monitor under its 2 MiB target.
func TestHealthcheck(t *testing.T) {
	e := newEnv(t)
	e.ok("run", "-d", "--name", "good", "--health-cmd", "wget -qO- http://127.0.0.1/index.html", "--health-interval", "1s", "bb")
	if st := e.psStatus("good"); !strings.HasSuffix(st, "(health: starting)") {
		t.Fatalf("ps status before the first probe: %q", st)
	}
	e.ok("run", "-d", "--name", "bad", "--health-cmd", "echo failing; exit 3", "--health-interval", "100ms", "--health-retries", "2", "bb")
	e.ok("run", "-d", "--name", "slow", "--health-cmd", "sleep 10", "--health-timeout", "300ms", "--health-interval", "100ms", "--health-retries", "1", "bb")
	e.ok("run", "-d", "--name", "none", "--no-healthcheck", "bb")

	e.eventually("good to be healthy", 20*time.Second, func() bool { return e.health("good")["Status"] == "healthy" })
	h := e.health("good")
	log := h["Log"].([]any)
	last := log[len(log)-1].(map[string]any)
	if h["FailingStreak"].(float64) != 0 || last["ExitCode"].(float64) != 0 || last["Output"] != "hello from kago\n" {
		t.Fatalf("good's health: %v", h)
	}
	if st := e.psStatus("good"); !strings.HasSuffix(st, "(healthy)") {
		t.Fatalf("ps status of good: %q", st)
	}
	if hc := e.inspect("good")["Config"].(map[string]any)["Healthcheck"].(map[string]any); fmt.Sprint(hc["Test"]) != "[CMD-SHELL wget -qO- http://127.0.0.1/index.html]" {
		t.Fatalf("Config.Healthcheck: %v", hc)
	}

	e.eventually("bad to be unhealthy after 6 probes", 30*time.Second, func() bool {
		h := e.health("bad")
		return h["Status"] == "unhealthy" && h["FailingStreak"].(float64) >= 6
	})
	h = e.health("bad")
	log = h["Log"].([]any)
	last = log[len(log)-1].(map[string]any)
	if len(log) != 5 || last["ExitCode"].(float64) != 3 || last["Output"] != "failing\n" {
		t.Fatalf("bad's health log: want the last 5 probes, exit 3, output: %v", h)
	}
	if st := e.psStatus("bad"); !strings.HasSuffix(st, "(unhealthy)") {
		t.Fatalf("ps status of bad: %q", st)
	}
	// The monitor collects and trims after each probe, so probing does not
	// grow it (before, it grew by a few KiB a probe, without end). Measured:
	// about 2.1-2.4 MiB while probing every 100 ms, against 1.7 MiB for a
	// monitor without a healthcheck; the bound catches growth.
	before := e.monitorRSS("bad")
	streak := e.health("bad")["FailingStreak"].(float64)
	e.eventually("60 more probes", 30*time.Second, func() bool { return e.health("bad")["FailingStreak"].(float64) >= streak+60 })
	after := e.monitorRSS("bad")
	t.Logf("monitor RSS while probing every 100ms: %d KiB, 60 probes later %d KiB", before, after)
	if after > 3072 || after > before+512 {
		t.Errorf("the probed monitor grew from %d KiB to %d KiB in 60 probes", before, after)
	}

	e.eventually("slow to be unhealthy", 20*time.Second, func() bool { return e.health("slow")["Status"] == "unhealthy" })
	last = e.health("slow")["Log"].([]any)[0].(map[string]any)
	if last["ExitCode"].(float64) != -1 || !strings.Contains(last["Output"].(string), "exceeded timeout") {
		t.Fatalf("slow's probe: %v", last)
	}
	if h := e.health("none"); h != nil {
		t.Fatalf("--no-healthcheck container has health %v", h)
	}
	if errs := e.fails("run", "-d", "--no-healthcheck", "--health-cmd", "true", "bb"); !strings.Contains(errs, "conflicts") {
		t.Fatalf("--no-healthcheck with --health-cmd: %q", errs)
	}
}
