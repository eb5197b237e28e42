// Package speech turns text into speech (MP3). Two engines: OpenAI's
// speech API (or an OpenAI-compatible server), and, offline, espeak-ng
// and lame run in a Paddock environment, so that text, which anyone may
// send, is never parsed by a program on the host.
package speech

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/paddockhq/paddock"
)

// MaxText bounds the text of one synthesis, in characters (OpenAI's
// limit).
const MaxText = 4096

// Request is one text to speak.
type Request struct {
	Text  string
	Voice string  // the engine's voice name; a locale-style name such as en-US-Standard-A picks the locale's default
	Speed float64 // 0.25 to 4; 0 means 1
}

// Check checks a request's fields.
func (r Request) Check() error {
	if strings.TrimSpace(r.Text) == "" {
		return paddock.Errorf(paddock.EInvalid, "field \"text\" is required")
	}
	if n := utf8.RuneCountInString(r.Text); n > MaxText {
		return paddock.Errorf(paddock.EInvalid, "field \"text\" has %d characters; at most %d are spoken at once", n, MaxText)
	}
	if r.Speed != 0 && (r.Speed < 0.25 || r.Speed > 4) {
		return paddock.Errorf(paddock.EInvalid, "field \"speed\" must be between 0.25 and 4, not %g", r.Speed)
	}
	if len(r.Voice) > 64 || !voiceName.MatchString(r.Voice) {
		return paddock.Errorf(paddock.EInvalid, "field \"voice\" must be a voice name (letters, digits, -, _ and +, at most 64), not %q", r.Voice)
	}
	return nil
}

var voiceName = regexp.MustCompile(`^[A-Za-z0-9_+-]*$`)

// Engine speaks texts. Open returns a session in which several texts may
// be spoken (a podcast's lines) for owner; Close ends it.
type Engine interface {
	Name() string
	// Voices are two distinct voices, for the two hosts of a podcast.
	Voices() [2]string
	Open(ctx context.Context, ownerID int64) (Session, error)
}

// Session speaks texts, one at a time.
type Session interface {
	Speak(ctx context.Context, r Request) ([]byte, error) // MP3
	Close()
}

