// Package containers is the engine's container database: one JSON record per
// container under <root>/containers/<id>/container.json, written atomically
// (temp, fsync, rename) and changed only under a per-container flock, so the
// CLI and the container's monitor process can both update it safely, and a
// killed kago never leaves a half-written record.
//
// Names are unique per engine root; Create checks and claims a name under a
// store-wide lock so two concurrent `kago run --name x` cannot both win.
//
// A container's directory appears whole (made under a temporary name with
// its record, then renamed) and goes whole (renamed away, then removed), so
// no command ever meets a directory without a record; what a killed process
// left under a temporary name is swept (Sweep). A record is marked Creating
// until the engine made everything it describes, with the creator holding
// the directory's create.lock meanwhile: a Creating record nobody holds is
// a killed create.
package containers

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kago-run/kago/engine/health"
	"github.com/kago-run/kago/internal/atomicfile"
	"github.com/kago-run/kago/internal/lockfile"
	"github.com/kago-run/kago/network"
	"github.com/kago-run/kago/network/etcfiles"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound  = errors.New("no such container")
	ErrNameInUse = errors.New("container name already in use")
)

// Status values, as docker names them.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusRestarting = "restarting"
	StatusExited     = "exited"
	StatusRemoving   = "removing"
)

// Mount is a volume, bind or tmpfs mount of the container, as inspect shows it.
type Mount struct {
	Type        string `json:"Type"` // bind, volume, tmpfs
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	RW          bool   `json:"RW"`
	Anonymous   bool   `json:"Anonymous,omitempty"`
}

// RestartPolicyName is one of docker's restart policies.
type RestartPolicyName string

// The restart policies, as docker names them.
const (
	RestartNo            RestartPolicyName = "no"
	RestartOnFailure     RestartPolicyName = "on-failure"
	RestartAlways        RestartPolicyName = "always"
	RestartUnlessStopped RestartPolicyName = "unless-stopped"
)

// RestartPolicy is --restart.
type RestartPolicy struct {
	Name              RestartPolicyName `json:"Name"`
	MaximumRetryCount int               `json:"MaximumRetryCount"`
}

// Ulimit is one resource limit of the container's process (--ulimit),
// with docker's short name (nofile, nproc, ...).
type Ulimit struct {
	Name string `json:"Name"`
	Soft uint64 `json:"Soft"`
	Hard uint64 `json:"Hard"`
}

// Device is a host device made in the container (--device).
type Device struct {
	PathOnHost        string `json:"PathOnHost"`
	PathInContainer   string `json:"PathInContainer"`
	CgroupPermissions string `json:"CgroupPermissions"` // some of r, w, m
}

// NetworkConfig is a network the container joins besides its first
// (run --network a --network b, network connect).
type NetworkConfig struct {
	Name    string     `json:"Name"`
	Aliases []string   `json:"Aliases,omitempty"`
	IP      netip.Addr `json:"IPAddress,omitzero"` // --ip; zero: the next free
}

// HostConfig are the run flags the record keeps: what each start needs
// again (the /etc files) and what inspect shows; the rest of them are in
// the bundle's config.json.
type HostConfig struct {
	ExtraHosts  []network.ExtraHost `json:"ExtraHosts,omitempty"`
	DNS         etcfiles.DNS        `json:"Dns,omitzero"`
	StopTimeout *int                `json:"StopTimeout,omitempty"` // seconds
	Ulimits     []Ulimit            `json:"Ulimits,omitempty"`
	Devices     []Device            `json:"Devices,omitempty"`
	ShmSize     int64               `json:"ShmSize,omitempty"`
	Sysctls     map[string]string   `json:"Sysctls,omitempty"`
}

// State is what happened to the container last.
type State struct {
	Status       string    `json:"Status"`
	Pid          int       `json:"Pid"`
	ExitCode     int       `json:"ExitCode"`
	OOMKilled    bool      `json:"OOMKilled"`
	Error        string    `json:"Error,omitempty"`
	StartedAt    time.Time `json:"StartedAt"`
	FinishedAt   time.Time `json:"FinishedAt"`
	RestartCount int       `json:"RestartCount"`
	// MonitorPid is the monitor process of the current run (for debugging
	// and tests; liveness is decided by its lock, not this number).
	MonitorPid int `json:"MonitorPid,omitempty"`
	// ManuallyStopped is set by stop/kill so the monitor does not apply the
	// restart policy (docker's rule for always/unless-stopped).
	ManuallyStopped bool `json:"ManuallyStopped,omitempty"`
	// Health is the healthcheck's state while the container runs with one.
	Health *health.State `json:"Health,omitempty"`
	// Paused is set while the running container is frozen (kago pause).
	Paused bool `json:"Paused,omitempty"`
}

