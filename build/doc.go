// Package build makes images from Dockerfiles with kago's own runtime,
// snapshots and image store, the way buildah's imagebuildah does: one
// executor per stage, each filesystem-changing instruction committing one
// layer.
//
// BuildKit's parser and instruction types read the Dockerfile (grammar,
// escapes, heredocs, line continuations exactly as docker's), and
// patternmatcher reads .dockerignore. What kago adds on top:
//
//   - RUN runs in a kago container (runtime package, no engine record, no
//     monitor) on an overlay snapshot of the stage's current layers.
//   - COPY and ADD write into such a snapshot through archive.Apply, so every
//     destination path resolves inside the image (openat2 RESOLVE_IN_ROOT);
//     sources are confined to the context (RESOLVE_BENEATH): "../" and
//     symlinks leading out are refused.
//   - A step's layer is the tar of the snapshot's upper directory, overlay
//     whiteouts turned into OCI whiteouts (archive.WriteTar), gzip-compressed
//     into the content store and unpacked under its chain ID, so the next
//     step stacks on it.
//   - The layer cache maps a key (parent key, instruction text, the build
//     args in scope and, for COPY/ADD, a digest of the files copied) to the
//     layer a step made. A key whose layer is no longer stored is a miss.
//   - BuildKit's extensions: RUN heredocs run as BuildKit runs them; RUN
//     --mount binds the context or a stage, keeps cache directories per id
//     under <root>/build/mounts (locked per sharing mode, pruned with the
//     cache), mounts tmpfs and secrets (never in a layer or a key); the
//     mount points the runtime makes are removed from the step's layer.
//     COPY --link makes its layer on an empty tree with a key that does not
//     cover the layers below, so a new base reuses it. ADD clones git
//     sources with the host's git.
//
// The result is an OCI image (config with the docker extensions
// Healthcheck and OnBuild) recorded in the image store under each tag.
package build
