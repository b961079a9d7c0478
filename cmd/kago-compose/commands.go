package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/kago-run/kago/compose"
	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/specgen"
	"github.com/kago-run/kago/internal/format"
	"github.com/kago-run/kago/internal/psrow"
	"github.com/kago-run/kago/linux/console"
)

// composeFlags are the project options every `kago compose` verb shares.
type composeFlags struct {
	g  *globalOptions
	lo compose.LoadOptions
}

// load reads the project and binds it to the engine.
func (f *composeFlags) load(cmd *cobra.Command) (*compose.Project, error) {
	p, err := compose.Load(cmd.Context(), f.lo)
	if err != nil {
		return nil, err
	}
	e, err := openEngine(f.g)
	if err != nil {
		return nil, err
	}
	return &compose.Project{Project: p, Engine: e, Progress: cmd.ErrOrStderr(), PullProgress: os.Stderr}, nil
}

// run adapts a verb body that needs the project.
func (f *composeFlags) run(body func(cmd *cobra.Command, args []string, p *compose.Project) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		p, err := f.load(cmd)
		if err != nil {
			return err
		}
		return body(cmd, args, p)
	}
}

// newComposeCmd is `kago compose`: multi-container applications from
// compose files, named and labelled as docker compose does.
func newComposeCmd(g *globalOptions) *cobra.Command {
	f := &composeFlags{g: g}
	cmd := &cobra.Command{
		Use:   "compose",
		Short: "Run multi-container applications from compose files",
		Args:  cobra.NoArgs,
	}
	fs := cmd.Flags() // parsed before the verb's own (the root traverses)
	fs.StringArrayVarP(&f.lo.Files, "file", "f", nil, "compose file (several are merged in order; default compose.yaml)")
	fs.StringVarP(&f.lo.Name, "project-name", "p", "", "project name (default: name: or the directory's name)")
	fs.StringArrayVar(&f.lo.Profiles, "profile", nil, "enable a profile")
	fs.StringArrayVar(&f.lo.EnvFiles, "env-file", nil, "environment file for interpolation (default: .env)")
	fs.StringVar(&f.lo.ProjectDir, "project-directory", "", "project directory (default: the first file's)")
	cmd.AddCommand(composeUpCmd(f), composeDownCmd(f), composePsCmd(f), composeLogsCmd(f), composeExecCmd(f),
		composeRunCmd(f), composeStartCmd(f), composeStopCmd(f, "stop"), composeStopCmd(f, "restart"),
		composePullCmd(f), composeConfigCmd(f), composeTopCmd(f), composePortCmd(f), composeBuildCmd(f), composeCreateCmd(f))
	return cmd
}

func parseScale(values []string) (map[string]int, error) {
	out := map[string]int{}
	for _, v := range values {
		name, n, ok := strings.Cut(v, "=")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || name == "" {
			return nil, fmt.Errorf("invalid --scale %q: use SERVICE=NUMBER", v)
		}
		out[name] = count
	}
	return out, nil
}

func composeUpCmd(f *composeFlags) *cobra.Command {
	var o compose.UpOptions
	var detach, build bool
	var scale []string
	cmd := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Create and start the project's containers (in the foreground: follow their logs; Ctrl-C stops them)",
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			var err error
			if o.Scale, err = parseScale(scale); err != nil {
				return err
			}
			o.Services = args
			if err := composeBuild(cmd, f.g, p, args, build); err != nil {
				return err
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt, unix.SIGTERM)
			defer cancel()
			if err := p.Up(ctx, o); err != nil {
				if ctx.Err() != nil && !detach {
					// Ctrl-C while starting: stop what started, as after.
					stopProject(ctx, cmd, p, args)
				}
				return err
			}
			if detach {
				return nil
			}
			return attachProject(ctx, cmd, p, args)
		}),
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run the containers in the background")
	cmd.Flags().BoolVar(&build, "build", false, "build images before starting containers")
	cmd.Flags().BoolVar(&o.ForceRecreate, "force-recreate", false, "recreate containers even if their configuration did not change")
	cmd.Flags().BoolVar(&o.RemoveOrphans, "remove-orphans", false, "remove containers of services not in the compose files")
	cmd.Flags().StringArrayVar(&scale, "scale", nil, "SERVICE=NUM: replicas of a service (overrides deploy.replicas)")
	return cmd
}

