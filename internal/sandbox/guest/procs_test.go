package guest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
)

// public is o as the host reads it.
func (o outputSlice) public() ProcessOutput {
	out := ProcessOutput{Next: o.next, Dropped: o.dropped, Process: o.info}
	for _, c := range o.chunks {
		out.Chunks = append(out.Chunks, paddock.OutputChunk{Offset: c.offset, Stream: [2]string{"stdout", "stderr"}[c.stream], Data: string(c.data)})
	}
	return out
}

// TestProcOutput checks a background process's output buffer: replay
// from any offset, characters never split, the oldest output dropped past
// MaxProcessOutput, waiters woken.
func TestProcOutput(t *testing.T) {
	p := &proc{info: Process{Process: paddock.Process{ID: "proc-1", Status: "running"}}, changed: make(chan struct{})}
	output := func(since int64) ProcessOutput {
		t.Helper()
		out, ok := p.output(since, false, nil)
		if !ok {
			t.Fatal("output without wait gave up")
		}
		return out.public()
	}
	woken := make(chan ProcessOutput, 1)
	go func() {
		out, _ := p.output(0, true, nil)
		woken <- out.public()
	}()
	p.write(0, []byte("caf\xc3")) // é cut in two
	if out := <-woken; out.Next != 3 || len(out.Chunks) != 1 || out.Chunks[0].Data != "caf" {
		t.Fatalf("the waiter woke to %+v", out)
	}
	p.write(1, []byte("oops\n"))
	p.write(0, []byte("\xa9\n"))
	out := output(0)
	var got []string
	for _, c := range out.Chunks {
		got = append(got, c.Stream+":"+c.Data)
	}
	if strings.Join(got, "|") != "stdout:caf|stderr:oops\n|stdout:é\n" || out.Next != 11 || out.Dropped {
		t.Errorf("output %q, next %d, dropped %v", got, out.Next, out.Dropped)
	}
	// From inside a chunk: from the next character.
	if out := output(9); len(out.Chunks) != 1 || out.Chunks[0].Data != "\n" || out.Chunks[0].Offset != 10 {
		t.Errorf("from offset 9: %+v", out.Chunks)
	}
	// A waiter whose host is gone gives up.
	gone := make(chan struct{})
	close(gone)
	if _, ok := p.output(11, true, gone); ok {
		t.Error("a wait whose host is gone returned output")
	}

	// Past the cap the oldest output goes, and a reader from 0 is told.
	big := strings.Repeat("x", 64<<10)
	for range 5 {
		p.write(0, []byte(big))
	}
	out = output(0)
	held := 0
	for _, c := range out.Chunks {
		held += len(c.Data)
	}
	next := out.Next
	if !out.Dropped || held > MaxProcessOutput || next != 11+5*64<<10 || out.Chunks[len(out.Chunks)-1].Offset+int64(len(big)) != next {
		t.Errorf("after 320 KiB: held %d, next %d, dropped %v", held, next, out.Dropped)
	}

	// The end: an exit status, and output cut inside a character is kept.
	p.write(0, []byte("\xe6"))
	p.finish(ExitStatus{Code: 3})
	out = output(next)
	if i := out.Process; i.Status != "exited" || i.ExitCode == nil || *i.ExitCode != 3 || i.EndedAt == nil || len(out.Chunks) != 1 || out.Chunks[0].Data != "\xe6" {
		t.Errorf("ended: %+v, last output %+v", i, out.Chunks)
	}
	p.kill(false)
	if i := p.snapshot(); i.Status != "exited" {
		t.Errorf("killing an ended process changed it: %+v", i)
	}
}

// TestProcOutputSmallWrites: output written a byte at a time costs no
// more chunks than output written in pages, and output alternating
// between the streams is bounded in chunks too.
func TestProcOutputSmallWrites(t *testing.T) {
	p := &proc{changed: make(chan struct{})}
	for range 300 << 10 {
		p.write(0, []byte{'x'})
	}
	held := 0
	for _, c := range p.chunks {
		held += len(c.data)
	}
	if len(p.chunks) > MaxProcessOutput/maxChunk+2 || held > MaxProcessOutput || p.next != 300<<10 {
		t.Errorf("300 KiB a byte at a time: %d chunks holding %d bytes, next %d", len(p.chunks), held, p.next)
	}
	p = &proc{changed: make(chan struct{})}
	for i := range 3 * maxChunks {
		p.write(i%2, []byte{'x'})
	}
	o, _ := p.output(0, false, nil)
	out := o.public()
	if len(p.chunks) != maxChunks || !out.Dropped || out.Next != 3*maxChunks || len(out.Chunks) != maxChunks || out.Chunks[0].Offset != 2*maxChunks {
		t.Errorf("alternating streams: %d chunks, output from %d of %d, dropped %v", len(p.chunks), out.Chunks[0].Offset, out.Next, out.Dropped)
	}
}

