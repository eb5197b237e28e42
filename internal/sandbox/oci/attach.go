package oci

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/sandbox/guest"
)

// connectedGuest returns the live connection to id's guest, waiting a
// little for a guest that is redialing (after a Paddock restart). A paused
// environment is EConflict: its guest would not answer until resumed.
func (r *Runtime) connectedGuest(ctx context.Context, id string) (*guest.Client, error) {
	_, c, err := r.guestOf(ctx, id)
	return c, err
}

// guestOf is connectedGuest, with the environment's state.
func (r *Runtime) guestOf(ctx context.Context, id string) (*envState, *guest.Client, error) {
	es, err := r.env(id)
	if err != nil {
		return nil, nil, err
	}
	if err := es.active(); err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := es.waitClient(wctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, paddock.Errorf(paddock.EUnavailable, "environment %s: guest is not connected", id)
	}
	return es, c, nil
}

// guestError adds context to an error from a guest request. Errors the
// guest meant for the caller (*paddock.Error) keep their code and message;
// a guest too old for the request is EConflict with a remedy; a broken
// connection is EUnavailable.
func guestError(ctx context.Context, id, what string, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		return fmt.Errorf("%s in %s: %w", what, id, ctx.Err())
	case errors.Is(err, guest.ErrUnsupported):
		return fmt.Errorf("%s in %s: %w", what, id, paddock.Errorf(paddock.EConflict,
			"environment %s runs an older guest agent that cannot %s; recreate the environment", id, what))
	case errors.Is(err, guest.ErrConnectionLost):
		return fmt.Errorf("%s in %s: %w: %w", what, id, paddock.Errorf(paddock.EUnavailable,
			"lost the connection to environment %s", id), err)
	}
	return fmt.Errorf("%s in %s: %w", what, id, err)
}

// Attach implements sandbox.Runtime.
func (r *Runtime) Attach(ctx context.Context, id string, req paddock.AttachRequest) (paddock.ExecSession, error) {
	c, err := r.connectedGuest(ctx, id)
	if err != nil {
		return nil, err
	}
	s, err := c.Attach(ctx, &guest.AttachRequest{
		Command: req.Command,
		Env:     req.Env,
		Dir:     req.Dir,
		TTY:     req.TTY,
		Cols:    req.Cols,
		Rows:    req.Rows,
	})
	if err != nil {
		return nil, guestError(ctx, id, "attach", err)
	}
	return execSession{s}, nil
}

// execSession adapts guest.Session to paddock.ExecSession.
type execSession struct{ *guest.Session }

func (s execSession) Wait() (int, error) {
	es, err := s.Session.Wait()
	if err != nil {
		return -1, err
	}
	return es.Code, nil
}

// DialPort implements sandbox.Runtime.
func (r *Runtime) DialPort(ctx context.Context, id string, port int) (net.Conn, error) {
	if port < 1 || port > 65535 {
		return nil, paddock.Errorf(paddock.EInvalid, "port %d is out of range 1-65535", port)
	}
	c, err := r.connectedGuest(ctx, id)
	if err != nil {
		return nil, err
	}
	conn, err := c.Dial(ctx, port, 10*time.Second)
	if err != nil {
		var pe *paddock.Error
		if errors.As(err, &pe) && pe.Code == paddock.EUnavailable {
			// The guest does not know which environment it is in.
			return nil, paddock.Errorf(pe.Code, "%s in %s", pe.Message, id)
		}
		return nil, guestError(ctx, id, "connect to a port", err)
	}
	return conn, nil
}