// attachProject follows the logs of the services' containers until they
// all stop; Ctrl-C (ctx) stops them, as a foreground docker compose up.
func attachProject(ctx context.Context, cmd *cobra.Command, p *compose.Project, services []string) error {
	recs, err := p.Containers(services, false)
	if err != nil {
		return err
	}
	followLogs(ctx, p.Engine, recs, cmd.OutOrStdout(), -1, true)
	if ctx.Err() == nil {
		return nil // every container exited
	}
	return stopProject(ctx, cmd, p, services)
}

// stopProject stops the services after Ctrl-C; a second Ctrl-C kills.
func stopProject(ctx context.Context, cmd *cobra.Command, p *compose.Project, services []string) error {
	fmt.Fprintln(cmd.ErrOrStderr(), "Gracefully stopping... (press Ctrl+C again to force)")
	stopCtx, cancel := signal.NotifyContext(context.WithoutCancel(ctx), os.Interrupt)
	defer cancel()
	return p.Stop(stopCtx, services, -1)
}

func composeCreateCmd(f *composeFlags) *cobra.Command {
	var o compose.UpOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [SERVICE...]",
		Short: "Create the project's containers without starting them",
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			o.Services, o.NoStart = args, true
			if err := composeBuild(cmd, f.g, p, args, false); err != nil {
				return err
			}
			return p.Up(cmd.Context(), o)
		}),
	}
	cmd.Flags().BoolVar(&o.ForceRecreate, "force-recreate", false, "recreate containers even if their configuration did not change")
	cmd.Flags().BoolVar(&o.RemoveOrphans, "remove-orphans", false, "remove containers of services not in the compose files")
	return cmd
}

func composeDownCmd(f *composeFlags) *cobra.Command {
	var o compose.DownOptions
	cmd := &cobra.Command{
		Use:   "down [OPTIONS]",
		Short: "Stop and remove the project's containers and networks (and with -v its volumes)",
		Args:  cobra.NoArgs,
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			return p.Down(context.WithoutCancel(cmd.Context()), o)
		}),
	}
	cmd.Flags().BoolVarP(&o.Volumes, "volumes", "v", false, "remove the project's named volumes and the containers' anonymous volumes")
	cmd.Flags().BoolVar(&o.RemoveOrphans, "remove-orphans", false, "remove containers of services not in the compose files")
	cmd.Flags().StringVar(&o.RMI, "rmi", "", "remove images: all, or local (those without an image: name)")
	return cmd
}

func composePsCmd(f *composeFlags) *cobra.Command {
	var all bool
	var fmtFlag string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [SERVICE...]",
		Short: "List the project's containers",
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			recs, err := p.Containers(args, false)
			if err != nil {
				return err
			}
			var shown []*containers.Record
			for _, r := range recs {
				if all || r.State.Status == containers.StatusRunning || r.State.Status == containers.StatusRestarting {
					shown = append(shown, r)
				}
			}
			f, err := format.New(fmtFlag, composePsFormat)
			if err != nil {
				return err
			}
			rows := make([]any, len(shown))
			for i, r := range shown {
				rows[i] = newComposePsRow(r)
			}
			return f.Write(cmd.OutOrStdout(), rows, composePsHeaders)
		}),
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show stopped containers too")
	cmd.Flags().StringVar(&fmtFlag, "format", "table", `"table", "table TEMPLATE", "json" or a Go template (ps's fields and .Name .Project .Service .ExitCode .Health)`)
	return cmd
}

// composePsFormat is docker compose's ps table.
const composePsFormat = `table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}`

var composePsHeaders = func() map[string]string {
	h := map[string]string{"Name": "NAME", "Project": "PROJECT", "Service": "SERVICE", "ExitCode": "EXIT CODE", "Health": "HEALTH"}
	for k, v := range psrow.Headers {
		h[k] = v
	}
	return h
}()

