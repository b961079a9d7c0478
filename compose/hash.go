package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/compose-spec/compose-go/v2/types"
)

// ConfigHash is the service's com.docker.compose.config-hash: a digest of
// its configuration without what does not change a container (replicas,
// dependencies, profiles, build), as docker compose's ServiceHash, so `up`
// recreates a container exactly when its service changed.
func ConfigHash(s types.ServiceConfig) (string, error) {
	s.Scale = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		s.Deploy = &d
	}
	s.DependsOn = nil
	s.Profiles = nil
	s.Build = nil
	s.PullPolicy = ""
	data, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}
