package engine

import (
	"context"

	"github.com/kago-run/kago/network"
)

// CreateNetwork makes a user network (compose makes its project's networks
// through it; `kago network create` is the same operation).
func (e *Engine) CreateNetwork(ctx context.Context, name string, opts network.NetworkOptions) (*network.NetworkInfo, error) {
	return e.net.CreateNetwork(ctx, name, opts)
}

// InspectNetwork returns one network; errors.Is(err, network.ErrNotFound)
// when there is none by that name.
func (e *Engine) InspectNetwork(ctx context.Context, name string) (*network.NetworkInfo, error) {
	return e.net.Inspect(ctx, name)
}

// RemoveNetwork removes a user network no container uses.
func (e *Engine) RemoveNetwork(ctx context.Context, name string) error {
	return e.net.RemoveNetwork(ctx, name)
}
