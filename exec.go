package paddock

import (
	"io"
	"time"
)

// ExecRequest runs one command in an environment.
type ExecRequest struct {
	Command []string          // argv; Command[0] is looked up in PATH
	Env     map[string]string // added to the environment's env
	Dir     string            // working directory; "" means the image's
	Stdin   io.Reader         // nil means empty
	// Stdout and Stderr, when set, receive output as it is produced; the
	// result then holds only what fit under MaxOutput.
	Stdout, Stderr io.Writer
	Timeout        time.Duration // 0 means no timeout; on expiry the whole process group is killed
	MaxOutput      int           // bytes kept per stream in the result; 0 means the configured default
}

// ExecResult is how a command ended.
type ExecResult struct {
	Stdout    string
	Stderr    string
	ExitCode  int
	Duration  time.Duration
	TimedOut  bool // killed by the timeout
	Truncated bool // output exceeded MaxOutput and was cut
	OOMKilled bool // killed by the environment's memory limit
}

// LogEntry is one line of an environment's log (its command's output and
// the runtime's notes about it).
type LogEntry struct {
	Timestamp time.Time `json:"timestamp"`
	Stream    string    `json:"stream"` // "stdout", "stderr" or "system"
	Message   string    `json:"message"`
}
