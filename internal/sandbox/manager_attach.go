package sandbox

import (
	"context"
	"net"

	"github.com/paddockhq/paddock"
)

// Attach starts an interactive process in a running environment (a
// pending, paused or ended one is EConflict): a shell on a PTY by
// default, see paddock.AttachRequest. ctx bounds the start only; the
// caller must Close the session. A command that cannot start is EInvalid.
func (m *Manager) Attach(ctx context.Context, id string, req paddock.AttachRequest) (paddock.ExecSession, error) {
	if len(req.Command) > 0 && req.Command[0] == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "command[0] must not be empty")
	}
	if err := paddock.CheckEnv(req.Env); err != nil {
		return nil, err
	}
	if _, err := m.running(ctx, id); err != nil {
		return nil, err
	}
	return m.rt.Attach(ctx, id, req)
}

// DialPort connects to a TCP port on a running environment's loopback,
// whatever its network policy: the way Paddock's authenticated port proxy
// reaches servers in environments. ctx bounds the connect only. Nothing
// listening is EUnavailable; a port outside 1-65535 EInvalid.
func (m *Manager) DialPort(ctx context.Context, id string, port int) (net.Conn, error) {
	if port < 1 || port > 65535 {
		return nil, paddock.Errorf(paddock.EInvalid, "port %d is out of range 1-65535", port)
	}
	if _, err := m.running(ctx, id); err != nil {
		return nil, err
	}
	return m.rt.DialPort(ctx, id, port)
}
