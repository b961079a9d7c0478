package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/kago-run/kago/linux/console"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/archive"
	"github.com/kago-run/kago/build"
	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/image"
)

type buildFlags struct {
	tags      []string
	file      string
	buildArgs []string
	target    string
	noCache   bool
	pull      bool
	labels    []string
	platform  string
	quiet     bool
	progress  string
	network   string
	secrets   []string
}

func newBuildCmd(g *globalOptions) *cobra.Command {
	f := &buildFlags{}
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] CONTEXT",
		Short: "Build an image from a Dockerfile",
		Long: "Build an image from a Dockerfile and a context (a directory, or - for a tar on stdin).\n" +
			"RUN steps run in kago containers; each step that changes files makes one layer, reused\n" +
			"from the layer cache when nothing it depends on changed.",
		Args: cobra.ExactArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			return runBuild(cmd, e, f, args[0])
		}),
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, "name the image NAME[:TAG] (repeatable)")
	fl.StringVarP(&f.file, "file", "f", "", "the Dockerfile (default CONTEXT/Dockerfile; - reads it from stdin)")
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "set a build argument K=V (K alone takes $K)")
	fl.StringVar(&f.target, "target", "", "build this stage and what it needs")
	fl.BoolVar(&f.noCache, "no-cache", false, "build every step again, ignoring the layer cache")
	fl.BoolVar(&f.pull, "pull", false, "pull FROM images even when they are stored")
	fl.StringArrayVar(&f.labels, "label", nil, "add a label K=V to the image (repeatable)")
	fl.StringVar(&f.platform, "platform", "", "the platform to build for (only this machine's)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only the image ID")
	fl.StringVar(&f.progress, "progress", "auto", "progress output: auto, plain or tty")
	fl.StringVar(&f.network, "network", "bridge", "network of RUN steps: bridge (the default bridge), none or host")
	fl.StringArrayVar(&f.secrets, "secret", nil, "a secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (repeatable)")
	return cmd
}

func runBuild(cmd *cobra.Command, e *engine.Engine, f *buildFlags, contextArg string) error {
	switch f.progress {
	case "auto", "plain", "tty":
	default:
		return fmt.Errorf("--progress %s: use auto, plain or tty", f.progress)
	}
	args, err := keyValues("--build-arg", f.buildArgs, true)
	if err != nil {
		return err
	}
	labels, err := keyValues("--label", f.labels, false)
	if err != nil {
		return err
	}
	secrets := map[string]build.Secret{}
	for _, v := range f.secrets {
		id, sec, err := build.ParseSecret(v)
		if err != nil {
			return err
		}
		secrets[id] = sec
	}
	b, err := build.New(e.Root, e.Images, func(ctx context.Context, ref string, pull bool) (*image.Image, error) {
		if pull {
			return e.Images.Pull(ctx, ref, image.PullOptions{})
		}
		return e.ResolveImage(ctx, ref, nil)
	})
	if err != nil {
		return err
	}
	b.Net = e.Net
	ctx, cancel := interruptible(cmd.Context())
	defer cancel()
	o := build.Options{ContextDir: contextArg, Dockerfile: f.file, Tags: f.tags, BuildArgs: args, Target: f.target,
		NoCache: f.noCache, Pull: f.pull, Labels: labels, Platform: f.platform, Network: f.network, Secrets: secrets}
	if f.file == "-" {
		if contextArg == "-" {
			return errors.New("-f - and a context from stdin (-) both want stdin: give one of them as a path")
		}
		data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 4<<20+1))
		if err != nil {
			return fmt.Errorf("read the Dockerfile from stdin: %w", err)
		}
		dir, err := os.MkdirTemp("", "kago-dockerfile-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.Dockerfile = filepath.Join(dir, "Dockerfile") // messages name it as docker does
		if err := os.WriteFile(o.Dockerfile, data, 0o600); err != nil {
			return err
		}
	}
	if contextArg == "-" {
		dir, err := os.MkdirTemp(filepath.Join(e.Root, "build"), "context-")
		if err != nil {
			if err := os.MkdirAll(filepath.Join(e.Root, "build"), 0o700); err != nil {
				return err
			}
			if dir, err = os.MkdirTemp(filepath.Join(e.Root, "build"), "context-"); err != nil {
				return err
			}
		}
		defer os.RemoveAll(dir)
		if err := extractContext(ctx, cmd.InOrStdin(), dir); err != nil {
			return err
		}
		o.ContextDir = dir
		if o.Dockerfile != "" && !filepath.IsAbs(o.Dockerfile) {
			o.Dockerfile = filepath.Join(dir, o.Dockerfile)
		}
	}
	if !f.quiet {
		o.Progress = cmd.ErrOrStderr()
		o.TTY = f.progress == "tty" || f.progress == "auto" && console.IsTerminal(o.Progress)
	}
	img, err := b.Build(ctx, o)
	if err != nil && ctx.Err() != nil {
		return errors.New("build interrupted: no image was made")
	}
	if err != nil {
		var re *build.RunError
		if f.quiet && errors.As(err, &re) {
			for _, l := range re.Output {
				fmt.Fprintln(cmd.ErrOrStderr(), l)
			}
		}
		return err
	}
	if f.quiet {
		fmt.Fprintln(cmd.OutOrStdout(), img.ID)
	}
	return nil
}

// extractContext unpacks a context tar from stdin into dir; archive.Apply
// keeps every entry inside dir.
func extractContext(ctx context.Context, r io.Reader, dir string) error {
	dr, err := archive.Decompress(r)
	if err != nil {
		return fmt.Errorf("build context from stdin: %w", err)
	}
	defer dr.Close()
	if _, err := archive.Apply(ctx, dir, dr, archive.ApplyOptions{NoOwnership: true}); err != nil {
		return fmt.Errorf("build context from stdin is not a valid tar: %w", err)
	}
	return nil
}

// keyValues parses K=V flags; with fromEnv, a lone K takes $K (docker's
// --build-arg), and is left out when $K is unset.
func keyValues(flag string, list []string, fromEnv bool) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("%s %q: use KEY=VALUE", flag, kv)
		}
		if !ok {
			if !fromEnv {
				return nil, fmt.Errorf("%s %q: use KEY=VALUE", flag, kv)
			}
			if v, ok = os.LookupEnv(k); !ok {
				continue
			}
		}
		out[k] = v
	}
	return out, nil
}

func newBuilderCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "builder", Short: "Manage the build cache"}
	var all, force bool
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove the build cache",
		Args:  cobra.NoArgs,
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			n, bytes, err := pruneBuildCache(cmd.Context(), e)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted %d build cache entries\nTotal reclaimed space: %s\n", n, image.HumanSize(bytes))
			return nil
		}),
	}
	prune.Flags().BoolVarP(&all, "all", "a", false, "remove all build cache (kago keeps no other kind)")
	prune.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation (kago never prompts)")
	cmd.AddCommand(prune)
	return cmd
}
