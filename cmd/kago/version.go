package main

import (
	"fmt"
	"io"
	goruntime "runtime"
	"runtime/debug"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/internal/format"
)

// version is kago's release, set at build time with
// -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// gitCommit is the commit kago was built from, set by the Makefile with
// -ldflags "-X main.gitCommit=..." (Go's own VCS stamp is used otherwise).
var gitCommit = ""

// versionInfo is `kago version` in docker's shape, so that templates such
// as {{.Server.Version}} or {{.Client.GoVersion}} read as they do there.
// kago serves no remote API: the CLI runs the engine in its own process, so
// client and server are one build, and the runtime is kago's own runtime
// package (the code kago-runc ships).
type versionInfo struct {
	Client clientVersion
	Server serverVersion
}

type buildVersion struct {
	Version    string
	APIVersion string `json:"ApiVersion"`
	GitCommit  string
	GoVersion  string
	Os         string
	Arch       string
	BuildTime  string `json:",omitempty"`
}

type clientVersion struct {
	buildVersion
}

type serverVersion struct {
	buildVersion
	KernelVersion string
	Components    []component
}

type component struct {
	Name    string
	Version string
	Details map[string]string
}

func currentVersion() versionInfo {
	b := buildVersion{Version: version, APIVersion: "none (no remote API)", GitCommit: "unknown",
		GoVersion: goruntime.Version(), Os: goruntime.GOOS, Arch: goruntime.GOARCH}
	if gitCommit != "" {
		b.GitCommit = gitCommit
	} else if info, ok := debug.ReadBuildInfo(); ok {
		modified := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.GitCommit = s.Value[:min(len(s.Value), 12)]
			case "vcs.time":
				b.BuildTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && b.GitCommit != "unknown" {
			b.GitCommit += "-dirty"
		}
	}
	var uts unix.Utsname
	kernel := "unknown"
	if unix.Uname(&uts) == nil {
		kernel = unix.ByteSliceToString(uts.Release[:])
	}
	s := serverVersion{buildVersion: b, KernelVersion: kernel, Components: []component{
		{Name: "Engine", Version: b.Version, Details: map[string]string{"GitCommit": b.GitCommit, "GoVersion": b.GoVersion, "KernelVersion": kernel, "Os": b.Os, "Arch": b.Arch}},
		{Name: "kago-runc", Version: b.Version, Details: map[string]string{"GitCommit": b.GitCommit}},
	}}
	return versionInfo{Client: clientVersion{b}, Server: s}
}

func newVersionCmd(g *globalOptions) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show kago's version: client, engine and runtime",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := currentVersion()
			if tmpl != "" {
				return format.Inspect(cmd.OutOrStdout(), tmpl, []any{v})
			}
			return printVersion(cmd.OutOrStdout(), v)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "print through a Go template, e.g. {{.Server.Version}} or {{json .}}")
	return cmd
}

// printVersion writes docker version's text layout.
func printVersion(w io.Writer, v versionInfo) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	c := v.Client
	fmt.Fprintf(tw, "Client:\n Version:\t%s\n API version:\t%s\n Go version:\t%s\n Git commit:\t%s\n Built:\t%s\n OS/Arch:\t%s/%s\n\n",
		c.Version, c.APIVersion, c.GoVersion, c.GitCommit, orUnknown(c.BuildTime), c.Os, c.Arch)
	s := v.Server
	fmt.Fprintf(tw, "Server:\n Engine:\n  Version:\t%s\n  API version:\t%s\n  Go version:\t%s\n  Git commit:\t%s\n  Built:\t%s\n  OS/Arch:\t%s/%s\n  Kernel:\t%s\n",
		s.Version, s.APIVersion, s.GoVersion, s.GitCommit, orUnknown(s.BuildTime), s.Os, s.Arch, s.KernelVersion)
	for _, comp := range s.Components[1:] {
		fmt.Fprintf(tw, " %s:\n  Version:\t%s\n  GitCommit:\t%s\n", comp.Name, comp.Version, comp.Details["GitCommit"])
	}
	return tw.Flush()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
