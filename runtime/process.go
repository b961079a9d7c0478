package runtime

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/linux/idmap"
	"github.com/kago-run/kago/linux/ns"
	"github.com/kago-run/kago/linux/nsenter/nsenv"
	"github.com/kago-run/kago/runtime/containerinit"
	"github.com/kago-run/kago/runtime/syncmsg"
)

// newSealedExe makes a read-only, sealed memfd copy of the program the
// container's init runs (initBinary).
//
// The container's init is a re-exec of kago. If it ran from the host's file, a
// process in the container could open /proc/<init>/exe and later rewrite the
// host binary (CVE-2019-5736). Running the copy means /proc/self/exe inside
// the container is an anonymous sealed file: nothing can write it, and it
// leads nowhere on the host. Root uses overlaySealedExe instead, which gives
// the same guarantee without a copy.
func newSealedExe() (*os.File, error) {
	path, err := initBinary()
	if err != nil {
		return nil, err
	}
	self, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open own binary: %w", err)
	}
	defer self.Close()
	fd, err := unix.MemfdCreate("kago", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "kago-memfd")
	if err := copyAll(mem, self); err != nil {
		mem.Close()
		return nil, fmt.Errorf("copy own binary to memfd: %w", err)
	}
	// F_SEAL_WRITE fails with EBUSY while the kernel still holds extra
	// references to the fresh pages (per-CPU LRU batches of another CPU);
	// F_SEAL_FUTURE_WRITE refuses every later write just the same.
	base := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, base|unix.F_SEAL_WRITE); err != nil {
		if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, base|unix.F_SEAL_FUTURE_WRITE); err != nil {
			mem.Close()
			return nil, fmt.Errorf("seal memfd: %w", err)
		}
	}
	return mem, nil
}

// initBinary is the path of the program the container's init runs: kago-init
// from the directory of the running binary when it is there (a third of
// kago-runc's size: less to copy into a memfd, and quicker to start), else
// the running binary itself if it carries the same init (kago, the shim);
// kago-runc does not (no cgo constructor), so it needs kago-init.
func initBinary() (string, error) {
	exe, err := os.Executable()
	if err == nil {
		small := filepath.Join(filepath.Dir(exe), containerinit.InitBinary)
		if fi, err := os.Stat(small); err == nil && fi.Mode().IsRegular() {
			return small, nil
		}
	}
	if !nsenv.Constructor {
		return "", fmt.Errorf("%s (the container init) is not beside %s: install it in the same directory", containerinit.InitBinary, exe)
	}
	// The running binary's own inode, even if its path was replaced since.
	return ownExe, nil
}

const ownExe = "/proc/self/exe"

// sealedExe returns the runtime's read-only handle on the init binary,
// making it on first use: as root, the binary opened through a private
// read-only overlay (no copy); otherwise, or where overlayfs is missing, a
// sealed memfd copy. It stays open for later creates and execs until Close.
func (r *Runtime) sealedExe() (*os.File, error) {
	r.exeMu.Lock()
	defer r.exeMu.Unlock()
	if r.exe != nil {
		return r.exe, nil
	}
	var exe *os.File
	if path, err := initBinary(); err == nil && path != ownExe && os.Geteuid() == 0 {
		// The state root is the spare lower layer: it exists (or is made
		// now) and is kago's own.
		if err := os.MkdirAll(r.Root, 0o700); err == nil {
			exe, _ = overlaySealedExe(path, r.Root)
		}
	}
	if exe == nil {
		var err error
		if exe, err = newSealedExe(); err != nil {
			return nil, err
		}
	}
	r.exe = exe
	return r.exe, nil
}

// Close releases the sealed binary (a memfd as large as the binary, when
// it is a copy), for a long-lived caller that is done creating for a while;
// a later Create or Exec makes a new one. kago's own callers are short-lived
// processes and let exit release it.
func (r *Runtime) Close() error {
	r.exeMu.Lock()
	defer r.exeMu.Unlock()
	if r.exe == nil {
		return nil
	}
	err := r.exe.Close()
	r.exe = nil
	return err
}

// copyAll copies src into dst inside the kernel with sendfile(2): the binary
// is in the page cache, so this is a memory copy, several times faster than
// the read/write loop io.Copy falls back to (copy_file_range cannot cross
// into a memfd).
func copyAll(dst, src *os.File) error {
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	for left := fi.Size(); left > 0; {
		n, err := unix.Sendfile(int(dst.Fd()), int(src.Fd()), nil, int(left))
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		left -= int64(n)
	}
	return nil
}

// spawnRequest describes a re-exec of kago as an init or exec process.
type spawnRequest struct {
	exe         *os.File // the sealed binary to run
	newNS       uintptr
	uidMappings []specs.LinuxIDMapping
	gidMappings []specs.LinuxIDMapping
	joins       []ns.Join
	unshare     uintptr
	stdio       [3]*os.File
	preserveFDs int
	fifo        *os.File // create only
	cgroup      *os.File // cgroup2 directory init is born in (CLONE_INTO_CGROUP); nil: none
	timeOffsets string   // timens_offsets text for a time namespace in unshare
}

// spawned is a started init or exec process, before it runs user code.
type spawned struct {
	pid  int
	cmd  *exec.Cmd // the direct child; it exited already if pid != cmd.Process.Pid
	conn *syncmsg.Conn
}

