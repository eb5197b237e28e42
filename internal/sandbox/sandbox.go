// Package sandbox is the contract between Paddock and the drivers that run
// environments (runc and gVisor in sandbox/oci, Kubernetes later), plus the
// Manager that owns every environment's lifecycle on top of a driver: it
// validates requests, records status in the store, starts and stops
// environments in the background, reaps expired ones and reconciles the
// store with the driver after a restart.
package sandbox

import (
	"context"
	"io"
	"net"
	"os"
	"time"

	"github.com/paddockhq/paddock"
)

// Runtime classes a driver may support.
const (
	ClassRunc   = "runc"
	ClassGVisor = "gvisor"
)

// Spec is everything a driver needs to start one environment.
type Spec struct {
	ID    string
	Env   *paddock.Environment // resources, env, command, isolation, security context
	Image *paddock.Image       // RootFS and process defaults

	RuntimeClass string // ClassRunc or ClassGVisor, resolved (never "")
	CPUMillis    int64  // 0: unlimited
	MemoryBytes  int64  // 0: unlimited
	StorageBytes int64  // size of the writable layer; 0: the driver's default
	PidsLimit    int64  // 0: unlimited

	// LogPath is the JSON-lines file the environment's command output is
	// appended to (see AppendLog). "" lets the driver choose.
	LogPath string
}

// Stats is a point-in-time view of an environment's resource use.
type Stats struct {
	CPUUsage    int64 // millicores, averaged over the last sample interval
	MemoryBytes int64
	OOMKills    int64 // processes killed by the memory limit since start
}

// ClassInfo describes one runtime class on this node.
type ClassInfo struct {
	Binary  string `json:"binary"`
	Version string `json:"version,omitempty"`
	Working bool   `json:"working"`
	Error   string `json:"error,omitempty"`
}

// Info describes the driver's runtime classes, for health checks.
type Info struct {
	Driver  string               `json:"driver"`
	Classes map[string]ClassInfo `json:"classes"`
}