// composePsRow is a container as `compose ps` shows it: ps's fields and
// the project's (docker compose's JSON keys).
type composePsRow struct {
	psrow.Row
	Name     string
	Project  string
	Service  string
	ExitCode int
	Health   string
}

func newComposePsRow(r *containers.Record) composePsRow {
	row := composePsRow{Row: psrow.New(r, false), Name: r.Name, Project: r.Labels[compose.LabelProject],
		Service: r.Labels[compose.LabelService], ExitCode: r.State.ExitCode}
	row.ID = r.ShortID()
	if r.State.Health != nil {
		row.Health = r.State.Health.Status
	}
	return row
}

func composeLogsCmd(f *composeFlags) *cobra.Command {
	var follow bool
	tail := "all"
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] [SERVICE...]",
		Short: "Print the output of the project's containers, each line prefixed with its container's name",
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			n := -1
			if tail != "all" {
				var err error
				if n, err = strconv.Atoi(tail); err != nil || n < 0 {
					return fmt.Errorf("invalid --tail %q: use a number of lines or all", tail)
				}
			}
			for _, s := range args {
				if _, ok := p.Services[s]; !ok {
					return fmt.Errorf("no such service: %s", s)
				}
			}
			recs, err := p.Containers(args, false)
			if err != nil {
				return err
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt, unix.SIGTERM)
			defer cancel()
			followLogs(ctx, p.Engine, recs, cmd.OutOrStdout(), n, follow)
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing output until the containers stop")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "number of lines to show from the end of each container's log")
	return cmd
}

func composeExecCmd(f *composeFlags) *cobra.Command {
	var noTTY bool
	var index int
	var env []string
	var user, workdir string
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] SERVICE COMMAND [ARG...]",
		Short: "Run a command in a service's running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			r, err := p.Container(args[0], index)
			if err != nil {
				return err
			}
			// kago exec does the rest, with docker compose's defaults:
			// stdin open, a tty when stdin is one and -T is not given.
			execArgs := []string{"-i"}
			if !noTTY && console.IsTerminal(os.Stdin) {
				execArgs = append(execArgs, "-t")
			}
			for _, e := range env {
				execArgs = append(execArgs, "-e", e)
			}
			if user != "" {
				execArgs = append(execArgs, "-u", user)
			}
			if workdir != "" {
				execArgs = append(execArgs, "-w", workdir)
			}
			argv, err := kago(f.g, append(append(append([]string{"exec"}, execArgs...), r.Name), args[1:]...)...)
			if err != nil {
				return err
			}
			return unix.Exec(argv[0], argv, os.Environ())
		}),
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVarP(&noTTY, "no-TTY", "T", false, "do not allocate a pseudo-terminal")
	cmd.Flags().IntVar(&index, "index", 1, "replica of the service")
	cmd.Flags().StringArrayVarP(&env, "env", "e", nil, "set an environment variable")
	cmd.Flags().StringVarP(&user, "user", "u", "", "user NAME|UID[:GROUP|GID]")
	cmd.Flags().StringVarP(&workdir, "workdir", "w", "", "working directory")
	return cmd
}

