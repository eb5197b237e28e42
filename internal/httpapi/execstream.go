package httpapi

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/paddockhq/paddock"
)

// execChunk is the data of a stdout or stderr event of a streamed exec.
type execChunk struct {
	Data string `json:"data"`
}

// execExit is the data of the exit event that ends a streamed exec: the
// exec response without the output, which came as events.
type execExit struct {
	ExitCode   int   `json:"exit_code"`
	DurationMS int64 `json:"duration_ms"`
	TimedOut   bool  `json:"timed_out,omitempty"`
	OOMKilled  bool  `json:"oom_killed,omitempty"`
}

// streamExec runs er in env and sends its output as it comes, as
// Server-Sent Events: stdout and stderr events ({"data": text}), then one
// exit event, or an error event if the exec could not run. The events
// carry text: a character split between two reads of the output is held
// back until it is whole.
func (s *Server) streamExec(w http.ResponseWriter, r *http.Request, env *paddock.Environment, er *paddock.ExecRequest) error {
	sse := startSSE(w)
	var mu sync.Mutex // the two streams may write at once
	send := func(name string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		return sse.event("", name, string(b))
	}
	stdout, stderr := &textEvents{name: "stdout", send: send}, &textEvents{name: "stderr", send: send}
	er.Stdout, er.Stderr = stdout, stderr
	res, err := s.Environments.ExecIn(r.Context(), env, er)
	if err != nil {
		code := paddock.ErrorCode(err)
		if code == paddock.EInternal {
			s.log.ErrorContext(r.Context(), "streamed exec failed", "request_id", requestID(r.Context()), "err", err)
		}
		return send("error", errorBody(surfaceEnvironments, code, paddock.ErrorMessage(err)))
	}
	stdout.flush()
	stderr.flush()
	return send("exit", execExit{ExitCode: res.ExitCode, DurationMS: res.Duration.Milliseconds(), TimedOut: res.TimedOut, OOMKilled: res.OOMKilled})
}

// textEvents is an io.Writer that sends what it is given as events of
// one name, holding back the start of a UTF-8 character cut at the end of
// a write until the rest arrives.
type textEvents struct {
	name  string
	send  func(name string, v any) error
	carry paddock.UTF8Carry
}

func (t *textEvents) Write(p []byte) (int, error) {
	if b := t.carry.Next(p); len(b) > 0 {
		if err := t.send(t.name, execChunk{Data: string(b)}); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush sends what is held back, when the output ended inside a
// character.
func (t *textEvents) flush() {
	if b := t.carry.Rest(); len(b) > 0 {
		_ = t.send(t.name, execChunk{Data: string(b)})
	}
}
