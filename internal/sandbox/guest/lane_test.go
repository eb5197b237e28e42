package guest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"golang.org/x/sys/unix"
)

// laneHost is the host's lane socket of a guest started by
// startGuestLanes: it hands the lanes it accepts to the client and counts
// them.
type laneHost struct {
	accepted atomic.Int32
}

// startGuestLanes is startGuest with lanes: the guest dials the lane
// socket this starts, whose lanes go to the client.
func startGuestLanes(t testing.TB, cfg Config) (*Client, *guest, *laneHost) {
	t.Helper()
	// A short path: a unix socket's path has room for about 100 bytes.
	dir, err := os.MkdirTemp("", "lane")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Lane = filepath.Join(dir, "lane.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.Lane, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	c, g, _ := startGuest(t, cfg)
	lh := &laneHost{}
	go func() {
		for {
			conn, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			lh.accepted.Add(1)
			c.AddLane(conn)
		}
	}()
	go g.serveLanes()
	// Cleanups run last-registered first: these before startGuest's.
	t.Cleanup(func() {
		close(g.done)
		ln.Close()
		c.lanes.close()
		os.RemoveAll(dir)
	})
	return c, g, lh
}

// idleLanes is how many lanes c holds.
func idleLanes(c *Client) int {
	c.lanes.mu.Lock()
	defer c.lanes.mu.Unlock()
	return len(c.lanes.idle)
}

// runOnLane waits for a lane, runs req, and checks that the exec took the
// lane: the guest dials the next one once a lane has served its request.
func runOnLane(t *testing.T, c *Client, lh *laneHost, req *ExecRequest, stdin string) (ExitStatus, string, string) {
	t.Helper()
	waitFor(t, func() bool { return idleLanes(c) > 0 })
	n := lh.accepted.Load()
	es, out, errOut := run(t, c, req, stdin)
	waitFor(t, func() bool { return lh.accepted.Load() > n })
	return es, out, errOut
}

// TestLaneExec: an exec on a lane behaves as one on a stream.
func TestLaneExec(t *testing.T) {
	c, _, lh := startGuestLanes(t, Config{Env: []string{"PATH=/usr/bin:/bin", "A=base"}, Dir: "/"})
	es, out, errOut := runOnLane(t, c, lh, &ExecRequest{Command: []string{"sh", "-c", "echo $A $B; pwd; echo err >&2; exit 3"}, Env: map[string]string{"B": "req"}, Dir: "/tmp"}, "")
	if es.Code != 3 || out != "base req\n/tmp\n" || errOut != "err\n" {
		t.Errorf("got %+v %q %q", es, out, errOut)
	}
	es, out, _ = runOnLane(t, c, lh, &ExecRequest{Command: []string{"cat"}}, "hello stdin")
	if es.Code != 0 || out != "hello stdin" {
		t.Errorf("stdin: got %+v %q", es, out)
	}
	// More output than a frame, and than the lane's read buffer.
	es, out, _ = runOnLane(t, c, lh, &ExecRequest{Command: []string{"sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x"}}, "")
	if es.Code != 0 || out != strings.Repeat("x", 300000) {
		t.Errorf("large output: got %+v and %d bytes", es, len(out))
	}
	es, _, errOut = runOnLane(t, c, lh, &ExecRequest{Command: []string{"no-such-command"}}, "")
	if es.Code != 127 || !strings.Contains(errOut, "not found") {
		t.Errorf("missing command: got %+v %q", es, errOut)
	}
	start := time.Now()
	es, _, _ = runOnLane(t, c, lh, &ExecRequest{Command: []string{"sh", "-c", "sleep 30 & sleep 30"}, TimeoutMS: 200}, "")
	if !es.TimedOut || es.Signal != int(unix.SIGKILL) || time.Since(start) > 5*time.Second {
		t.Errorf("timeout: got %+v after %v", es, time.Since(start))
	}
}

// TestLaneOverlap: requests that overlap do not wait for a lane. One that
// lasts has the guest dial the next lane beside it (laneOverlap); one that
// finds no lane goes on a stream.
func TestLaneOverlap(t *testing.T) {
	c, _, lh := startGuestLanes(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	waitFor(t, func() bool { return idleLanes(c) > 0 })
	n := lh.accepted.Load()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, &ExecRequest{Command: []string{"sh", "-c", "echo started; sleep 30"}}, nil, &out, nil)
		errc <- err
	}()
	waitFor(t, func() bool { return strings.Contains(out.String(), "started") })
	// The lane in use; a second exec at once finds none or the next one.
	if es, got, _ := run(t, c, &ExecRequest{Command: []string{"echo", "second"}}, ""); es.Code != 0 || got != "second\n" {
		t.Errorf("overlapping exec: %+v %q", es, got)
	}
	waitFor(t, func() bool { return lh.accepted.Load() > n && idleLanes(c) > 0 })
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("cancelled exec: %v", err)
	}
}

