package guest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
)

// TestSpareStream checks requests go out on a stream opened ahead of
// them, that each request opens the next (an exec does once it is done,
// in the background), and that the streams of finished execs are closed
// (in the background too) rather than kept.
func TestSpareStream(t *testing.T) {
	c, _, _ := startGuest(t, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	spare := func() *yamux.Stream {
		c.spareMu.Lock()
		defer c.spareMu.Unlock()
		return c.spare
	}
	// waitSpare waits for a spare stream other than old.
	waitSpare := func(old *yamux.Stream) *yamux.Stream {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			if s := spare(); s != nil && s != old {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("no new spare stream (old %v)", old)
			}
		}
	}
	if spare() != nil {
		t.Fatal("a spare stream before any request")
	}
	run(t, c, &ExecRequest{Command: []string{"true"}}, "")
	first := waitSpare(nil)
	if es, out, _ := run(t, c, &ExecRequest{Command: []string{"echo", "on the spare"}}, ""); es.Code != 0 || out != "on the spare\n" {
		t.Errorf("exec on the spare stream: %+v %q", es, out)
	}
	second := waitSpare(first)
	// A file request takes the spare stream too, and opens the next once
	// it is sent.
	if _, err := c.Stat(t.Context(), "/"); err != nil {
		t.Fatalf("stat on the spare stream: %v", err)
	}
	if s := spare(); s == nil || s == second {
		t.Errorf("spare after a stat: %v, before %v; want a new one", s, second)
	}

	// Concurrent requests share one spare; each gets a stream of its own.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 8 {
		wg.Go(func() {
			for j := range 5 {
				want := fmt.Sprintf("%d-%d\n", i, j)
				var out syncBuffer
				es, err := c.Exec(t.Context(), &ExecRequest{Command: []string{"echo", want[:len(want)-1]}}, nil, &out, nil)
				if err != nil || es.Code != 0 || out.String() != want {
					errs <- fmt.Errorf("exec %d-%d: %+v %v %q", i, j, es, err, out.String())
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Left open: the guest's log stream and the spare. Execs close their
	// streams in the background, so wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for c.sess.NumStreams() > 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams open after the execs ended, want 2 (log, spare)", c.sess.NumStreams())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
