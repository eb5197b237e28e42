package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/agent"
	"github.com/paddockhq/paddock/internal/pptx"
)

// Seed 003's text generation: prose (continue, improve, fix, shorten,
// lengthen, or follow a command on a text), enhance-prompt, and ppt (a
// PowerPoint file of slides a model writes). Each is one model call of a
// tool-less agent, through the stateless execution, so it is charged to
// the caller's credits and recorded in their usage.

type proseRequest struct {
	Prompt  string `json:"prompt" required:"true" description:"the text to work on"`
	Option  string `json:"option" required:"true" enum:"continue,improve,fix,shorter,longer,zap"`
	Command string `json:"command,omitempty" description:"what to do with the text; required with zap"`
	Model   string `json:"model,omitempty" description:"provider/model; default the server's default model"`
}

type enhancePromptRequest struct {
	Prompt      string `json:"prompt" required:"true" description:"the prompt to improve"`
	Context     string `json:"context,omitempty" description:"what the prompt is for"`
	ReportStyle string `json:"report_style,omitempty" enum:"academic,popular_science,news,social_media" description:"the style the answer should have"`
	Model       string `json:"model,omitempty" description:"provider/model; default the server's default model"`
}

type generationResponse struct {
	Result string        `json:"result"`
	Usage  paddock.Usage `json:"usage"`
}

// maxGenerationText bounds the text of a generation request, in
// characters (the body limit bounds it in bytes too).
const maxGenerationText = 100_000

var proseInstructions = map[string]string{
	"continue": "Continue the text the user gives, in its language, voice and format. Write only the continuation (a paragraph or two), not the text itself.",
	"improve":  "Improve the text the user gives: clearer, better structured and more precise, in its language and format, keeping its meaning. Write only the improved text.",
	"fix":      "Fix the spelling, grammar and punctuation of the text the user gives, in its language, changing nothing else. Write only the corrected text.",
	"shorter":  "Shorten the text the user gives to about half, in its language and format, keeping what matters. Write only the shorter text.",
	"longer":   "Lengthen the text the user gives to about twice, in its language and format, developing what it says without inventing facts. Write only the longer text.",
	"zap":      "Do what the user's command asks with the text the user gives, in the text's language. Write only the result.",
}

var proseOptions = []string{"continue", "improve", "fix", "shorter", "longer", "zap"}

var reportStyles = map[string]string{
	"academic":        "an academic report: rigorous, formal, with sources and methods",
	"popular_science": "popular science: accurate, vivid and easy to follow for a general audience",
	"news":            "a news report: factual, concise, the most important first",
	"social_media":    "a social media post: short, engaging, easy to share",
}

func (s *Server) handleProse(w http.ResponseWriter, r *http.Request) error {
	var req proseRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := generationText("prompt", req.Prompt); err != nil {
		return err
	}
	instruction, ok := proseInstructions[req.Option]
	if !ok {
		return paddock.Errorf(paddock.EInvalid, "field \"option\" must be one of %s, not %q", strings.Join(proseOptions, ", "), req.Option)
	}
	text := "Text:\n\n" + req.Prompt
	if req.Option == "zap" {
		if strings.TrimSpace(req.Command) == "" {
			return paddock.Errorf(paddock.EInvalid, "field \"command\" is required with option zap")
		}
		text = "Command: " + req.Command + "\n\n" + text
	} else if req.Command != "" {
		text = "Also: " + req.Command + "\n\n" + text
	}
	return s.generate(w, r, "prose", instruction, text, req.Model)
}

