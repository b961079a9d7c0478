// Package snapshot keeps unpacked image layers on disk and gives containers
// writable root filesystems made of them with overlayfs.
//
// The model: each layer is extracted once, into its own directory, keyed by
// its chain ID (image-spec config.md "Layer ChainID": the digest that names a
// layer together with every layer below it, so the same diff on top of a
// different base is a different snapshot). Whiteouts are stored in overlayfs
// form by package archive, so the directories stack directly as overlay lower
// layers. A container snapshot is an overlay of its image's layers plus a
// fresh upper and work directory.
//
// Layout under the root:
//
//	layers/<alg>-<hex>/fs          the extracted layer (an overlay lowerdir)
//	layers/<alg>-<hex>/meta.json   size and time of unpacking
//	containers/<key>/{upper,work,merged}, containers/<key>/meta.json (its layers)
//	tmp/                           work in progress, renamed into place when whole
//	locks/                         flock files, one per layer and one for the store
//	empty/                         the lower layer of an image with no layers
//
// Crash safety: a layer or container directory only ever appears under its
// final name by one rename of a finished directory, so a killed kago leaves
// at most a directory under tmp/, removed by New or Cleanup once no live
// process holds its lock. Records are written with temp+fsync+rename.
//
// Concurrency: kago processes may share a root. Unpack holds a lock per chain
// ID, so the same layer is extracted once while others wait and then find it;
// operations that read or change which containers use which layers hold the
// store lock.
package snapshot
