package compose

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/engine/specgen"
)

// The labels docker compose v2 puts on what a project makes.
const (
	LabelProject         = "com.docker.compose.project"
	LabelService         = "com.docker.compose.service"
	LabelNumber          = "com.docker.compose.container-number"
	LabelOneoff          = "com.docker.compose.oneoff"
	LabelConfigHash      = "com.docker.compose.config-hash"
	LabelWorkingDir      = "com.docker.compose.project.working_dir"
	LabelConfigFiles     = "com.docker.compose.project.config_files"
	LabelVersion         = "com.docker.compose.version"
	LabelNetwork         = "com.docker.compose.network"
	LabelVolume          = "com.docker.compose.volume"
	composeVersionString = "2.0.0-kago"
)

var projectNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// SanitizeProjectName is docker compose's normalization of a name taken
// from a directory: lower case, only [a-z0-9_-], no leading _ or -.
func SanitizeProjectName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			b.WriteRune(r)
		}
	}
	return strings.TrimLeft(b.String(), "_-")
}

// CheckProjectName refuses a project name docker compose refuses; every
// name kago derives from it then stays one path element under the root.
func CheckProjectName(name string) error {
	if !projectNamePattern.MatchString(name) {
		return fmt.Errorf("invalid project name %q: it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit (use -p NAME)", name)
	}
	return nil
}

// ContainerName is docker compose's PROJECT-SERVICE-N.
func ContainerName(project, service string, number int) string {
	return project + "-" + service + "-" + strconv.Itoa(number)
}

// OneoffName is the name of a `compose run` container.
func OneoffName(project, service, suffix string) string {
	return project + "-" + service + "-run-" + suffix
}

// checkContainerName makes sure the engine can hold the names of every
// replica of a service.
func checkContainerName(project string, s types.ServiceConfig) error {
	name := ContainerName(project, s.Name, 1000)
	if s.ContainerName != "" {
		name = s.ContainerName
	}
	if err := containers.ValidateName(name); err != nil {
		return fmt.Errorf("service %q: %w", s.Name, err)
	}
	return nil
}

// checkNetwork allows the networks kago can make: bridges, or external
// ones the engine already has, named so the name is one path element.
func checkNetwork(key string, n types.NetworkConfig) error {
	if !specgen.IsVolumeName(n.Name) {
		return fmt.Errorf("network %q: invalid name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", key, n.Name)
	}
	if n.Driver != "" && n.Driver != "bridge" {
		return fmt.Errorf("network %q: driver %q is not supported: kago networks are Linux bridges (driver: bridge)", key, n.Driver)
	}
	switch {
	case len(n.DriverOpts) > 0:
		return fmt.Errorf("network %q: driver_opts are not supported by kago", key)
	case len(n.Ipam.Config) > 1 || n.Ipam.Driver != "" && n.Ipam.Driver != "default":
		return fmt.Errorf("network %q: ipam supports one subnet with the default driver in kago", key)
	case n.Internal:
		return fmt.Errorf("network %q: internal networks are not supported by kago", key)
	case n.EnableIPv6 != nil && *n.EnableIPv6:
		return fmt.Errorf("network %q: enable_ipv6 is not supported by kago", key)
	case n.Attachable:
		return fmt.Errorf("network %q: attachable is not supported by kago", key)
	}
	return nil
}

// checkVolume allows local volumes named as one path element.
func checkVolume(key string, v types.VolumeConfig) error {
	if !specgen.IsVolumeName(v.Name) {
		return fmt.Errorf("volume %q: invalid name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", key, v.Name)
	}
	if v.Driver != "" && v.Driver != "local" {
		return fmt.Errorf("volume %q: driver %q is not supported: kago volumes are local directories", key, v.Driver)
	}
	if len(v.DriverOpts) > 0 {
		return fmt.Errorf("volume %q: driver_opts are not supported by kago", key)
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("want CIDR notation such as 10.90.7.0/24: %w", err)
	}
	return p, nil
}
