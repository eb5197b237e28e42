package guest

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// BenchmarkExecTrue measures the protocol and process start without a
// container (the guest runs in the test process), on a session stream.
// BenchmarkExecTrueLane is the same on a lane (lane.go), as execs go when
// they do not overlap; the wait for the guest's next lane is not timed
// (in a server it overlaps with answering the caller). BenchmarkForkTrue is their floor, measured in
// the same run: fork, exec and wait for the same program, with nothing
// around them; the difference is what an exec costs the guest
// (go test -bench 'ExecTrue|ForkTrue' ./internal/sandbox/guest).
func BenchmarkExecTrue(b *testing.B) {
	c, _, _ := startGuest(b, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	for b.Loop() {
		if _, err := c.Exec(context.Background(), &ExecRequest{Command: []string{"true"}}, nil, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExecTrueLane(b *testing.B) {
	c, _, _ := startGuestLanes(b, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	for b.Loop() {
		b.StopTimer()
		for idleLanes(c) == 0 {
			time.Sleep(50 * time.Microsecond)
		}
		b.StartTimer()
		if _, err := c.Exec(context.Background(), &ExecRequest{Command: []string{"true"}}, nil, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkForkTrue(b *testing.B) {
	path, err := lookPath("true", "/usr/bin:/bin")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		pid, err := syscall.ForkExec(path, []string{"true"}, &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Setpgid: true}})
		if err != nil {
			b.Fatal(err)
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
}
