package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

// CacheUsage is how many steps the build cache remembers and the bytes of
// the compressed layers they name (`kago system df`'s Build Cache row).
func (b *Builder) CacheUsage() (entries int, size int64, err error) {
	ents, err := os.ReadDir(b.cacheDir())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read build cache: %w", err)
	}
	for _, e := range ents {
		enc, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		c := b.cached(digest.NewDigestFromEncoded(digest.SHA256, enc))
		if c == nil {
			continue
		}
		entries++
		if c.Layer != nil {
			size += c.Layer.Desc.Size
		}
	}
	return entries, size, nil
}
