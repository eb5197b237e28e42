// Package codingagent runs other coding agents, OpenAI's Codex CLI and
// Anthropic's Claude Code, as tools of Paddock's agents: a user configures
// one (their OpenAI key, or their Claude account through OAuth) in their
// MCP settings, an agent that names it among its MCP servers gets a tool
// that hands a task to it, and the CLI runs non-interactively inside the
// session's environment, where it reads and changes the same files as
// the agent's own tools. The environment is the sandbox: the CLIs' own
// sandboxes and approval prompts are turned off.
//
// The settings are stored as the user's MCP server named after the tool
// (paddock.MCPServer with Transport "codex" or "claude-code"), their
// values and credentials in its sealed headers.
package codingagent

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
)

// The tools, by their MCP setting's tool_type (and server name).
const (
	Codex      = "codex"
	ClaudeCode = "claude-code"
)

// Is reports whether transport is a coding agent's.
func Is(transport string) bool { return transport == Codex || transport == ClaudeCode }

// Efforts are the values of CodexSettings.ReasoningEffort.
var Efforts = []string{"minimal", "low", "medium", "high"}

// CodexSettings configure the Codex CLI for one user.
type CodexSettings struct {
	APIKey          string // OpenAI API key
	Model           string // "": Codex's default
	ReasoningEffort string // one of Efforts; "": the model's default
	Search          bool   // let Codex search the web
}

// Validate checks s; failures are EInvalid naming the field.
func (s CodexSettings) Validate() error {
	switch {
	case strings.TrimSpace(s.APIKey) == "":
		return paddock.Errorf(paddock.EInvalid, `field "apikey" is required: your OpenAI API key`)
	case len(s.APIKey) > 1024 || strings.ContainsAny(s.APIKey, "\r\n\x00 "):
		return paddock.Errorf(paddock.EInvalid, `field "apikey" must be a single token of at most 1024 characters`)
	case len(s.Model) > 128 || strings.ContainsFunc(s.Model, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r >= 0x7f }):
		return paddock.Errorf(paddock.EInvalid, `field "model" must be a model name such as "gpt-5-codex" (at most 128 characters, no spaces or quotes)`)
	case s.ReasoningEffort != "" && !slices.Contains(Efforts, s.ReasoningEffort):
		return paddock.Errorf(paddock.EInvalid, `field "model_reasoning_effort" must be one of %s, not %q`, strings.Join(Efforts, ", "), s.ReasoningEffort)
	}
	return nil
}

// Headers is how s is stored (sealed) in its MCP server's headers.
func (s CodexSettings) Headers() map[string]string {
	return map[string]string{"apikey": s.APIKey, "model": s.Model, "model_reasoning_effort": s.ReasoningEffort, "search": fmt.Sprint(s.Search)}
}

// CodexFrom reads the settings of a codex MCP server's headers.
func CodexFrom(h map[string]string) CodexSettings {
	return CodexSettings{APIKey: h["apikey"], Model: h["model"], ReasoningEffort: h["model_reasoning_effort"], Search: h["search"] == "true"}
}

// ClaudeTokens are a user's Claude account's OAuth tokens.
type ClaudeTokens struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time // zero: not known
	Scope        string
	Account      string // the account's email address, when the provider said
}

