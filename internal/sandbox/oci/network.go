package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/paddockhq/paddock/internal/sandbox"
)

// prepareNetwork adds what Config.Network needs to an environment's OCI
// spec before the container exists: the generated /etc/resolv.conf and,
// under gVisor, the network namespace Network made. runsc takes over the
// interfaces it finds there when the sandbox boots, so they must exist
// before `runsc create`; runc environments are wired between `runc
// create` and `runc start` instead (see start), in the namespace runc
// made inside the container's user namespace.
func (r *Runtime) prepareNetwork(ctx context.Context, spec *sandbox.Spec, dir string, s *specs.Spec) error {
	if r.cfg.Network == nil {
		return nil
	}
	if rc := r.cfg.Network.ResolvConf(); rc != nil {
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
	}
	if spec.RuntimeClass != sandbox.ClassGVisor {
		return nil
	}
	ns, err := r.cfg.Network.Setup(ctx, spec, "")
	if err != nil {
		return fmt.Errorf("set up network: %w", err)
	}
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == specs.NetworkNamespace {
			s.Linux.Namespaces[i].Path = ns
		}
	}
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

// DeniedCount reports how many attempts of environment id to reach
// something its network policy refused. Without a Network it is always 0.
func (r *Runtime) DeniedCount(ctx context.Context, id string) (int64, error) {
	if r.cfg.Network == nil {
		return 0, nil
	}
	if _, err := r.env(id); err != nil {
		return 0, err
	}
	return r.cfg.Network.DeniedCount(ctx, id)
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
