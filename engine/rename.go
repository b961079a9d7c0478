package engine

import (
	"fmt"

	"github.com/kago-run/kago/engine/containers"
)

// Rename gives a container a new name (docker rename). The name is the
// record's: a running container keeps its hostname, and its name in its
// network's DNS and /etc/hosts changes at its next start.
func (e *Engine) Rename(ref, name string) (*containers.Record, error) {
	rec, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	if rec.Name == name {
		return nil, fmt.Errorf("container %s is already named %s", rec.ShortID(), name)
	}
	return e.containers.Rename(rec.ID, name)
}
