package httpapi

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/agent"
)

// Seed 003's text generation: prose (continue, improve, fix, shorten,
// lengthen, or follow a command on a text) and enhance-prompt. Each is one
// model call of a tool-less agent, through the stateless execution, so it
// is charged to the caller's credits and recorded in their usage.

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