// Headers is how t is stored (sealed) in its MCP server's headers.
func (t ClaudeTokens) Headers() map[string]string {
	h := map[string]string{"access_token": t.AccessToken, "refresh_token": t.RefreshToken, "scope": t.Scope, "account": t.Account}
	if !t.ExpiresAt.IsZero() {
		h["expires_at"] = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return h
}

// ClaudeFrom reads the tokens of a claude-code MCP server's headers.
func ClaudeFrom(h map[string]string) ClaudeTokens {
	t := ClaudeTokens{AccessToken: h["access_token"], RefreshToken: h["refresh_token"], Scope: h["scope"], Account: h["account"]}
	t.ExpiresAt, _ = time.Parse(time.RFC3339, h["expires_at"])
	return t
}

// expiring reports whether t must be refreshed before use at now.
func (t ClaudeTokens) expiring(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && now.Add(time.Minute).After(t.ExpiresAt)
}

// Tool is the tool a coding agent gives models: its remote name (the
// model sees "<server>__<name>"), description and parameters.
func Tool(transport string) (name, description string, schema json.RawMessage) {
	params := json.RawMessage(`{"type":"object","properties":{` +
		`"prompt":{"type":"string","description":"The task, with everything the agent needs to know: it does not see this conversation."},` +
		`"working_directory":{"type":"string","description":"The directory it works in (default: the environment's working directory)."}},` +
		`"required":["prompt"],"additionalProperties":false}`)
	if transport == Codex {
		return "run", "Hand a coding task to OpenAI Codex, an autonomous coding agent, running in this session's environment: it reads, runs and changes the files there and answers with a summary of what it did.", params
	}
	return "run", "Hand a coding task to Claude Code, an autonomous coding agent, running in this session's environment: it reads, runs and changes the files there and answers with a summary of what it did.", params
}

// Command is a CLI run: its argv and the variables added to its
// environment.
type Command struct {
	Argv []string
	Env  map[string]string
}

// CodexCommand is `codex exec` with s on prompt in dir: JSON events on
// stdout (CodexResult reads them), no approvals and no sandbox of its
// own, nothing persisted.
func CodexCommand(s CodexSettings, prompt, dir string) Command {
	argv := []string{"codex", "exec", "--json", "--skip-git-repo-check", "--ephemeral", "--dangerously-bypass-approvals-and-sandbox", "--cd", dir}
	if s.Model != "" {
		argv = append(argv, "--model", s.Model)
	}
	if s.ReasoningEffort != "" {
		argv = append(argv, "--config", "model_reasoning_effort="+s.ReasoningEffort)
	}
	// Web search: live, or none (Codex's own default is a cached index).
	search := "web_search=disabled"
	if s.Search {
		search = "web_search=live"
	}
	argv = append(argv, "--config", search)
	return Command{Argv: append(argv, "--", prompt), Env: map[string]string{"OPENAI_API_KEY": s.APIKey}}
}

// ClaudeCommand is `claude --print` with t on prompt: one JSON result on
// stdout (ClaudeResult reads it), permissions bypassed (IS_SANDBOX tells
// Claude Code it is in a sandbox, where it accepts that as root too).
func ClaudeCommand(t ClaudeTokens, prompt string) Command {
	return Command{
		Argv: []string{"claude", "--print", "--output-format", "json", "--permission-mode", "bypassPermissions", "--", prompt},
		Env:  map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": t.AccessToken, "IS_SANDBOX": "1"},
	}
}

// Output reads a coding agent's stdout as it is written, line by line,
// keeping only what its result needs, however long the run: the last
// agent message and how the turn ended (codex), or the last line, its
// JSON result (claude).
type Output struct {
	transport string
	partial   []byte // an unfinished line
	long      bool   // the unfinished line is past maxLine: it is dropped

	last      string // codex: the last agent message
	failure   string // codex: the error that ended the turn (turn.failed)
	lastError string // codex: the last error event; most are transient ("Reconnecting... 2/5")
	completed bool   // codex: the turn completed
	lastLine  string // claude: the last complete line
}

// maxLine bounds the line Output keeps whole; a longer one (a huge
// command output inside an event) is skipped.
const maxLine = 4 << 20

// NewOutput returns the reader of transport's stdout.
func NewOutput(transport string) *Output { return &Output{transport: transport} }

func (o *Output) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if !o.long {
				o.partial = append(o.partial, p...)
				if len(o.partial) > maxLine {
					o.partial, o.long = o.partial[:0], true
				}
			}
			break
		}
		if !o.long {
			o.line(append(o.partial, p[:i]...))
		}
		o.partial, o.long = o.partial[:0], false
		p = p[i+1:]
	}
	return n, nil
}

func (o *Output) line(b []byte) {
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	if o.transport != Codex {
		o.lastLine = string(b)
		return
	}
	var ev struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Error   struct {
			Message string `json:"message"`
		} `json:"error"`
		Item struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"item"`
	}
	if json.Unmarshal(b, &ev) != nil {
		return // not an event (a warning)
	}
	switch ev.Type {
	case "item.completed":
		if ev.Item.Type == "agent_message" {
			o.last = ev.Item.Text
		}
	case "turn.completed":
		o.completed = true
	case "turn.failed":
		o.failure = ev.Error.Message
	case "error":
		o.lastError = ev.Message
	}
}

// Result is the agent's answer, or why it has none.
func (o *Output) Result() (string, error) {
	if len(o.partial) > 0 && !o.long { // the last line lacked its newline
		o.line(o.partial)
		o.partial = o.partial[:0]
	}
	if o.transport == Codex {
		switch {
		case o.failure != "":
			return o.last, fmt.Errorf("codex failed: %s", o.failure)
		case o.completed:
			return o.last, nil
		case o.lastError != "":
			return o.last, fmt.Errorf("codex ended without completing its turn: %s", o.lastError)
		}
		return o.last, fmt.Errorf("codex ended without completing its turn")
	}
	var res struct {
		Type     string `json:"type"`
		Subtype  string `json:"subtype"`
		IsError  bool   `json:"is_error"`
		Result   string `json:"result"`
		APIError int    `json:"api_error_status"`
		APIType  string `json:"api_error_type"`
	}
	if err := json.Unmarshal([]byte(o.lastLine), &res); err != nil || res.Type != "result" {
		return "", fmt.Errorf("claude printed no result")
	}
	if res.IsError || (res.Subtype != "" && res.Subtype != "success") {
		msg := "claude failed: " + cmp.Or(res.Result, "no result")
		if res.Subtype != "" && res.Subtype != "success" {
			msg += " (" + res.Subtype + ")"
		}
		if res.APIError != 0 {
			msg += fmt.Sprintf(" (its API call answered %d %s)", res.APIError, res.APIType)
		}
		return res.Result, errors.New(msg)
	}
	return res.Result, nil
}
