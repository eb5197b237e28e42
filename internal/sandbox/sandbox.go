// Package sandbox is the contract between Paddock and the drivers that run
// environments (runc and gVisor in sandbox/oci, Kubernetes later), plus the
// Manager that owns every environment's lifecycle on top of a driver: it
// validates requests, records status in the store, starts and stops
// environments in the background, reaps expired ones and reconciles the
// store with the driver after a restart.
package sandbox

import (
	"context"
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
	// ("exited", "oom", "missing").
	Alive(ctx context.Context, id string) (bool, string, error)
	// List returns the ids the driver holds any state for.
	List(ctx context.Context) ([]string, error)
	// Info reports which runtime classes work on this node.
	Info(ctx context.Context) Info
	// Close releases the driver's host-side resources. Environments keep
	// running; a new Runtime on the same state picks them up again.
	Close() error
}
