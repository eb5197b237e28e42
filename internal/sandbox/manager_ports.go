package sandbox

import (
	"context"
	"fmt"
	"slices"

	"github.com/paddockhq/paddock"
)

// ExposePort adds port to the environment's allowed_ingress_ports, the
// ports Paddock's authenticated proxy serves. Exposing a port twice is not
// an error; an ended environment is EConflict.
func (m *Manager) ExposePort(ctx context.Context, id string, port int) (*paddock.Environment, error) {
	if port < 1 || port > 65535 {
		return nil, paddock.Errorf(paddock.EInvalid, "port %d is not a TCP port", port)
	}
	unlock := m.lockEnv(id) // a read-modify-write of the policy
	defer unlock()
	env, err := m.envs.Environment(ctx, id)
	if err != nil {
		return nil, err
	}
	if env.Status.Done() {
		return nil, paddock.Errorf(paddock.EConflict, "environment %s is %s", id, env.Status)
	}
	iso := env.Isolation
	policy := paddock.NetworkPolicy{}
	if iso.NetworkPolicy != nil {
		policy = *iso.NetworkPolicy
	}
	if slices.Contains(policy.AllowedIngressPorts, port) {
		return env, nil
	}
	policy.AllowedIngressPorts = append(slices.Clone(policy.AllowedIngressPorts), port)
	iso.NetworkPolicy = &policy
	env, err = m.envs.UpdateEnvironment(ctx, id, paddock.EnvironmentUpdate{Isolation: &iso})
	if err != nil {
		return nil, fmt.Errorf("expose port %d of %s: %w", port, id, err)
	}
	m.appendLog(id, "system", fmt.Sprintf("port %d exposed through the proxy", port))
	return env, nil
}