func composeRunCmd(f *composeFlags) *cobra.Command {
	var rm, detach, noTTY, noDeps bool
	var env []string
	var name, entrypoint string
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] SERVICE [COMMAND] [ARG...]",
		Short: "Run a one-off command in a new container of a service",
		Args:  cobra.MinimumNArgs(1),
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			s, ok := p.Services[args[0]]
			if !ok {
				return fmt.Errorf("no such service: %s", args[0])
			}
			ctx := cmd.Context()
			if deps := s.GetDependencies(); len(deps) > 0 && !noDeps {
				if err := p.Up(ctx, compose.UpOptions{Services: deps}); err != nil {
					return err
				}
			}
			if err := p.EnsureResources(ctx, []string{s.Name}); err != nil {
				return err
			}
			r, err := compose.Request(p.Project, s, 1)
			if err != nil {
				return err
			}
			suffix := make([]byte, 6)
			rand.Read(suffix)
			r.Name = compose.OneoffName(p.Name, s.Name, hex.EncodeToString(suffix))
			if name != "" {
				r.Name = name
			}
			r.Labels[compose.LabelOneoff] = "True"
			r.Ports = nil // docker compose run publishes no ports
			r.AutoRemove = rm
			if rm {
				r.Restart = engine.RestartPolicy{Name: engine.RestartNo}
			}
			if len(args) > 1 {
				r.Cmd = args[1:]
				if len(s.Entrypoint) > 1 {
					r.Cmd = append(append([]string{}, s.Entrypoint[1:]...), args[1:]...)
				}
			}
			if cmd.Flags().Changed("entrypoint") {
				r.Entrypoint, r.Cmd = &entrypoint, args[1:]
			}
			for _, e := range env {
				kv, err := specgen.ParseEnv(e, os.LookupEnv)
				if err != nil {
					return err
				}
				if kv != "" {
					r.Env = append(r.Env, kv)
				}
			}
			r.OpenStdin = !detach
			r.Tty = !detach && !noTTY && console.IsTerminal(os.Stdin)
			r.PullProgress = os.Stderr
			rec, err := p.Engine.Create(ctx, r)
			if err != nil {
				return err
			}
			if detach {
				if _, err := p.Engine.Start(ctx, rec.ID); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), rec.Name)
				return nil
			}
			// kago attaches, as kago run does, and exits with the container's code.
			argv, err := kago(f.g, "container-start-attached", "--interactive="+strconv.FormatBool(r.OpenStdin),
				"--tty="+strconv.FormatBool(r.Tty), rec.ID)
			if err != nil {
				p.Engine.Remove(context.WithoutCancel(ctx), rec.ID, true, true)
				return err
			}
			return unix.Exec(argv[0], argv, os.Environ())
		}),
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVar(&rm, "rm", false, "remove the container when it exits")
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run in the background and print the container's name")
	cmd.Flags().BoolVarP(&noTTY, "no-TTY", "T", false, "do not allocate a pseudo-terminal")
	cmd.Flags().BoolVar(&noDeps, "no-deps", false, "do not start the services it depends on")
	cmd.Flags().StringArrayVarP(&env, "env", "e", nil, "set an environment variable KEY=VALUE")
	cmd.Flags().StringVar(&name, "name", "", "container name")
	cmd.Flags().StringVar(&entrypoint, "entrypoint", "", "override the service's entrypoint")
	return cmd
}

func composeStartCmd(f *composeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "start [SERVICE...]",
		Short: "Start the services' existing containers",
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			return p.Start(cmd.Context(), args)
		}),
	}
}

// composeStopCmd is stop or restart: both take -t.
func composeStopCmd(f *composeFlags, verb string) *cobra.Command {
	timeout := -1
	cmd := &cobra.Command{
		Use:   verb + " [OPTIONS] [SERVICE...]",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " the services' containers",
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			t := time.Duration(timeout) * time.Second
			if verb == "restart" {
				return p.Restart(cmd.Context(), args, t)
			}
			return p.Stop(cmd.Context(), args, t)
		}),
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", -1, "seconds to wait before killing (default: stop_grace_period, 10)")
	return cmd
}

func composePullCmd(f *composeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "pull [SERVICE...]",
		Short: "Pull the services' images",
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			return p.Pull(cmd.Context(), args)
		}),
	}
}

func composeConfigCmd(f *composeFlags) *cobra.Command {
	var format string
	var services bool
	cmd := &cobra.Command{
		Use:   "config [OPTIONS]",
		Short: "Print the project as compose-go normalizes it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lo := f.lo
			lo.NoCheck = true
			p, err := compose.Load(cmd.Context(), lo)
			if err != nil {
				return err
			}
			if services {
				for _, s := range p.ServiceNames() {
					fmt.Fprintln(cmd.OutOrStdout(), s)
				}
				return nil
			}
			var out []byte
			switch format {
			case "yaml":
				out, err = p.MarshalYAML()
			case "json":
				out, err = p.MarshalJSON()
			default:
				return fmt.Errorf("--format %q: use yaml or json", format)
			}
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "yaml", "yaml or json")
	cmd.Flags().BoolVar(&services, "services", false, "print the service names, one per line")
	return cmd
}

