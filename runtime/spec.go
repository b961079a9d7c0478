package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kago-run/kago/linux/apparmor"
	"github.com/kago-run/kago/linux/idmap"
	"github.com/kago-run/kago/linux/ns"
	"github.com/kago-run/kago/linux/rlimit"
	"github.com/kago-run/kago/linux/selinux"
	"github.com/kago-run/kago/linux/timens"
)

// maxConfigSize bounds config.json; real ones are a few tens of KiB.
const maxConfigSize = 16 << 20

// LoadSpec reads and validates BUNDLE/config.json. Errors name the file and
// say what to fix.
func LoadSpec(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, "config.json")
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("bundle %s has no config.json: write one, for example with `kago-runc spec --bundle %s`", bundle, bundle)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxConfigSize {
		return nil, fmt.Errorf("%s is %d bytes, larger than the %d this runtime accepts", path, fi.Size(), maxConfigSize)
	}
	var spec specs.Spec
	dec := json.NewDecoder(f)
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("%s is not a valid OCI config: %w", path, describeJSONError(err))
	}
	if err := Validate(&spec, bundle); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &spec, nil
}

func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("JSON syntax error at byte %d: %w", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Errorf("field %q has the wrong type (%s where %s is expected)", typ.Field, typ.Value, typ.Type)
	}
	return err
}

// Validate checks what the runtime relies on before it creates anything.
func Validate(spec *specs.Spec, bundle string) error {
	if spec.Version == "" || !strings.HasPrefix(spec.Version, "1.") {
		return fmt.Errorf("ociVersion %q is not supported: this runtime implements 1.x (%s)", spec.Version, specs.Version)
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return errors.New("root.path is missing: name the root filesystem directory")
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil {
		return fmt.Errorf("root filesystem %s: %w", rootfs, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("root filesystem %s is not a directory", rootfs)
	}
	if spec.Process == nil {
		return errors.New("process is missing: a container needs a process to run")
	}
	if err := validateProcess(spec.Process); err != nil {
		return err
	}
	if spec.Linux == nil {
		return errors.New("linux section is missing: this runtime only runs Linux containers")
	}
	plan, err := ns.PlanFor(spec.Linux.Namespaces)
	if err != nil {
		return err
	}
	userns := plan.Has(specs.UserNamespace)
	if userns && !plan.JoinsUser() && (len(spec.Linux.UIDMappings) == 0 || len(spec.Linux.GIDMappings) == 0) {
		return errors.New("a new user namespace needs linux.uidMappings and linux.gidMappings")
	}
	if !userns && (len(spec.Linux.UIDMappings) != 0 || len(spec.Linux.GIDMappings) != 0) {
		return errors.New("linux.uidMappings/gidMappings are set but there is no user namespace in linux.namespaces")
	}
	if err := timens.Validate(spec.Linux.TimeOffsets, spec.Linux.Namespaces); err != nil {
		return err
	}
	if err := validateLinuxSettings(spec); err != nil {
		return err
	}
	if spec.Linux.MountLabel != "" && !selinux.Enabled() {
		// runc passes it on and its first tmpfs mount fails with EINVAL.
		return fmt.Errorf("linux.mountLabel %q is set but SELinux is not enabled on this host: remove it", spec.Linux.MountLabel)
	}
	if spec.Hostname != "" && !plan.Has(specs.UTSNamespace) {
		return errors.New("hostname is set but the container has no UTS namespace of its own: add {\"type\": \"uts\"} to linux.namespaces")
	}
	for i, m := range spec.Mounts {
		if m.Destination == "" {
			return fmt.Errorf("mounts[%d] has no destination", i)
		}
	}
	if _, err := idmap.Mounts(spec, bundle); err != nil {
		return err
	}
	if spec.Linux.CgroupsPath != "" {
		for _, part := range strings.Split(spec.Linux.CgroupsPath, "/") {
			if part == ".." {
				return fmt.Errorf("linux.cgroupsPath %q must not contain \"..\"", spec.Linux.CgroupsPath)
			}
		}
	}
	if spec.Hooks != nil {
		for name, hooks := range map[string][]specs.Hook{
			"prestart": prestart(spec.Hooks), "createRuntime": spec.Hooks.CreateRuntime,
			"createContainer": spec.Hooks.CreateContainer, "startContainer": spec.Hooks.StartContainer,
			"poststart": spec.Hooks.Poststart, "poststop": spec.Hooks.Poststop,
		} {
			for i, h := range hooks {
				if !filepath.IsAbs(h.Path) {
					return fmt.Errorf("hooks.%s[%d].path %q must be absolute", name, i, h.Path)
				}
				if h.Timeout != nil && *h.Timeout <= 0 {
					return fmt.Errorf("hooks.%s[%d].timeout must be positive", name, i)
				}
			}
		}
	}
	return nil
}

func validateProcess(p *specs.Process) error {
	if len(p.Args) == 0 {
		if p.CommandLine != "" {
			return errors.New("process.commandLine is for Windows containers: set process.args to the program and its arguments")
		}
		return errors.New("process.args is empty: name the program to run")
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("process.cwd %q must be an absolute path", p.Cwd)
	}
	for _, e := range p.Env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("process.env entry %q is not KEY=VALUE", e)
		}
	}
	if err := rlimit.Validate(p.Rlimits); err != nil {
		return err
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return fmt.Errorf("process.oomScoreAdj %d is outside -1000..1000", *p.OOMScoreAdj)
	}
	if err := validateProcessSettings(p); err != nil {
		return err
	}
	return validateLSM(p)
}

// validateLSM refuses a security label the host cannot apply, as runc does
// (it fails the start; see linux/apparmor and linux/selinux): a runtime that
// silently ran the process unconfined would be worse.
func validateLSM(p *specs.Process) error {
	if err := apparmor.Check(p.ApparmorProfile); err != nil {
		return fmt.Errorf("process.apparmorProfile: %w", err)
	}
	if p.SelinuxLabel != "" && !selinux.Enabled() {
		return fmt.Errorf("process.selinuxLabel %q is set but SELinux is not enabled on this host: remove it", p.SelinuxLabel)
	}
	return nil
}

// prestart returns the prestart hooks: deprecated, but still in the spec and
// still sent by clients; they run with the createRuntime hooks.
func prestart(h *specs.Hooks) []specs.Hook {
	//lint:ignore SA1019 see above
	return h.Prestart
}