// TestGuestProcesses runs background processes in a guest: output while
// they run, waits, exit codes, kills, timeouts, commands that cannot start,
// the table's bound, and what a host that connects again finds.
func TestGuestProcesses(t *testing.T) {
	c, g, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin", "A=base"}, Dir: "/"})
	ctx := context.Background()
	start := func(id string, req *ExecRequest) Process {
		t.Helper()
		p, err := c.StartProcess(ctx, id, req, 7)
		if err != nil {
			t.Fatalf("start %s: %v", id, err)
		}
		return p
	}
	// follow reads a process's output to its end, waiting as a follower.
	follow := func(c *Client, id string, since int64) (string, Process) {
		t.Helper()
		var text strings.Builder
		stream := ""
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for {
			out, err := c.ProcessOutput(wctx, id, since, true)
			if err != nil {
				t.Fatalf("output of %s: %v", id, err)
			}
			for _, ch := range out.Chunks {
				if ch.Stream != stream { // out: or err:, where the stream changes
					stream = ch.Stream
					text.WriteString(stream[3:] + ":")
				}
				text.WriteString(ch.Data)
			}
			since = out.Next
			if out.Process.Status != "running" {
				return text.String(), out.Process
			}
		}
	}

	p := start("p1", &ExecRequest{Command: []string{"sh", "-c", "echo $A $B; cat; echo err >&2; sleep 0.2; echo done; exit 4"}, Env: map[string]string{"B": "req"}, Dir: "/tmp"})
	if p.ID != "p1" || p.Status != "running" || p.OOMKills != 7 || p.StartedAt.IsZero() {
		t.Errorf("started %+v", p)
	}
	text, p := follow(c, "p1", 0)
	// cat reads /dev/null: no input, no wait.
	if text != "out:base req\nerr:err\nout:done\n" || p.Status != "exited" || *p.ExitCode != 4 || p.EndedAt == nil {
		t.Errorf("p1: %q, %+v", text, p)
	}
	if _, err := c.StartProcess(ctx, "p1", &ExecRequest{Command: []string{"true"}}, 0); paddock.ErrorCode(err) != paddock.EConflict {
		t.Errorf("a taken id: %v", err)
	}

	// Not found, not runnable: ended at once, as an exec reports them.
	p = start("p2", &ExecRequest{Command: []string{"no-such-command"}})
	if text, _ := follow(c, "p2", 0); p.Status != "exited" || *p.ExitCode != 127 || !strings.Contains(text, "err:paddock: no-such-command: command not found") {
		t.Errorf("missing command: %+v, %q", p, text)
	}

	// Kill and timeout: the whole process group goes.
	start("sleeper", &ExecRequest{Command: []string{"sh", "-c", "sleep 300 & sleep 300"}})
	start("timed", &ExecRequest{Command: []string{"sh", "-c", "echo before; sleep 300"}, TimeoutMS: 200})
	if k, err := c.KillProcess(ctx, "sleeper"); err != nil || k.ID != "sleeper" {
		t.Fatalf("kill: %+v %v", k, err)
	}
	if _, p := follow(c, "sleeper", 0); p.Status != "killed" || p.ExitCode != nil || p.Signal != 9 {
		t.Errorf("killed: %+v", p)
	}
	if text, p := follow(c, "timed", 0); p.Status != "exited" || !p.TimedOut || *p.ExitCode != 137 || text != "out:before\n" {
		t.Errorf("timed out: %+v, %q", p, text)
	}
	if _, err := c.Process(ctx, "nosuch"); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Errorf("unknown process: %v", err)
	}
	if _, err := c.ProcessOutput(ctx, "p1", -1, false); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Errorf("negative offset: %v", err)
	}

	// A waiting follower whose caller gives up.
	start("quiet", &ExecRequest{Command: []string{"sleep", "300"}})
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err := c.ProcessOutput(wctx, "quiet", 0, true)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a wait past its context: %v", err)
	}

	// Output with every byte value, more than is kept, crosses intact.
	start("binary", &ExecRequest{Command: []string{"sh", "-c", "i=0; while [ $i -lt 40 ]; do head -c 10000 /dev/zero; printf '\\001\\033é'; i=$((i+1)); done"}})
	follow(c, "binary", 0)
	out, err := c.ProcessOutput(ctx, "binary", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, ch := range out.Chunks {
		held += len(ch.Data)
		if ch.Offset+int64(len(ch.Data)) == out.Next && !strings.HasSuffix(ch.Data, "\x00\x01\x1bé") {
			t.Errorf("the last chunk ends %q", ch.Data[max(0, len(ch.Data)-8):])
		}
	}
	if total := int64(40 * 10004); out.Next != total || !out.Dropped || int64(held) != total-out.Chunks[0].Offset || held > MaxProcessOutput {
		t.Errorf("binary output: next %d, held %d from %d, dropped %v", out.Next, held, out.Chunks[0].Offset, out.Dropped)
	}

	// A second host, after the first is gone, finds the processes,
	// output written while no host was connected included.
	start("writer", &ExecRequest{Command: []string{"sh", "-c", "echo one; sleep 0.3; echo two"}})
	c.Close()
	time.Sleep(500 * time.Millisecond)
	hostConn, guestConn := net.Pipe()
	go g.serve(guestConn)
	c2, err := NewClient(hostConn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if text, p := follow(c2, "writer", 0); text != "out:one\ntwo\n" || p.Status != "exited" {
		t.Errorf("after reconnecting: %q, %+v", text, p)
	}
	list, err := c2.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range list {
		ids = append(ids, p.ID)
	}
	if strings.Join(ids, " ") != "writer binary quiet timed sleeper p2 p1" {
		t.Errorf("list: %v", ids)
	}

	// The table holds MaxProcesses: the oldest ended makes room, and with
	// all running, a start is refused.
	for i := len(list); i < MaxProcesses+6; i++ {
		_, err := c2.StartProcess(ctx, "fill"+string(rune('a'+i)), &ExecRequest{Command: []string{"sleep", "300"}}, 0)
		if err != nil {
			if paddock.ErrorCode(err) != paddock.EConflict || !strings.Contains(err.Error(), "kill one first") {
				t.Errorf("start beyond the bound: %v", err)
			}
			break
		}
	}
	list, _ = c2.Processes(ctx)
	if len(list) != MaxProcesses {
		t.Errorf("%d processes kept, want %d", len(list), MaxProcesses)
	}
	for _, p := range list {
		if p.Status != "running" {
			t.Errorf("an ended process kept while running ones were refused: %+v", p)
		}
		c2.KillProcess(ctx, p.ID)
	}
}
