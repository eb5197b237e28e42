package speech

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/paddockhq/paddock"
)

// fakeMP3 is the start of an MPEG-1 Layer III stream, as OpenAI sends it.
var fakeMP3 = []byte("\xff\xfb\x90\x64\x00\x00\x00\x00frames")

func TestOpenAI(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/audio/speech" || r.Method != "POST" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer sk-test" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}`)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		mu.Lock()
		bodies = append(bodies, body)
		mu.Unlock()
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Write(fakeMP3)
	}))
	defer srv.Close()
	ctx := context.Background()

	e := NewOpenAI(srv.URL+"/v1", "sk-test", "", nil)
	audio, err := Speak(ctx, e, 1, Request{Text: "Hello world", Voice: "en-US-Standard-A", Speed: 1.5})
	if err != nil || string(audio) != string(fakeMP3) {
		t.Fatalf("Speak: %q %v", audio, err)
	}
	if _, err := Speak(ctx, e, 1, Request{Text: "Hi", Voice: "Nova"}); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"input": "Hello world", "model": "gpt-4o-mini-tts", "voice": "alloy", "response_format": "mp3", "speed": 1.5},
		{"input": "Hi", "model": "gpt-4o-mini-tts", "voice": "nova", "response_format": "mp3"},
	}
	for i, w := range want {
		for k, v := range w {
			if bodies[i][k] != v {
				t.Errorf("request %d: %s = %v, want %v (%v)", i, k, bodies[i][k], v, bodies[i])
			}
		}
		if _, ok := w["speed"]; !ok && bodies[i]["speed"] != nil {
			t.Errorf("request %d sent a speed: %v", i, bodies[i])
		}
	}

	// A refused key is the server's problem, said plainly.
	_, err = Speak(ctx, NewOpenAI(srv.URL+"/v1", "sk-wrong", "tts-1", nil), 1, Request{Text: "x"})
	if paddock.ErrorCode(err) != paddock.EUnavailable || !strings.Contains(err.Error(), "401 Incorrect API key provided") {
		t.Errorf("wrong key: %v", err)
	}
	// Bad requests never reach the API.
	n := len(bodies)
	for _, r := range []Request{{Text: " "}, {Text: strings.Repeat("a", MaxText+1)}, {Text: "x", Speed: 5}, {Text: "x", Speed: -1}, {Text: "x", Voice: "a b"}, {Text: "x", Voice: "$(reboot)"}} {
		if _, err := Speak(ctx, e, 1, r); paddock.ErrorCode(err) != paddock.EInvalid {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if len(bodies) != n {
		t.Errorf("bad requests reached the API")
	}
}

func TestEspeakVoice(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "en-us", "en-US-Standard-A": "en-us", "de-DE-Wavenet-B": "de-de", "fr+f2": "fr+f2", "en-GB": "en-gb", "EN": "en"} {
		if got := espeakVoice(in); got != want {
			t.Errorf("espeakVoice(%q) = %q, want %q", in, got, want)
		}
	}
}
