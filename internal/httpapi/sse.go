package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/paddockhq/paddock"
)

// heartbeatEvery is how often an idle SSE stream sends a comment, so that
// proxies keep it open and dead clients are noticed.
const heartbeatEvery = 15 * time.Second

// sseBurst bounds the events written to a stream between two flushes.
const sseBurst = 64

// sseWriter writes one Server-Sent Events stream.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte // the frame being built, reused
}

// startSSE sends the SSE headers; the stream has no write deadline.
func startSSE(w http.ResponseWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.Flush()
	return &sseWriter{w: w, rc: rc}
}

// event writes one event and flushes it; id and name may be empty.
// Multi-line data is split into data: lines as the format requires.
func (s *sseWriter) event(id, name, data string) error {
	if err := s.write(id, name, []byte(data)); err != nil {
		return err
	}
	return s.flush()
}

// write writes one event without flushing it, so that a burst of events
// can go to the client in one flush.
func (s *sseWriter) write(id, name string, data []byte) error {
	b := appendFrame(s.buf[:0], id, name, data)
	if cap(b) <= 64<<10 { // keep a small buffer for the next event only
		s.buf = b
	}
	_, err := s.w.Write(b)
	return err
}

// appendFrame appends the SSE frame of an event to b.
func appendFrame(b []byte, id, name string, data []byte) []byte {
	if id != "" {
		b = append(append(append(b, "id: "...), id...), '\n')
	}
	if name != "" {
		b = append(append(append(b, "event: "...), name...), '\n')
	}
	for {
		line, rest, more := bytes.Cut(data, []byte("\n"))
		b = append(append(append(b, "data: "...), line...), '\n')
		if !more {
			break
		}
		data = rest
	}
	return append(b, '\n')
}

// flush sends what was written to the client.
func (s *sseWriter) flush() error { return s.rc.Flush() }

// writeFrame writes an encoded event (see frameCache) without flushing.
func (s *sseWriter) writeFrame(frame []byte) error {
	_, err := s.w.Write(frame)
	return err
}

// frameCache memoizes the SSE frames of the session events being fanned
// out (Server.frames). The bus hands the same *paddock.Event to every live
// subscriber of a session, so one encoding serves them all instead of one
// per subscriber. It holds no state but encodings, each keyed by the
// identity of an immutable event.
//
// It is a direct-mapped table of recent events' frames, indexed by Seq: a slot is taken over by a later event, so it keeps at most
// len(slots) events (and frames no larger than maxCachedFrame) alive.
type frameCache struct {
	slots [256]atomic.Pointer[cachedFrame]
}

type cachedFrame struct {
	ev    *paddock.Event
	frame []byte
}

// maxCachedFrame bounds the frames frameCache keeps.
const maxCachedFrame = 16 << 10

// frame returns the SSE frame of ev: its id, type and JSON encoding. The
// caller must not modify it.
func (c *frameCache) frame(ev *paddock.Event) ([]byte, error) {
	slot := &c.slots[uint64(ev.Seq)%uint64(len(c.slots))]
	if f := slot.Load(); f != nil && f.ev == ev {
		return f.frame, nil
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	frame := appendFrame(nil, strconv.FormatInt(ev.Seq, 10), string(ev.Type), data)
	if len(frame) <= maxCachedFrame {
		slot.Store(&cachedFrame{ev: ev, frame: frame})
	}
	return frame, nil
}

// comment writes a heartbeat comment.
func (s *sseWriter) comment(text string) error {
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.rc.Flush()
}

// wantsSSE reports whether the client asked for an event stream.
func wantsSSE(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}
