package image

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kago-run/kago/internal/atomicfile"

	"github.com/google/go-containerregistry/pkg/authn"
)

// dockerHubAuthKey is the key docker uses for Docker Hub in config.json.
const dockerHubAuthKey = "https://index.docker.io/v1/"

// maxAuthFileSize caps config.json; it holds a few credentials.
const maxAuthFileSize = 1 << 20

// DefaultAuthFile is where docker keeps credentials: $DOCKER_CONFIG/config.json
// or ~/.docker/config.json.
func DefaultAuthFile() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".docker", "config.json")
}

type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// authKeys are the config.json keys a registry host may be stored under.
func authKeys(host string) []string {
	if host == DefaultRegistry || host == "index.docker.io" || host == "registry-1.docker.io" {
		return []string{dockerHubAuthKey, "index.docker.io", "docker.io", "registry-1.docker.io"}
	}
	return []string{host, "https://" + host, "http://" + host, "https://" + host + "/v1/", "https://" + host + "/v2/"}
}

// readAuthFile loads config.json as raw fields, so rewriting it keeps the
// fields kago does not know (credsStore, proxies, ...).
func readAuthFile(path string) (map[string]json.RawMessage, map[string]authEntry, error) {
	raw := map[string]json.RawMessage{}
	auths := map[string]authEntry{}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return raw, auths, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read credentials: %w", err)
	}
	defer f.Close()
	data, err := readLimited(f, maxAuthFileSize, path)
	if err != nil {
		return nil, nil, err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return raw, auths, nil
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("credentials file %s is not valid JSON (%v): fix or remove it", path, err)
	}
	if a, ok := raw["auths"]; ok {
		if err := json.Unmarshal(a, &auths); err != nil {
			return nil, nil, fmt.Errorf("credentials file %s: bad \"auths\" (%v): fix or remove it", path, err)
		}
	}
	return raw, auths, nil
}

// fileKeychain answers go-containerregistry's credential questions from a
// docker-style config.json; no helper programs are run.
type fileKeychain struct{ path string }

func (k fileKeychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	raw, auths, err := readAuthFile(k.path)
	if err != nil {
		return nil, err
	}
	for _, key := range authKeys(res.RegistryStr()) {
		e, ok := auths[key]
		if !ok || (e.Auth == "" && e.Username == "" && e.IdentityToken == "") {
			continue // docker leaves empty entries for hosts kept by a helper
		}
		cfg := authn.AuthConfig{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken}
		if e.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return nil, fmt.Errorf("credentials for %s in %s: bad base64 in \"auth\"", key, k.path)
			}
			user, pass, ok := strings.Cut(string(dec), ":")
			if !ok {
				return nil, fmt.Errorf("credentials for %s in %s: \"auth\" is not user:password", key, k.path)
			}
			cfg.Username, cfg.Password = user, pass
		}
		return authn.FromConfig(cfg), nil
	}
	return helperAuth(raw, res.RegistryStr())
}

// helperAuth asks a docker credential helper (credHelpers for the host, else
// credsStore) for credentials, as docker does when they are not in the file.
func helperAuth(raw map[string]json.RawMessage, host string) (authn.Authenticator, error) {
	var helpers map[string]string
	var store string
	if h, ok := raw["credHelpers"]; ok {
		_ = json.Unmarshal(h, &helpers)
	}
	if st, ok := raw["credsStore"]; ok {
		_ = json.Unmarshal(st, &store)
	}
	keys := authKeys(host)
	helper := store
	for _, k := range keys {
		if h := helpers[k]; h != "" {
			helper = h
			break
		}
	}
	if helper == "" {
		return authn.Anonymous, nil
	}
	if strings.ContainsAny(helper, "/\\") {
		return nil, fmt.Errorf("credential helper name %q must not contain a path", helper)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker-credential-"+helper, "get")
	cmd.Stdin = strings.NewReader(keys[0])
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		if strings.Contains(out.String(), "credentials not found") {
			return authn.Anonymous, nil
		}
		return nil, fmt.Errorf("credential helper docker-credential-%s for %s: %v: %s", helper, host, err, strings.TrimSpace(out.String()))
	}
	var cred struct{ Username, Secret string }
	if err := json.Unmarshal(out.Bytes(), &cred); err != nil {
		return nil, fmt.Errorf("credential helper docker-credential-%s for %s: bad answer: %w", helper, host, err)
	}
	if cred.Username == "<token>" {
		return authn.FromConfig(authn.AuthConfig{IdentityToken: cred.Secret}), nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: cred.Username, Password: cred.Secret}), nil
}

// SaveCredentials stores user and password for a registry host in a
// docker-style config.json (created with mode 0600 if missing).
func SaveCredentials(path, host, user, password string) error {
	return editAuths(path, func(auths map[string]authEntry) {
		key := host
		if host == DefaultRegistry {
			key = dockerHubAuthKey
		}
		for _, k := range authKeys(host) {
			delete(auths, k)
		}
		auths[key] = authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	})
}

// RemoveCredentials deletes a registry's credentials; it reports whether any
// were stored.
func RemoveCredentials(path, host string) (bool, error) {
	found := false
	err := editAuths(path, func(auths map[string]authEntry) {
		for _, k := range authKeys(host) {
			if _, ok := auths[k]; ok {
				found = true
				delete(auths, k)
			}
		}
	})
	return found, err
}

func editAuths(path string, fn func(map[string]authEntry)) error {
	raw, auths, err := readAuthFile(path)
	if err != nil {
		return err
	}
	fn(auths)
	a, err := json.Marshal(auths)
	if err != nil {
		return err
	}
	raw["auths"] = a
	data, err := json.MarshalIndent(raw, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o600)
}
