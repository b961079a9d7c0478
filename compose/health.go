package compose

import (
	"fmt"

	"github.com/kago-run/kago/engine"
)

// setHealthcheck puts the service's healthcheck into the request. The
// engine has no healthchecks yet (the enginenet work adds them), so a
// service asking for one fails clearly rather than running unchecked.
func setHealthcheck(_ *engine.CreateRequest, _ Healthcheck) error {
	return fmt.Errorf("healthchecks are not supported by this kago engine yet")
}
