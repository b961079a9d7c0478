// Package nsenv is the environment protocol of the nsenter constructor
// (package linux/nsenter, C): the variables the runtime sets on a re-exec of
// kago-init for the constructor to read. It is apart from the constructor so
// that the runtime can speak it without linking cgo: kago-runc is a static Go
// program (no dynamic loader, no glibc: a quicker start and a smaller
// resident set for every container), and only the programs that run as a
// container's init or exec process carry the constructor.
package nsenv

// Environment variables the constructor reads; see linux/nsenter/nsenter.c.
const (
	EnvJoin    = "_KAGO_NSENTER"
	EnvUnshare = "_KAGO_NSENTER_UNSHARE"
	EnvPipe    = "_KAGO_NSENTER_PIPE"
	// EnvTimens carries linux.timeOffsets (linux/timens) for a time
	// namespace in the unshare flags.
	EnvTimens = "_KAGO_NSENTER_TIMENS"
)

// Constructor is true in a program that links the constructor in (imports
// linux/nsenter): only such a program can re-exec itself as a container's
// init or exec process.
var Constructor bool