// spawn starts the process and returns once it is in its namespaces. Its
// descriptors: 0-2 stdio, 3..3+preserveFDs-1 the caller's preserved fds (kept
// at the same numbers, as runc does), then the sync socket, the nsenter pipe
// and the exec FIFO.
func spawn(req spawnRequest) (*spawned, error) {
	exe := req.exe
	parent, child, err := syncmsg.Pair()
	if err != nil {
		return nil, err
	}
	defer child.Close()
	pipeR, pipeW, err := os.Pipe()
	if err != nil {
		parent.Close()
		return nil, fmt.Errorf("pipe: %w", err)
	}
	defer pipeR.Close()

	cmd := &exec.Cmd{
		Args:   []string{"kago-init"},
		Stdin:  req.stdio[0],
		Stdout: req.stdio[1],
		Stderr: req.stdio[2],
	}
	for i := 0; i < req.preserveFDs; i++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(3+i), "preserved"))
	}
	base := 3 + req.preserveFDs
	useNsenter := len(req.joins) > 0 || req.unshare != 0
	env := []string{containerinit.EnvSync + "=" + strconv.Itoa(base), containerinit.EnvProtocol + "=" + containerinit.Protocol}
	if useNsenter {
		cmd.ExtraFiles = append(cmd.ExtraFiles, child, pipeW)
		env = append(env, nsenv.EnvPipe+"="+strconv.Itoa(base+1))
	} else {
		// A nil entry leaves the fd number closed in the child.
		cmd.ExtraFiles = append(cmd.ExtraFiles, child, nil)
	}
	if req.fifo != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, req.fifo)
		env = append(env, containerinit.EnvFifo+"="+strconv.Itoa(base+2))
	}
	if len(req.joins) > 0 {
		parts := make([]string, len(req.joins))
		for i, j := range req.joins {
			parts[i] = j.Kind.ProcName + ":" + j.Path
		}
		env = append(env, nsenv.EnvJoin+"="+strings.Join(parts, ","))
	}
	if req.unshare != 0 {
		env = append(env, nsenv.EnvUnshare+"="+strconv.FormatUint(uint64(req.unshare), 10))
	}
	if req.timeOffsets != "" {
		env = append(env, nsenv.EnvTimens+"="+req.timeOffsets)
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: req.newNS}
	if req.cgroup != nil {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(req.cgroup.Fd())
	}
	if req.newNS&unix.CLONE_NEWUSER != 0 {
		cmd.SysProcAttr.UidMappings = idmap.SysMappings(req.uidMappings)
		cmd.SysProcAttr.GidMappings = idmap.SysMappings(req.gidMappings)
		cmd.SysProcAttr.GidMappingsEnableSetgroups = os.Geteuid() == 0
		// Until it calls setuid, the child keeps its host uid, which the
		// mapping may not cover; execve would then strip its capabilities.
		// Becoming root of the new namespace first keeps them.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: os.Geteuid() != 0}
	}
	// The child resolves /proc/self/fd/N at execve, after Go's fork code has
	// moved stdio and ExtraFiles onto 0..len(files)-1, using fds up to about
	// twice that as scratch. A memfd with a lower number (sealedExe runs early,
	// in the background) would be replaced and the child would exec a pipe or
	// socket (EACCES), as containerd saw now and then; run it from above them.
	minFD := 2*(3+len(cmd.ExtraFiles)) + 2
	exeFD := int(exe.Fd())
	if exeFD < minFD {
		high, err := unix.FcntlInt(exe.Fd(), unix.F_DUPFD_CLOEXEC, minFD)
		if err != nil {
			pipeW.Close()
			parent.Close()
			return nil, fmt.Errorf("move sealed binary above fd %d: %w", minFD, err)
		}
		defer unix.Close(high)
		exeFD = high
	}
	cmd.Path = fmt.Sprintf("/proc/self/fd/%d", exeFD)
	if err := cmd.Start(); err != nil {
		pipeW.Close()
		parent.Close()
		return nil, fmt.Errorf("start container init: %w", err)
	}
	pipeW.Close()
	sp := &spawned{pid: cmd.Process.Pid, cmd: cmd, conn: parent}
	if !useNsenter {
		return sp, nil
	}
	// The nsenter constructor reports a forked child's pid or an error, or
	// just closes the pipe when the direct child is the process.
	line, _ := bufio.NewReader(pipeR).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, "pid "):
		pid, err := strconv.Atoi(strings.TrimPrefix(line, "pid "))
		if err != nil {
			sp.kill()
			return nil, fmt.Errorf("nsenter reported %q", line)
		}
		if err := cmd.Wait(); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			parent.Close()
			return nil, fmt.Errorf("enter namespaces: %w", err)
		}
		sp.pid = pid
	case strings.HasPrefix(line, "error "):
		sp.kill()
		return nil, fmt.Errorf("enter namespaces: %s", strings.TrimPrefix(line, "error "))
	}
	return sp, nil
}

// kill ends the process (and reaps it if it is our child) after a failure.
func (s *spawned) kill() {
	unix.Kill(s.pid, unix.SIGKILL)
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
	if s.pid != s.cmd.Process.Pid {
		var ws unix.WaitStatus
		unix.Wait4(s.pid, &ws, unix.WNOHANG, nil)
	}
	s.conn.Close()
}
