package shim

import (
	"fmt"
	"io"
	"os"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/pelletier/go-toml/v2"
	"google.golang.org/protobuf/types/known/anypb"
)

// maxOptionsConfig bounds a runtime options file (ConfigPath); the options
// table of a containerd config is a few lines.
const maxOptionsConfig = 1 << 20

// taskOptions are the runtime options of containerd's runtime config that
// this shim honours: runc's shim's SystemdCgroup, which puts the
// containers' cgroups in systemd scopes (cgroupsPath "slice:prefix:name",
// what the CRI plugin sends for a pod whose cgroup parent is a slice).
type taskOptions struct {
	SystemdCgroup bool
}

// parseTaskOptions reads CreateTaskRequest.Options. containerd passes them
// in one of two shapes: runc's options type (containerd.runc.v1.Options,
// from a client that builds it), or, for a runtime_type that is not runc's
// (io.containerd.kago.v2 under the CRI plugin),
// runtimeoptions.v1.Options: its ConfigPath names a TOML file of options
// (containerd 1.6 passes nothing else), or, from 1.7 on, its ConfigBody is
// the runtime's options table as TOML. Keys this shim does not know are
// ignored, as the runc shim ignores them.
func parseTaskOptions(a *anypb.Any) (taskOptions, error) {
	var o taskOptions
	if a == nil || a.GetTypeUrl() == "" {
		return o, nil
	}
	switch {
	case a.MessageIs(&runcoptions.Options{}):
		var ro runcoptions.Options
		if err := a.UnmarshalTo(&ro); err != nil {
			return o, fmt.Errorf("runtime options %s: %w", a.GetTypeUrl(), err)
		}
		o.SystemdCgroup = ro.SystemdCgroup
		return o, nil
	case a.MessageIs(&runtimeoptions.Options{}):
		var ro runtimeoptions.Options
		if err := a.UnmarshalTo(&ro); err != nil {
			return o, fmt.Errorf("runtime options %s: %w", a.GetTypeUrl(), err)
		}
		body, name := ro.ConfigBody, "the runtime's options table"
		if ro.ConfigPath != "" {
			var err error
			if body, err = readOptionsFile(ro.ConfigPath); err != nil {
				return o, err
			}
			name = ro.ConfigPath
		}
		if err := toml.Unmarshal(body, &o); err != nil {
			return o, fmt.Errorf("runtime options in %s: %w: write SystemdCgroup = true or false", name, err)
		}
		return o, nil
	}
	return o, fmt.Errorf("runtime options of type %s are not for the kago shim: use an options table with SystemdCgroup, as for io.containerd.runc.v2", a.GetTypeUrl())
}

func readOptionsFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("runtime options file (ConfigPath): %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxOptionsConfig+1))
	if err != nil {
		return nil, fmt.Errorf("read runtime options file %s: %w", path, err)
	}
	if len(data) > maxOptionsConfig {
		return nil, fmt.Errorf("runtime options file %s is larger than %d bytes: give only the options table", path, maxOptionsConfig)
	}
	return data, nil
}
