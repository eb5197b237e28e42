package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// A gVisor sandbox serves runsc's commands on a control socket: runsc
// pause and runsc resume are each one call on it, made by a runsc process
// that takes 40-50 ms just to start on a busy 2-vCPU host, while the call
// itself takes a millisecond or two. So the driver pauses and resumes a
// gVisor sandbox's kernel with the call itself (Lifecycle.Pause and
// Lifecycle.Resume), and runs runsc only when the sandbox does not answer
// there (another runsc version).
//
// The protocol is gVisor's urpc: one JSON object {"method", "arg"} in, one
// {"success", "err", "result"} out, on the abstract unix socket
// "runsc-sandbox.<id>" (with a trailing NUL), in the network namespace
// runsc ran in.
//
// runsc does not see such a pause: its state stays "running" (record.
// PausedDirect says otherwise). And gVisor's kernel panics, ending the
// sandbox, on a resume without a pause before it, so the driver only
// resumes a kernel it knows it paused (see thawGVisor).

// errNoControl reports a sandbox that does not serve the call on its
// control socket: the runsc command is the way.
var errNoControl = errors.New("no runsc control socket")

// runscControlAddr is the address of sandbox id's control socket.
var runscControlAddr = func(id string) string { return "@runsc-sandbox." + id + "\x00" }

// runscControl makes call method on sandbox id's control socket.
func runscControl(ctx context.Context, id, method string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", runscControlAddr(id))
	if err != nil {
		return fmt.Errorf("%w: %v", errNoControl, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	call := struct {
		Method string `json:"method"`
		Arg    any    `json:"arg"`
	}{method, nil}
	if err := json.NewEncoder(conn).Encode(call); err != nil {
		return fmt.Errorf("runsc %s: %w", method, err)
	}
	var res struct {
		Success bool   `json:"success"`
		Err     string `json:"err"`
	}
	if err := json.NewDecoder(conn).Decode(&res); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("runsc %s: %w", method, err)
	}
	if !res.Success {
		if res.Err == "unknown method" {
			return fmt.Errorf("%w: %s: %s", errNoControl, method, res.Err)
		}
		return fmt.Errorf("runsc %s: %s", method, res.Err)
	}
	return nil
}
