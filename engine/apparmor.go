package engine

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/kago-run/kago/engine/apparmorprofile"
	"github.com/kago-run/kago/linux/apparmor"
)

// Unconfined is the AppArmor profile name that means no profile.
const Unconfined = "unconfined"

// chooseAppArmorProfile is docker's rule for the profile a container runs
// under, given --security-opt apparmor=NAME (requested, "" when not given),
// --privileged and whether the host has AppArmor: the requested profile,
// else unconfined for a privileged container, else kago-default. Without
// AppArmor there is no profile, and naming one is refused (docker ignores
// it; kago does not drop a security setting without a word).
func chooseAppArmorProfile(requested string, privileged, enabled bool) (string, error) {
	switch {
	case !enabled && requested != "" && requested != Unconfined:
		return "", fmt.Errorf("--security-opt apparmor=%s: AppArmor is not enabled on this host: drop the option", requested)
	case !enabled:
		return "", nil
	case requested != "":
		return requested, nil
	case privileged:
		return Unconfined, nil
	}
	return apparmorprofile.DefaultName, nil
}

// appArmorProfile returns the profile for a new container (see
// chooseAppArmorProfile) and makes sure the kernel has it: kago-default is
// loaded (or reloaded when its text changed), another named profile must
// already be loaded (apparmor.Check).
func (e *Engine) appArmorProfile(ctx context.Context, requested string, privileged bool) (string, error) {
	name, err := chooseAppArmorProfile(requested, privileged, apparmor.Enabled())
	switch {
	case err != nil || name == "" || name == Unconfined:
		return name, err
	case name == apparmorprofile.DefaultName:
		return name, e.ensureDefaultProfile(ctx, name)
	}
	if err := apparmor.Check(name); err != nil {
		return "", fmt.Errorf("--security-opt apparmor=%s: %w", name, err)
	}
	return name, nil
}

// ensureDefaultProfile loads kago-default again, if needed, before a
// container that runs under it starts, as docker does: a reboot or a reload
// of the host's AppArmor policy unloads it.
func (e *Engine) ensureDefaultProfile(ctx context.Context, profile string) error {
	if profile != apparmorprofile.DefaultName {
		return nil
	}
	return apparmorprofile.Ensure(ctx, filepath.Join(e.Root, "apparmor"))
}
