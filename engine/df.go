package engine

import (
	"github.com/kago-run/kago/engine/containers"
	"github.com/kago-run/kago/image"
)

// DiskUsage is what `system df` reports: the space of images, containers
// and volumes, and which of them are in use.
type DiskUsage struct {
	Images     []ImageUsage
	Containers []ContainerUsage
	Volumes    []VolumeUsage
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
	for _, img := range imgs {
		du.Images = append(du.Images, ImageUsage{Image: img, Containers: byImage[img.ID.String()]})
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
