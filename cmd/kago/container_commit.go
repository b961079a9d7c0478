package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
)

func newExportCmd(g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Write a container's filesystem as a tar archive (stdout by default)",
		Args:  cobra.ExactArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			return writeOutput(output, cmd.OutOrStdout(), "export", func(w io.Writer) error {
				return e.Export(cmd.Context(), args[0], w)
			})
		}),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

// writeOutput has write produce an archive into the file output, or to
// stdout when it is "" or "-". A file is written beside the target and
// renamed, so a failure leaves no half archive under the name.
func writeOutput(output string, stdout io.Writer, verb string, write func(io.Writer) error) error {
	if output == "" || output == "-" {
		w := bufio.NewWriterSize(stdout, 1<<20)
		if err := write(w); err != nil {
			return err
		}
		return w.Flush()
	}
	f, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+"-*")
	if err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, output, err)
	}
	return os.Rename(f.Name(), output)
}

func newDiffCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "List the files a container added (A), changed (C) or deleted (D)",
		Args:  cobra.ExactArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			changes, err := e.Diff(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, c := range changes {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", c.Kind, c.Path)
			}
			return nil
		}),
	}
}

func newCommitCmd(g *globalOptions) *cobra.Command {
	var o engine.CommitOptions
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Make an image of a container's changes and config",
		Args:  cobra.RangeArgs(1, 2),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			if len(args) == 2 {
				o.Ref = args[1]
			}
			img, err := e.Commit(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), img.ID)
			return nil
		}),
	}
	cmd.Flags().StringVarP(&o.Message, "message", "m", "", "commit message")
	cmd.Flags().StringVarP(&o.Author, "author", "a", "", `author (e.g. "Jane Doe <jane@example.com>")`)
	cmd.Flags().StringArrayVarP(&o.Changes, "change", "c", nil, "apply a Dockerfile instruction to the image's config")
	cmd.Flags().BoolVarP(&o.Pause, "pause", "p", true, "pause the container while committing")
	return cmd
}
