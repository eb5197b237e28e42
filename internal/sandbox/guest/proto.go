package guest

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The wire protocol. The host and the guest share one yamux session over a
// unix socket; every exec is one stream, opened by the host, and the log is
// one stream, opened by the guest. On a stream, each frame is a 1-byte type,
// a 4-byte big-endian length and that many payload bytes. The first frame
// of a stream is a header (JSON).
const (
	frameHeader   byte = 'H' // JSON streamHeader
	frameStdin    byte = 'I' // host -> guest: bytes for the process's stdin
	frameStdinEOF byte = 'i' // host -> guest: close stdin
	frameStdout   byte = 'O' // guest -> host
	frameStderr   byte = 'E' // guest -> host
	frameExit     byte = 'X' // guest -> host: JSON ExitStatus, last frame
	frameLog      byte = 'L' // guest -> host: JSON []paddock.LogEntry
)

// maxFrame bounds a frame's payload so a corrupt or hostile peer cannot
// make the other side allocate without limit.
const maxFrame = 1 << 20

// chunkSize is the largest piece of output or input sent in one frame.
const chunkSize = 32 << 10

var errFrameTooLarge = errors.New("frame too large")

// streamHeader opens a stream.
type streamHeader struct {
	Kind string       `json:"kind"` // "exec" or "log"
	Exec *ExecRequest `json:"exec,omitempty"`
}

// ExecRequest is what the host asks the guest to run.
type ExecRequest struct {
	Command   []string          `json:"command"`
	Env       map[string]string `json:"env,omitempty"`
	Dir       string            `json:"dir,omitempty"`
	TimeoutMS int64             `json:"timeout_ms,omitempty"`
}

// ExitStatus is how an exec ended.
type ExitStatus struct {
	Code     int  `json:"code"`
	Signal   int  `json:"signal,omitempty"` // the signal that killed the process, if any
	TimedOut bool `json:"timed_out,omitempty"`
}

// readFrame reads one frame. The payload is valid until the next call with
// the same buffer.
func readFrame(r io.Reader, buf []byte) (typ byte, payload []byte, nbuf []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, buf, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, buf, fmt.Errorf("%w: %d bytes", errFrameTooLarge, n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, buf, err
	}
	return hdr[0], buf, buf, nil
}

// frameWriter writes whole frames; it is safe for concurrent use so the
// stdout and stderr pumps can share a stream.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (fw *frameWriter) write(typ byte, payload []byte) error {
	if len(payload) > maxFrame {
		return errFrameTooLarge
	}
	fw.mu.Lock()
	defer fw.mu.Unlock()
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	// One Write per frame keeps yamux from sending a header-only packet.
	msg := make([]byte, 0, len(hdr)+len(payload))
	msg = append(append(msg, hdr[:]...), payload...)
	_, err := fw.w.Write(msg)
	return err
}

func (fw *frameWriter) writeJSON(typ byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return fw.write(typ, b)
}
