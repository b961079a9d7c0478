// Package explain shows what a container is made of: the Linux features a
// runtime applies, step by step as it applies them (Recorder), and what a
// running container's process has, read back from /proc and the cgroup
// files (Inspect). Each part names the manual page to read, because the
// point is to learn that a container is just a process plus a few kernel
// features.
package explain
