package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/paddockhq/paddock/internal/sandbox"
)

// netPrep is an environment's Network.Prepare in flight. The policy
// needs neither the rootfs nor the container, so it goes in while they
// are made; the interface comes after (connect), so nothing in the
// environment ever has a link without its rules.
type netPrep struct {
	r    *Runtime
	id   string
	done chan struct{}
	ns   string // the namespace Prepare made, under gVisor
	err  error
}

// prepareNetwork starts Config.Network's Prepare for spec; nil without a
// Network. Under gVisor the namespace is Network's: runsc takes over the
// interfaces it finds there when the sandbox boots, so they must exist
// before `runsc run`. Under runc it is the one runc makes inside the
// container's user namespace, connected once the container exists.
func (r *Runtime) prepareNetwork(ctx context.Context, spec *sandbox.Spec) *netPrep {
	if r.cfg.Network == nil {
		return nil
	}
	p := &netPrep{r: r, id: spec.ID, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.ns, p.err = r.cfg.Network.Prepare(ctx, spec, spec.RuntimeClass == sandbox.ClassGVisor)
	}()
	return p
}

// wait waits for Prepare to end; a nil netPrep is done.
func (p *netPrep) wait() error {
	if p == nil {
		return nil
	}
	<-p.done
	if p.err != nil {
		return fmt.Errorf("set up network: %w", p.err)
	}
	return nil
}

// connect waits for Prepare, then connects the namespace at netns ("" for
// Prepare's) and returns its path.
func (p *netPrep) connect(ctx context.Context, netns string) (string, error) {
	if err := p.wait(); err != nil {
		return "", err
	}
	if err := p.r.cfg.Network.Connect(ctx, p.id, netns); err != nil {
		return "", fmt.Errorf("set up network: %w", err)
	}
	if netns == "" {
		netns = p.ns
	}
	return netns, nil
}

// resolvConf mounts Config.Network's resolv.conf in the environment.
func (r *Runtime) resolvConf(dir string, s *specs.Spec) error {
	if r.cfg.Network == nil {
		return nil
	}
	rc := r.cfg.Network.ResolvConf()
	if rc == nil {
		return nil
	}
	// A bind mount rather than a write into the rootfs: runc and the
	// gofer resolve the destination inside the container, so an image
	// whose /etc/resolv.conf is a symlink cannot redirect it.
	path := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(path, rc, 0o644); err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	s.Mounts = append(s.Mounts, specs.Mount{
		Destination: "/etc/resolv.conf", Type: "bind", Source: path,
		Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
	})
	return nil
}

// runscNetwork is runsc's --network. With a Network, the sandbox runs in
// the namespace Network made (see prepareNetwork), which holds only the
// environment's veth and loopback, so "host" means the environment's own
// namespace, not the host's, and the policy is enforced outside it either
// way. "sandbox" (gVisor's netstack, a smaller kernel surface) would be
// preferable, but runsc releases before 2023 take any namespace for the
// root one on kernels 6.x (their check is whether
// /proc/sys/net/core/rmem_default exists, which it now does everywhere)
// and refuse to start.
func (r *Runtime) runscNetwork() string {
	if r.cfg.Network == nil {
		return "none"
	}
	return "host"
}

// DeniedCounts reports, for each environment with a network, how many of
// its attempts to reach something its network policy refused. Without a
// Network there are none.
func (r *Runtime) DeniedCounts(ctx context.Context) (map[string]int64, error) {
	if r.cfg.Network == nil {
		return nil, nil
	}
	return r.cfg.Network.DeniedCounts(ctx)
}

// Endpoint is environment id's address on Paddock's bridge, which the
// host (and the environment's peers, as its policy allows) reach it at;
// "" without a Network.
func (r *Runtime) Endpoint(ctx context.Context, id string) (string, error) {
	if r.cfg.Network == nil {
		return "", nil
	}
	addr, err := r.cfg.Network.Address(id)
	if err != nil {
		return "", err
	}
	return addr.String(), nil
}

// networkIDs are the environments Config.Network holds state for, so
// List reports (and the Manager's reconcile stops) orphaned networks.
func (r *Runtime) networkIDs(ctx context.Context) ([]string, error) {
	if r.cfg.Network == nil {
		return nil, nil
	}
	ids, err := r.cfg.Network.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	return ids, nil
}
