package guest

import (
	"context"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	defer reportFaults(b)()
	for b.Loop() {
		if _, err := c.Exec(context.Background(), &ExecRequest{Command: []string{"true"}}, nil, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExecTrueLane(b *testing.B) {
	c, _, _ := startGuestLanes(b, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	defer reportFaults(b)()
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
	defer reportFaults(b)()
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

// reportFaults reports the page faults per operation of the process
// (host and guest, when the guest runs in the test) and of its children:
// on a virtual machine a fault costs tens of microseconds.
func reportFaults(b *testing.B) func() {
	faults := func(who int) int64 {
		var ru unix.Rusage
		unix.Getrusage(who, &ru)
		return ru.Minflt + ru.Majflt
	}
	self, children := faults(unix.RUSAGE_SELF), faults(unix.RUSAGE_CHILDREN)
	return func() {
		n := float64(b.N)
		b.ReportMetric(float64(faults(unix.RUSAGE_SELF)-self)/n, "faults/op")
		b.ReportMetric(float64(faults(unix.RUSAGE_CHILDREN)-children)/n, "child-faults/op")
	}
}
