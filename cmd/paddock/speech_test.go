package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// isMP3 reports whether b starts as an MP3 file does: an ID3 tag or an
// MPEG audio frame header.
func isMP3(b []byte) bool {
	return bytes.HasPrefix(b, []byte("ID3")) || len(b) > 2 && b[0] == 0xff && b[1]&0xe0 == 0xe0
}

// TestSeed003TTS: espeak-ng and lame, run in an environment of the
// configured image, speak seed 003's example and a podcast a model
// scripted; bad requests name what is wrong.
func TestSeed003TTS(t *testing.T) {
	t.Parallel()
	model := llmtest.New(llmtest.Step{Text: `{"lines": [{"speaker": "host", "text": "Welcome to the show. Today: the quarterly report."},` +
		`{"speaker": "guest", "text": "Revenue grew twelve percent."}, {"speaker": "host", "text": "  "}]}`})
	withLLM(t, model)
	s := startSandboxServer(t, func(c *Config) {
		c.TTS.Engine, c.TTS.Image = "espeak", "python:3.11-slim" // the test image has espeak-ng and lame
	})
	user := s.createUser(t, s.login(t, "admin", testAdminPassword), "speaker")

	// Seed 003's example, verbatim.
	r := s.do(t, req{method: "POST", path: "/api/v1/agent/tts/synthesize", token: user, contentType: "application/json", body: `{
  "text": "Hello world",
  "voice": "en-US-Standard-A",
  "speed": 1.0
}`})
	if r.status != 200 || r.header.Get("Content-Type") != "audio/mpeg" || !isMP3(r.body) || len(r.body) < 1000 {
		t.Fatalf("synthesize: %d %s, %d bytes starting %q", r.status, r.header.Get("Content-Type"), len(r.body), r.body[:min(len(r.body), 40)])
	}
	hello := len(r.body)
	// Slower speech is longer audio.
	slow := s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/tts/synthesize", token: user, body: map[string]any{"text": "Hello world", "speed": 0.5}})
	if len(slow.body) <= hello {
		t.Errorf("speed 0.5 gave %d bytes, speed 1 %d", len(slow.body), hello)
	}
	for body, want := range map[string]string{
		`{"voice": "en"}`:                               `"text"`,
		`{"text": "x", "speed": 9}`:                     `"speed"`,
		`{"text": "x", "voice": "en; rm -rf /"}`:        `"voice"`,
		`{"text": "` + strings.Repeat("a", 5000) + `"}`: "4096",
		`{"text": 7}`:                                   "text",
	} {
		r := s.do(t, req{method: "POST", path: "/api/v1/agent/tts/synthesize", token: user, body: body, contentType: "application/json"})
		if d, _ := r.m(t)["detail"].(string); r.status != 400 || !strings.Contains(d, want) {
			t.Errorf("%.60s: %d %s, want 400 naming %s", body, r.status, r.body, want)
		}
	}

	// A podcast: the model's script, spoken line by line.
	p := s.do(t, req{method: "POST", path: "/api/v1/agent/generation/podcast", token: user, body: map[string]any{"content": "Report: revenue grew 12 percent."}})
	if p.status != 200 || p.header.Get("Content-Type") != "audio/mpeg" || !isMP3(p.body) || len(p.body) <= 2*hello {
		t.Fatalf("podcast: %d %s, %d bytes", p.status, p.header.Get("Content-Type"), len(p.body))
	}
	if got := model.Requests()[0]; !strings.Contains(got.System, "host and a guest") || got.ResponseFormat == nil {
		t.Errorf("script request: system %q, format %v", got.System, got.ResponseFormat)
	}
	s.expect(t, 400, req{method: "POST", path: "/api/v1/agent/generation/podcast", token: user, body: map[string]any{"content": " "}})
	// The speech environments are gone.
	if l := s.expect(t, 200, req{method: "GET", path: "/api/v1/environments?status=running", token: user}).m(t); l["total"] != 0.0 {
		t.Errorf("environments left: %v", l)
	}
	if c := s.expect(t, 200, req{method: "GET", path: "/api/v1/agent/config", token: user}).m(t); c["features"].(map[string]any)["tts"] != true {
		t.Errorf("features %v", c["features"])
	}
}

// TestTTSOpenAI: with tts.engine openai, speech comes from the configured
// OpenAI-compatible server; without an engine, the routes say how to
// configure one.
func TestTTSOpenAI(t *testing.T) {
	t.Parallel()
	mp3 := []byte("ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64speech")
	var got string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.URL.Path + " " + string(b)
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Write(mp3)
	}))
	defer api.Close()
	s := startServer(t, func(c *Config) { c.TTS.Engine, c.TTS.BaseURL, c.TTS.Model = "openai", api.URL+"/v1", "tts-1" })
	admin := s.login(t, "admin", testAdminPassword)
	r := s.expect(t, 200, req{method: "POST", path: "/api/v1/agent/tts/synthesize", token: admin, body: map[string]any{"text": "Hi", "voice": "onyx"}})
	if !bytes.Equal(r.body, mp3) || !strings.Contains(got, "/v1/audio/speech ") || !strings.Contains(got, `"voice":"onyx"`) || !strings.Contains(got, `"model":"tts-1"`) {
		t.Errorf("got %q for %s", r.body, got)
	}

	// A spent balance buys no speech.
	spent := startServer(t, func(c *Config) {
		c.TTS.Engine, c.TTS.BaseURL = "openai", api.URL+"/v1"
		c.Credits.Enforce = true
	})
	broke := spent.createUser(t, spent.login(t, "admin", testAdminPassword), "broke")
	got = ""
	if r := spent.do(t, req{method: "POST", path: "/api/v1/agent/tts/synthesize", token: broke, body: map[string]any{"text": "Hi"}}); r.status != 402 || got != "" {
		t.Errorf("without credit: %d %s; the API got %q", r.status, r.body, got)
	}

	none := startServer(t, nil)
	token := none.login(t, "admin", testAdminPassword)
	if r := none.do(t, req{method: "POST", path: "/api/v1/agent/tts/synthesize", token: token, body: map[string]any{"text": "Hi"}}); r.status != 503 || !strings.Contains(string(r.body), "espeak-ng") {
		t.Errorf("no engine: %d %s", r.status, r.body)
	}
}