// TestLaneCancel: cancelling an exec on a lane kills its process group,
// as on a stream.
func TestLaneCancel(t *testing.T) {
	c, _, lh := startGuestLanes(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	waitFor(t, func() bool { return idleLanes(c) > 0 })
	n := lh.accepted.Load()
	testCancel(t, c, func() {
		// The exec took the lane: the guest dials the next beside it.
		waitFor(t, func() bool { return lh.accepted.Load() > n })
	})
}

// TestLaneBroken: a lane whose guest end is gone carried nothing, and the
// exec goes on a stream instead; with stdin, some of which the lane may
// have taken, it fails.
func TestLaneBroken(t *testing.T) {
	c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	dir, err := os.MkdirTemp("", "lane")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	broken := func() {
		t.Helper()
		d, err := net.Dial("unix", filepath.Join(dir, "s"))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := ln.AcceptUnix()
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		c.AddLane(conn)
	}
	broken()
	if es, out, _ := run(t, c, &ExecRequest{Command: []string{"echo", "ok"}}, ""); es.Code != 0 || out != "ok\n" {
		t.Errorf("after a broken lane: %+v %q", es, out)
	}
	broken()
	var out bytes.Buffer
	if _, err := c.Exec(context.Background(), &ExecRequest{Command: []string{"cat"}}, strings.NewReader("in"), &out, nil); err == nil {
		t.Errorf("with stdin on a broken lane: no error, output %q", out.String())
	}
	if n := idleLanes(c); n != 0 {
		t.Errorf("%d lanes left", n)
	}
}

// TestLanesClosed: a client closed closes the lanes it holds and refuses
// new ones.
func TestLanesClosed(t *testing.T) {
	c, _, _ := startGuestLanes(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	waitFor(t, func() bool { return idleLanes(c) > 0 })
	c.Close()
	if n := idleLanes(c); n != 0 {
		t.Errorf("%d lanes held after Close", n)
	}
	a, b, err := unixPair()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c.AddLane(a)
	if n := idleLanes(c); n != 0 {
		t.Errorf("a closed client took a lane")
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Error("the refused lane is still open")
	}
}

// unixPair returns two connected unix sockets.
func unixPair() (*net.UnixConn, *net.UnixConn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	conn := func(fd int) (*net.UnixConn, error) {
		f := os.NewFile(uintptr(fd), "pair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			return nil, err
		}
		return c.(*net.UnixConn), nil
	}
	a, err := conn(fds[0])
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := conn(fds[1])
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// TestExecStuckGuest: an exec whose context ends returns, on a lane and on
// a stream, even when the guest never answers (it is paused, or stuck):
// after cancelGrace, not never.
func TestExecStuckGuest(t *testing.T) {
	// A guest that reads what it is sent and never answers.
	stuck := func(c io.Reader) { io.Copy(io.Discard, c) }
	execTimesOut := func(t *testing.T, c *Client) {
		t.Helper()
		c.cancelGrace = 200 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(ctx, &ExecRequest{Command: []string{"true"}}, nil, nil, nil)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("exec: %v, want the context's error", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("exec still waits for a guest that never answers, 10 s on")
		}
	}

	t.Run("lane", func(t *testing.T) {
		c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		host, err := net.FileConn(os.NewFile(uintptr(fds[0]), "host"))
		if err != nil {
			t.Fatal(err)
		}
		guestEnd := os.NewFile(uintptr(fds[1]), "guest")
		defer guestEnd.Close()
		go stuck(guestEnd)
		c.AddLane(host.(*net.UnixConn))
		execTimesOut(t, c)
	})
	t.Run("stream", func(t *testing.T) {
		hostConn, guestConn := net.Pipe()
		defer guestConn.Close()
		go func() {
			sess, err := yamux.Server(guestConn, nil)
			if err != nil {
				return
			}
			for {
				st, err := sess.AcceptStream()
				if err != nil {
					return
				}
				go stuck(st)
			}
		}()
		c, err := NewClient(hostConn, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		execTimesOut(t, c)
	})
}