// Record is everything the engine knows about one container.
type Record struct {
	ID      string    `json:"Id"`
	Name    string    `json:"Name"`
	Image   string    `json:"Image"`   // as the user wrote it
	ImageID string    `json:"ImageId"` // sha256:...
	Created time.Time `json:"Created"`
	Command []string  `json:"Command"` // process args, for ps
	// Entrypoint, Cmd and User are the container's config as docker keeps
	// it (the request's over the image's), for commit.
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	User       string   `json:"User,omitempty"`
	// Network is the network name: bridge, host, none or a user network.
	Network string `json:"Network"`
	// NetworkAliases are the container's extra names on a user network.
	NetworkAliases []string `json:"NetworkAliases,omitempty"`
	// MoreNetworks are the networks it joins besides Network, as eth1...
	MoreNetworks []NetworkConfig       `json:"MoreNetworks,omitempty"`
	Ports        []network.PortMapping `json:"Ports,omitempty"` // as requested
	Hostname     string                `json:"Hostname"`
	MacAddress   string                `json:"MacAddress,omitempty"` // --mac-address
	Mounts       []Mount               `json:"Mounts,omitempty"`
	Restart      RestartPolicy         `json:"RestartPolicy"`
	AutoRemove   bool                  `json:"AutoRemove"`
	StopSignal   string                `json:"StopSignal,omitempty"`
	Labels       map[string]string     `json:"Labels,omitempty"`
	HostConfig   HostConfig            `json:"HostConfig,omitzero"`
	// Healthcheck is the container's healthcheck (the request's over the
	// image's); nil for none.
	Healthcheck *health.Config `json:"Healthcheck,omitempty"`
	Tty         bool           `json:"Tty"`
	OpenStdin   bool           `json:"OpenStdin"` // -i
	// AppArmorProfile is the profile the container runs under ("" without
	// AppArmor on the host).
	AppArmorProfile string `json:"AppArmorProfile,omitempty"`
	// Trace, when set, records what the container's processes do from
	// its first instruction, in every run (kago run --trace).
	Trace *Trace `json:"Trace,omitempty"`
	State State  `json:"State"`
	// Endpoint is the live network attachment (nil when not running).
	Endpoint *network.Endpoint `json:"Endpoint,omitempty"`
	// MoreEndpoints are the live attachments to MoreNetworks.
	MoreEndpoints []network.Endpoint `json:"MoreEndpoints,omitempty"`
	// Creating is set until the engine has made everything the record
	// describes (rootfs, bundle). A record still creating whose creator is
	// gone (Store.CreatorAlive) is a killed create, to be removed.
	Creating bool `json:"Creating,omitempty"`
}

// Trace is a container's recorded trace: each run's tracer appends the
// events of the kinds Events names (comma-separated, "" for the default
// kinds) to File as JSON lines.
type Trace struct {
	File   string `json:"File"` // absolute
	Events string `json:"Events,omitempty"`
}

// ShortID is the 12-character ID docker prints.
func (r *Record) ShortID() string { return r.ID[:min(12, len(r.ID))] }

// Store is the container DB of one engine root.
type Store struct {
	dir string
}

const (
	recordFile  = "container.json"
	createLock  = "create.lock"
	tmpPrefix   = ".tmp-create-"
	trashPrefix = ".tmp-remove-"
)

