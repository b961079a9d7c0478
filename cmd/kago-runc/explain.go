package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/kago-run/kago/linux/explain"
)

// addExplainFlag adds --explain[=json] to create and run.
func addExplainFlag(fl *pflag.FlagSet, v *string) {
	fl.StringVar(v, "explain", "", "print each Linux feature applied, step by step, to stderr (--explain or --explain=json)")
	fl.Lookup("explain").NoOptDefVal = "text"
}

// explainRecorder returns the recorder for an --explain value: nil when off,
// so the runtime does no explain work at all.
func explainRecorder(v string) (explain.Recorder, error) {
	switch v {
	case "":
		return nil, nil
	case "text", "json":
		return &explain.Writer{W: os.Stderr, JSON: v == "json"}, nil
	}
	return nil, fmt.Errorf("unknown --explain=%q: use --explain or --explain=json", v)
}