func (s *Server) handleEnhancePrompt(w http.ResponseWriter, r *http.Request) error {
	var req enhancePromptRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := generationText("prompt", req.Prompt); err != nil {
		return err
	}
	instruction := "Rewrite the prompt the user gives so that an AI model answers it better: make the task, the scope, the expected output and its format explicit, keep the author's intent and language, invent no facts. Write only the improved prompt."
	if req.ReportStyle != "" {
		style, ok := reportStyles[req.ReportStyle]
		if !ok {
			return paddock.Errorf(paddock.EInvalid, "field \"report_style\" must be academic, popular_science, news or social_media, not %q", req.ReportStyle)
		}
		instruction += " The answer should read as " + style + "."
	}
	text := "Prompt:\n\n" + req.Prompt
	if strings.TrimSpace(req.Context) != "" {
		if err := generationText("context", req.Context); err != nil {
			return err
		}
		text = "What the prompt is for: " + req.Context + "\n\n" + text
	}
	return s.generate(w, r, "enhance-prompt", instruction, text, req.Model)
}

// generationText checks a text field of a generation request.
func generationText(field, v string) error {
	switch {
	case strings.TrimSpace(v) == "":
		return paddock.Errorf(paddock.EInvalid, "field %q is required", field)
	case utf8.RuneCountInString(v) > maxGenerationText:
		return paddock.Errorf(paddock.EInvalid, "field %q must be at most %d characters", field, maxGenerationText)
	}
	return nil
}

// generate answers text with one model call following instruction: as
// {"result", "usage"}, or, with Accept: text/event-stream, as the chat
// stream's events (message chunks, then status complete with the usage).
func (s *Server) generate(w http.ResponseWriter, r *http.Request, name, instruction, text, model string) error {
	if err := checkAgentModel(model); err != nil {
		return err
	}
	owner := principal(r).User.ID
	if err := s.Credits.Check(r.Context(), owner); err != nil {
		return err
	}
	x := agent.ExecuteRequest{
		Agent:    &paddock.Agent{OwnerID: owner, Name: name, SystemPrompt: instruction, Model: model, Tools: []string{}},
		OwnerID:  owner,
		Messages: []*paddock.Message{{Role: paddock.MessageUser, Content: []paddock.ContentPart{paddock.TextPart(text)}}},
	}
	if !wantsSSE(r) {
		res, err := s.Runner.Execute(r.Context(), x)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, generationResponse{Result: res.Message.Text(), Usage: res.Usage})
	}
	sse := startSSE(w)
	return s.streamWork(w, r, sse, &agentEvents{sse: sse}, func(ctx context.Context, emit func(*paddock.Event)) (*assistantMessage, error) {
		x.OnEvent = emit
		res, err := s.Runner.Execute(ctx, x)
		if err != nil {
			return nil, err
		}
		return reply(res.ID, res.Message.Text(), "", "", res.Message.CreatedAt, &res.Usage), nil
	})
}

type pptRequest struct {
	Content string `json:"content" required:"true" description:"the report or text to present"`
	Locale  string `json:"locale,omitempty" description:"BCP 47 language tag of the slides, e.g. en-US (default: the content's language)"`
	Model   string `json:"model,omitempty" description:"provider/model that writes the slides; default the server's default model"`
}

// Bounds of a generated presentation, whatever the model writes.
const (
	maxPPTSlides  = 30
	maxPPTBullets = 10
	maxPPTTitle   = 200  // characters
	maxPPTText    = 1000 // characters of a bullet point or a slide's notes
)

// pptFormat asks the model for the slides.
var pptFormat = mustFormat(`{"type": "json_schema", "json_schema": {"name": "presentation", "strict": true, "schema": {
  "type": "object", "additionalProperties": false, "required": ["title", "subtitle", "slides"],
  "properties": {"title": {"type": "string"}, "subtitle": {"type": "string"}, "slides": {"type": "array", "items": {
    "type": "object", "additionalProperties": false, "required": ["title", "bullets", "notes"],
    "properties": {"title": {"type": "string"}, "bullets": {"type": "array", "items": {"type": "string"}}, "notes": {"type": "string"}}}}}}}}`)

const pptInstruction = "Turn the content the user gives into a presentation: a title and a one-line subtitle for the title slide, " +
	"then five to twelve slides, each with a short title, three to six bullet points of at most fifteen words, and speaker notes of two to four sentences " +
	"that say what the presenter explains. Follow the content's order; keep to what it says and invent no facts or figures. " +
	"Plain text only: no Markdown, no bullet characters. Answer with the presentation as JSON."

