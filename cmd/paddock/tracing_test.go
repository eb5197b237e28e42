package main

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// span is what the tests read of an exported span.
type span struct {
	Name, TraceID, SpanID, ParentID string
	Attrs                           map[string]string
	Error                           bool
	Service                         string
	Links                           []string // the linked spans' ids
}

// otlpReceiver is a collector's OTLP/HTTP traces endpoint: it decodes the
// protobuf requests the exporter sends, as a collector would.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rc := &otlpReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP request %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &req)
		}
		if err != nil {
			t.Errorf("OTLP request: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					service = a.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					rc.spans = append(rc.spans, toSpan(s, service))
				}
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func toSpan(s *tracepb.Span, service string) span {
	out := span{Name: s.Name, TraceID: hex.EncodeToString(s.TraceId), SpanID: hex.EncodeToString(s.SpanId),
		ParentID: hex.EncodeToString(s.ParentSpanId), Attrs: map[string]string{}, Service: service,
		Error: s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR}
	for _, l := range s.Links {
		out.Links = append(out.Links, hex.EncodeToString(l.SpanId))
	}
	for _, a := range s.Attributes {
		v := a.Value
		switch {
		case v.GetIntValue() != 0:
			out.Attrs[a.Key] = strconv.FormatInt(v.GetIntValue(), 10)
		default:
			out.Attrs[a.Key] = v.GetStringValue()
		}
	}
	return out
}

// wait returns the first span match accepts, waiting for it to arrive.
func (rc *otlpReceiver) wait(t *testing.T, what string, match func(span) bool) span {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // a run under -race on a loaded machine may take a while
	for {
		rc.mu.Lock()
		for _, s := range rc.spans {
			if match(s) {
				rc.mu.Unlock()
				return s
			}
		}
		n := len(rc.spans)
		rc.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no span %s among the %d received", what, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (rc *otlpReceiver) all(match func(span) bool) []span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []span
	for _, s := range rc.spans {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

// TestTracing checks the spans a collector receives: a request's span
// joins the caller's trace (traceparent) with its route, status and user,
// and an agent run is a trace of its own whose model calls and tool calls
// are its children, with the model's token counts and the environment the
// tool ran in.
func TestTracing(t *testing.T) {
	t.Parallel()
	withLLM(t, llmtest.New(
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "bash", Arguments: args(map[string]string{"command": "echo traced"})}},
			Usage: llm.Usage{InputTokens: 120, OutputTokens: 7}},
		llmtest.Step{Text: "It printed traced.", Usage: llm.Usage{InputTokens: 150, OutputTokens: 5}},
	))
	rc := newOTLPReceiver(t)
	s := startSandboxServer(t, func(c *Config) {
		c.Tracing.Endpoint = rc.URL + "/v1/traces"
		c.Tracing.BatchTimeout = Duration(100 * time.Millisecond)
	})
	tok := s.login(t, "admin", testAdminPassword)

	// A request in the caller's trace.
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	rq, _ := http.NewRequest("GET", s.url+"/api/v1/auth/me", nil)
	rq.Header.Set("Authorization", "Bearer "+tok)
	rq.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	res, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	me := rc.wait(t, "for GET /api/v1/auth/me", func(sp span) bool { return sp.Name == "GET /api/v1/auth/me" })
	if me.TraceID != traceID || me.ParentID != parentID || me.Attrs["http.response.status_code"] != "200" ||
		me.Attrs["http.route"] != "/api/v1/auth/me" || me.Attrs["enduser.id"] == "" || me.Attrs["paddock.request_id"] != res.Header.Get("X-Request-ID") || me.Error {
		t.Errorf("request span %+v", me)
	}
	if me.Service != "paddock" {
		t.Errorf("service.name %q", me.Service)
	}
	// A client's error is not the server's: a 404 is not a failed span.
	s.expect(t, 404, req{method: "GET", path: "/api/v1/environments/env-nosuchthing0", token: tok})
	missing := rc.wait(t, "for the 404", func(sp span) bool { return sp.Name == "GET /api/v1/environments/{id}" })
	if missing.Attrs["http.response.status_code"] != "404" || missing.Error || missing.TraceID == traceID {
		t.Errorf("404 span %+v", missing)
	}

	// An agent run: model call, tool call, model call.
	agentID := s.expect(t, 201, req{method: "POST", path: "/v1/agents", token: tok, body: map[string]any{"name": "traced"}}).m(t)["id"].(string)
	sid := s.expect(t, 201, req{method: "POST", path: "/v1/agents/" + agentID + "/sessions", token: tok, body: map[string]any{}}).m(t)["id"].(string)
	s.expect(t, 201, req{method: "POST", path: "/v1/agents/" + agentID + "/sessions/" + sid + "/messages", token: tok, body: map[string]any{
		"message": map[string]any{"content": []map[string]string{{"type": "text", "text": "run echo"}}}}})
	run := rc.wait(t, "of the run", func(sp span) bool { return sp.Name == "invoke_agent" && sp.Attrs["paddock.session.id"] == sid })
	if run.ParentID != "" || run.Error || run.Attrs["paddock.run.id"] == "" {
		t.Errorf("run span %+v", run)
	}
	// It links to the request that posted the message (and handed the
	// run to a worker of its server).
	post := rc.wait(t, "of the message's request", func(sp span) bool { return sp.Name == "POST /v1/agents/{id}/sessions/{sid}/messages" })
	if len(run.Links) != 1 || run.Links[0] != post.SpanID {
		t.Errorf("the run's span links to %v, want the request's span %s", run.Links, post.SpanID)
	}
	inRun := func(sp span) bool { return sp.TraceID == run.TraceID && sp.ParentID == run.SpanID }
	tool := rc.wait(t, "of the tool call", func(sp span) bool { return inRun(sp) && sp.Name == "execute_tool bash" })
	sess := s.expect(t, 200, req{method: "GET", path: "/v1/agents/" + agentID + "/sessions/" + sid, token: tok}).m(t)
	if tool.Attrs["gen_ai.tool.name"] != "bash" || tool.Attrs["gen_ai.tool.call.id"] == "" || tool.Attrs["paddock.environment.id"] != sess["environment_id"] || tool.Error {
		t.Errorf("tool span %+v (session %v)", tool, sess)
	}
	var calls []span
	for len(calls) < 2 {
		rc.wait(t, "of the model calls", func(sp span) bool { return inRun(sp) && sp.Attrs["gen_ai.operation.name"] == "chat" })
		calls = rc.all(func(sp span) bool { return inRun(sp) && sp.Attrs["gen_ai.operation.name"] == "chat" })
		if len(calls) < 2 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	tokens := map[string]bool{}
	for _, c := range calls {
		if c.Attrs["gen_ai.provider.name"] != "openai" || c.Name != "chat "+c.Attrs["gen_ai.request.model"] || c.Error {
			t.Errorf("model call span %+v", c)
		}
		tokens[c.Attrs["gen_ai.usage.input_tokens"]+"/"+c.Attrs["gen_ai.usage.output_tokens"]] = true
	}
	if len(calls) != 2 || !tokens["120/7"] || !tokens["150/5"] {
		t.Errorf("model calls %+v", calls)
	}
}
