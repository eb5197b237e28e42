package guest

import (
	"os"

	"golang.org/x/sys/unix"
)

// stdio is a child process's standard streams, set up in as few system
// calls as will do: what an exec costs beyond the command's own start is
// mostly system calls, and on a virtual machine each one is dear.
//
// Each stream is a pipe whose parent end is an *os.File in the runtime's
// poller, so that Close ends a pending Read or Write, and whose child end
// is a plain blocking descriptor that never enters the poller (os.Pipe
// registers both ends, and Fd then makes the child's blocking again: four
// system calls per pipe the child's end does not need).
type stdio struct {
	stdin, stdout, stderr *os.File // the parent's ends; stdin is nil when the child reads /dev/null
	child                 [3]int   // the child's descriptors 0, 1 and 2; -1 once closed
}

// newStdio makes the pipes. With stdin >= 0, the child reads that
// descriptor (the guest's /dev/null), which stdio does not close.
func newStdio(stdin int) (*stdio, error) {
	s := &stdio{child: [3]int{stdin, -1, -1}}
	var err error
	if stdin < 0 {
		s.stdin, s.child[0], err = childPipe(false)
	}
	if err == nil {
		s.stdout, s.child[1], err = childPipe(true)
	}
	if err == nil {
		s.stderr, s.child[2], err = childPipe(true)
	}
	if err != nil {
		s.closeChild()
		s.closeParent()
		return nil, err
	}
	return s, nil
}

// start starts argv with these streams, in its own process group; the
// child's ends are closed after, and the parent's too if it did not start.
func (s *stdio) start(r *reaper, path string, argv, env []string, dir string) (int, <-chan unix.WaitStatus, error) {
	pid, exited, err := r.start(path, argv, env, dir, s.child, nil)
	s.closeChild()
	if err != nil {
		s.closeParent()
	}
	return pid, exited, err
}

// parents are the parent's ends, by stream; a child's end is a pipe end
// stdio made exactly when the parent has the other end.
func (s *stdio) parents() [3]*os.File { return [3]*os.File{s.stdin, s.stdout, s.stderr} }

// closeChild closes the child's pipe ends, once the child has them (or
// failed to start).
func (s *stdio) closeChild() {
	for i, f := range s.parents() {
		if f != nil && s.child[i] >= 0 {
			unix.Close(s.child[i])
			s.child[i] = -1
		}
	}
}

// closeParent closes the parent's ends, when the child did not start.
func (s *stdio) closeParent() {
	for _, f := range s.parents() {
		if f != nil {
			f.Close()
		}
	}
}

// childPipe makes a pipe; the parent reads from it when parentReads, else
// writes to it. Both ends are close-on-exec: the child gets its end by
// dup2 in ForkExec, and no other child started meanwhile inherits either.
func childPipe(parentReads bool) (parent *os.File, child int, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, -1, os.NewSyscallError("pipe2", err)
	}
	p, c := fds[1], fds[0]
	if parentReads {
		p, c = fds[0], fds[1]
	}
	// The child's end blocks: F_SETFL sets only the status flags, of
	// which a new pipe end has O_NONBLOCK alone.
	if _, err := unix.FcntlInt(uintptr(c), unix.F_SETFL, 0); err != nil {
		unix.Close(p)
		unix.Close(c)
		return nil, -1, os.NewSyscallError("fcntl", err)
	}
	// A non-blocking descriptor goes into the poller.
	return os.NewFile(uintptr(p), "pipe"), c, nil
}
