package sandbox

import (
	"context"

	"github.com/paddockhq/paddock"
)

// WaitStarted waits until an environment's start has finished (it is
// running, or failed) and returns it as stored. It returns at once for an
// environment that is not starting. Clients that would otherwise poll a
// pending environment use it, which also keeps polling delay out of
// measurements of start latency.
func (m *Manager) WaitStarted(ctx context.Context, id string) (*paddock.Environment, error) {
	m.mu.Lock()
	op := m.starting[id]
	m.mu.Unlock()
	if op != nil {
		select {
		case <-op.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return m.envs.Environment(ctx, id)
}