// idPattern is a container ID: the name of its directory.
var idPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Open returns the store keeping records under dir (<root>/containers).
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("create container store %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

// Dir is the directory of one container: its bundle, log and record.
func (s *Store) Dir(id string) string { return filepath.Join(s.dir, id) }

// NewID returns a random 64-hex container ID.
func NewID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ValidateName checks a --name the way docker does.
func ValidateName(name string) error {
	if len(name) > 128 || !namePattern.MatchString(name) {
		return fmt.Errorf("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	return nil
}

// Create makes the directory and first record of a new container. It fails
// with ErrNameInUse when another container has the name. The directory
// appears whole (made under a temporary name, then renamed), and with its
// creation lock held until the returned done is called: while it is held,
// CreatorAlive says the creator is still at work.
func (s *Store) Create(rec *Record) (done func(), err error) {
	if err := ValidateName(rec.Name); err != nil {
		return nil, err
	}
	if !idPattern.MatchString(rec.ID) {
		return nil, fmt.Errorf("invalid container ID %q", rec.ID)
	}
	unlock, err := flock(filepath.Join(s.dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.nameFree(rec.Name, rec.ID); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(s.Dir(rec.ID)); err == nil {
		return nil, fmt.Errorf("container %s exists already", rec.ID)
	}
	tmp, err := os.MkdirTemp(s.dir, tmpPrefix)
	if err != nil {
		return nil, fmt.Errorf("create container directory: %w", err)
	}
	release, err := flock(filepath.Join(tmp, createLock))
	if err == nil {
		err = os.Chmod(tmp, 0o711)
	}
	if err == nil {
		err = writeFileAtomic(filepath.Join(tmp, recordFile), rec)
	}
	if err == nil {
		err = os.Rename(tmp, s.Dir(rec.ID))
	}
	if err != nil {
		if release != nil {
			release()
		}
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("create container %s: %w", rec.Name, err)
	}
	return release, nil
}

// Rename gives container id a new name, checked and claimed under the
// store-wide lock as Create claims one, so two renames (or a rename and a
// `run --name`) cannot both take it.
func (s *Store) Rename(id, name string) (*Record, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	unlock, err := flock(filepath.Join(s.dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.nameFree(name, id); err != nil {
		return nil, err
	}
	return s.Update(id, func(r *Record) error {
		r.Name = name
		return nil
	})
}

// nameFree fails with ErrNameInUse when a container other than id has
// name. Callers hold the store lock, so the answer holds until they are
// done.
func (s *Store) nameFree(name, id string) error {
	all, err := s.List()
	if err != nil {
		return err
	}
	for _, r := range all {
		if r.Name == name && r.ID != id {
			return fmt.Errorf("the name %q is used by container %s: remove it (kago rm %s) or choose another name: %w", name, r.ShortID(), name, ErrNameInUse)
		}
	}
	return nil
}

// CreatorAlive tells whether the process that created the container still
// holds its creation lock (it is still making the container).
func (s *Store) CreatorAlive(id string) bool {
	return lockHeld(filepath.Join(s.Dir(id), createLock))
}

// Get reads one record by full ID.
func (s *Store) Get(id string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(s.Dir(id), recordFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("read container %s: %w", id, err)
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("container record %s is corrupt: %w", id, err)
	}
	return &rec, nil
}

// Update changes a record under its lock: fn sees the current record and its
// changes are written atomically unless it returns an error.
func (s *Store) Update(id string, fn func(*Record) error) (*Record, error) {
	dir := s.Dir(id)
	unlock, err := flock(filepath.Join(dir, ".lock"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
		}
		return nil, err
	}
	defer unlock()
	rec, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	if err := fn(rec); err != nil {
		return nil, err
	}
	return rec, writeFileAtomic(filepath.Join(dir, recordFile), rec)
}

// Delete removes the container's directory and record. The directory is
// renamed away under the record's lock (atomicfile.RemoveDir), so an Update
// racing the delete finds no record rather than making the directory again.
func (s *Store) Delete(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("invalid container ID %q", id)
	}
	dir := s.Dir(id)
	unlock, err := flock(filepath.Join(dir, ".lock"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	if err := atomicfile.RemoveDir(dir, trashPrefix); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// Sweep removes what killed processes left in the store: temporary and
// half-deleted directories, and container directories without a record
// (left by kago versions that made them in place). It skips its work when
// another process is creating a container right now.
func (s *Store) Sweep() {
	unlock, ok := tryFlock(filepath.Join(s.dir, ".lock"))
	if !ok {
		return
	}
	defer unlock()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() {
			continue
		}
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			// Creation happens under the store lock we hold: this one's
			// creator is dead.
			os.RemoveAll(filepath.Join(s.dir, name))
		case strings.HasPrefix(name, trashPrefix):
			os.RemoveAll(filepath.Join(s.dir, name))
		case idPattern.MatchString(name):
			dir := s.Dir(name)
			if _, err := os.Lstat(filepath.Join(dir, recordFile)); !errors.Is(err, os.ErrNotExist) {
				continue
			}
			if u, ok := tryFlock(filepath.Join(dir, ".lock")); ok {
				os.RemoveAll(dir)
				u()
			}
		}
	}
}

// List returns every record, newest first. Unreadable records are skipped.
func (s *Store) List() ([]*Record, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []*Record
	for _, e := range entries {
		if !e.IsDir() || !idPattern.MatchString(e.Name()) {
			continue // a temporary directory of Create or Delete
		}
		rec, err := s.Get(e.Name())
		if err != nil {
			continue
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Lookup finds a container by full ID, name, or unique ID prefix, as docker
// accepts them.
func (s *Store) Lookup(ref string) (*Record, error) {
	if ref == "" {
		return nil, errors.New("container name or ID must not be empty")
	}
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	for _, r := range all {
		if r.ID == ref || r.Name == ref {
			return r, nil
		}
	}
	var match *Record
	for _, r := range all {
		if strings.HasPrefix(r.ID, ref) {
			if match != nil {
				return nil, fmt.Errorf("container ID prefix %q is ambiguous: give more characters", ref)
			}
			match = r
		}
	}
	if match == nil {
		return nil, fmt.Errorf("%s: %w (see kago ps -a)", ref, ErrNotFound)
	}
	return match, nil
}

// flock takes an exclusive lock on path (created if missing; its directory
// must exist) and returns its release.
func flock(path string) (func(), error) { return lockfile.Exclusive(path) }

// tryFlock takes an exclusive lock on path if nobody holds it; a missing
// file counts as free and is created.
func tryFlock(path string) (func(), bool) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, false
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}

// lockHeld tells whether a process holds the lock at path (an existing file).
func lockHeld(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) != nil
}

func writeFileAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
