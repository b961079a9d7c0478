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

import "github.com/kago-run/kago/linux/nsenter/nsenv"

// Environment variables the constructor reads (package nsenv, which the
// runtime uses without linking this package's cgo); see nsenter.c.
const (
	EnvJoin    = nsenv.EnvJoin
	EnvUnshare = nsenv.EnvUnshare
	EnvPipe    = nsenv.EnvPipe
	EnvTimens  = nsenv.EnvTimens
)

func init() { nsenv.Constructor = true }
