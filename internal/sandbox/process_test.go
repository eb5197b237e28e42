package sandbox

import (
	"strings"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
)

// TestProcessOutput checks a background process's output buffer: replay
// from any offset, characters never split, the oldest output dropped past
// MaxProcessOutput, followers woken.
func TestProcessOutput(t *testing.T) {
	m := &Manager{}
	p := &bgProcess{info: paddock.Process{ID: "proc-1", Status: "running"}, changed: make(chan struct{}), cancel: func() {}}
	m.procs.byEnv = map[string][]*bgProcess{"env-1": {p}}
	stdout, stderr := procWriter{p, 0}, procWriter{p, 1}

	_, _, _, _, changed, err := m.ProcessOutput("env-1", "proc-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	stdout.Write([]byte("caf\xc3")) // é cut in two
	select {
	case <-changed:
	default:
		t.Fatal("a write did not wake the followers")
	}
	stderr.Write([]byte("oops\n"))
	stdout.Write([]byte("\xa9\n"))
	chunks, next, dropped, _, _, _ := m.ProcessOutput("env-1", "proc-1", 0)
	var got []string
	for _, c := range chunks {
		got = append(got, c.Stream+":"+c.Data)
	}
	if strings.Join(got, "|") != "stdout:caf|stderr:oops\n|stdout:é\n" || next != 11 || dropped {
		t.Errorf("output %q, next %d, dropped %v", got, next, dropped)
	}
	// From inside a chunk: from the next character.
	chunks, _, _, _, _, _ = m.ProcessOutput("env-1", "proc-1", 9)
	if len(chunks) != 1 || chunks[0].Data != "\n" || chunks[0].Offset != 10 {
		t.Errorf("from offset 9: %+v", chunks)
	}
	if _, _, _, _, _, err := m.ProcessOutput("env-1", "proc-1", -1); paddock.ErrorCode(err) != paddock.EInvalid {
		t.Errorf("negative offset: %v", err)
	}
	if _, err := m.Process("env-1", "proc-2"); paddock.ErrorCode(err) != paddock.ENotFound {
		t.Errorf("unknown process: %v", err)
	}

	// Past the cap the oldest output goes, and a reader from 0 is told.
	big := strings.Repeat("x", 64<<10)
	for range 5 {
		stdout.Write([]byte(big))
	}
	chunks, next, dropped, _, _, _ = m.ProcessOutput("env-1", "proc-1", 0)
	held := 0
	for _, c := range chunks {
		held += len(c.Data)
	}
	if !dropped || held > MaxProcessOutput || next != 11+5*64<<10 || chunks[len(chunks)-1].Offset+int64(len(big)) != next {
		t.Errorf("after 320 KiB: held %d, next %d, dropped %v", held, next, dropped)
	}

	// The end: an exit status, and output cut inside a character is kept.
	stdout.Write([]byte("\xe6"))
	p.finish(time.Now(), &paddock.ExecResult{ExitCode: 3}, nil)
	info, _ := m.Process("env-1", "proc-1")
	chunks, _, _, _, _, _ = m.ProcessOutput("env-1", "proc-1", next)
	if info.Status != "exited" || info.ExitCode == nil || *info.ExitCode != 3 || info.EndedAt == nil || len(chunks) != 1 || chunks[0].Data != "\xe6" {
		t.Errorf("ended: %+v, last output %+v", info, chunks)
	}
	if k, _ := m.KillProcess("env-1", "proc-1"); k.Status != "exited" {
		t.Errorf("killing an ended process changed it: %+v", k)
	}
}
