package image

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// RegistryOptions say how to talk to a registry.
type RegistryOptions struct {
	// Insecure allows plain HTTP (and unverified TLS) to a registry that is not
	// on a loopback address; loopback registries may always use HTTP.
	Insecure bool
	// AuthFile overrides Store.AuthFile for this call.
	AuthFile string
	// Retries is how many times a failed request is tried again (default 2).
	Retries int
}

// httpGuard refuses plain HTTP to a non-loopback host unless the user asked
// for an insecure registry. go-containerregistry would otherwise fall back to
// HTTP for private (RFC 1918) addresses on its own.
type httpGuard struct {
	next     http.RoundTripper
	insecure bool
}

func (g httpGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure && !isLoopbackHost(req.URL.Hostname()) {
		return nil, fmt.Errorf("refusing plain HTTP to registry %s: use --insecure-registry if it really has no TLS", req.URL.Host)
	}
	return g.next.RoundTrip(req)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

func (s *Store) authFile(o RegistryOptions) string {
	switch {
	case o.AuthFile != "":
		return o.AuthFile
	case s.AuthFile != "":
		return s.AuthFile
	}
	return DefaultAuthFile()
}

// remoteOptions builds go-containerregistry options for one operation.
func (s *Store) remoteOptions(ctx context.Context, o RegistryOptions) []remote.Option {
	retries := o.Retries
	if retries == 0 {
		retries = 2
	}
	if retries < 0 {
		retries = 0
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(fileKeychain{path: s.authFile(o)}),
		remote.WithTransport(s.baseTransport(o)),
		remote.WithUserAgent("kago"),
		remote.WithRetryBackoff(remote.Backoff{Duration: 200 * time.Millisecond, Factor: 3, Jitter: 0.1, Steps: retries + 1}),
	}
}

// baseTransport is the HTTP transport under all registry traffic: TLS
// verification unless insecure, and no plain HTTP off loopback unless insecure.
func (s *Store) baseTransport(o RegistryOptions) http.RoundTripper {
	base := remote.DefaultTransport.(*http.Transport).Clone()
	if o.Insecure {
		base.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // the user asked for it
	}
	return httpGuard{next: base, insecure: o.Insecure}
}

// nameRef converts a parsed reference to go-containerregistry's form.
func nameRef(r Reference, insecure bool) (name.Reference, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	if r.Digest != "" {
		return name.NewDigest(r.Name()+"@"+r.Digest.String(), opts...)
	}
	return name.NewTag(r.Name()+":"+r.Tag, opts...)
}

// Login checks user and password against a registry (basic auth or the
// token flow) and stores them in the credentials file.
func (s *Store) Login(ctx context.Context, host, user, password string, o RegistryOptions) error {
	if host == "" {
		host = DefaultRegistry
	}
	var nopts []name.Option
	if o.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, nopts...)
	if err != nil {
		return fmt.Errorf("registry %q: %w", host, err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	rt, err := transport.NewWithContext(ctx, reg, auth, s.baseTransport(o), []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return fmt.Errorf("login to %s: %w", host, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return fmt.Errorf("login to %s: %w", host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("login to %s: registry answered %s: wrong user name or password?", host, resp.Status)
	}
	return SaveCredentials(s.authFile(o), host, user, password)
}

// Logout removes a registry's stored credentials.
func (s *Store) Logout(host string, o RegistryOptions) error {
	if host == "" {
		host = DefaultRegistry
	}
	found, err := RemoveCredentials(s.authFile(o), host)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("not logged in to %s: %w", host, ErrNotFound)
	}
	return nil
}
