// Package compose turns a compose project into engine requests: compose-go
// parses and normalizes the files (lookup, -f merging, .env and ${VAR}
// interpolation, env_file, profiles, extends), and this package names what
// the project makes the way docker compose v2 does (containers
// PROJECT-SERVICE-N, networks and volumes PROJECT_NAME, com.docker.compose.*
// labels) and translates each service into an engine.CreateRequest. A
// compose key kago does not implement fails loading with the service and
// the key named: nothing in a compose file is silently ignored.
//
// It knows nothing of the runtime: containers, networks and volumes are
// made and found through the engine's methods, and a project's containers
// are found again by their labels, so `down` removes exactly what `up` made.
package compose

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// LoadOptions are the project options of `kago compose`: docker compose's
// -f, -p, --profile, --env-file and --project-directory.
type LoadOptions struct {
	Files      []string // -f, merged in order; none: compose.yaml lookup
	Name       string   // -p; "" for name: or the directory's name
	Profiles   []string // --profile
	EnvFiles   []string // --env-file; none: the project directory's .env
	ProjectDir string   // --project-directory; "" for the first file's directory
	// Env is the environment interpolation sees (nil: the process's).
	Env []string
	// NoCheck skips what kago requires beyond compose-go (compose config
	// prints a project kago cannot run, as docker compose config does).
	NoCheck bool
}

// Load reads, merges, interpolates and normalizes the project with
// compose-go, then checks what kago adds on top: names that stay inside
// the engine root and keys kago implements.
func Load(ctx context.Context, o LoadOptions) (*types.Project, error) {
	opts := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(o.ProjectDir)}
	if o.Env != nil {
		opts = append(opts, cli.WithEnv(o.Env))
	} else {
		opts = append(opts, cli.WithOsEnv)
	}
	opts = append(opts,
		cli.WithEnvFiles(o.EnvFiles...), cli.WithDotEnv, cli.WithConfigFileEnv, cli.WithDefaultConfigPath,
		cli.WithName(o.Name), cli.WithProfiles(o.Profiles), cli.WithResolvedPaths(true))
	po, err := cli.NewProjectOptions(o.Files, opts...)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	p, err := po.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", cleanError(err))
	}
	if o.NoCheck {
		return p, nil
	}
	if err := Check(p); err != nil {
		return nil, err
	}
	return p, nil
}

// cleanError keeps compose-go's message on one line.
func cleanError(err error) error {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// Check is what kago requires of a loaded project beyond compose-go's
// validation: a project name docker compose would accept, resource names
// the engine can hold, and only service keys kago implements.
func Check(p *types.Project) error {
	if err := CheckProjectName(p.Name); err != nil {
		return err
	}
	for key, n := range p.Networks {
		if err := checkNetwork(key, n); err != nil {
			return err
		}
	}
	for key, v := range p.Volumes {
		if err := checkVolume(key, v); err != nil {
			return err
		}
	}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if err := checkService(p, s); err != nil {
			return err
		}
	}
	return nil
}
