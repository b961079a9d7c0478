package compose

import (
	"context"

	"fmt"
	"github.com/kago-run/kago/engine/containers"

	"github.com/kago-run/kago/engine"
)

// setHealthcheck puts the service's healthcheck into the request. The
// engine has no healthchecks yet (the enginenet work adds them), so a
// service asking for one fails clearly rather than running unchecked.
func setHealthcheck(_ *engine.CreateRequest, _ Healthcheck) error {
	return fmt.Errorf("healthchecks are not supported by this kago engine yet")
}

// waitHealthy waits until the container's healthcheck passes.
func (p *Project) waitHealthy(_ context.Context, r *containers.Record) error {
	return fmt.Errorf("%s: service_healthy needs healthchecks, which this kago engine lacks yet", r.Name)
}

// removeVolume removes a named volume of the project.
func (p *Project) removeVolume(_ context.Context, name string) error {
	return fmt.Errorf("volume %s: removing named volumes needs the engine's volume store, which this kago engine lacks yet", name)
}
