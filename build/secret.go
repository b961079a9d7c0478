package build

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Secret is where a build secret's value comes from: a file, or an
// environment variable of the kago process. Only RUN --mount=type=secret
// shows it, on a file of the step's bundle or in the step's environment:
// it never enters a layer, the image's history or a cache key.
type Secret struct {
	Src string // a file on this machine
	Env string // an environment variable, when Src is ""
}

// maxSecret bounds a secret's size, as BuildKit's 500 KiB.
const maxSecret = 500 << 10

// ParseSecret reads a --secret value as docker buildx does:
// id=ID[,src=FILE|,env=VAR][,type=file|env]. With neither src nor env the
// environment variable named ID is the value.
func ParseSecret(s string) (id string, sec Secret, err error) {
	bad := func(format string, a ...any) (string, Secret, error) {
		return "", Secret{}, fmt.Errorf("--secret %q: %s: use id=ID,src=FILE or id=ID,env=VAR", s, fmt.Sprintf(format, a...))
	}
	r := csv.NewReader(strings.NewReader(s))
	r.FieldsPerRecord = -1
	fields, err := r.Read()
	if err != nil {
		return bad("not a comma-separated list")
	}
	typ := ""
	var src, env string
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return bad("%q is not KEY=VALUE", f)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "id":
			id = v
		case "src", "source":
			src = v
		case "env":
			env = v
		case "type":
			if v != "file" && v != "env" {
				return bad("type %q is neither file nor env", v)
			}
			typ = v
		default:
			return bad("unknown key %q", k)
		}
	}
	if id == "" {
		return bad("no id")
	}
	if strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return bad("id %q contains / or NUL", id)
	}
	switch {
	case src != "" && env != "":
		return bad("both src and env")
	case typ == "env" && src != "":
		env, src = src, ""
	case typ == "file" && env != "":
		return bad("type=file with env")
	}
	if src == "" && env == "" {
		if typ == "file" {
			return bad("type=file without src")
		}
		env = id
	}
	if strings.IndexByte(src, 0) >= 0 || strings.ContainsAny(env, "=\x00") {
		return bad("a NUL byte or = in a name")
	}
	return id, Secret{Src: src, Env: env}, nil
}

// read returns the secret's value.
func (s Secret) read() ([]byte, error) {
	if s.Src == "" {
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return []byte(v), nil
	}
	f, err := os.Open(s.Src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecret+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.Src, err)
	}
	if len(data) > maxSecret {
		return nil, errors.New(s.Src + " is larger than 500 KiB")
	}
	return data, nil
}
