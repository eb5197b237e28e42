package guest

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/paddockhq/paddock"
)

// collect copies r into a buffer in the background.
func collect(r io.Reader) *syncBuffer {
	var b syncBuffer
	go io.Copy(&b, r)
	return &b
}

func TestAttachTTY(t *testing.T) {
	c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/"})
	s, err := c.Attach(context.Background(), &AttachRequest{Command: []string{"sh"}, TTY: true, Cols: 80, Rows: 24})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := collect(s.Stdout())
	io.WriteString(s.Stdin(), "echo hi; tty\n")
	waitFor(t, func() bool {
		return strings.Contains(out.String(), "hi\r\n") && strings.Contains(out.String(), "/dev/pts/")
	})
	if err := s.Resize(100, 40); err != nil {
		t.Fatal(err)
	}
	io.WriteString(s.Stdin(), "stty size\n")
	waitFor(t, func() bool { return strings.Contains(out.String(), "40 100") })
	io.WriteString(s.Stdin(), "exit 3\n")
	es, err := s.Wait()
	if err != nil || es.Code != 3 {
		t.Fatalf("wait: %+v %v", es, err)
	}
}

// TestAttachResizeUndone plays readline's part: it reads the terminal's
// size before a resize and writes it back after. The guest sets the new
// size again; a size the program chose itself stays.
func TestAttachResizeUndone(t *testing.T) {
	var mu sync.Mutex
	var rechecks []func()
	runRechecks := func() {
		t.Helper()
		mu.Lock()
		fs := rechecks
		rechecks = nil
		mu.Unlock()
		if len(fs) != len(resizeRecheck) {
			t.Fatalf("%d rechecks scheduled, want %d", len(fs), len(resizeRecheck))
		}
		for _, f := range fs {
			f()
		}
	}
	restore := afterFunc
	afterFunc = func(_ time.Duration, f func()) *time.Timer {
		mu.Lock()
		rechecks = append(rechecks, f)
		mu.Unlock()
		return nil
	}
	t.Cleanup(func() { afterFunc = restore })

	c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}, Dir: "/"})
	script := `old=$(stty size); echo ready; read x; stty rows ${old% *} cols ${old#* }; echo undone; ` +
		`read x; stty size; read x; stty rows 33 cols 77; echo mine; read x; stty size`
	s, err := c.Attach(context.Background(), &AttachRequest{Command: []string{"sh", "-c", script}, TTY: true, Cols: 80, Rows: 24})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := collect(s.Stdout())
	waitFor(t, func() bool { return strings.Contains(out.String(), "ready") })

	for _, step := range []struct {
		cols, rows uint16
		did, want  string
	}{
		// The resize lands after the program read the size and before
		// it wrote it back: set again.
		{100, 40, "undone", "40 100"},
		// The program sets a size of its own after a resize: it stays.
		{120, 50, "mine", "33 77"},
	} {
		if err := s.Resize(step.cols, step.rows); err != nil {
			t.Fatal(err)
		}
		io.WriteString(s.Stdin(), "\n")
		waitFor(t, func() bool { return strings.Contains(out.String(), step.did) })
		runRechecks()
		io.WriteString(s.Stdin(), "\n")
		waitFor(t, func() bool { return strings.Contains(out.String(), step.want) })
	}
	if es, err := s.Wait(); err != nil || es.Code != 0 {
		t.Fatalf("wait: %+v %v; output %q", es, err, out.String())
	}
}

