package engine

import (
	digest "github.com/opencontainers/go-digest"

	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/image"
)

// DiskUsage is what `system df` reports: the space of images, containers
// and volumes, and which of them are in use.
type DiskUsage struct {
	Images     []ImageUsage
	Containers []ContainerUsage
	Volumes    []VolumeUsage
	// LayersSize is the bytes of the images' layers, each layer counted
	// once however many images share it; LayersReclaimable those of the
	// layers no image a container uses has.
	LayersSize, LayersReclaimable int64
}

// ImageUsage is one image with how many containers use it.
type ImageUsage struct {
	*image.Image
	Containers int
}

// ContainerUsage is one container with the bytes it wrote.
type ContainerUsage struct {
	*containers.Record
	Size int64
}

// Running tells whether the container is active for system df.
func (c ContainerUsage) Running() bool { return c.State.Status == containers.StatusRunning }

// VolumeUsage is one volume with its size and how many containers mount it.
type VolumeUsage struct {
	*Volume
	Size  int64
	Links int
}

// DiskUsage measures images, containers and volumes.
func (e *Engine) DiskUsage() (*DiskUsage, error) {
	du := &DiskUsage{}
	recs, err := e.List()
	if err != nil {
		return nil, err
	}
	byImage := map[string]int{}
	for _, r := range recs {
		byImage[r.ImageID]++
		du.Containers = append(du.Containers, ContainerUsage{Record: r, Size: e.ContainerSize(r.ID)})
	}
	imgs, err := e.Images.List()
	if err != nil {
		return nil, err
	}
	layers, used := map[digest.Digest]int64{}, map[digest.Digest]bool{}
	for _, img := range imgs {
		n := byImage[img.ID.String()]
		du.Images = append(du.Images, ImageUsage{Image: img, Containers: n})
		for _, chain := range img.ChainIDs {
			if _, ok := layers[chain]; !ok {
				layers[chain], _ = e.Images.Snapshots().Usage(chain)
			}
			used[chain] = used[chain] || n > 0
		}
	}
	for chain, size := range layers {
		du.LayersSize += size
		if !used[chain] {
			du.LayersReclaimable += size
		}
	}
	vols, err := e.volumes.List()
	if err != nil {
		return nil, err
	}
	users := e.volumeUsers()
	for _, v := range vols {
		du.Volumes = append(du.Volumes, VolumeUsage{Volume: v, Size: diskUsage(v.Mountpoint), Links: len(users[v.Name])})
	}
	return du, nil
}
