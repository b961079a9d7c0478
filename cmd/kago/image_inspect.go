package main

import (
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kago-run/kago/image"
	"github.com/kago-run/kago/internal/format"
)

// dockerImage is an image in docker's inspect shape, so `inspect -f`
// templates written for docker ({{.Id}}, {{.Config.Cmd}}, {{.Os}}) work;
// kago's own record (image.Image) is the next shape they are tried on.
type dockerImage struct {
	Id           string
	RepoTags     []string
	RepoDigests  []string
	Created      string
	Author       string
	Architecture string
	Variant      string
	Os           string
	Size         int64
	Config       ocispec.ImageConfig
	RootFS       struct {
		Type   string
		Layers []string
	}
}

// imageForms is what inspect -f renders for an image: docker's view, then
// kago's record.
func imageForms(img *image.Image) format.Forms {
	d := dockerImage{Id: img.ID.String(), RepoDigests: img.RepoDigests, Created: img.Created.UTC().Format(time.RFC3339Nano),
		Author: img.Config.Author, Architecture: img.Config.Architecture, Variant: img.Config.Variant, Os: img.Config.OS,
		Size: img.Size, Config: img.Config.Config}
	for _, t := range img.RepoTags {
		if ref, err := image.ParseReference(t); err == nil {
			d.RepoTags = append(d.RepoTags, ref.FamiliarName()+":"+ref.Tag)
		}
	}
	d.RootFS.Type = "layers"
	for _, id := range img.DiffIDs {
		d.RootFS.Layers = append(d.RootFS.Layers, id.String())
	}
	return format.Forms{d, img}
}
