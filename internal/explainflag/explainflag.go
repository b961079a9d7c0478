// Package explainflag is the --explain[=json] flag that kago and kago-runc
// share: off by default, "--explain" for numbered lines, "--explain=json"
// for one JSON object a line, printed to stderr.
package explainflag

import (
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/kago-run/kago/linux/explain"
)

// Add adds --explain[=json] to fl, stored in v.
func Add(fl *pflag.FlagSet, v *string) {
	fl.StringVar(v, "explain", "", "print each Linux feature applied, step by step, to stderr (--explain or --explain=json)")
	fl.Lookup("explain").NoOptDefVal = "text"
}

// Recorder returns the recorder for an --explain value, printing to w: nil
// when the flag is off, so nothing does explain work at all.
func Recorder(v string, w io.Writer) (explain.Recorder, error) {
	switch v {
	case "":
		return nil, nil
	case "text", "json":
		return &explain.Writer{W: w, JSON: v == "json"}, nil
	}
	return nil, fmt.Errorf("unknown --explain=%q: use --explain or --explain=json", v)
}
