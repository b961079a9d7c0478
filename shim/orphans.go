package shim

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// reapOrphans reaps zombies re-parented to the shim, which is their child
// subreaper: processes of a container sharing the host's PID namespace whose
// parent exited. The shim's own processes (container inits and exec'd
// processes, and kago's runtime helpers) are waited for by pid by whoever
// started them, so a zombie is reaped here only if it is not one the
// service tracks and has stayed a zombie for a while (a helper's waiter
// reaps at once).
func reapOrphans(ctx context.Context, tracked func(pid int) bool) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	defer signal.Stop(sigs)
	// The timer runs only while a zombie waits for its second look: an
	// idle shim does not wake up (each look reads /proc and makes garbage).
	recheck := time.NewTimer(time.Second)
	recheck.Stop()
	defer recheck.Stop()
	seen := map[int]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sigs:
		case <-recheck.C:
		}
		now := time.Now()
		zombies := map[int]bool{}
		for _, pid := range zombieChildren() {
			if tracked(pid) {
				continue
			}
			zombies[pid] = true
			first, ok := seen[pid]
			if !ok {
				seen[pid] = now
				continue
			}
			if now.Sub(first) >= time.Second {
				var ws unix.WaitStatus
				unix.Wait4(pid, &ws, unix.WNOHANG, nil) //nolint:errcheck // gone already is fine
				delete(seen, pid)
			}
		}
		for pid := range seen {
			if !zombies[pid] {
				delete(seen, pid)
			}
		}
		if len(seen) > 0 {
			recheck.Reset(time.Second)
		}
	}
}

// zombieChildren lists the shim's children that have exited and wait to be
// reaped.
func zombieChildren() []int {
	var out []int
	lists, _ := filepath.Glob("/proc/self/task/*/children")
	for _, l := range lists {
		data, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			stat, err := os.ReadFile("/proc/" + f + "/stat")
			if err != nil {
				continue
			}
			// The state follows the command name in parentheses, which may
			// itself contain ") ".
			if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				out = append(out, pid)
			}
		}
	}
	return out
}