// handlePPT is seed 003's generation/ppt: a model writes the slides of the
// content, which are answered as a PowerPoint file.
func (s *Server) handlePPT(w http.ResponseWriter, r *http.Request) error {
	var req pptRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	instruction, lang, err := localized(req.Content, req.Locale, pptInstruction)
	if err != nil {
		return err
	}
	deck := &pptx.Deck{Author: principal(r).User.Username, Lang: lang}
	var out struct {
		Title, Subtitle string
		Slides          []struct {
			Title   string
			Bullets []string
			Notes   string
		}
	}
	if err := s.structured(r, "ppt", instruction, req.Content, req.Model, pptFormat, &out); err != nil {
		return err
	}
	deck.Title, deck.Subtitle = clip(out.Title, maxPPTTitle), clip(out.Subtitle, maxPPTTitle)
	for _, sl := range out.Slides[:min(len(out.Slides), maxPPTSlides)] {
		slide := pptx.Slide{Title: clip(sl.Title, maxPPTTitle), Notes: clip(sl.Notes, maxPPTText)}
		for _, b := range sl.Bullets[:min(len(sl.Bullets), maxPPTBullets)] {
			slide.Bullets = append(slide.Bullets, clip(unbullet(b), maxPPTText))
		}
		deck.Slides = append(deck.Slides, slide)
	}
	if strings.TrimSpace(deck.Title) == "" && len(deck.Slides) == 0 {
		return paddock.Errorf(paddock.EUnavailable, "the model wrote an empty presentation; try again")
	}
	var buf bytes.Buffer
	if err := pptx.Write(&buf, deck); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", pptx.ContentType)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Content-Disposition", `attachment; filename="presentation.pptx"`)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}

// unbullet removes a bullet a model wrote before a bullet point's text
// ("- ", "* ", "• "...): the slide draws its own.
func unbullet(s string) string {
	t := strings.TrimSpace(s)
	for _, m := range []string{"- ", "* ", "• ", "– ", "— ", "· ", "▪ ", "◦ "} {
		if rest, ok := strings.CutPrefix(t, m); ok {
			return strings.TrimSpace(rest)
		}
	}
	return s
}

// localized checks the content and locale of a generation request that
// writes about content, and returns instruction, asking for the locale's
// language when one is given, and the locale as a canonical BCP 47 tag.
func localized(content, locale, instruction string) (string, string, error) {
	if err := generationText("content", content); err != nil {
		return "", "", err
	}
	if locale == "" {
		return instruction, "", nil
	}
	tag, err := language.Parse(locale)
	if err != nil || len(locale) > 35 {
		return "", "", paddock.Errorf(paddock.EInvalid, "field \"locale\" must be a language tag such as en-US, not %q", truncate(locale, 40))
	}
	return instruction + " Write it in the language of the locale " + tag.String() + ".", tag.String(), nil
}

// structured asks a model, as a tool-less agent named name following
// instruction, for JSON in format about content, charged to the caller,
// and decodes the answer into out.
func (s *Server) structured(r *http.Request, name, instruction, content, model string, format *agent.Format, out any) error {
	if err := checkAgentModel(model); err != nil {
		return err
	}
	owner := principal(r).User.ID
	if err := s.Credits.Check(r.Context(), owner); err != nil {
		return err
	}
	res, err := s.Runner.Execute(r.Context(), agent.ExecuteRequest{
		Agent:          &paddock.Agent{OwnerID: owner, Name: name, SystemPrompt: instruction, Model: model, Tools: []string{}},
		OwnerID:        owner,
		Messages:       []*paddock.Message{{Role: paddock.MessageUser, Content: []paddock.ContentPart{paddock.TextPart("Content:\n\n" + content)}}},
		ResponseFormat: format,
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(res.Message.Text()), out); err != nil {
		return fmt.Errorf("%s: %w", name, err) // the format was checked: not the client's fault
	}
	return nil
}

// clip cuts s to at most n characters.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
