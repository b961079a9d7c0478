package shim

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	eventsapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
)

// ttrpcPublisher forwards task events to containerd's ttrpc events service
// (TTRPC_ADDRESS), which containerd 1.6 and 2.x both serve for shims. A
// failed forward redials once: containerd may have restarted.
type ttrpcPublisher struct {
	address string

	mu     sync.Mutex
	client *ttrpc.Client
}

func newPublisher(address string) *ttrpcPublisher {
	return &ttrpcPublisher{address: strings.TrimPrefix(address, "unix://")}
}

func (p *ttrpcPublisher) conn() (*ttrpc.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		c, err := net.DialTimeout("unix", p.address, 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("connect to containerd's events at %s: %w", p.address, err)
		}
		p.client = ttrpc.NewClient(c)
	}
	return p.client, nil
}

func (p *ttrpcPublisher) drop(c *ttrpc.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == c {
		p.client.Close()
		p.client = nil
	}
}

// Publish sends one event, retrying a few times on a fresh connection.
func (p *ttrpcPublisher) Publish(ctx context.Context, topic string, event events.Event) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	any, err := typeurl.MarshalAnyToProto(event)
	if err != nil {
		return err
	}
	req := &eventsapi.ForwardRequest{Envelope: &types.Envelope{
		Timestamp: protobuf.ToTimestamp(time.Now()),
		Namespace: ns,
		Topic:     topic,
		Event:     any,
	}}
	for try := 0; ; try++ {
		c, err := p.conn()
		if err == nil {
			if _, err = eventsapi.NewTTRPCEventsClient(c).Forward(ctx, req); err == nil {
				return nil
			}
			p.drop(c)
		}
		if try == 3 {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
	}
}

// Close ends the connection.
func (p *ttrpcPublisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		return nil
	}
	err := p.client.Close()
	p.client = nil
	return err
}
