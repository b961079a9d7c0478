// Package nsenter joins namespaces before the Go runtime starts.
//
// The Go runtime is multi-threaded from its first instruction, and the kernel
// refuses setns(2) into a mount or user namespace to a multi-threaded process.
// kago therefore creates new namespaces with clone flags on a re-exec of itself
// (os/exec's SysProcAttr.Cloneflags, which need no single thread), and joins
// existing namespaces (kago-runc exec, or a config.json namespace with a path) in
// a small C constructor that runs before the Go runtime, in nsenter.c.
//
// Importing this package (for its side effect) links the constructor in; it does
// nothing unless the process was started with _KAGO_NSENTER set by the runtime.
package nsenter

/*
#cgo CFLAGS: -Wall -Werror -O2
*/
import "C"

// Environment variables the constructor reads; see nsenter.c for the protocol.
const (
	EnvJoin    = "_KAGO_NSENTER"
	EnvUnshare = "_KAGO_NSENTER_UNSHARE"
	EnvPipe    = "_KAGO_NSENTER_PIPE"
	// EnvTimens carries linux.timeOffsets (linux/timens) for a time
	// namespace in the unshare flags.
	EnvTimens = "_KAGO_NSENTER_TIMENS"
)
