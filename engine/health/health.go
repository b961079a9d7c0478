// Package health is docker's container healthcheck, the part without
// processes: the configuration (--health-* flags, an image's HEALTHCHECK)
// and the state machine that turns probe results into starting, healthy
// and unhealthy, with the failing streak and the log of the last probes
// that inspect shows. The engine runs the probes (an exec into the
// container, from a helper the container's monitor starts at each
// interval) and keeps the state in the container's record.
package health

import (
	"errors"
	"fmt"
	"time"
)

// Config is a healthcheck, docker's HealthConfig: durations in
// nanoseconds in JSON, zero for the default.
type Config struct {
	// Test is ["CMD", arg...], ["CMD-SHELL", command] or ["NONE"]
	// (disabled); empty inherits the image's.
	Test          []string      `json:"Test,omitempty"`
	Interval      time.Duration `json:"Interval,omitempty"`
	Timeout       time.Duration `json:"Timeout,omitempty"`
	StartPeriod   time.Duration `json:"StartPeriod,omitempty"`
	StartInterval time.Duration `json:"StartInterval,omitempty"`
	Retries       int           `json:"Retries,omitempty"`
}

// Docker's defaults.
const (
	DefaultInterval      = 30 * time.Second
	DefaultTimeout       = 30 * time.Second
	DefaultStartInterval = 5 * time.Second
	DefaultRetries       = 3
	// MinInterval is the shortest interval, timeout or start period docker
	// accepts (besides zero).
	MinInterval = time.Millisecond
)

// Statuses, as inspect's .State.Health.Status shows them.
const (
	Starting  = "starting"
	Healthy   = "healthy"
	Unhealthy = "unhealthy"
)

// MaxLog is how many probe results the state keeps; MaxOutput is how much
// of a probe's output each keeps (docker's numbers).
const (
	MaxLog    = 5
	MaxOutput = 4096
)

// Disabled tells whether the config turns healthchecks off (--no-healthcheck,
// HEALTHCHECK NONE).
func (c *Config) Disabled() bool { return len(c.Test) > 0 && c.Test[0] == "NONE" }

// Validate checks a healthcheck with docker's rules.
func (c *Config) Validate() error {
	if len(c.Test) > 0 {
		switch c.Test[0] {
		case "NONE":
			if len(c.Test) != 1 {
				return errors.New("healthcheck NONE takes no arguments")
			}
		case "CMD":
			if len(c.Test) < 2 {
				return errors.New("healthcheck CMD needs a command")
			}
		case "CMD-SHELL":
			if len(c.Test) != 2 || c.Test[1] == "" {
				return errors.New("healthcheck CMD-SHELL needs one command string")
			}
		default:
			return fmt.Errorf("healthcheck test %q: it must start with CMD, CMD-SHELL or NONE", c.Test[0])
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--health-interval", c.Interval}, {"--health-timeout", c.Timeout}, {"--health-start-period", c.StartPeriod}, {"--health-start-interval", c.StartInterval}} {
		if d.v != 0 && d.v < MinInterval {
			return fmt.Errorf("%s %s must be at least 1ms (or 0 for the default)", d.name, d.v)
		}
	}
	if c.Retries < 0 {
		return fmt.Errorf("--health-retries %d must not be negative", c.Retries)
	}
	return nil
}

// Merge is the healthcheck a container gets: the request's settings over
// the image's (docker's rule: what the request leaves zero, the image
// gives). Nil when there is none or it is disabled.
func Merge(req, image *Config) *Config {
	var out Config
	if image != nil {
		out = *image
	}
	if req != nil {
		if len(req.Test) > 0 {
			out.Test = req.Test
		}
		for _, p := range []struct{ dst, src *time.Duration }{
			{&out.Interval, &req.Interval}, {&out.Timeout, &req.Timeout},
			{&out.StartPeriod, &req.StartPeriod}, {&out.StartInterval, &req.StartInterval},
		} {
			if *p.src != 0 {
				*p.dst = *p.src
			}
		}
		if req.Retries != 0 {
			out.Retries = req.Retries
		}
	}
	if len(out.Test) == 0 || out.Disabled() {
		return nil
	}
	return &out
}

// EffectiveInterval is the wait before the next probe: StartInterval while
// in the start period (when set), Interval otherwise, defaults applied.
func (c *Config) EffectiveInterval(inStartPeriod bool) time.Duration {
	if inStartPeriod && c.StartInterval > 0 {
		return c.StartInterval
	}
	if c.Interval > 0 {
		return c.Interval
	}
	return DefaultInterval
}

// EffectiveTimeout is the probe's timeout, default applied.
func (c *Config) EffectiveTimeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Config) retries() int {
	if c.Retries > 0 {
		return c.Retries
	}
	return DefaultRetries
}

// Args is the probe's command line in the container: CMD's arguments, or
// CMD-SHELL's string run by /bin/sh -c.
func (c *Config) Args() []string {
	if len(c.Test) < 2 {
		return nil
	}
	if c.Test[0] == "CMD-SHELL" {
		return []string{"/bin/sh", "-c", c.Test[1]}
	}
	return c.Test[1:]
}

// Result is one probe, as inspect's .State.Health.Log shows it.
type Result struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// State is inspect's .State.Health.
type State struct {
	Status        string   `json:"Status"`
	FailingStreak int      `json:"FailingStreak"`
	Log           []Result `json:"Log"`
}

// NewState is the state of a container that just started.
func NewState() *State { return &State{Status: Starting, Log: []Result{}} }

// Record applies one probe result, docker's rules: exit 0 makes the
// container healthy and ends the streak; a failure in the start period
// (before the first success) does not count; otherwise the streak grows,
// and at Retries the container is unhealthy.
func (s *State) Record(c *Config, r Result, startedAt time.Time) {
	if len(r.Output) > MaxOutput {
		r.Output = r.Output[:MaxOutput]
	}
	s.Log = append(s.Log, r)
	if len(s.Log) > MaxLog {
		s.Log = append([]Result{}, s.Log[len(s.Log)-MaxLog:]...)
	}
	if r.ExitCode == 0 {
		s.Status, s.FailingStreak = Healthy, 0
		return
	}
	if s.Status == Starting && r.Start.Sub(startedAt) < c.StartPeriod {
		return
	}
	s.FailingStreak++
	if s.FailingStreak >= c.retries() {
		s.Status = Unhealthy
	}
}
