package compose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/network"
)

// Project is a loaded compose project bound to the engine that runs it.
type Project struct {
	*types.Project
	Engine *engine.Engine
	// Progress gets one line per step and resource, in docker compose's
	// words ("Container demo-web-1  Started"); nil discards them.
	Progress io.Writer
	// PullProgress gets the layers' progress of images pulled.
	PullProgress *os.File
}

// Say prints one progress line: " Container demo-web-1  Started".
func (p *Project) Say(kind, name, what string) {
	if p.Progress != nil {
		fmt.Fprintf(p.Progress, " %s %s  %s\n", kind, name, what)
	}
}

// Containers are the project's containers (found by their labels), of
// the services given (all when none), `run` containers too when oneoff,
// ordered by service name and replica number.
func (p *Project) Containers(services []string, oneoff bool) ([]*containers.Record, error) {
	all, err := p.Engine.List()
	if err != nil {
		return nil, err
	}
	var out []*containers.Record
	for _, r := range all {
		if r.Labels[LabelProject] != p.Name {
			continue
		}
		if len(services) > 0 && !slices.Contains(services, r.Labels[LabelService]) {
			continue
		}
		if r.Labels[LabelOneoff] == "True" && !oneoff {
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *containers.Record) int {
		if c := strings.Compare(a.Labels[LabelService], b.Labels[LabelService]); c != 0 {
			return c
		}
		if c := number(a) - number(b); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

func number(r *containers.Record) int {
	n, _ := strconv.Atoi(r.Labels[LabelNumber])
	return n
}

// UpOptions are `compose up`'s.
type UpOptions struct {
	Services      []string // and what they depend on; all when none
	ForceRecreate bool
	RemoveOrphans bool
	NoStart       bool // create only (compose create)
	// Scale overrides replicas (--scale SERVICE=N).
	Scale map[string]int
}

// Up converges the project: networks and volumes made, services in
// dependency order, each container created, recreated (its config hash or
// image changed) or left alone, started, and the extra replicas removed.
func (p *Project) Up(ctx context.Context, o UpOptions) error {
	for name, n := range o.Scale {
		s, ok := p.Services[name]
		if !ok {
			return fmt.Errorf("--scale: no such service: %s", name)
		}
		if n < 0 {
			return fmt.Errorf("--scale %s=%d: the number of replicas must not be negative", name, n)
		}
		s.SetScale(n)
		p.Services[name] = s
	}
	order, err := DependencyOrder(p.Project, o.Services)
	if err != nil {
		return err
	}
	if err := p.EnsureResources(ctx, order); err != nil {
		return err
	}
	existing, err := p.Containers(nil, false)
	if err != nil {
		return err
	}
	if err := p.orphans(ctx, existing, o.RemoveOrphans); err != nil {
		return err
	}
	for _, name := range order {
		s := p.Services[name]
		if !o.NoStart {
			if err := p.waitDependencies(ctx, s); err != nil {
				return fmt.Errorf("service %q: %w", name, err)
			}
		}
		if err := p.converge(ctx, s, existing, o); err != nil {
			return fmt.Errorf("service %q: %w", name, err)
		}
	}
	return nil
}

// EnsureResources makes the networks and volumes the services use.
func (p *Project) EnsureResources(ctx context.Context, services []string) error {
	if err := p.ensureNetworks(ctx, services); err != nil {
		return err
	}
	return p.ensureVolumes(services)
}

// orphans removes (or warns about) the project's containers of services
// the project no longer has.
func (p *Project) orphans(ctx context.Context, existing []*containers.Record, remove bool) error {
	var names []string
	for _, r := range existing {
		if _, ok := p.Services[r.Labels[LabelService]]; ok {
			continue
		}
		if !remove {
			names = append(names, r.Name)
			continue
		}
		if err := p.remove(ctx, r, 10*time.Second, false); err != nil {
			return err
		}
	}
	if len(names) > 0 && p.Progress != nil {
		fmt.Fprintf(p.Progress, "WARN Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n", strings.Join(names, ", "))
	}
	return nil
}

// usedNetworks are the project networks the services use, by key.
func (p *Project) usedNetworks(services []string) []string {
	var keys []string
	for _, name := range services {
		for key := range p.Services[name].Networks {
			if !slices.Contains(keys, key) {
				keys = append(keys, key)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// ensureNetworks makes the project networks the services use; an external
// one must exist already. As docker compose, a network of the name that
// exists is the project's only when its com.docker.compose.network label
// names the key (a network made by hand or another project is refused),
// and a new one carries the project's labels.
func (p *Project) ensureNetworks(ctx context.Context, services []string) error {
	for _, key := range p.usedNetworks(services) {
		n := p.Networks[key]
		info, err := p.Engine.Net.Inspect(ctx, n.Name)
		if err == nil {
			if bool(n.External) {
				continue
			}
			if got := info.Labels[LabelNetwork]; got != key {
				return fmt.Errorf("network %s was found but has incorrect label %s set to %q (expected: %q): remove it, or set `external: true` to use it", n.Name, LabelNetwork, got, key)
			}
			if got := info.Labels[LabelProject]; got != p.Name {
				p.Say("Network", n.Name, fmt.Sprintf("Warning: exists but was not created for project %q", p.Name))
			}
			continue
		}
		if !errors.Is(err, network.ErrNotFound) {
			return err
		}
		if bool(n.External) {
			return fmt.Errorf("network %s declared as external, but could not be found: create it with kago network create %s", n.Name, n.Name)
		}
		opts := network.NetworkOptions{Labels: NetworkLabels(p.Project, key)}
		if len(n.Ipam.Config) == 1 && n.Ipam.Config[0].Subnet != "" {
			if opts.Subnet, err = parsePrefix(n.Ipam.Config[0].Subnet); err != nil {
				return fmt.Errorf("network %q: ipam subnet: %w", key, err)
			}
		}
		p.Say("Network", n.Name, "Creating")
		if _, err := p.Engine.Net.CreateNetwork(ctx, n.Name, opts); err != nil {
			return fmt.Errorf("network %q: %w", key, err)
		}
		p.Say("Network", n.Name, "Created")
	}
	return nil
}

// NetworkLabels are the labels of the project's network key: its own
// labels and docker compose's.
func NetworkLabels(p *types.Project, key string) map[string]string {
	out := map[string]string{}
	maps.Copy(out, p.Networks[key].Labels)
	out[LabelProject] = p.Name
	out[LabelNetwork] = key
	out[LabelVersion] = composeVersionString
	return out
}

// projectNetworks are the networks the project made, found by their
// labels as docker compose finds them.
func (p *Project) projectNetworks(ctx context.Context) ([]network.NetworkInfo, error) {
	all, err := p.Engine.Net.Networks(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(n network.NetworkInfo) bool {
		return !n.HasLabel(LabelProject, p.Name, true) || !n.HasLabel(LabelNetwork, "", false)
	}), nil
}

// stopTimeout is the service's stop_grace_period, docker's 10s by default.
func stopTimeout(s types.ServiceConfig) time.Duration {
	if s.StopGracePeriod != nil {
		return time.Duration(*s.StopGracePeriod)
	}
	return 10 * time.Second
}

// converge makes the service's containers match it.
func (p *Project) converge(ctx context.Context, s types.ServiceConfig, existing []*containers.Record, o UpOptions) error {
	hash, err := ConfigHash(s)
	if err != nil {
		return err
	}
	img, err := p.image(ctx, s)
	if err != nil {
		return err
	}
	want := s.GetScale()
	have := map[int]*containers.Record{}
	for _, r := range existing {
		if r.Labels[LabelService] != s.Name {
			continue
		}
		n := number(r)
		if _, dup := have[n]; dup || n < 1 || n > want {
			if err := p.remove(ctx, r, stopTimeout(s), false); err != nil {
				return err
			}
			continue
		}
		have[n] = r
	}
	for n := 1; n <= want; n++ {
		r := have[n]
		if r != nil && (o.ForceRecreate || r.Labels[LabelConfigHash] != hash || r.ImageID != img.ID.String()) {
			p.Say("Container", r.Name, "Recreate")
			if err := p.remove(ctx, r, stopTimeout(s), false); err != nil {
				return err
			}
			r = nil
		}
		if r == nil {
			req, err := Request(p.Project, s, n)
			if err != nil {
				return err
			}
			req.PullProgress = p.PullProgress
			p.Say("Container", req.Name, "Creating")
			if r, err = p.Engine.Create(ctx, req); err != nil {
				return err
			}
			p.Say("Container", r.Name, "Created")
		} else if r.State.Status == containers.StatusRunning && !o.NoStart {
			p.Say("Container", r.Name, "Running")
			continue
		}
		if o.NoStart {
			continue
		}
		if err := p.start(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func (p *Project) start(ctx context.Context, r *containers.Record) error {
	p.Say("Container", r.Name, "Starting")
	if _, err := p.Engine.Start(ctx, r.ID); err != nil {
		return err
	}
	p.Say("Container", r.Name, "Started")
	return nil
}

// image is the service's image, pulled when the store lacks it.
func (p *Project) image(ctx context.Context, s types.ServiceConfig) (*image.Image, error) {
	ref := ImageName(p.Project, s)
	img, err := p.Engine.Images.Resolve(ref)
	if err == nil && s.PullPolicy != types.PullPolicyAlways {
		return img, nil
	}
	if err != nil && !errors.Is(err, image.ErrNotFound) {
		return nil, err
	}
	if s.PullPolicy == types.PullPolicyNever || s.Image == "" || s.Build != nil && s.PullPolicy == types.PullPolicyBuild {
		return nil, fmt.Errorf("image %s is not in the store and pull_policy or build forbid pulling it: build it first (kago compose build)", ref)
	}
	return p.pull(ctx, s)
}

func (p *Project) pull(ctx context.Context, s types.ServiceConfig) (*image.Image, error) {
	p.Say("Image", s.Image, "Pulling")
	po := image.PullOptions{}
	if p.PullProgress != nil {
		po.Progress = p.PullProgress
	}
	img, err := p.Engine.Images.Pull(ctx, s.Image, po)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", s.Image, err)
	}
	p.Say("Image", s.Image, "Pulled")
	return img, nil
}

// Pull pulls the images of the services (all when none).
func (p *Project) Pull(ctx context.Context, services []string) error {
	if len(services) == 0 {
		services = p.ServiceNames()
	}
	for _, name := range services {
		s, ok := p.Services[name]
		if !ok {
			return fmt.Errorf("no such service: %s", name)
		}
		if s.Image == "" {
			continue // built, not pulled
		}
		if _, err := p.pull(ctx, s); err != nil {
			return fmt.Errorf("service %q: %w", name, err)
		}
	}
	return nil
}

// waitDependencies waits until what the service depends on is in the
// state depends_on asks: started (done, as dependencies come first),
// healthy, or exited with code 0.
func (p *Project) waitDependencies(ctx context.Context, s types.ServiceConfig) error {
	for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
		if _, ok := p.Services[dep]; !ok {
			continue // disabled by a profile and not required
		}
		cond := s.DependsOn[dep].Condition
		if cond == "" || cond == types.ServiceConditionStarted {
			continue
		}
		recs, err := p.Containers([]string{dep}, false)
		if err != nil {
			return err
		}
		for _, r := range recs {
			switch cond {
			case types.ServiceConditionHealthy:
				p.Say("Container", r.Name, "Waiting")
				if err := p.waitHealthy(ctx, r); err != nil {
					return fmt.Errorf("dependency %s failed to start: %w", r.Name, err)
				}
				p.Say("Container", r.Name, "Healthy")
			case types.ServiceConditionCompletedSuccessfully:
				p.Say("Container", r.Name, "Waiting")
				code, err := p.Engine.WaitStopped(ctx, r.ID)
				if err != nil {
					return err
				}
				if code != 0 {
					return fmt.Errorf("service %q didn't complete successfully: exit %d", dep, code)
				}
				p.Say("Container", r.Name, "Exited")
			default:
				return fmt.Errorf("depends_on %s: condition %s is not supported: use service_started, service_healthy or service_completed_successfully", dep, cond)
			}
		}
	}
	return nil
}

// remove stops and removes one container.
func (p *Project) remove(ctx context.Context, r *containers.Record, timeout time.Duration, volumes bool) error {
	if r.State.Status == containers.StatusRunning || r.State.Status == containers.StatusRestarting {
		p.Say("Container", r.Name, "Stopping")
		if err := p.Engine.Stop(ctx, r.ID, timeout); err != nil && !errors.Is(err, containers.ErrNotFound) {
			return fmt.Errorf("stop %s: %w", r.Name, err)
		}
		p.Say("Container", r.Name, "Stopped")
	}
	p.Say("Container", r.Name, "Removing")
	if err := p.Engine.Remove(ctx, r.ID, true, volumes); err != nil && !errors.Is(err, containers.ErrNotFound) {
		return fmt.Errorf("remove %s: %w", r.Name, err)
	}
	p.Say("Container", r.Name, "Removed")
	return nil
}

// DownOptions are `compose down`'s.
type DownOptions struct {
	Volumes       bool   // -v: named volumes of the project and anonymous ones
	RemoveOrphans bool   // containers of services no longer in the files too
	RMI           string // "", "all" or "local" (only images without image:)
}

// Down removes what the project made: its containers (found by labels),
// its networks, and with Volumes its volumes, with RMI its images.
func (p *Project) Down(ctx context.Context, o DownOptions) error {
	switch o.RMI {
	case "", "all", "local":
	default:
		return fmt.Errorf("--rmi %q: use all or local", o.RMI)
	}
	recs, err := p.Containers(nil, true)
	if err != nil {
		return err
	}
	order, err := DependencyOrder(p.Project, nil)
	if err != nil {
		return err
	}
	slices.Reverse(order)
	rank := func(r *containers.Record) int {
		if i := slices.Index(order, r.Labels[LabelService]); i >= 0 {
			return i
		}
		return -1 // orphans and one-off containers first
	}
	slices.SortStableFunc(recs, func(a, b *containers.Record) int { return rank(a) - rank(b) })
	var errs []error
	for _, r := range recs {
		s, known := p.Services[r.Labels[LabelService]]
		if !known && !o.RemoveOrphans && r.Labels[LabelOneoff] != "True" {
			continue
		}
		if err := p.remove(ctx, r, stopTimeout(s), o.Volumes); err != nil {
			errs = append(errs, err)
		}
	}
	nets, err := p.projectNetworks(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range nets {
		if cfg, ok := p.Networks[n.Labels[LabelNetwork]]; !ok || bool(cfg.External) {
			continue
		}
		p.Say("Network", n.Name, "Removing")
		if err := p.Engine.Net.RemoveNetwork(ctx, n.Name); err != nil && !errors.Is(err, network.ErrNotFound) {
			errs = append(errs, fmt.Errorf("network %s: %w", n.Name, err))
			continue
		}
		p.Say("Network", n.Name, "Removed")
	}
	if o.Volumes {
		for _, key := range slices.Sorted(maps.Keys(p.Volumes)) {
			v := p.Volumes[key]
			if bool(v.External) {
				continue
			}
			if err := p.removeVolume(v.Name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if o.RMI != "" {
		for _, name := range p.ServiceNames() {
			s := p.Services[name]
			if o.RMI == "local" && s.Image != "" {
				continue
			}
			ref := ImageName(p.Project, s)
			if _, err := p.Engine.Images.Resolve(ref); err != nil {
				continue
			}
			p.Say("Image", ref, "Removing")
			if _, err := p.Engine.Images.Remove(ctx, ref, image.RemoveOptions{}); err != nil {
				errs = append(errs, fmt.Errorf("image %s: %w", ref, err))
				continue
			}
			p.Say("Image", ref, "Removed")
		}
	}
	return errors.Join(errs...)
}

// Start starts the services' stopped containers in dependency order.
func (p *Project) Start(ctx context.Context, services []string) error {
	order, err := DependencyOrder(p.Project, services)
	if err != nil {
		return err
	}
	for _, name := range order {
		if len(services) > 0 && !slices.Contains(services, name) {
			continue
		}
		recs, err := p.Containers([]string{name}, false)
		if err != nil {
			return err
		}
		if err := p.waitDependencies(ctx, p.Services[name]); err != nil {
			return fmt.Errorf("service %q: %w", name, err)
		}
		for _, r := range recs {
			if r.State.Status == containers.StatusRunning {
				continue
			}
			if err := p.start(ctx, r); err != nil {
				return fmt.Errorf("service %q: %w", name, err)
			}
		}
	}
	return nil
}

// Stop stops the services' containers, dependents first; timeout < 0
// means each service's stop_grace_period.
func (p *Project) Stop(ctx context.Context, services []string, timeout time.Duration) error {
	order, err := DependencyOrder(p.Project, services)
	if err != nil {
		return err
	}
	slices.Reverse(order)
	for _, name := range order {
		if len(services) > 0 && !slices.Contains(services, name) {
			continue
		}
		recs, err := p.Containers([]string{name}, false)
		if err != nil {
			return err
		}
		t := timeout
		if t < 0 {
			t = stopTimeout(p.Services[name])
		}
		for _, r := range recs {
			if r.State.Status != containers.StatusRunning && r.State.Status != containers.StatusRestarting {
				continue
			}
			p.Say("Container", r.Name, "Stopping")
			if err := p.Engine.Stop(ctx, r.ID, t); err != nil {
				return fmt.Errorf("service %q: stop %s: %w", name, r.Name, err)
			}
			p.Say("Container", r.Name, "Stopped")
		}
	}
	return nil
}

// Restart stops and starts the services' containers.
func (p *Project) Restart(ctx context.Context, services []string, timeout time.Duration) error {
	if err := p.Stop(ctx, services, timeout); err != nil {
		return err
	}
	return p.Start(ctx, services)
}

// Container is the running container of a service's replica.
func (p *Project) Container(service string, index int) (*containers.Record, error) {
	if _, ok := p.Services[service]; !ok {
		return nil, fmt.Errorf("no such service: %s", service)
	}
	recs, err := p.Containers([]string{service}, false)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if number(r) == index {
			return r, nil
		}
	}
	return nil, fmt.Errorf("service %q has no container number %d: start it with kago compose up", service, index)
}
