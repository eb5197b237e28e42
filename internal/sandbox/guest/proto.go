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
// unix socket; every request (exec, attach, file operation, port dial) is
// one stream, opened by the host, and the log is one stream, opened by the
// guest. On a stream, each frame is a 1-byte type, a 4-byte big-endian
// length and that many payload bytes. The first frame of a stream is a
// header (JSON) whose kind names the request.
//
// Evolving it: the environment's guest binary is the one it was started
// with, so a newer host meets older guests. A guest answers a kind it does
// not know with an error frame (codeUnsupported); guests from before that
// rule close the stream instead, which the host sees as EOF before any
// reply. Every request but exec therefore waits for the guest's first
// frame (frameOK or frameError) before it sends anything else, so it can
// never block writing to a guest that is not listening. Both sides ignore
// frame types they do not know, and JSON payloads ignore unknown fields.
const (
	frameHeader   byte = 'H' // JSON streamHeader
	frameStdin    byte = 'I' // host -> guest: bytes for the process's stdin
	frameStdinEOF byte = 'i' // host -> guest: close stdin
	frameStdout   byte = 'O' // guest -> host
	frameStderr   byte = 'E' // guest -> host
	frameExit     byte = 'X' // guest -> host: JSON ExitStatus, last frame
	frameLog      byte = 'L' // guest -> host: JSON []paddock.LogEntry
	frameResize   byte = 'Z' // host -> guest: JSON windowSize
	frameOK       byte = 'K' // guest -> host: request accepted (JSON reply, per kind)
	frameError    byte = 'R' // guest -> host: JSON wireError; the request failed, last frame
	frameData     byte = 'D' // either way: file, listing or archive bytes
	frameDataEOF  byte = 'd' // either way: end of data
)

// Stream kinds.
const (
	kindExec   = "exec"
	kindLog    = "log"
	kindAttach = "attach"
	kindKill   = "kill"
	kindFile   = "file"
	kindDial   = "dial"
	kindStart  = "start" // releases a guest started with Config.Hold
	kindProc   = "proc"  // background processes (see procs.go)
)

// maxFrame bounds a frame's payload so a corrupt or hostile peer cannot
// make the other side allocate without limit.
const maxFrame = 1 << 20

// chunkSize is the largest piece of output or input sent in one frame.
const chunkSize = 32 << 10

var errFrameTooLarge = errors.New("frame too large")

// streamHeader opens a stream.
type streamHeader struct {
	Kind   string         `json:"kind"` // one of the kind constants
	Exec   *ExecRequest   `json:"exec,omitempty"`
	Attach *AttachRequest `json:"attach,omitempty"`
	Kill   *killRequest   `json:"kill,omitempty"`
	File   *fileRequest   `json:"file,omitempty"`
	Dial   *dialRequest   `json:"dial,omitempty"`
	Start  *StartConfig   `json:"start,omitempty"`
	Proc   *procRequest   `json:"proc,omitempty"`
}

// AttachRequest starts an interactive process.
type AttachRequest struct {
	Command []string          `json:"command,omitempty"` // empty: an interactive shell
	Env     map[string]string `json:"env,omitempty"`
	Dir     string            `json:"dir,omitempty"`
	TTY     bool              `json:"tty,omitempty"`
	Cols    uint16            `json:"cols,omitempty"`
	Rows    uint16            `json:"rows,omitempty"`
}

// attachReply is the frameOK payload of an attach.
type attachReply struct {
	Session string `json:"session"` // names the session in a kill request
	PID     int    `json:"pid"`
}

// killRequest kills an attached session's processes. It travels on its own
// stream because the session's stream may be stuck behind input the
// process does not read.
type killRequest struct {
	Session string `json:"session"`
}

type windowSize struct {
	Cols uint16 `json:"cols"`
	Rows uint16 `json:"rows"`
}

// File operations.
const (
	opStat    = "stat"
	opRead    = "read"
	opWrite   = "write"
	opList    = "list"
	opMkdir   = "mkdir"
	opRemove  = "remove"
	opArchive = "archive"
	opExtract = "extract"
)

type fileRequest struct {
	Op        string `json:"op"`
	Path      string `json:"path"`
	Mode      uint32 `json:"mode,omitempty"` // write: permission bits
	Parents   bool   `json:"parents,omitempty"`
	Recursive bool   `json:"recursive,omitempty"`
}

// wireFileInfo describes a file on the wire. Mode is the raw st_mode, so
// the host derives type and permissions one way for every guest version.
type wireFileInfo struct {
	Name       string `json:"name"`
	Path       string `json:"path"`
	Size       int64  `json:"size"`
	Mode       uint32 `json:"mode"`
	ModTimeNS  int64  `json:"mtime_ns"`
	LinkTarget string `json:"link_target,omitempty"`
}

// writeReply is the final frameOK of a write or an extract.
type writeReply struct {
	Size int64 `json:"size"` // bytes written (write) or extracted (extract)
	// Skipped names the archive's entries an extract did not create
	// (devices, FIFOs and other special files), the first maxSkipped.
	Skipped []string `json:"skipped,omitempty"`
}

// maxSkipped bounds writeReply.Skipped.
const maxSkipped = 100

type dialRequest struct {
	Port      int   `json:"port"`
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// Error codes in wireError: paddock's codes, plus codeUnsupported.
const codeUnsupported = "unsupported_request"

// wireError is a failed request. Code is a paddock error code; Message is
// safe to show to the caller (except for paddock.EInternal).
type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *wireError) Error() string { return e.Message }

// ExecRequest is what the host asks the guest to run.
type ExecRequest struct {
	Command   []string          `json:"command"`
	Env       map[string]string `json:"env,omitempty"`
	Dir       string            `json:"dir,omitempty"`
	TimeoutMS int64             `json:"timeout_ms,omitempty"`
	// NoStdin: the host sends no input, and the command reads /dev/null
	// (a host that does not say so sends an immediate end of input).
	NoStdin bool `json:"no_stdin,omitempty"`
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
	// One Write per frame keeps yamux from sending a header-only packet.
	_, err := fw.w.Write(appendFrame(make([]byte, 0, 5+len(payload)), typ, payload))
	return err
}

// appendFrame appends a frame of typ holding payload to b.
func appendFrame(b []byte, typ byte, payload []byte) []byte {
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	return append(append(b, hdr[:]...), payload...)
}

func (fw *frameWriter) writeJSON(typ byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return fw.write(typ, b)
}
