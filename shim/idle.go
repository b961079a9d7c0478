package shim

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/containerd/ttrpc"

	"github.com/kago-run/kago/internal/trim"
)

// quietDelay is how long the shim waits after a request before it gives
// back what serving requests made resident: containerd sends them in bursts
// (create, start, wait, state; the kubelet's periodic status and stats).
const quietDelay = time.Second

// idleTrim keeps the per-pod shim small between bursts of requests: the
// code that served them (program pages), the heap they left (garbage), and
// the runtime's sealed copy of the init binary (a memfd as large as that
// binary, kept only so the next create or exec skips the copy).
type idleTrim struct {
	trimmer *trim.Trimmer
	quiet   *time.Timer
}

// startIdleTrim trims svc's process after each burst of requests, and
// (trim.Trimmer) after garbage collections and every two minutes, until
// ctx ends.
func startIdleTrim(ctx context.Context, svc *Service) *idleTrim {
	t := &idleTrim{trimmer: trim.New()}
	go t.trimmer.Run(ctx)
	t.quiet = time.AfterFunc(quietDelay, func() {
		if ctx.Err() != nil {
			return
		}
		svc.releaseInitCopy()
		debug.FreeOSMemory()
		t.trimmer.Kick()
	})
	return t
}

// intercept is a ttrpc server interceptor: each request (re)starts the
// quiet timer when it arrives and when it is answered, so a trim happens
// only once requests stop for quietDelay (a long Wait does not count).
func (t *idleTrim) intercept(ctx context.Context, u ttrpc.Unmarshaler, _ *ttrpc.UnaryServerInfo, m ttrpc.Method) (any, error) {
	t.quiet.Reset(quietDelay)
	resp, err := m(ctx, u)
	t.quiet.Reset(quietDelay)
	return resp, err
}
