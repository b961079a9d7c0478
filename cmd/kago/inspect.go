package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/kago-run/kago/engine"
	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/internal/format"
)

// printInspect writes what inspect found: a JSON array as docker prints it,
// or each value through the user's -f template.
func printInspect[T any](w io.Writer, tmpl string, values []T) error {
	if tmpl != "" {
		list := make([]any, len(values))
		for i, v := range values {
			list[i] = v
			if img, ok := any(v).(*image.Image); ok {
				list[i] = imageForms(img)
			}
		}
		return format.Inspect(w, tmpl, list)
	}
	if values == nil {
		values = []T{}
	}
	data, err := json.MarshalIndent(values, "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(data))
	return err
}

// inspectTypes are the kinds of object `kago inspect` looks names up in, in
// docker's order.
var inspectTypes = []string{"container", "image", "network", "volume"}

func newInspectCmd(g *globalOptions) *cobra.Command {
	var tmpl, typ string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Show containers, images, networks or volumes as docker-style JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: withEngine(g, func(cmd *cobra.Command, args []string, e *engine.Engine) error {
			types := inspectTypes
			if typ != "" {
				if !slices.Contains(inspectTypes, typ) {
					return fmt.Errorf("invalid --type %q: use container, image, network or volume", typ)
				}
				types = []string{typ}
			}
			if tmpl != "" {
				if _, err := format.Parse(tmpl); err != nil {
					return err
				}
			}
			var found []any
			var errs []error
			for _, ref := range args {
				v, err := inspectObject(cmd, e, ref, types)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				found = append(found, v)
			}
			if err := printInspect(cmd.OutOrStdout(), tmpl, found); err != nil {
				return err
			}
			return errors.Join(errs...)
		}),
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", `print each object through a Go template, e.g. {{.State.Status}} or {{json .Config}}`)
	cmd.Flags().StringVar(&typ, "type", "", "look only for a container, image, network or volume")
	return cmd
}

// inspectObject finds ref as the first of types that has it.
func inspectObject(cmd *cobra.Command, e *engine.Engine, ref string, types []string) (any, error) {
	for _, t := range types {
		switch t {
		case "container":
			if r, err := e.Lookup(ref); err == nil {
				return e.InspectContainer(r), nil
			} else if len(types) == 1 {
				return nil, err
			}
		case "image":
			if img, err := e.Images.Resolve(ref); err == nil {
				return img, nil
			} else if len(types) == 1 {
				return nil, err
			}
		case "network":
			if n, err := e.Net.Inspect(cmd.Context(), ref); err == nil {
				return n, nil
			} else if len(types) == 1 {
				return nil, err
			}
		case "volume":
			if v, err := e.InspectVolume(ref); err == nil {
				return v, nil
			} else if len(types) == 1 {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("no such container, image, network or volume: %s", ref)
}
