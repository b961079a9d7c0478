package containerinit

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/caps"
	"github.com/kago-run/kago/linux/rlimit"
	"github.com/kago-run/kago/linux/seccomp"
	"github.com/kago-run/kago/runtime/syncmsg"
)

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// execPlan is everything decided before the point of no return, so that a
// bad executable or capability name fails `create` (or `exec`) instead of a
// container that dies right after start.
type execPlan struct {
	proc   *specs.Process
	path   string
	env    []string
	caps   *caps.Set
	filter *seccomp.Filter
	loaded bool // the seccomp filter is already in place
	notify bool
}

func prepareExec(proc *specs.Process, filter *seccomp.Filter) (*execPlan, error) {
	ex := &execPlan{proc: proc, env: withHome(proc.Env, proc.User.UID)}
	if err := os.Chdir(proc.Cwd); err != nil {
		return nil, fmt.Errorf("process.cwd %s in the container: %w", proc.Cwd, err)
	}
	// A cwd reached through a leaked descriptor (CVE-2024-21626) lies outside
	// the root, and the kernel reports it as "(unreachable)...".
	if wd, err := unix.Getwd(); err != nil || !strings.HasPrefix(wd, "/") {
		return nil, fmt.Errorf("process.cwd %s resolves outside the container's root", proc.Cwd)
	}
	path, err := lookPath(proc.Args[0], ex.env)
	if err != nil {
		return nil, err
	}
	ex.path = path
	if proc.Capabilities != nil {
		if ex.caps, err = caps.FromSpec(proc.Capabilities); err != nil {
			return nil, err
		}
	}
	if filter != nil {
		ex.filter = filter
		ex.notify = filter.NeedsListener()
	}
	return ex, nil
}

// loadEarlySeccomp loads a filter that uses SCMP_ACT_NOTIFY while the runtime
// still listens, so the listener fd can be handed to it. Other filters are
// loaded as late as possible, in exec.
func (ex *execPlan) loadEarlySeccomp(conn *syncmsg.Conn) error {
	if ex.filter == nil || !ex.notify {
		return nil
	}
	if ex.proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	fd, err := ex.filter.Load()
	if err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	ex.loaded = true
	if fd < 0 {
		return nil
	}
	f := os.NewFile(uintptr(fd), "seccomp-listener")
	defer f.Close()
	return conn.Send(syncmsg.TypeSeccomp, nil, f)
}

// exec marks every inherited descriptor the process must not see
// close-on-exec (CVE-2024-21626), applies rlimits, switches to the container
// user and its capabilities, sets no_new_privs and seccomp, asks for its
// AppArmor profile and SELinux context, and execve's. It only returns on
// failure.
func (ex *execPlan) exec(preserveFDs int) error {
	proc := ex.proc
	// Before any filter of the profile is loaded, which need not allow
	// close_range; what is opened from here to execve (the LSM attribute
	// files) is opened close-on-exec and closed again.
	if err := markInheritedCloexec(3 + preserveFDs); err != nil {
		return err
	}
	// As late as possible (but privileged, to raise hard limits): the Go
	// runtime reserves more address space than a small RLIMIT_AS allows.
	if err := rlimit.Apply(proc.Rlimits); err != nil {
		return err
	}
	// Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the
	// user switch may drop: load it first (runc does the same).
	if ex.filter != nil && !ex.loaded && !proc.NoNewPrivileges {
		if _, err := ex.filter.Load(); err != nil {
			return fmt.Errorf("load seccomp filter: %w", err)
		}
		ex.loaded = true
	}
	if ex.caps != nil {
		if err := ex.caps.ApplyBounding(); err != nil {
			return err
		}
	}
	if err := setUser(proc.User); err != nil {
		return err
	}
	if ex.caps != nil {
		if err := ex.caps.Apply(); err != nil {
			return err
		}
	}
	if proc.User.Umask != nil {
		unix.Umask(int(*proc.User.Umask))
	} else {
		unix.Umask(0o022)
	}
	if proc.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	if ex.filter != nil && !ex.loaded {
		if _, err := ex.filter.Load(); err != nil {
			return fmt.Errorf("load seccomp filter: %w", err)
		}
	}
	if err := applyLabels(proc); err != nil {
		return err
	}
	if err := unix.Exec(ex.path, proc.Args, ex.env); err != nil {
		return fmt.Errorf("exec %s: %w", proc.Args[0], err)
	}
	return nil
}

// setUser switches to the process's uid, gid and supplementary groups while
// keeping capabilities, which Apply then sets exactly.
func setUser(u specs.User) error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keep capabilities across setuid: %w", err)
	}
	gids := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		gids[i] = int(g)
	}
	// setgroups is refused in a user namespace whose setgroups file says
	// deny (rootless); only then is an empty list acceptable to skip.
	if err := unix.Setgroups(gids); err != nil && !(errors.Is(err, unix.EPERM) && len(gids) == 0) {
		return fmt.Errorf("set additional groups %v: %w", u.AdditionalGids, err)
	}
	if err := unix.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("set gid %d: %w", u.GID, err)
	}
	if err := unix.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("set uid %d: %w", u.UID, err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keepcaps: %w", err)
	}
	return nil
}

// lookPath finds name in the PATH of the process's environment, inside the
// container (the caller has already pivoted or joined its mount namespace).
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if err := checkExecutable(name); err != nil {
			return "", fmt.Errorf("process.args[0] %s: %w", name, err)
		}
		return name, nil
	}
	path := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("process.args[0] %q: executable file not found in $PATH (%s) inside the container", name, path)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if fi.Mode()&0o111 == 0 {
		return errors.New("permission denied: not executable")
	}
	return nil
}

// withHome adds HOME from the container's /etc/passwd when the config does
// not set it, as runc does.
func withHome(env []string, uid uint32) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "HOME=") {
			return env
		}
	}
	home := "/"
	if f, err := os.Open("/etc/passwd"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Split(sc.Text(), ":")
			if len(fields) >= 6 && fields[2] == strconv.FormatUint(uint64(uid), 10) && fields[5] != "" {
				home = fields[5]
				break
			}
		}
	}
	return append(append([]string(nil), env...), "HOME="+home)
}
