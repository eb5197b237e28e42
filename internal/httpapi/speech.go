package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/agent"
	"github.com/paddockhq/paddock/internal/speech"
)

// Seed 003's TTS and podcast: text to MP3 through the configured speech
// engine (speech.Engine: OpenAI's speech API, or espeak-ng in an
// environment), and a podcast: a model writes a two-host script of the
// content, whose lines are spoken in two voices, one after the other.

type ttsRequest struct {
	Text  string  `json:"text" required:"true" description:"at most 4096 characters"`
	Voice string  `json:"voice,omitempty" description:"the engine's voice (OpenAI: alloy, ash, coral, echo, fable, nova, onyx, sage, shimmer...; espeak-ng: en-us, de, fr+f2...); a locale-style name such as en-US-Standard-A speaks the locale's default voice"`
	Speed float64 `json:"speed,omitempty" description:"0.25 to 4, default 1"`
}

type podcastRequest struct {
	Content string `json:"content" required:"true" description:"the report or text to discuss"`
	Locale  string `json:"locale,omitempty" description:"e.g. en-US: the language of the script"`
	Model   string `json:"model,omitempty" description:"provider/model that writes the script; default the server's default model"`
}

// maxPodcastLines bounds a podcast's script.
const maxPodcastLines = 40

// podcastFormat asks the model for the script.
var podcastFormat = mustFormat(`{"type": "json_schema", "json_schema": {"name": "podcast_script", "strict": true, "schema": {
  "type": "object", "additionalProperties": false, "required": ["lines"],
  "properties": {"lines": {"type": "array", "items": {
    "type": "object", "additionalProperties": false, "required": ["speaker", "text"],
    "properties": {"speaker": {"type": "string", "enum": ["host", "guest"]}, "text": {"type": "string"}}}}}}}}`)

func mustFormat(raw string) *agent.Format {
	f, err := agent.ParseFormat(json.RawMessage(raw))
	if err != nil {
		panic(err)
	}
	return f
}

const podcastInstruction = "Write the script of a short podcast episode (two to five minutes) in which a host and a guest discuss the content the user gives: " +
	"the host introduces the topic and asks, the guest explains; they take turns; it ends with a summary. Keep to what the content says. " +
	"Lines are spoken aloud: no markup, no stage directions, no lists. Answer with the lines as JSON."

// speechReady refuses speech routes on a server without an engine.
func (s *Server) speechReady() error {
	if s.Speech == nil {
		return paddock.Errorf(paddock.EUnavailable, "text to speech is not configured on this server: set OPENAI_API_KEY (or tts.engine openai with a base URL), or tts.image to an image with espeak-ng and lame")
	}
	return nil
}

func (s *Server) handleTTS(w http.ResponseWriter, r *http.Request) error {
	if err := s.speechReady(); err != nil {
		return err
	}
	var req ttsRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	sr := speech.Request{Text: req.Text, Voice: req.Voice, Speed: req.Speed}
	if err := sr.Check(); err != nil {
		return err
	}
	owner := principal(r).User.ID
	if err := s.Credits.Check(r.Context(), owner); err != nil { // a spent balance buys no speech either
		return err
	}
	audio, err := speech.Speak(r.Context(), s.Speech, owner, sr)
	if err != nil {
		return err
	}
	return writeAudio(w, "speech.mp3", audio)
}

// writeAudio answers with an MP3 file.
func writeAudio(w http.ResponseWriter, name string, audio []byte) error {
	h := w.Header()
	h.Set("Content-Type", "audio/mpeg")
	h.Set("Content-Length", strconv.Itoa(len(audio)))
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(audio)
	return err
}

func (s *Server) handlePodcast(w http.ResponseWriter, r *http.Request) error {
	if err := s.speechReady(); err != nil {
		return err
	}
	var req podcastRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	instruction, _, err := localized(req.Content, req.Locale, podcastInstruction)
	if err != nil {
		return err
	}
	var script struct {
		Lines []struct{ Speaker, Text string }
	}
	if err := s.structured(r, "podcast", instruction, req.Content, req.Model, podcastFormat, &script); err != nil {
		return err
	}
	if len(script.Lines) > maxPodcastLines {
		script.Lines = script.Lines[:maxPodcastLines]
	}
	voices := s.Speech.Voices()
	sess, err := s.Speech.Open(r.Context(), principal(r).User.ID)
	if err != nil {
		return err
	}
	defer sess.Close()
	// MP3 files joined end to end play as one: each is whole frames.
	var audio bytes.Buffer
	for i, l := range script.Lines {
		text := strings.TrimSpace(l.Text)
		if text == "" {
			continue
		}
		text = clip(text, speech.MaxText)
		voice := voices[0]
		if l.Speaker == "guest" {
			voice = voices[1]
		}
		b, err := sess.Speak(r.Context(), speech.Request{Text: text, Voice: voice})
		if err != nil {
			return fmt.Errorf("podcast line %d: %w", i+1, err)
		}
		audio.Write(b)
	}
	if audio.Len() == 0 {
		return paddock.Errorf(paddock.EUnavailable, "the model wrote an empty script; try again")
	}
	return writeAudio(w, "podcast.mp3", audio.Bytes())
}
