package paddock

import "io"

// AttachRequest starts an interactive process in an environment.
type AttachRequest struct {
	// Command is the argv; empty means an interactive shell: $SHELL from
	// the environment's env, else /bin/bash if the image has it, else
	// /bin/sh, started with -i.
	Command []string
	Env     map[string]string // added to the environment's env
	Dir     string            // working directory; "" means the image's
	// TTY runs the process on a pseudo-terminal: one merged output
	// stream, job control, a window size. Without it the process gets
	// pipes and stdout and stderr stay apart.
	TTY        bool
	Cols, Rows uint16 // initial window size with TTY; 0 means 80x24
}

// ExecSession is a process attached to with Attach. The caller must read
// Stdout and Stderr concurrently (an unread stream stalls the process once
// its buffer fills, like a pipe) and must Close the session.
type ExecSession interface {
	// Stdin is the process's input. With a TTY, closing it sends the
	// terminal's end-of-file character (Ctrl-D); without, it closes the
	// process's stdin.
	Stdin() io.WriteCloser
	// Stdout is the process's output (everything, with a TTY). It ends
	// when the process has exited.
	Stdout() io.Reader
	// Stderr is the process's error output; empty with a TTY.
	Stderr() io.Reader
	// Resize changes the terminal's window size; a no-op without a TTY.
	Resize(cols, rows uint16) error
	// Wait blocks until the process exits and returns its exit code (128
	// + the signal number when it was killed). An error means the
	// connection to the environment broke before the exit was known.
	Wait() (exitCode int, err error)
	// Close kills the process with its whole process group (with a TTY,
	// everything in its terminal session) and releases the session. It
	// does not wait for the process to be gone; Wait does.
	Close() error
}
