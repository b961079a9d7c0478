// Package archive turns OCI image layer blobs into directories and back.
//
// A layer is a tar stream, optionally compressed with gzip or zstd
// (image-spec "application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]").
// Decompress sniffs the compression by magic bytes, Apply extracts the tar
// into the (empty) directory of one snapshot, and WriteTar does the reverse.
//
// The model: every layer is extracted into its own directory, and the
// directories are stacked later as overlayfs lower layers. So OCI whiteouts are
// not applied by deleting files here; they are translated into the overlayfs
// form ("Whiteouts and Opaque Directories" in the image-spec layer document):
//
//	.wh.NAME     -> character device 0/0 called NAME
//	.wh..wh..opq -> xattr trusted.overlay.opaque="y" on the directory
//
// Safety: a layer is untrusted input. Every path is made relative to the
// target directory, a ".." that would climb out of it is an error naming the
// entry, and parents are opened with openat2(RESOLVE_IN_ROOT) through
// package linux/inroot, so a symlink planted by an earlier entry resolves
// inside the directory, never outside.
// The last component of an entry is never followed: it is created with
// O_EXCL/O_NOFOLLOW or *at calls that do not follow symlinks.
package archive
