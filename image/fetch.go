package image

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// blobFetcher downloads blobs of one repository itself rather than through
// go-containerregistry's layer type, for one reason: resuming. It asks for
// the bytes after what an interrupted pull already has (an HTTP Range
// request), and checks every blob against its digest in the content store,
// so there is one place that decides a download is good.
type blobFetcher struct {
	repo   name.Repository
	client *http.Client

	mu sync.Mutex
	// schemes to try, in order. A registry that may speak plain HTTP
	// (loopback, or --insecure-registry) is tried with HTTPS first, as
	// go-containerregistry's ping does; the first that answers is kept.
	schemes []string
}

// newBlobFetcher authenticates to the repository (token flow or basic) with
// the credentials of the store.
func (s *Store) newBlobFetcher(ctx context.Context, repo name.Repository, o RegistryOptions) (*blobFetcher, error) {
	auth, err := authn.Resolve(ctx, fileKeychain{path: s.authFile(o)}, repo)
	if err != nil {
		return nil, err
	}
	retries := o.Retries
	if retries == 0 {
		retries = 2
	}
	if retries < 0 {
		retries = 0
	}
	base := transport.NewRetry(s.baseTransport(o),
		transport.WithRetryBackoff(transport.Backoff{Duration: 200 * time.Millisecond, Factor: 3, Jitter: 0.1, Steps: retries + 1}),
		transport.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout))
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, base, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, err
	}
	schemes := []string{"https"}
	if repo.Registry.Scheme() == "http" {
		schemes = append(schemes, "http")
	}
	return &blobFetcher{repo: repo, client: &http.Client{Transport: rt}, schemes: schemes}, nil
}

// fetch opens blob d from byte offset on. start is where the body really
// begins: a registry that ignores Range sends the whole blob and start is 0.
func (f *blobFetcher) fetch(ctx context.Context, d ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error) {
	f.mu.Lock()
	schemes := f.schemes
	f.mu.Unlock()
	var resp *http.Response
	var u string
	var err error
	for _, scheme := range schemes {
		u = fmt.Sprintf("%s://%s/v2/%s/blobs/%s", scheme, f.repo.RegistryStr(), f.repo.RepositoryStr(), d.Digest)
		var req *http.Request
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, 0, err
		}
		if offset > 0 && d.Size > offset {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, d.Size-1))
		}
		if resp, err = f.client.Do(req); err == nil {
			f.mu.Lock()
			f.schemes = []string{scheme}
			f.mu.Unlock()
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, 0, err
	}
	if err := transport.CheckError(resp, http.StatusOK, http.StatusPartialContent); err != nil {
		resp.Body.Close()
		return nil, 0, err
	}
	if resp.StatusCode == http.StatusPartialContent {
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", offset)) {
			resp.Body.Close()
			return nil, 0, fmt.Errorf("GET %s: asked for bytes from %d, got Content-Range %q", u, offset, resp.Header.Get("Content-Range"))
		}
		return resp.Body, offset, nil
	}
	return resp.Body, 0, nil
}