// Speak speaks one text with e.
func Speak(ctx context.Context, e Engine, ownerID int64, r Request) ([]byte, error) {
	s, err := e.Open(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Speak(ctx, r)
}

// OpenAI is the engine of OpenAI's speech API.
type OpenAI struct {
	svc   openai.AudioSpeechService
	model string
}

// OpenAIVoices are the voices of OpenAI's speech models.
var OpenAIVoices = []string{"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"}

// NewOpenAI returns the engine of the speech API at baseURL ("" for
// OpenAI's) with key, using model ("" for gpt-4o-mini-tts).
func NewOpenAI(baseURL, key, model string, hc *http.Client) *OpenAI {
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	opts := []option.RequestOption{option.WithHTTPClient(hc), option.WithMaxRetries(2)}
	if baseURL != "" {
		opts = append(opts, option.WithBaseURL(baseURL))
	}
	if key != "" {
		opts = append(opts, option.WithAPIKey(key))
	}
	if model == "" {
		model = "gpt-4o-mini-tts"
	}
	return &OpenAI{svc: openai.NewAudioSpeechService(opts...), model: model}
}

func (o *OpenAI) Name() string      { return "openai" }
func (o *OpenAI) Voices() [2]string { return [2]string{"alloy", "onyx"} }

// Open implements Engine: the API needs no session.
func (o *OpenAI) Open(context.Context, int64) (Session, error) { return o, nil }

// Close implements Session.
func (o *OpenAI) Close() {}

// Speak implements Session. A voice OpenAI does not have (a locale-style
// name, say) is spoken by alloy.
func (o *OpenAI) Speak(ctx context.Context, r Request) ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	voice := strings.ToLower(r.Voice)
	if !slices.Contains(OpenAIVoices, voice) {
		voice = "alloy"
	}
	p := openai.AudioSpeechNewParams{Input: r.Text, Model: openai.SpeechModel(o.model), ResponseFormat: openai.AudioSpeechNewParamsResponseFormatMP3,
		Voice: openai.AudioSpeechNewParamsVoiceUnion{OfString: openai.String(voice)}}
	if r.Speed != 0 {
		p.Speed = openai.Float(r.Speed)
	}
	resp, err := o.svc.New(ctx, p)
	if err != nil {
		return nil, paddock.Errorf(paddock.EUnavailable, "speech API: %s", apiError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, paddock.Errorf(paddock.EUnavailable, "speech API: reading the audio: %v", err)
	}
	if len(b) == 0 {
		return nil, paddock.Errorf(paddock.EUnavailable, "speech API: empty audio")
	}
	return b, nil
}

// apiError says what an OpenAI API error was, without the request.
func apiError(err error) string {
	var e *openai.Error
	if errors.As(err, &e) {
		msg := e.Message
		if msg == "" {
			msg = http.StatusText(e.StatusCode)
		}
		return fmt.Sprintf("%d %s", e.StatusCode, msg)
	}
	return err.Error()
}

// Sandbox runs espeak-ng in environments: *sandbox.Manager.
type Sandbox interface {
	Create(ctx context.Context, env *paddock.Environment) error
	WaitStarted(ctx context.Context, id string) (*paddock.Environment, error)
	Exec(ctx context.Context, id string, req *paddock.ExecRequest) (*paddock.ExecResult, error)
	ReadFile(ctx context.Context, id, path string) (io.ReadCloser, paddock.FileInfo, error)
	Delete(ctx context.Context, id string, force bool) error
}

// Espeak is the offline engine: espeak-ng, then lame, in an environment
// of Image (which must have both: `paddock image build paddock-tts
// --packages espeak-ng,lame`), without a network.
type Espeak struct {
	Sandbox Sandbox
	Image   string
}

func (e *Espeak) Name() string      { return "espeak-ng" }
func (e *Espeak) Voices() [2]string { return [2]string{"en-us+m3", "en-us+f3"} }

// Open implements Engine: it starts the environment the session's texts
// are spoken in.
func (e *Espeak) Open(ctx context.Context, ownerID int64) (Session, error) {
	env := &paddock.Environment{
		Name: "speech", OwnerID: ownerID, Image: e.Image, Timeout: 600,
		Resources: paddock.Resources{CPU: "1", Memory: "256Mi", Storage: "256Mi"},
		Labels:    map[string]string{"paddock.dev/purpose": "speech"},
		Isolation: paddock.Isolation{NetworkPolicy: &paddock.NetworkPolicy{AllowInternet: new(false)}},
	}
	if err := e.Sandbox.Create(ctx, env); err != nil {
		return nil, err
	}
	s := &espeakSession{e: e, id: env.ID}
	if _, err := e.Sandbox.WaitStarted(ctx, env.ID); err != nil {
		s.Close()
		return nil, paddock.Errorf(paddock.EUnavailable, "the speech environment (image %s) did not start: %s", e.Image, paddock.ErrorMessage(err))
	}
	return s, nil
}

type espeakSession struct {
	e  *Espeak
	id string
}

func (s *espeakSession) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.e.Sandbox.Delete(ctx, s.id, true) //nolint:errcheck // the reaper ends it at its timeout otherwise
}

// speakScript speaks stdin with voice $1 at $2 words a minute into
// /tmp/speech.mp3.
const speakScript = `set -e
command -v espeak-ng >/dev/null || { echo "espeak-ng is not in this image" >&2; exit 127; }
command -v lame >/dev/null || { echo "lame is not in this image" >&2; exit 127; }
espeak-ng -v "$1" -s "$2" -w /tmp/speech.wav --stdin
lame --quiet -b 64 /tmp/speech.wav /tmp/speech.mp3
rm -f /tmp/speech.wav`

func (s *espeakSession) Speak(ctx context.Context, r Request) ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	speed := r.Speed
	if speed == 0 {
		speed = 1
	}
	wpm := min(max(int(175*speed), 80), 450) // espeak-ng's range
	res, err := s.e.Sandbox.Exec(ctx, s.id, &paddock.ExecRequest{
		Command: []string{"sh", "-c", speakScript, "speak", espeakVoice(r.Voice), strconv.Itoa(wpm)},
		Stdin:   strings.NewReader(r.Text), Timeout: 2 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, paddock.Errorf(paddock.EUnavailable, "espeak-ng in image %s failed (exit code %d): %s", s.e.Image, res.ExitCode, strings.TrimSpace(res.Stderr))
	}
	rc, _, err := s.e.Sandbox.ReadFile(ctx, s.id, "/tmp/speech.mp3")
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(io.LimitReader(rc, 64<<20)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// espeakVoice returns the espeak-ng voice of a request's voice: an
// espeak-ng name as it is (en-us, de, fr+f2), a locale-style name
// (en-US-Standard-A, en-US-Wavenet-D) as its locale, "" as en-us.
func espeakVoice(v string) string {
	if v == "" {
		return "en-us"
	}
	parts := strings.Split(v, "-")
	if len(parts) > 2 { // language-REGION-family-letter
		return strings.ToLower(parts[0] + "-" + parts[1])
	}
	return strings.ToLower(v)
}
