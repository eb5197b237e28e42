package paddock

import (
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
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

// UTF8Carry keeps output read in chunks whole as text, so that it can be
// sent as JSON strings without splitting a character (each half would
// become U+FFFD). Bytes that are not UTF-8 at all go through as they are.
type UTF8Carry struct{ pending []byte }

// Next returns what of the bytes held back and p ends on a whole
// character, and holds back the start of a character p cuts short (at
// most three bytes).
func (c *UTF8Carry) Next(p []byte) []byte {
	b := append(c.pending, p...)
	cut := len(b)
	for i := len(b) - 1; i >= 0 && i > len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	c.pending = append([]byte(nil), b[cut:]...)
	return b[:cut]
}

// Rest returns what is held back, and forgets it: the output ended inside
// a character.
func (c *UTF8Carry) Rest() []byte {
	b := c.pending
	c.pending = nil
	return b
}

// Process is a background process: a command an exec started and left
// running, which a client reconnects to (see the sandbox Manager).
type Process struct {
	ID        string     `json:"pid"`
	Command   []string   `json:"command"`
	Status    string     `json:"status"` // running, exited or killed
	ExitCode  *int       `json:"exit_code,omitempty"`
	TimedOut  bool       `json:"timed_out,omitempty"`
	OOMKilled bool       `json:"oom_killed,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
}

// ProcessOutput is a piece of a background process's output: the chunks
// (each of one stream) from an offset up to Next, which is where to ask
// from next. Dropped says output asked for was no longer kept.
type ProcessOutput struct {
	Chunks  []OutputChunk
	Next    int64
	Dropped bool
	Process Process
}

// OutputChunk is a piece of a background process's output; Offset counts
// the bytes of both streams before it.
type OutputChunk struct {
	Offset int64  `json:"offset"`
	Stream string `json:"stream"`
	Data   string `json:"data"`
}
