package llmtest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
)

// Reply is one scripted HTTP response of a ReplayServer.
type Reply struct {
	Status int         // 0 means 200
	Header http.Header // Content-Type defaults to text/event-stream for 200, application/json otherwise
	Body   []byte
	// Hang keeps the response open after Body until the client goes away,
	// for cancellation tests.
	Hang bool
}

// File returns a Reply of status with the contents of the file at path.
func File(t testing.TB, status int, path string) Reply {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Reply{Status: status, Body: b}
}

// RecordedRequest is a request a ReplayServer received.
type RecordedRequest struct {
	Method string
	Path   string // URL path with the raw query, if any
	Header http.Header
	Body   []byte
}

// ReplayServer is an httptest server that answers each request with the
// next Reply, flushing the body as SSE line groups so clients see a stream.
// Requests past the last reply get a 500.
type ReplayServer struct {
	*httptest.Server

	mu       sync.Mutex
	replies  []Reply
	requests []RecordedRequest
}

// NewReplayServer starts a ReplayServer, closed when t ends.
func NewReplayServer(t testing.TB, replies ...Reply) *ReplayServer {
	s := &ReplayServer{replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Requests returns the requests received so far.
func (s *ReplayServer) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RecordedRequest(nil), s.requests...)
}

func (s *ReplayServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := r.URL.Path
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	s.mu.Lock()
	n := len(s.requests)
	s.requests = append(s.requests, RecordedRequest{Method: r.Method, Path: path, Header: r.Header.Clone(), Body: body})
	var reply Reply
	ok := n < len(s.replies)
	if ok {
		reply = s.replies[n]
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, `{"error":{"message":"llmtest: no more replies"}}`, http.StatusInternalServerError)
		return
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	for k, v := range reply.Header {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" {
		if status == http.StatusOK {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
	}
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	for chunk := range bytes.SplitAfterSeq(reply.Body, []byte("\n\n")) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		_ = rc.Flush()
	}
	if reply.Hang {
		<-r.Context().Done()
	}
}
