package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kago-run/kago/image"
	"github.com/spf13/cobra"
)

func newSaveCmd(g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Write images to an OCI layout tar archive (stdout by default)",
		Args:  cobra.MinimumNArgs(1),
		RunE: withImageStore(g, func(cmd *cobra.Command, args []string, s *image.Store) error {
			return writeOutput(output, cmd.OutOrStdout(), "save", func(w io.Writer) error {
				return s.Save(cmd.Context(), w, args)
			})
		}),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

// openInput opens a file argument, "-" or "" meaning stdin.
func openInput(cmd *cobra.Command, p string) (io.ReadCloser, error) {
	if p == "" || p == "-" {
		return io.NopCloser(cmd.InOrStdin()), nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func newLoadCmd(g *globalOptions) *cobra.Command {
	var input, platform string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load images from an OCI layout or docker save tar archive (stdin by default)",
		Args:  cobra.NoArgs,
		RunE: withImageStore(g, func(cmd *cobra.Command, args []string, s *image.Store) error {
			r, err := openInput(cmd, input)
			if err != nil {
				return fmt.Errorf("load: %w", err)
			}
			defer r.Close()
			o := image.LoadOptions{Progress: cmd.OutOrStdout(), Platform: platform}
			if quiet {
				o.Progress = nil
			}
			_, err = s.Load(cmd.Context(), bufio.NewReaderSize(r, 1<<20), o)
			return err
		}),
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from this file instead of stdin")
	cmd.Flags().StringVar(&platform, "platform", "", "platform to load from a multi-platform archive")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing")
	return cmd
}

func newImportCmd(g *globalOptions) *cobra.Command {
	var o image.ImportOptions
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] FILE|- [REPOSITORY[:TAG]]",
		Short: "Make an image from a root filesystem tar",
		Args:  cobra.RangeArgs(1, 2),
		RunE: withImageStore(g, func(cmd *cobra.Command, args []string, s *image.Store) error {
			r, err := openInput(cmd, args[0])
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer r.Close()
			ref := ""
			if len(args) == 2 {
				ref = args[1]
			}
			img, err := s.Import(cmd.Context(), r, ref, o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), img.ID)
			return nil
		}),
	}
	cmd.Flags().StringArrayVarP(&o.Changes, "change", "c", nil, "apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, WORKDIR, USER, LABEL, VOLUME, STOPSIGNAL)")
	cmd.Flags().StringVarP(&o.Message, "message", "m", "", "commit message for the image history")
	cmd.Flags().StringVar(&o.Platform, "platform", "", "platform of the image (default this host)")
	return cmd
}

func newPushCmd(g *globalOptions) *cobra.Command {
	var o image.PushOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  cobra.ExactArgs(1),
		RunE: withImageStore(g, func(cmd *cobra.Command, args []string, s *image.Store) error {
			o.Progress = cmd.OutOrStdout()
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			_, err := s.Push(ctx, args[0], o)
			return err
		}),
	}
	cmd.Flags().BoolVar(&o.Insecure, "insecure-registry", false, "allow plain HTTP or unverified TLS to a non-loopback registry")
	return cmd
}

func newLoginCmd(g *globalOptions) *cobra.Command {
	var user, password string
	var passwordStdin bool
	var o image.RegistryOptions
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry (credentials go to ~/.docker/config.json)",
		Args:  cobra.MaximumNArgs(1),
		RunE: withImageStore(g, func(cmd *cobra.Command, args []string, s *image.Store) error {
			host := hostArg(args)
			in := bufio.NewReader(cmd.InOrStdin())
			if user == "" {
				fmt.Fprint(cmd.ErrOrStderr(), "Username: ")
				line, _ := in.ReadString('\n')
				user = strings.TrimSpace(line)
			}
			if passwordStdin || password == "" {
				if !passwordStdin {
					fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
				}
				line, err := in.ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("login: read password: %w", err)
				}
				password = strings.TrimRight(line, "\r\n")
			}
			if user == "" || password == "" {
				return fmt.Errorf("login: user name and password are required")
			}
			if err := s.Login(cmd.Context(), host, user, password, o); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Login Succeeded")
			return nil
		}),
	}
	cmd.Flags().StringVarP(&user, "username", "u", "", "user name")
	cmd.Flags().StringVarP(&password, "password", "p", "", "password (prefer --password-stdin)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	cmd.Flags().BoolVar(&o.Insecure, "insecure-registry", false, "allow plain HTTP or unverified TLS to a non-loopback registry")
	return cmd
}

func newLogoutCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Remove the stored credentials of a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: withImageStore(g, func(cmd *cobra.Command, args []string, s *image.Store) error {
			host := hostArg(args)
			if err := s.Logout(host, image.RegistryOptions{}); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Removing login credentials for", host)
			return nil
		}),
	}
}
