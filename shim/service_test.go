package shim

import (
	"context"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/kago-run/kago/runtime"
)

type discardEvents struct{}

func (discardEvents) Publish(context.Context, string, events.Event) error { return nil }

// TestReleaseInitCopyDuringCreate: the idle trim's release of the init
// copy must not deadlock with a Create, which holds the service's lock
// while it waits to use the copy.
func TestReleaseInitCopyDuringCreate(t *testing.T) {
	s := NewService(namespaces.WithNamespace(context.Background(), "s3sh-test"), discardEvents{})
	rt, err := runtime.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.rt = rt
	s.mu.Lock() // Create holds it throughout
	released := make(chan struct{})
	go func() {
		s.releaseInitCopy()
		close(released)
	}()
	time.Sleep(50 * time.Millisecond) // let the release take what it takes first
	created := make(chan struct{})
	go func() {
		s.initCopy.RLock() // Create, about to use the copy
		_ = s.rt           // ... and using it
		s.initCopy.RUnlock()
		close(created)
	}()
	select {
	case <-created:
	case <-time.After(5 * time.Second):
		t.Fatal("a create waiting for the init copy deadlocked with releaseInitCopy")
	}
	s.mu.Unlock()
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("releaseInitCopy did not finish once the create was done")
	}
}
