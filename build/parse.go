package build

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// maxDockerfile bounds what is read of a Dockerfile: it is untrusted input.
const maxDockerfile = 4 << 20

// dockerfile is a parsed Dockerfile: its stages and the ARGs before the
// first FROM.
type dockerfile struct {
	name     string
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
	escape   rune
}

// parseDockerfile parses data with BuildKit's parser and checks that every
// instruction is one kago can build, naming the line otherwise.
func parseDockerfile(name string, data []byte) (*dockerfile, error) {
	if len(data) > maxDockerfile {
		return nil, fmt.Errorf("%s is larger than %d MiB", name, maxDockerfile>>20)
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, locate(name, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, locate(name, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s has no FROM instruction: a Dockerfile starts with FROM (after optional ARGs)", name)
	}
	for _, st := range stages {
		for _, c := range st.Commands {
			if err := supported(c); err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", name, line(c), strings.TrimSpace(fmt.Sprint(c)), err)
			}
		}
	}
	return &dockerfile{name: name, stages: stages, metaArgs: metaArgs, escape: res.EscapeToken}, nil
}

// errUnsupported marks instructions and flags kago does not build yet.
var errUnsupported = errors.New("not supported by kago build yet")

// supported refuses the BuildKit-only features kago does not implement,
// instead of building something different from what the file asks.
func supported(c instructions.Command) error {
	switch c := c.(type) {
	case *instructions.RunCommand:
		for _, f := range c.FlagsUsed {
			if f != "mount" && f != "network" {
				return fmt.Errorf("RUN --%s is %w", f, errUnsupported)
			}
		}
		// The mounts as written, their variables unexpanded: a type=ssh
		// mount is refused before anything is built.
		err := c.Expand(func(w string) (string, error) { return w, nil })
		if err != nil && !strings.Contains(fmt.Sprint(c), "$") {
			return fmt.Errorf("RUN --mount: %s", firstLine(err))
		}
		if err == nil {
			for _, m := range instructions.GetMounts(c) {
				if m.Type == instructions.MountTypeSSH {
					return fmt.Errorf("RUN --mount=type=ssh is %w: kago build forwards no SSH agent; fetch with ADD of a git URL, or pass a key as a --secret", errUnsupported)
				}
			}
		}
	case *instructions.AddCommand:
		if c.Unpack != nil {
			return fmt.Errorf("ADD --unpack is %w", errUnsupported)
		}
	case *instructions.CmdCommand:
		if len(c.Files) > 0 {
			return fmt.Errorf("CMD with a heredoc is %w", errUnsupported)
		}
	case *instructions.EntrypointCommand:
		if len(c.Files) > 0 {
			return fmt.Errorf("ENTRYPOINT with a heredoc is %w", errUnsupported)
		}
	}
	return nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// line is the first line of an instruction in its Dockerfile.
func line(c instructions.Command) int {
	if loc := c.Location(); len(loc) > 0 {
		return loc[0].Start.Line
	}
	return 0
}

// locate turns a parser error into "Dockerfile:LINE: message".
func locate(name string, err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return fmt.Errorf("%s:%d: %s", name, le.Locations[0][0].Start.Line, firstLine(le.Unwrap()))
	}
	return fmt.Errorf("%s: %s", name, firstLine(err))
}

// firstLine keeps error messages to one line: BuildKit's errors carry no
// stack here, but some wrap multi-line details.
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// parseTrigger parses an ONBUILD trigger of a base image: one instruction,
// neither FROM, ONBUILD nor MAINTAINER (docker's rule), and one kago builds.
func parseTrigger(trigger string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(trigger))
	if err != nil {
		return nil, errors.New(firstLine(err))
	}
	if len(res.AST.Children) != 1 {
		return nil, errors.New("a trigger is one instruction")
	}
	switch strings.ToUpper(res.AST.Children[0].Value) {
	case "FROM", "ONBUILD", "MAINTAINER":
		return nil, fmt.Errorf("%s is not allowed as an ONBUILD trigger", res.AST.Children[0].Value)
	}
	c, err := instructions.ParseCommand(res.AST.Children[0])
	if err != nil {
		return nil, errors.New(firstLine(err))
	}
	if err := supported(c); err != nil {
		return nil, err
	}
	return c, nil
}
