package guest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/paddockhq/paddock"
)

// StartProcess starts req in the background under id (which must be new
// to the guest) and returns at once; the command reads /dev/null.
// oomKills is kept with the process, for the host (see Process).
func (c *Client) StartProcess(ctx context.Context, id string, req *ExecRequest, oomKills int64) (Process, error) {
	var p Process
	err := c.procCall(ctx, &procRequest{Op: procStart, ID: id, Exec: req, OOMKills: oomKills}, &p)
	return p, err
}

// Processes returns the guest's background processes, newest first.
func (c *Client) Processes(ctx context.Context) ([]Process, error) {
	var list []Process
	err := c.procCall(ctx, &procRequest{Op: procList}, &list)
	return list, err
}

// Process returns one background process (ENotFound if the guest has
// none by that id).
func (c *Client) Process(ctx context.Context, id string) (Process, error) {
	var p Process
	err := c.procCall(ctx, &procRequest{Op: procGet, ID: id}, &p)
	return p, err
}

// KillProcess kills a running background process's whole process group
// and returns the process; an ended one is returned as it is.
func (c *Client) KillProcess(ctx context.Context, id string) (Process, error) {
	var p Process
	err := c.procCall(ctx, &procRequest{Op: procKill, ID: id}, &p)
	return p, err
}

// procCall sends a process request whose whole answer is frameOK's JSON.
func (c *Client) procCall(ctx context.Context, req *procRequest, v any) error {
	st, p, err := c.request(ctx, streamHeader{Kind: kindProc, Proc: req})
	if err != nil {
		return err
	}
	st.Close()
	if err := json.Unmarshal(p, v); err != nil {
		return fmt.Errorf("%w: process reply: %v", ErrProtocol, err)
	}
	return nil
}

// ProcessOutput returns a background process's output from offset since
// (what the guest still keeps of it). With wait, the guest answers once
// there is output past since or the process has ended; cancelling ctx
// gives up.
func (c *Client) ProcessOutput(ctx context.Context, id string, since int64, wait bool) (ProcessOutput, error) {
	st, p, err := c.request(ctx, streamHeader{Kind: kindProc, Proc: &procRequest{Op: procOutput, ID: id, Since: since, Wait: wait}})
	if err != nil {
		return ProcessOutput{}, err
	}
	defer st.Close()
	stop := context.AfterFunc(ctx, func() { abortStream(st) })
	defer stop()
	var r outputReply
	if err := json.Unmarshal(p, &r); err != nil {
		return ProcessOutput{}, fmt.Errorf("%w: output reply: %v", ErrProtocol, err)
	}
	out := ProcessOutput{Next: r.Next, Dropped: r.Dropped, Process: r.Process}
	// Frames of one stream in a row are one chunk: the guest splits its
	// chunks into frames anywhere, characters included.
	off := r.From
	var buf []byte
	for {
		typ, b, nbuf, err := readFrame(st, buf)
		buf = nbuf
		if err != nil {
			return ProcessOutput{}, c.ctxErr(ctx, c.readErr(err))
		}
		var stream string
		switch typ {
		case frameStdout:
			stream = "stdout"
		case frameStderr:
			stream = "stderr"
		case frameDataEOF:
			if off != r.Next {
				return ProcessOutput{}, fmt.Errorf("%w: output ends at offset %d, not %d", ErrProtocol, off, r.Next)
			}
			return out, nil
		default:
			continue
		}
		if n := len(out.Chunks); n > 0 && out.Chunks[n-1].Stream == stream {
			out.Chunks[n-1].Data += string(b)
		} else {
			out.Chunks = append(out.Chunks, paddock.OutputChunk{Offset: off, Stream: stream, Data: string(b)})
		}
		off += int64(len(b))
	}
}
