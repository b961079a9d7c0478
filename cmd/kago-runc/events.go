package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/linux/cgroups"
	"github.com/kago-run/kago/runtime"
)

// event is one line of `runc events`: {"type":"stats"|"oom","id":...,"data":...}.
type event struct {
	Type string         `json:"type"`
	ID   string         `json:"id"`
	Data *cgroups.Stats `json:"data,omitempty"`
}

// statusPoll is how often events checks whether the container has stopped,
// independent of --interval, so the stream ends promptly.
const statusPoll = 100 * time.Millisecond

func newEventsCmd(g *globals) *cobra.Command {
	var interval time.Duration
	var stats bool
	cmd := &cobra.Command{
		Use:   "events [--stats] [--interval 5s] CONTAINER_ID",
		Short: "print container events (resource usage every interval, OOM kills) as JSON lines",
		Long: `Print one JSON line per event until the container stops: a "stats" event
every --interval with runc's cgroup statistics under "data", and an "oom" event
each time the kernel's OOM killer kills a process of the container.
With --stats, print one stats event and exit.`,
		Args: oneID("events"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval <= 0 {
				return fmt.Errorf("--interval %s must be positive, like 5s", interval)
			}
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			if stats {
				return emitStats(enc, c)
			}
			return streamEvents(ctx(cmd), enc, c, interval)
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "time between stats events")
	cmd.Flags().BoolVar(&stats, "stats", false, "print the container's stats once and exit")
	return cmd
}

func emitStats(enc *json.Encoder, c *runtime.Container) error {
	if st := c.Status(); st == runtime.StatusStopped {
		return fmt.Errorf("container %s is stopped: no stats to show: %w", c.ID(), runtime.ErrState)
	}
	cg, err := c.Cgroup()
	if err != nil {
		return err
	}
	s, err := cg.Stats()
	if err != nil {
		return fmt.Errorf("stats of container %s: %w", c.ID(), err)
	}
	return enc.Encode(event{Type: "stats", ID: c.ID(), Data: s})
}

// streamEvents prints stats every interval and OOM kills as they happen,
// until the container stops or ctx ends.
func streamEvents(ctx context.Context, enc *json.Encoder, c *runtime.Container, interval time.Duration) error {
	if st := c.Status(); st == runtime.StatusStopped {
		return fmt.Errorf("container %s is stopped: no events to show: %w", c.ID(), runtime.ErrState)
	}
	cg, err := c.Cgroup()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// OOM kills are counted twice: WaitOOM reports them promptly, and the
	// kernel's counter, compared at the end, catches a kill that stopped the
	// container before its wakeup was read.
	base, countErr := cg.OOMKillCount()
	ooms, err := cg.WaitOOM(ctx)
	if err != nil {
		ooms = nil // no memory controller: stats only
	}
	var sent uint64
	emit := func(e event) error {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("write event: %w", err)
		}
		return nil
	}
	stats := time.NewTicker(interval)
	defer stats.Stop()
	poll := time.NewTicker(statusPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-ooms:
			if !ok {
				ooms = nil
				continue
			}
			sent++
			if err := emit(event{Type: "oom", ID: c.ID()}); err != nil {
				return err
			}
		case <-stats.C:
			s, err := cg.Stats()
			if err != nil {
				if c.Status() == runtime.StatusStopped {
					continue // the poll below ends the stream
				}
				return fmt.Errorf("stats of container %s: %w", c.ID(), err)
			}
			if err := emit(event{Type: "stats", ID: c.ID(), Data: s}); err != nil {
				return err
			}
		case <-poll.C:
			if c.Status() != runtime.StatusStopped {
				continue
			}
			if countErr == nil {
				if n, err := cg.OOMKillCount(); err == nil {
					for ; n > base && sent < n-base; sent++ {
						if err := emit(event{Type: "oom", ID: c.ID()}); err != nil {
							return err
						}
					}
				}
			}
			return nil
		}
	}
}
