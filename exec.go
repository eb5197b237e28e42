package paddock

import (
	"io"
	"sort"
	"strings"
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

// CheckEnv refuses environment variables no process can be given, with
// EInvalid naming the first bad one: an empty name, a name holding '=' or
// a NUL byte, a value holding a NUL byte. Create, exec, attach and
// run-command all check their env with it.
func CheckEnv(vars map[string]string) error {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return Errorf(EInvalid, "field \"env\" has an invalid variable name %q: a name must not be empty or contain '=' or a NUL byte", k)
		}
		if strings.ContainsRune(vars[k], 0) {
			return Errorf(EInvalid, "field \"env\": the value of %s contains a NUL byte", k)
		}
	}
	return nil
}
