package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/internal/format"
)

// withImageStore makes a RunE that opens the engine's image store and hands
// it to run. It goes through the engine so that the store knows which images
// containers use (rmi refuses those without -f).
func withImageStore(g *globalOptions, run func(cmd *cobra.Command, args []string, s *image.Store) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		e, err := openEngine(g)
		if err != nil {
			return err
		}
		return run(cmd, args, e.Images)
	}
}

// interruptible ends ctx on Ctrl-C or SIGTERM, so a pull stops cleanly and
// keeps what it downloaded for the next one.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// hostArg is the optional SERVER argument of login and logout, Docker Hub
// if absent.
func hostArg(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return image.DefaultRegistry
}

func newPullCmd(g *globalOptions) *cobra.Command {
	var o image.PullOptions
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: withImageStore(g, func(cmd *cobra.Command, args []string, s *image.Store) error {
			o.Progress = cmd.OutOrStdout()
			if quiet {
				o.Progress = nil
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			img, err := s.Pull(ctx, args[0], o)
			if err != nil {
				return err
			}
			if quiet {
				fmt.Fprintln(cmd.OutOrStdout(), img.ID)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&o.Platform, "platform", "", "platform os/arch[/variant] to pull from a multi-platform image (default: this host)")
	cmd.Flags().BoolVar(&o.Insecure, "insecure-registry", false, "allow plain HTTP or unverified TLS to a non-loopback registry")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image ID")
	return cmd
}

// imageRow is one line of kago images, also its JSON form.
type imageRow struct {
	Repository   string `json:"Repository"`
	Tag          string `json:"Tag"`
	ID           string `json:"ID"`
	Digest       string `json:"Digest"`
	CreatedAt    string `json:"CreatedAt"`
	CreatedSince string `json:"CreatedSince"`
	Size         string `json:"Size"`
	VirtualSize  int64  `json:"VirtualSize"`
}

func imageRows(imgs []*image.Image) []imageRow {
	var rows []imageRow
	for _, img := range imgs {
		base := imageRow{
			ID:           image.ShortID(img.ID),
			Digest:       "<none>",
			CreatedAt:    img.Created.Format("2006-01-02 15:04:05 -0700 MST"),
			CreatedSince: since(img.Created),
			Size:         image.HumanSize(img.Size),
			VirtualSize:  img.Size,
		}
		if len(img.RepoTags) == 0 {
			r := base
			r.Repository, r.Tag = "<none>", "<none>"
			if len(img.RepoDigests) > 0 {
				ref, err := image.ParseReference(img.RepoDigests[0])
				if err == nil {
					r.Repository = ref.FamiliarName()
					r.Digest = ref.Digest.String()
				}
			}
			rows = append(rows, r)
			continue
		}
		for _, t := range img.RepoTags {
			ref, err := image.ParseReference(t)
			if err != nil {
				continue
			}
			r := base
			r.Repository, r.Tag = ref.FamiliarName(), ref.Tag
			// The digest the image has in this tag's repository, if pulled or pushed.
			for _, d := range img.RepoDigests {
				if dr, err := image.ParseReference(d); err == nil && dr.Name() == ref.Name() {
					r.Digest = dr.Digest.String()
				}
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// since says how long ago t was, as docker does ("3 days ago").
func since(t time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "Less than a minute ago"
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d.Hours()), "hour") + " ago"
	case d < 14*24*time.Hour:
		return plural(int(d.Hours()/24), "day") + " ago"
	case d < 60*24*time.Hour:
		return plural(int(d.Hours()/24/7), "week") + " ago"
	case d < 2*365*24*time.Hour:
		return plural(int(d.Hours()/24/30), "month") + " ago"
	}
	return plural(int(d.Hours()/24/365), "year") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		if unit == "hour" {
			return "An hour"
		}
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func newImagesCmd(g *globalOptions) *cobra.Command {
	var quiet bool
	var format string
	cmd := &cobra.Command{
		Use:     "images [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"ls"},
		Short:   "List images",
		Args:    cobra.MaximumNArgs(1),
		RunE: withImageStore(g, func(cmd *cobra.Command, args []string, s *image.Store) error {
			imgs, err := s.List()
			if err != nil {
				return err
			}
			rows := imageRows(imgs)
			if len(args) == 1 {
				rows = filterRows(rows, args[0])
			}
			return printImageRows(cmd.OutOrStdout(), rows, quiet, format)
		}),
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only image IDs")
	cmd.Flags().StringVar(&format, "format", "", `output format: "table", "table TEMPLATE", "json" or a Go template (fields .ID .Repository .Tag .Digest .CreatedSince .CreatedAt .Size)`)
	return cmd
}

// filterRows keeps the rows of one repository (and tag, if given).
func filterRows(rows []imageRow, want string) []imageRow {
	repo, tag := want, ""
	if i := strings.LastIndex(want, ":"); i > strings.LastIndex(want, "/") {
		repo, tag = want[:i], want[i+1:]
	}
	wantName := repo
	if r, err := image.ParseReference(repo); err == nil {
		wantName = r.FamiliarName()
	}
	var out []imageRow
	for _, r := range rows {
		if r.Repository == wantName && (tag == "" || r.Tag == tag) {
			out = append(out, r)
		}
	}
	return out
}

// imagesDefaultFormat is docker's images table.
const imagesDefaultFormat = `table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`

// imagesHeaders are docker's column names for the images fields.
var imagesHeaders = map[string]string{
	"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "CreatedSince": "CREATED",
	"CreatedAt": "CREATED AT", "Size": "SIZE", "VirtualSize": "VIRTUAL SIZE",
}

func printImageRows(w io.Writer, rows []imageRow, quiet bool, fmtFlag string) error {
	if quiet {
		seen := map[string]bool{}
		for _, r := range rows {
			if !seen[r.ID] {
				seen[r.ID] = true
				fmt.Fprintln(w, r.ID)
			}
		}
		return nil
	}
	f, err := format.New(fmtFlag, imagesDefaultFormat)
	if err != nil {
		return err
	}
	list := make([]any, len(rows))
	for i, r := range rows {
		list[i] = r
	}
	return f.Write(w, list, imagesHeaders)
}

func newRmiCmd(g *globalOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove images",
		Args:  cobra.MinimumNArgs(1),
		RunE: withImageStore(g, func(cmd *cobra.Command, args []string, s *image.Store) error {
			var errs []string
			for _, ref := range args {
				out, err := s.Remove(cmd.Context(), ref, image.RemoveOptions{Force: force})
				for _, l := range out {
					fmt.Fprintln(cmd.OutOrStdout(), l)
				}
				if err != nil {
					errs = append(errs, err.Error())
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("%s", strings.Join(errs, "; "))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove even if a container uses it, and all tags of an image named by ID")
	return cmd
}

func newTagCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Give an image another name",
		Args:  cobra.ExactArgs(2),
		RunE: withImageStore(g, func(cmd *cobra.Command, args []string, s *image.Store) error {
			return s.Tag(args[0], args[1])
		}),
	}
}

func newImageInspectCmd(g *globalOptions) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:   "inspect IMAGE [IMAGE...]",
		Short: "Show images' config, layers and digests as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: withImageStore(g, func(cmd *cobra.Command, args []string, s *image.Store) error {
			var out []*image.Image
			for _, ref := range args {
				img, err := s.Resolve(ref)
				if err != nil {
					return err
				}
				out = append(out, img)
			}
			return printInspect(cmd.OutOrStdout(), tmpl, out)
		}),
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "print each image through a Go template")
	return cmd
}

// newImageCmd groups the image verbs as "kago image VERB".
func newImageCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage images",
	}
	ls := newImagesCmd(g)
	ls.Use, ls.Aliases = "ls [OPTIONS] [REPOSITORY[:TAG]]", []string{"list"}
	rm := newRmiCmd(g)
	rm.Use, rm.Aliases = "rm [OPTIONS] IMAGE [IMAGE...]", nil
	cmd.AddCommand(ls, rm, newImageInspectCmd(g), newImagePruneCmd(g), newPullCmd(g), newTagCmd(g),
		newSaveCmd(g), newLoadCmd(g), newImportCmd(g), newPushCmd(g), newBuildCmd(g))
	return cmd
}
