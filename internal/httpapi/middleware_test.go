package httpapi

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/auth"
)

// flushProbe records what the operation log queue held when the response
// was flushed.
type flushProbe struct {
	*httptest.ResponseRecorder
	flushes int
	onFlush func()
}

func (p *flushProbe) Flush() {
	p.flushes++
	p.onFlush()
	p.ResponseRecorder.Flush()
}

// TestWrapSendsWholeResponseFirst checks a complete JSON response goes out
// (with its length) before the operation log is queued, and that a
// response of unknown length is left for net/http to finish.
func TestWrapSendsWholeResponseFirst(t *testing.T) {
	s, err := New(Config{}, Deps{Limiter: auth.NewMemoryLimiter()})
	if err != nil {
		t.Fatal(err)
	}
	// An operation log queue nobody drains, to see when entries arrive.
	s.audit = &auditWriter{s: s, ch: make(chan *paddock.OperationLog, 8), done: make(chan struct{})}

	for _, tc := range []struct {
		name      string
		handler   handlerFunc
		status    int
		body      string
		wantFlush bool
	}{
		{"json", func(w http.ResponseWriter, r *http.Request) error {
			return writeJSON(w, http.StatusCreated, map[string]int{"n": 1})
		}, http.StatusCreated, `{"n":1}` + "\n", true},
		{"error", func(w http.ResponseWriter, r *http.Request) error {
			return paddock.Errorf(paddock.EConflict, "busy")
		}, http.StatusConflict, "busy", true},
		{"unencodable", func(w http.ResponseWriter, r *http.Request) error {
			return writeJSON(w, http.StatusOK, math.Inf(1))
		}, http.StatusInternalServerError, "internal error", true},
		{"unknown length", func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusOK)
			_, err := w.Write([]byte("streamed"))
			return err
		}, http.StatusOK, "streamed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := s.wrap(route{method: "POST", path: "/api/v1/x", surface: surfaceOf("/api/v1/x"), access: public, handler: tc.handler})
			rec := &flushProbe{ResponseRecorder: httptest.NewRecorder()}
			queued := -1
			rec.onFlush = func() { queued = len(s.audit.ch) }
			h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/x", strings.NewReader(`{}`)))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("response %d %q, want %d with %q", rec.Code, rec.Body.String(), tc.status, tc.body)
			}
			if tc.wantFlush {
				if rec.flushes != 1 || queued != 0 {
					t.Errorf("flushed %d times, with %d operation logs queued; want once, before the log", rec.flushes, queued)
				}
				if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
					t.Errorf("Content-Length %q for a body of %d bytes", cl, rec.Body.Len())
				}
			} else if rec.flushes != 0 {
				t.Errorf("a response of unknown length was flushed")
			}
			select {
			case l := <-s.audit.ch:
				if l.Status != tc.status {
					t.Errorf("operation log status %d, want %d", l.Status, tc.status)
				}
			default:
				t.Error("no operation log")
			}
		})
	}
}