// Runtime is a sandbox driver. Implementations must be safe for concurrent
// use. Unknown ids are paddock.ENotFound, except for Stop, which is
// idempotent.
type Runtime interface {
	// Create creates and starts the environment and returns once its guest
	// answers. On error nothing is left behind.
	Create(ctx context.Context, spec *Spec) error
	// Exec runs one command in a running environment. A command that
	// cannot start (not found) is reported as exit code 127, like a shell.
	Exec(ctx context.Context, id string, req *paddock.ExecRequest) (*paddock.ExecResult, error)
	// Stop sends SIGTERM to every process, waits up to grace, kills what
	// is left and removes every trace of the environment (container,
	// mounts, cgroups, directories). Stopping an unknown id returns nil.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Stats reports the environment's resource use.
	Stats(ctx context.Context, id string) (*Stats, error)
	// Alive reports whether the environment is running and, if not, why
	// ("exited", "oom", "missing"). A paused environment (frozen or
	// hibernated) is alive, with why "paused".
	Alive(ctx context.Context, id string) (bool, string, error)
	// List returns the ids the driver holds any state for.
	List(ctx context.Context) ([]string, error)
	// Info reports which runtime classes work on this node.
	Info(ctx context.Context) Info
	// Close releases the driver's host-side resources. Environments keep
	// running; a new Runtime on the same state picks them up again.
	Close() error
	// Pause suspends every process of a running environment: PauseFreeze
	// stops them in place with their memory, PauseHibernate saves them to
	// disk and frees their memory (EInvalid where the class cannot). The
	// paused state survives a new Runtime on the same state. Pausing a
	// paused environment is EConflict.
	Pause(ctx context.Context, id string, mode PauseMode) error
	// Resume continues a paused environment, processes and memory as they
	// were, and returns once its guest answers. Resuming an environment
	// that is not paused is EConflict.
	Resume(ctx context.Context, id string) error

	// Attach starts an interactive process (a PTY or pipes) in a running
	// environment; ctx bounds the start only. A command that cannot start
	// is EInvalid.
	Attach(ctx context.Context, id string, req paddock.AttachRequest) (paddock.ExecSession, error)
	// Background processes live inside the environment, with the last
	// 256 KiB of their output, so they outlive the host's
	// connection to it and Paddock's restarts. Unknown processes are
	// ENotFound.

	// StartProcess starts req (its stdin is /dev/null) as process pid,
	// an id new to the environment, and returns at once. A command that
	// cannot start is a process that exited with 127 or 126. With
	// MaxProcesses running, it is EConflict.
	StartProcess(ctx context.Context, id, pid string, req *paddock.ExecRequest) (paddock.Process, error)
	// Processes returns the environment's background processes, newest
	// first.
	Processes(ctx context.Context, id string) ([]paddock.Process, error)
	// Process returns one background process.
	Process(ctx context.Context, id, pid string) (paddock.Process, error)
	// ProcessOutput returns a process's output from offset since; with
	// wait, once there is output past since or the process has ended.
	ProcessOutput(ctx context.Context, id, pid string, since int64, wait bool) (paddock.ProcessOutput, error)
	// KillProcess kills a running process's whole process group; an
	// ended one is returned as it is.
	KillProcess(ctx context.Context, id, pid string) (paddock.Process, error)

	// DialPort connects to a TCP port on the environment's loopback,
	// whatever its network policy; ctx bounds the connect only. Nothing
	// listening is EUnavailable.
	DialPort(ctx context.Context, id string, port int) (net.Conn, error)

	// File operations act inside the environment, as its user; relative
	// paths are against its working directory. Missing paths are
	// ENotFound, a directory where a file is needed (or the reverse)
	// EInvalid, permission errors EForbidden.

	// StatFile describes path, not following a final symlink.
	StatFile(ctx context.Context, id, path string) (paddock.FileInfo, error)
	// ReadFile streams a regular file; cancelling ctx ends the stream.
	ReadFile(ctx context.Context, id, path string) (io.ReadCloser, paddock.FileInfo, error)
	// WriteFile streams r into path, creating parent directories, and
	// replaces path atomically once r is at EOF. If r fails, nothing is
	// written and r's error is returned. mode 0 means 0644.
	WriteFile(ctx context.Context, id, path string, r io.Reader, mode os.FileMode) (int64, error)
	// ListFiles describes a directory's entries, sorted by name.
	ListFiles(ctx context.Context, id, path string) ([]paddock.FileInfo, error)
	// Mkdir creates a directory; with parents, missing parents too, and
	// an existing directory is fine.
	Mkdir(ctx context.Context, id, path string, parents bool) error
	// RemoveFile removes a file or an empty directory; with recursive,
	// a directory and everything under it.
	RemoveFile(ctx context.Context, id, path string, recursive bool) error
	// ArchiveDir streams a directory as a tar archive.
	ArchiveDir(ctx context.Context, id, path string) (io.ReadCloser, error)
	// ExtractArchive unpacks a tar stream into dir, refusing (EInvalid)
	// entries that would land outside it, and returns the names of the
	// entries it skipped (devices, FIFOs; the first 100).
	ExtractArchive(ctx context.Context, id, dir string, r io.Reader) (skipped []string, err error)
}

// Pool is implemented by drivers that start environments ahead of demand.
// Claim returns the id of one started for spec (whose ID is ignored), or
// "" when none matches; either way the driver learns spec's shape is
// wanted. The caller must then Create spec under that id, which hands the
// environment over, or Stop the id.
type Pool interface {
	Claim(spec *Spec) string
}

// PauseMode is how Pause suspends an environment.
type PauseMode string

const (
	// PauseFreeze stops the processes where they are (the cgroup freezer,
	// or the gVisor kernel's scheduler); memory stays allocated and resume
	// takes milliseconds.
	PauseFreeze PauseMode = "freeze"
	// PauseHibernate checkpoints processes and memory to disk and stops
	// the sandbox, freeing its memory; resume restores it (gVisor only).
	PauseHibernate PauseMode = "hibernate"
)

// Valid reports whether m is a known mode.
func (m PauseMode) Valid() bool { return m == PauseFreeze || m == PauseHibernate }
