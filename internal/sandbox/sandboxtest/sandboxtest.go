// Package sandboxtest holds helpers for tests of the sandbox runtime: an
// in-memory EnvironmentService, a fixed image store, a cached Debian
// rootfs with python3 and a build of the guest binary.
package sandboxtest

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
)

// Environments is an in-memory paddock.EnvironmentService.
type Environments struct {
	mu   sync.Mutex
	envs map[string]*paddock.Environment
}

var _ paddock.EnvironmentService = (*Environments)(nil)

// NewEnvironments returns an empty store.
func NewEnvironments() *Environments {
	return &Environments{envs: map[string]*paddock.Environment{}}
}

func clone(e *paddock.Environment) *paddock.Environment {
	c := *e
	c.Env = maps.Clone(e.Env)
	c.Labels = maps.Clone(e.Labels)
	c.NodeSelector = maps.Clone(e.NodeSelector)
	c.Command = slices.Clone(e.Command)
	return &c
}

// Environment implements paddock.EnvironmentService.
func (s *Environments) Environment(ctx context.Context, id string) (*paddock.Environment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.envs[id]
	if !ok {
		return nil, paddock.Errorf(paddock.ENotFound, "environment %s not found", id)
	}
	return clone(e), nil
}

// Environments implements paddock.EnvironmentService (status, ids and
// labels filters; no paging).
func (s *Environments) Environments(ctx context.Context, f paddock.EnvironmentFilter) ([]*paddock.Environment, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*paddock.Environment
	for _, e := range s.envs {
		if f.Status != nil && e.Status != *f.Status {
			continue
		}
		if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, e.Status) {
			continue
		}
		if f.IDs != nil && !slices.Contains(f.IDs, e.ID) {
			continue
		}
		if f.OwnerID != nil && e.OwnerID != *f.OwnerID {
			continue
		}
		if !f.Labels.Matches(e.Labels) {
			continue
		}
		out = append(out, clone(e))
	}
	slices.SortFunc(out, func(a, b *paddock.Environment) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, len(out), nil
}

// CreateEnvironment implements paddock.EnvironmentService.
func (s *Environments) CreateEnvironment(ctx context.Context, e *paddock.Environment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.envs[e.ID]; ok {
		return paddock.Errorf(paddock.EConflict, "environment %s exists", e.ID)
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC()
	}
	s.envs[e.ID] = clone(e)
	return nil
}

// UpdateEnvironment implements paddock.EnvironmentService.
func (s *Environments) UpdateEnvironment(ctx context.Context, id string, u paddock.EnvironmentUpdate) (*paddock.Environment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.envs[id]
	if !ok {
		return nil, paddock.Errorf(paddock.ENotFound, "environment %s not found", id)
	}
	if u.Status != nil {
		e.Status = *u.Status
	}
	if u.Reason != nil {
		e.Reason = *u.Reason
	}
	// A zero time clears the field, as in the real store.
	setTime := func(dst **time.Time, t *time.Time) {
		if t != nil && t.IsZero() {
			*dst = nil
		} else if t != nil {
			c := *t
			*dst = &c
		}
	}
	setTime(&e.StartedAt, u.StartedAt)
	setTime(&e.ExpiresAt, u.ExpiresAt)
	setTime(&e.EndedAt, u.EndedAt)
	if u.Timeout != nil {
		e.Timeout = *u.Timeout
	}
	if u.OnTimeout != nil {
		e.OnTimeout = *u.OnTimeout
	}
	if u.PausedRemaining != nil {
		e.PausedRemaining = *u.PausedRemaining
	}
	if u.Endpoint != nil {
		e.Endpoint = *u.Endpoint
	}
	if u.Namespace != nil {
		e.Namespace = *u.Namespace
	}
	return clone(e), nil
}

// DeleteEnvironment implements paddock.EnvironmentService.
func (s *Environments) DeleteEnvironment(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.envs[id]; !ok {
		return paddock.Errorf(paddock.ENotFound, "environment %s not found", id)
	}
	delete(s.envs, id)
	return nil
}

// Images is a fixed image store: Ensure returns the image registered under
// a reference, or ENotFound.
type Images struct {
	mu     sync.Mutex
	images map[string]*paddock.Image
	// Delay, when set, makes Ensure wait like a slow pull.
	Delay time.Duration
}

// NewImages returns a store holding the given images by name.
func NewImages(imgs ...*paddock.Image) *Images {
	s := &Images{images: map[string]*paddock.Image{}}
	for _, img := range imgs {
		s.images[img.Name] = img
	}
	return s
}

// Ensure returns the image named ref.
func (s *Images) Ensure(ctx context.Context, ref string) (*paddock.Image, error) {
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Image(ctx, ref)
}

// Image returns the image named ref, without Ensure's Delay.
func (s *Images) Image(ctx context.Context, ref string) (*paddock.Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	img, ok := s.images[ref]
	if !ok {
		return nil, paddock.Errorf(paddock.ENotFound, "image %s not found", ref)
	}
	c := *img
	return &c, nil
}

// BuildGuest builds the guest agent as a static binary in dir and returns
// its path.
func BuildGuest(dir string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	pkg := filepath.Join(filepath.Dir(file), "..", "..", "..", "cmd", "paddock-guest")
	out := filepath.Join(dir, "paddock-guest")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = pkg
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build guest: %v: %s", err, b)
	}
	return out, nil
}

// MainWithGuest is a TestMain for packages that start real environments:
// as root it builds the guest into a directory the environments can reach
// and sets *guest to its path; then it runs the tests and cleans up.
func MainWithGuest(m *testing.M, guest *string) int {
	dir, err := os.MkdirTemp("", "paddock-guest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755) // the guest is bind-mounted from here
	if os.Geteuid() == 0 {
		if *guest, err = BuildGuest(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}