func composeTopCmd(f *composeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "top [SERVICE...]",
		Short: "List the processes of the services' containers",
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			recs, err := p.Containers(args, false)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if r.State.Status != containers.StatusRunning {
					continue
				}
				fmt.Fprintln(cmd.OutOrStdout(), r.Name)
				if err := runKago(cmd, f.g, "top", r.ID); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout())
			}
			return nil
		}),
	}
}

func composePortCmd(f *composeFlags) *cobra.Command {
	protocol := "tcp"
	index := 1
	cmd := &cobra.Command{
		Use:   "port [OPTIONS] SERVICE PRIVATE_PORT",
		Short: "Print the host address a service's port is published on",
		Args:  cobra.ExactArgs(2),
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			port, err := strconv.ParseUint(args[1], 10, 16)
			if err != nil {
				return fmt.Errorf("invalid port %q: use a number", args[1])
			}
			r, err := p.Container(args[0], index)
			if err != nil {
				return err
			}
			if r.Endpoint != nil {
				for _, m := range r.Endpoint.Ports {
					if uint64(m.ContainerPort) == port && m.Protocol == protocol {
						ip := "0.0.0.0"
						if m.HostIP.IsValid() {
							ip = m.HostIP.String()
						}
						fmt.Fprintf(cmd.OutOrStdout(), "%s:%d\n", ip, m.HostPort)
						return nil
					}
				}
			}
			return fmt.Errorf("no port %d/%s published for %s", port, protocol, r.Name)
		}),
	}
	cmd.Flags().StringVar(&protocol, "protocol", "tcp", "tcp or udp")
	cmd.Flags().IntVar(&index, "index", 1, "replica of the service")
	return cmd
}

func composeBuildCmd(f *composeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "build [SERVICE...]",
		Short: "Build the services' images",
		RunE: f.run(func(cmd *cobra.Command, args []string, p *compose.Project) error {
			return composeBuild(cmd, f.g, p, args, true)
		}),
	}
}

// composeBuild builds, with kago build, the images of the services that
// have a build section: all of them with always, otherwise only those
// whose image is not in the store yet (what up does by itself).
func composeBuild(cmd *cobra.Command, g *globalOptions, p *compose.Project, services []string, always bool) error {
	if len(services) == 0 {
		services = p.ServiceNames()
	} else if order, err := compose.DependencyOrder(p.Project, services); err == nil {
		services = order // up builds what it starts
	}
	for _, name := range services {
		s, ok := p.Services[name]
		if !ok {
			return fmt.Errorf("no such service: %s", name)
		}
		if s.Build == nil {
			continue
		}
		ref := compose.ImageName(p.Project, s)
		if _, err := p.Engine.Images.Resolve(ref); err == nil && !always {
			continue
		}
		p.Say("Service", name, "Building")
		if err := runKago(cmd, g, buildArgs(s.Build, ref)...); err != nil {
			return fmt.Errorf("service %q: build: %w", name, err)
		}
		p.Say("Service", name, "Built")
	}
	return nil
}

// buildArgs is the kago build command line of a service's build section.
func buildArgs(b *types.BuildConfig, ref string) []string {
	args := []string{"build", "--progress=auto", "-t", ref}
	if file := b.Dockerfile; file != "" {
		if !filepath.IsAbs(file) {
			file = filepath.Join(b.Context, file)
		}
		args = append(args, "-f", file)
	}
	if b.Target != "" {
		args = append(args, "--target", b.Target)
	}
	if b.NoCache {
		args = append(args, "--no-cache")
	}
	if b.Pull {
		args = append(args, "--pull")
	}
	network := b.Network
	if network == "" || network == "default" {
		network = "bridge"
	}
	args = append(args, "--network", network)
	for _, k := range slices.Sorted(maps.Keys(b.Args)) {
		if v := b.Args[k]; v != nil {
			args = append(args, "--build-arg", k+"="+*v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b.Labels)) {
		args = append(args, "--label", k+"="+b.Labels[k])
	}
	return append(args, "--", b.Context)
}