func TestAttachPipes(t *testing.T) {
	c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	s, err := c.Attach(context.Background(), &AttachRequest{Command: []string{"sh", "-c", "read x; echo out $x; echo err $x >&2; exit 4"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, errb := collect(s.Stdout()), collect(s.Stderr())
	io.WriteString(s.Stdin(), "abc\n")
	es, err := s.Wait()
	if err != nil || es.Code != 4 {
		t.Fatalf("wait: %+v %v", es, err)
	}
	waitFor(t, func() bool { return out.String() == "out abc\n" && errb.String() == "err abc\n" })

	// Stdin EOF reaches the process.
	s2, err := c.Attach(context.Background(), &AttachRequest{Command: []string{"cat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	out2 := collect(s2.Stdout())
	io.WriteString(s2.Stdin(), "all of it")
	s2.Stdin().Close()
	if es, err := s2.Wait(); err != nil || es.Code != 0 {
		t.Fatalf("cat: %+v %v", es, err)
	}
	waitFor(t, func() bool { return out2.String() == "all of it" })
}

func TestAttachErrors(t *testing.T) {
	c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	_, err := c.Attach(context.Background(), &AttachRequest{Command: []string{"no-such-command"}})
	if paddock.ErrorCode(err) != paddock.EInvalid || !strings.Contains(paddock.ErrorMessage(err), "not found") {
		t.Fatalf("missing command: %v", err)
	}
	_, err = c.Attach(context.Background(), &AttachRequest{Command: []string{"true"}, Dir: "/nonexistent"})
	if paddock.ErrorCode(err) != paddock.EInvalid {
		t.Fatalf("bad dir: %v", err)
	}
}

// TestAttachCloseUnreadInput checks Close kills a process that does not
// read its input even when the guest is stuck writing it.
func TestAttachCloseUnreadInput(t *testing.T) {
	c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	s, err := c.Attach(context.Background(), &AttachRequest{Command: []string{"sleep", "60"}})
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(s.Stdin(), io.LimitReader(zeroReader{}, 8<<20)) // never read
	time.Sleep(100 * time.Millisecond)
	s.Close()
	done := make(chan struct{})
	go func() { s.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("process survived Close")
	}
}

// fakeOldGuest serves a session like a guest from before attach, files
// and dial: it reads a header, handles only exec (not at all, here) and
// closes the stream.
func fakeOldGuest(t *testing.T) *Client {
	hostConn, guestConn := net.Pipe()
	sess, err := yamux.Server(guestConn, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				return
			}
			go func() {
				defer st.Close()
				readFrame(st, nil)
			}()
		}
	}()
	c, err := NewClient(hostConn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); sess.Close() })
	return c
}

func TestOldGuest(t *testing.T) {
	c := fakeOldGuest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Attach(ctx, &AttachRequest{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("attach: %v", err)
	}
	// A large upload must not block on a guest that does not read.
	if _, err := c.WriteFile(ctx, "/x", io.LimitReader(zeroReader{}, 64<<20), 0); !errors.Is(err, ErrUnsupported) {
		t.Errorf("write: %v", err)
	}
	if _, err := c.Dial(ctx, 80, time.Second); !errors.Is(err, ErrUnsupported) {
		t.Errorf("dial: %v", err)
	}
	// Background processes were the host's before they were the guest's.
	if _, err := c.StartProcess(ctx, "proc-1", &ExecRequest{Command: []string{"true"}}, 0); !errors.Is(err, ErrUnsupported) {
		t.Errorf("start a process: %v", err)
	}
	if _, err := c.ProcessOutput(ctx, "proc-1", 0, true); !errors.Is(err, ErrUnsupported) {
		t.Errorf("process output: %v", err)
	}
}

func TestUnknownRequest(t *testing.T) {
	c, _, _ := startGuest(t, Config{})
	_, _, err := c.request(context.Background(), streamHeader{Kind: "teleport"})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "teleport") {
		t.Fatalf("got %v", err)
	}
	_, _, err = c.request(context.Background(), streamHeader{Kind: kindFile, File: &fileRequest{Op: "fold", Path: "/"}})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("unknown op: %v", err)
	}
	_, _, err = c.request(context.Background(), streamHeader{Kind: kindProc, Proc: &procRequest{Op: "fork", ID: "proc-1"}})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("unknown process op: %v", err)
	}
}
