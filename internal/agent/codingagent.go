package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/codingagent"
	"github.com/paddockhq/paddock/internal/mcptool"
)

// codingAgentTimeout bounds one task handed to a coding agent: they work
// for minutes, not the seconds of a tool call.
const codingAgentTimeout = 30 * time.Minute

// headerSetter stores a coding agent's refreshed credentials:
// paddock.MCPServerService.
type headerSetter interface {
	SetMCPServerHeaders(ctx context.Context, ownerID int64, name string, headers map[string]string) (*paddock.MCPServer, error)
}

// runCodingAgent runs a call of a coding agent's tool (s, owner's codex
// or claude-code setting): the CLI, in the environment env returns, on
// the task the call gives, its output streamed to out as it works. The
// result is its answer.
func (r *Runner) runCodingAgent(ctx context.Context, ownerID int64, s mcptool.Server, env func(context.Context) (string, error), call paddock.ContentPart, out outputSink) (string, bool) {
	var args map[string]any
	if err := json.Unmarshal([]byte(call.ArgumentsText()), &args); err != nil {
		return fmt.Sprintf(`invalid arguments: %v (want {"prompt": "..."})`, err), true
	}
	tc := &toolCall{r: r, ctx: ctx, args: args}
	prompt, err := tc.str("prompt", true)
	if err != nil {
		return err.Error(), true
	}
	dir, err := tc.str("working_directory", false)
	if err != nil {
		return err.Error(), true
	}
	if dir == "" {
		dir = r.cfg.Workdir
	}
	var cmd codingagent.Command
	if s.Transport == codingagent.Codex {
		cmd = codingagent.CodexCommand(codingagent.CodexFrom(s.Headers), prompt, dir)
	} else {
		t, refreshed, err := r.d.ClaudeOAuth.Fresh(ctx, codingagent.ClaudeFrom(s.Headers))
		if err != nil {
			return paddock.ErrorMessage(err), true
		}
		if hs, ok := r.d.MCPServers.(headerSetter); ok && refreshed {
			if _, err := hs.SetMCPServerHeaders(ctx, ownerID, s.Name, t.Headers()); err != nil {
				r.log.WarnContext(ctx, "store refreshed Claude Code tokens", "owner", ownerID, "err", err)
			}
		}
		cmd = codingagent.ClaudeCommand(t, prompt)
	}
	envID, err := env(ctx)
	if err != nil {
		return "environment unavailable: " + paddock.ErrorMessage(err), true
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("paddock.environment.id", envID))
	result := codingagent.NewOutput(s.Transport)
	stdout := out.writer("stdout")
	res, err := r.d.Sandbox.Exec(ctx, envID, &paddock.ExecRequest{
		Command: cmd.Argv, Env: cmd.Env, Dir: dir, Timeout: codingAgentTimeout, MaxOutput: r.cfg.MaxToolOutput,
		Stdout: io.MultiWriter(result, stdout), Stderr: out.writer("stderr"),
	})
	switch {
	case err != nil:
		return s.Name + ": " + paddock.ErrorMessage(err), true
	case res.ExitCode == 127:
		return fmt.Sprintf("%s is not installed in this environment's image: add %s to the image (npm install -g %s)", cmd.Argv[0], cmd.Argv[0], npmPackage[s.Transport]), true
	case res.TimedOut:
		return fmt.Sprintf("%s: timed out after %s; it was killed", s.Name, codingAgentTimeout), true
	case res.OOMKilled:
		return s.Name + ": killed: the environment ran out of memory", true
	}
	answer, err := result.Result()
	if err != nil {
		msg := err.Error()
		if res.ExitCode != 0 {
			msg += fmt.Sprintf(" (exit code %d)", res.ExitCode)
		}
		if tail := lastLines(res.Stderr, 5); tail != "" {
			msg += "\n[stderr]\n" + tail
		}
		return cutMiddle(msg, r.cfg.MaxToolOutput), true
	}
	return cutMiddle(answer, r.cfg.MaxToolOutput), false
}

// npmPackage is where each coding agent's CLI comes from.
var npmPackage = map[string]string{codingagent.Codex: "@openai/codex", codingagent.ClaudeCode: "@anthropic-ai/claude-code"}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
