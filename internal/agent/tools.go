package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/codingagent"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/mcptool"
	"github.com/paddockhq/paddock/internal/search"
)

// The built-in tools.
const (
	ToolBash      = "bash"
	ToolReadFile  = "read_file"
	ToolWriteFile = "write_file"
	ToolEditFile  = "edit_file"
	ToolListFiles = "list_files"
	ToolGrep      = "grep"
	// ToolBashOutput and ToolKillProcess follow the commands bash started
	// in the background.
	ToolBashOutput  = "bash_output"
	ToolKillProcess = "kill_process"
	// ToolWebSearch searches the web. It needs no environment, is offered
	// only when a search provider is configured, and only to agents or
	// runs that name it in their tools.
	ToolWebSearch = "web_search"
)

// Tools returns the names of the built-in tools.
func Tools() []string {
	return []string{ToolBash, ToolReadFile, ToolWriteFile, ToolEditFile, ToolListFiles, ToolGrep, ToolBashOutput, ToolKillProcess}
}

// Tools run as small shell scripts in the environment: `sh -c SCRIPT OP
// ARGS...`, where OP ($0) names the operation (it shows in ps, and a fake
// sandbox in tests dispatches on it). Paths and patterns travel as
// arguments and file contents as base64 on stdin, so nothing is quoted.
const (
	opBash  = "paddock-bash"
	opRead  = "paddock-read"
	opCat   = "paddock-cat"
	opWrite = "paddock-write"
	opList  = "paddock-ls"
	opGrep  = "paddock-grep"
	opInit  = "paddock-init"
)

var scripts = map[string]string{
	// $1: command.
	opBash: `if command -v bash >/dev/null 2>&1; then exec bash -lc "$1"; else exec sh -c "$1"; fi`,
	// $1: path, $2: first line, $3: line count. Prints the file's line
	// count, then the lines.
	opRead: `[ -e "$1" ] || { echo "$1: no such file" >&2; exit 2; }
[ -d "$1" ] && { echo "$1 is a directory" >&2; exit 2; }
grep -c '' "$1" || true
tail -n +"$2" "$1" | head -n "$3"`,
	// $1: path. Prints the file in base64.
	opCat: `[ -e "$1" ] || { echo "$1: no such file" >&2; exit 2; }
[ -d "$1" ] && { echo "$1 is a directory" >&2; exit 2; }
base64 < "$1"`,
	// $1: path; stdin: the content in base64.
	opWrite: `mkdir -p "$(dirname "$1")" && base64 -d > "$1"`,
	// $1: directory, $2: 1 for recursive. Directories end in "/".
	opList: `[ -d "$1" ] || { echo "$1: no such directory" >&2; exit 2; }
cd "$1" || exit 2
if [ "$2" = 1 ]; then d=""; else d="-maxdepth 1"; fi
{ find . -mindepth 1 $d -name .git -prune -o -type d -print | sed 's|^\./||; s|$|/|'
  find . -mindepth 1 $d -name .git -prune -o ! -type d -print | sed 's|^\./||'; } | LC_ALL=C sort | head -n 1001`,
	// $1: pattern (extended regular expression), $2: path, $3: glob.
	opGrep: `if [ -n "$3" ]; then
  grep -rnIE --exclude-dir=.git --include="$3" -e "$1" -- "$2" | head -n 501
else
  grep -rnIE --exclude-dir=.git -e "$1" -- "$2" | head -n 501
fi`,
	// $1: working directory.
	opInit: `mkdir -p "$1"`,
}

func scriptCommand(op string, args ...string) []string {
	return append([]string{"sh", "-c", scripts[op], op}, args...)
}

// Limits of listing tools.
const (
	maxListEntries = 1000
	maxGrepLines   = 500
	defaultReadMax = 2000 // lines
	maxEditFile    = 8 << 20
)

type toolSpec struct {
	description string
	schema      string
}

var toolSpecs = map[string]toolSpec{
	ToolWebSearch: {
		"Search the web. Returns numbered results with title, URL and a snippet; cite the URLs you use.",
		`{"type":"object","properties":{"query":{"type":"string","description":"What to search for."},` +
			`"max_results":{"type":"integer","description":"How many results, 1 to 10 (default 5)."}},"required":["query"]}`,
	},
	ToolBash: {
		"Run a shell command (bash -lc) in the session's Linux sandbox and return its stdout, stderr and exit code. " +
			"The working directory persists files between calls but not shell state (cd, variables). " +
			"For servers and other commands that keep running, set background: the call returns at once with a process id; " +
			"read the output with bash_output and stop the process with kill_process.",
		`{"type":"object","properties":{"command":{"type":"string","description":"The command to run."},` +
			`"timeout":{"type":"integer","description":"Timeout in seconds (in the background: none unless given)."},` +
			`"background":{"type":"boolean","description":"Run it in the background and return its process id at once."}},"required":["command"]}`,
	},
	ToolBashOutput: {
		"Read the output (stdout and stderr together) and the state of a command bash started in the background. " +
			"Returns the output from byte offset since (default 0) and the offset to read from next; " +
			"wait (seconds, at most 60) first waits for new output or the end of the process.",
		`{"type":"object","properties":{"process_id":{"type":"string"},"since":{"type":"integer","minimum":0},` +
			`"wait":{"type":"integer","minimum":0,"maximum":60}},"required":["process_id"]}`,
	},
	ToolKillProcess: {
		"Kill a command bash started in the background, with every process it started.",
		`{"type":"object","properties":{"process_id":{"type":"string"}},"required":["process_id"]}`,
	},
	ToolReadFile: {
		"Read a text file from the sandbox. Relative paths are relative to the working directory. " +
			"Returns up to `limit` lines (default 2000) from line `offset` (1-based, default 1).",
		`{"type":"object","properties":{"path":{"type":"string"},"offset":{"type":"integer","minimum":1},` +
			`"limit":{"type":"integer","minimum":1}},"required":["path"]}`,
	},
	ToolWriteFile: {
		"Write a file in the sandbox, replacing it if it exists and creating parent directories.",
		`{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"]}`,
	},
	ToolEditFile: {
		"Replace exactly one occurrence of old_text with new_text in a file of the sandbox. " +
			"old_text must match the file exactly, whitespace included, and occur once: include enough context.",
		`{"type":"object","properties":{"path":{"type":"string"},"old_text":{"type":"string"},"new_text":{"type":"string"}},` +
			`"required":["path","old_text","new_text"]}`,
	},
	ToolListFiles: {
		"List the files in a directory of the sandbox (default: the working directory); directories end in /.",
		`{"type":"object","properties":{"path":{"type":"string"},"recursive":{"type":"boolean"}}}`,
	},
	ToolGrep: {
		"Search files in the sandbox for a regular expression (extended syntax) and return matching lines as path:line:text.",
		`{"type":"object","properties":{"pattern":{"type":"string"},"path":{"type":"string","description":"File or directory; default the working directory."},` +
			`"glob":{"type":"string","description":"Only files whose name matches, e.g. *.py"}},"required":["pattern"]}`,
	},
}

// enabled returns the agent's tools: the built-in ones in the canonical
// order, then web_search if the agent names it and search is configured.
func (r *Runner) enabled(a *paddock.Agent) []string {
	names := builtins(a)
	if r.d.Search != nil && a.Tools != nil && slices.Contains(a.Tools, ToolWebSearch) {
		names = append(names, ToolWebSearch)
	}
	return names
}

// checkOptions checks the tools a run's options name.
func (r *Runner) checkOptions(opts paddock.RunOptions) error {
	if opts.Tools != nil {
		for _, t := range *opts.Tools {
			if t == ToolWebSearch && r.d.Search == nil {
				return paddock.Errorf(paddock.EUnavailable, "web search is not configured: set PADDOCK_SEARCH_PROVIDER (searxng, brave or tavily) with PADDOCK_SEARCH_URL or PADDOCK_SEARCH_API_KEY")
			}
			if t != ToolWebSearch && !slices.Contains(Tools(), t) {
				return paddock.Errorf(paddock.EInvalid, "unknown tool %q", t)
			}
		}
	}
	for _, ref := range opts.MCPServers {
		if err := mcptool.CheckRef(ref); err != nil {
			return err
		}
	}
	if err := r.checkResources(opts.Resources); err != nil {
		return err
	}
	switch opts.Reasoning {
	case "", llm.ReasoningLow, llm.ReasoningMedium, llm.ReasoningHigh:
	default:
		return paddock.Errorf(paddock.EInvalid, "reasoning must be low, medium or high, not %q", opts.Reasoning)
	}
	return nil
}

// builtins returns the agent's built-in tools, in the canonical order.
// bash brings bash_output and kill_process, without which its background
// commands could not be followed.
func builtins(a *paddock.Agent) []string {
	if a.Tools == nil {
		return Tools()
	}
	bash := slices.Contains(a.Tools, ToolBash)
	var names []string
	for _, t := range Tools() {
		if slices.Contains(a.Tools, t) || bash && (t == ToolBashOutput || t == ToolKillProcess) {
			names = append(names, t)
		}
	}
	return names
}

// toolDefs returns the tool definitions the model gets: agent a's
// built-in tools, search_resources when the run names resources, then the
// tools of the MCP servers.
func (r *Runner) toolDefs(ctx context.Context, a *paddock.Agent, ts toolset) []llm.Tool {
	var tools []llm.Tool
	for _, name := range r.enabled(a) {
		s := toolSpecs[name]
		tools = append(tools, llm.Tool{
			Name:        name,
			Description: s.description + " Working directory: " + r.cfg.Workdir + ".",
			Parameters:  json.RawMessage(s.schema),
		})
	}
	if len(ts.resources) > 0 {
		tools = append(tools, resourceToolDef(ts.resources))
	}
	return append(tools, r.mcpToolDefs(ctx, ts.mcp)...)
}

// toolError is a failure reported to the model as an error result.
type toolError string

func (e toolError) Error() string { return string(e) }

// outputSink receives the streamed output of a tool: a *batcher of a
// session run, or the events of a stateless execution.
type outputSink interface {
	writer(stream string) io.Writer
}

// execTool runs a call of agent a in the environment env returns (created
// on first use), on one of the MCP servers or over the run's resources,
// and returns its result text and whether it is an error. When ctx ends
// first the result is meaningless: the caller checks.
func (r *Runner) execTool(ctx context.Context, a *paddock.Agent, ts toolset, env func(context.Context) (string, error), call paddock.ContentPart, out outputSink) (result string, isErr bool) {
	ctx, span := r.d.Tracer.Start(ctx, "execute_tool "+call.Name, trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.name", call.Name),
		attribute.String("gen_ai.tool.call.id", call.ID)))
	defer func() {
		if isErr {
			span.SetStatus(codes.Error, statusLine(result))
		}
		span.End()
	}()
	if server, _, ok := mcptool.SplitToolName(call.Name); ok {
		for _, s := range ts.mcp {
			if s.Name == server && codingagent.Is(s.Transport) {
				return r.runCodingAgent(ctx, a.OwnerID, s, env, call, out)
			}
		}
		return r.callMCP(ctx, ts.mcp, call)
	}
	searching := call.Name == ToolSearchResources && len(ts.resources) > 0
	if !searching && !slices.Contains(r.enabled(a), call.Name) {
		return fmt.Sprintf("unknown tool %q", call.Name), true
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(call.ArgumentsText()), &args); err != nil {
		return fmt.Sprintf("invalid arguments: %v (want a JSON object)", err), true
	}
	t := &toolCall{r: r, ctx: ctx, args: args, out: out}
	var res string
	var err error
	switch call.Name {
	case ToolSearchResources:
		res, err = t.searchResources(ts.resources)
	case ToolWebSearch:
		res, err = t.webSearch()
	default: // the sandbox tools
		if t.envID, err = env(ctx); err != nil {
			return "environment unavailable: " + paddock.ErrorMessage(err), true
		}
		span.SetAttributes(attribute.String("paddock.environment.id", t.envID))
		switch call.Name {
		case ToolBash:
			res, err = t.bash()
		case ToolReadFile:
			res, err = t.readFile()
		case ToolWriteFile:
			res, err = t.writeFile()
		case ToolEditFile:
			res, err = t.editFile()
		case ToolListFiles:
			res, err = t.listFiles()
		case ToolGrep:
			res, err = t.grep()
		case ToolBashOutput:
			res, err = t.bashOutput()
		case ToolKillProcess:
			res, err = t.killProcess()
		}
	}
	if err != nil {
		if _, ok := err.(toolError); ok {
			return err.Error(), true
		}
		return call.Name + ": " + paddock.ErrorMessage(err), true
	}
	return res, false
}

type toolCall struct {
	r     *Runner
	ctx   context.Context
	envID string
	args  map[string]any
	out   outputSink
}

func (t *toolCall) str(name string, required bool) (string, error) {
	v, ok := t.args[name]
	if !ok || v == nil {
		if required {
			return "", toolError(fmt.Sprintf("missing argument %q", name))
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", toolError(fmt.Sprintf("argument %q must be a string", name))
	}
	return s, nil
}

func (t *toolCall) num(name string, def int) (int, error) {
	v, ok := t.args[name]
	if !ok || v == nil {
		return def, nil
	}
	switch n := v.(type) {
	case float64:
		return int(n), nil
	case string:
		if i, err := strconv.Atoi(n); err == nil {
			return i, nil
		}
	}
	return 0, toolError(fmt.Sprintf("argument %q must be an integer", name))
}

func (t *toolCall) boolean(name string) bool {
	switch v := t.args[name].(type) {
	case bool:
		return v
	case string:
		return v == "true" || v == "1"
	}
	return false
}

func (t *toolCall) exec(req *paddock.ExecRequest) (*paddock.ExecResult, error) {
	if req.Dir == "" {
		req.Dir = t.r.cfg.Workdir
	}
	if req.Timeout == 0 {
		req.Timeout = t.r.cfg.ToolTimeout
	}
	if req.MaxOutput == 0 {
		req.MaxOutput = t.r.cfg.MaxToolOutput
	}
	return t.r.d.Sandbox.Exec(t.ctx, t.envID, req)
}

// failed returns the error of a helper script that exited non-zero.
func failed(res *paddock.ExecResult) error {
	if res.TimedOut {
		return toolError("timed out")
	}
	msg := strings.TrimSpace(res.Stderr)
	if msg == "" {
		msg = fmt.Sprintf("exit code %d", res.ExitCode)
	}
	return toolError(msg)
}

func (t *toolCall) bash() (string, error) {
	cmd, err := t.str("command", true)
	if err != nil {
		return "", err
	}
	timeout := t.r.cfg.ToolTimeout
	secs, err := t.num("timeout", 0)
	if err != nil {
		return "", err
	}
	if secs > 0 && time.Duration(secs)*time.Second < timeout {
		timeout = time.Duration(secs) * time.Second
	}
	if t.boolean("background") {
		return t.background(cmd, time.Duration(secs)*time.Second)
	}
	res, err := t.exec(&paddock.ExecRequest{
		Command: scriptCommand(opBash, cmd), Timeout: timeout,
		Stdout: t.out.writer("stdout"), Stderr: t.out.writer("stderr"),
	})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(res.Stdout)
	if res.Stderr != "" {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteByte('\n')
		}
		b.WriteString("[stderr]\n")
		b.WriteString(res.Stderr)
	}
	if res.Truncated {
		fmt.Fprintf(&b, "\n[output truncated to %d bytes per stream]", t.r.cfg.MaxToolOutput)
	}
	switch {
	case res.TimedOut:
		fmt.Fprintf(&b, "\n[timed out after %s; the command was killed]", timeout)
		return "", toolError(strings.TrimLeft(b.String(), "\n"))
	case res.OOMKilled:
		b.WriteString("\n[killed: out of memory]")
		return "", toolError(strings.TrimLeft(b.String(), "\n"))
	case res.ExitCode != 0:
		fmt.Fprintf(&b, "\n[exit code %d]", res.ExitCode)
		return "", toolError(strings.TrimLeft(b.String(), "\n"))
	}
	if b.Len() == 0 {
		return "[no output]", nil
	}
	return b.String(), nil
}

// background starts a bash command in the background, with a timeout
// only if the model gave one.
func (t *toolCall) background(cmd string, timeout time.Duration) (string, error) {
	p, err := t.r.d.Sandbox.StartProcess(t.ctx, t.envID, &paddock.ExecRequest{
		Command: scriptCommand(opBash, cmd), Dir: t.r.cfg.Workdir, Timeout: timeout,
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("started in the background as process %s; read its output with bash_output and stop it with kill_process", p.ID), nil
}

// maxWaitOutput bounds bash_output's wait.
const maxWaitOutput = 60 * time.Second

// bashOutput reads a background command's output from an offset, at most
// the tool output limit of it: the newest, when there is more.
func (t *toolCall) bashOutput() (string, error) {
	pid, err := t.str("process_id", true)
	if err != nil {
		return "", err
	}
	since, err := t.num("since", 0)
	if err != nil {
		return "", err
	}
	if since < 0 {
		return "", toolError("since must be 0 or more")
	}
	wait, err := t.num("wait", 0)
	if err != nil {
		return "", err
	}
	// A wait answers at once when there is output already, or the end.
	var out paddock.ProcessOutput
	if wait > 0 {
		ctx, cancel := context.WithTimeout(t.ctx, min(time.Duration(wait)*time.Second, maxWaitOutput))
		out, err = t.r.d.Sandbox.ProcessOutput(ctx, t.envID, pid, int64(since), true)
		waitedOut := ctx.Err() != nil && t.ctx.Err() == nil
		cancel()
		if waitedOut { // nothing came: the state as it is
			out, err = t.r.d.Sandbox.ProcessOutput(t.ctx, t.envID, pid, int64(since), false)
		}
	} else {
		out, err = t.r.d.Sandbox.ProcessOutput(t.ctx, t.envID, pid, int64(since), false)
	}
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(processState(out.Process))
	b.WriteByte('\n')
	var all strings.Builder
	for _, c := range out.Chunks {
		all.WriteString(c.Data)
	}
	text := all.String()
	if n := len(text); n > t.r.cfg.MaxToolOutput {
		i := n - t.r.cfg.MaxToolOutput
		for i < n && !utf8.RuneStart(text[i]) { // from a character's start
			i++
		}
		text = text[i:]
		fmt.Fprintf(&b, "[the first %d bytes of the output asked for are left out]\n", i)
	} else if out.Dropped {
		b.WriteString("[older output was dropped: each process keeps its last 256 KiB]\n")
	}
	if text == "" {
		text = "[no new output]\n"
	} else if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	b.WriteString(text)
	fmt.Fprintf(&b, "[next since: %d]", out.Next)
	return b.String(), nil
}

func (t *toolCall) killProcess() (string, error) {
	pid, err := t.str("process_id", true)
	if err != nil {
		return "", err
	}
	p, err := t.r.d.Sandbox.KillProcess(t.ctx, t.envID, pid)
	if err != nil {
		return "", err
	}
	if p.Status == "running" { // the kill is under way: wait for its end
		ctx, cancel := context.WithTimeout(t.ctx, killWait)
		defer cancel()
		// Past any output there is: the answer comes at the end.
		if out, err := t.r.d.Sandbox.ProcessOutput(ctx, t.envID, pid, math.MaxInt64, true); err == nil {
			p = out.Process
		}
	}
	return processState(p), nil
}

// killWait bounds kill_process's wait for the end of what it killed.
const killWait = 10 * time.Second

// processState says in a line whether a background process runs or how
// it ended.
func processState(p paddock.Process) string {
	switch {
	case p.Status == "running":
		return fmt.Sprintf("process %s: running", p.ID)
	case p.Status == "killed":
		return fmt.Sprintf("process %s: killed", p.ID)
	case p.TimedOut:
		return fmt.Sprintf("process %s: timed out and was killed", p.ID)
	case p.OOMKilled:
		return fmt.Sprintf("process %s: killed: out of memory", p.ID)
	case p.ExitCode != nil:
		return fmt.Sprintf("process %s: exited with code %d", p.ID, *p.ExitCode)
	}
	return fmt.Sprintf("process %s: %s", p.ID, p.Status)
}

func (t *toolCall) readFile() (string, error) {
	path, err := t.str("path", true)
	if err != nil {
		return "", err
	}
	offset, err := t.num("offset", 1)
	if err != nil {
		return "", err
	}
	limit, err := t.num("limit", defaultReadMax)
	if err != nil {
		return "", err
	}
	offset, limit = max(offset, 1), max(limit, 1)
	res, err := t.exec(&paddock.ExecRequest{Command: scriptCommand(opRead, path, strconv.Itoa(offset), strconv.Itoa(limit))})
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", failed(res)
	}
	first, content, _ := strings.Cut(res.Stdout, "\n")
	total, _ := strconv.Atoi(strings.TrimSpace(first))
	shown := strings.Count(content, "\n")
	if content != "" && !strings.HasSuffix(content, "\n") {
		shown++
	}
	switch {
	case res.Truncated:
		content += fmt.Sprintf("\n[output truncated to %d bytes; read fewer lines with offset and limit]", t.r.cfg.MaxToolOutput)
	case total > 0 && offset > total:
		return "", toolError(fmt.Sprintf("offset %d is past the end of %s (%d lines)", offset, path, total))
	case offset-1+shown < total:
		content += fmt.Sprintf("\n[lines %d-%d of %d; continue with offset=%d]", offset, offset-1+shown, total, offset+shown)
	}
	return content, nil
}

func (t *toolCall) write(path string, content []byte) error {
	enc := base64.StdEncoding.EncodeToString(content)
	res, err := t.exec(&paddock.ExecRequest{Command: scriptCommand(opWrite, path), Stdin: strings.NewReader(enc)})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return failed(res)
	}
	return nil
}

func (t *toolCall) writeFile() (string, error) {
	path, err := t.str("path", true)
	if err != nil {
		return "", err
	}
	content, err := t.str("content", true)
	if err != nil {
		return "", err
	}
	if err := t.write(path, []byte(content)); err != nil {
		return "", err
	}
	return fmt.Sprintf("wrote %d bytes to %s", len(content), path), nil
}

func (t *toolCall) editFile() (string, error) {
	path, err := t.str("path", true)
	if err != nil {
		return "", err
	}
	oldText, err := t.str("old_text", true)
	if err != nil {
		return "", err
	}
	newText, err := t.str("new_text", true)
	if err != nil {
		return "", err
	}
	if oldText == "" {
		return "", toolError("old_text must not be empty")
	}
	res, err := t.exec(&paddock.ExecRequest{Command: scriptCommand(opCat, path), MaxOutput: maxEditFile * 2})
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", failed(res)
	}
	if res.Truncated {
		return "", toolError(fmt.Sprintf("%s is too large to edit", path))
	}
	data, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(res.Stdout), ""))
	if err != nil {
		return "", toolError(fmt.Sprintf("read %s: %v", path, err))
	}
	switch n := bytes.Count(data, []byte(oldText)); n {
	case 0:
		return "", toolError(fmt.Sprintf("old_text not found in %s", path))
	case 1:
	default:
		return "", toolError(fmt.Sprintf("old_text occurs %d times in %s; include more context", n, path))
	}
	data = bytes.Replace(data, []byte(oldText), []byte(newText), 1)
	if err := t.write(path, data); err != nil {
		return "", err
	}
	return fmt.Sprintf("edited %s", path), nil
}

func (t *toolCall) listFiles() (string, error) {
	path, err := t.str("path", false)
	if err != nil {
		return "", err
	}
	if path == "" {
		path = "."
	}
	rec := "0"
	if t.boolean("recursive") {
		rec = "1"
	}
	res, err := t.exec(&paddock.ExecRequest{Command: scriptCommand(opList, path, rec)})
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", failed(res)
	}
	lines := strings.Split(strings.TrimRight(res.Stdout, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return "[empty directory]", nil
	}
	if len(lines) > maxListEntries {
		lines = append(lines[:maxListEntries], fmt.Sprintf("[more than %d entries; list a subdirectory]", maxListEntries))
	}
	return strings.Join(lines, "\n"), nil
}

func (t *toolCall) grep() (string, error) {
	pattern, err := t.str("pattern", true)
	if err != nil {
		return "", err
	}
	path, err := t.str("path", false)
	if err != nil {
		return "", err
	}
	glob, err := t.str("glob", false)
	if err != nil {
		return "", err
	}
	if path == "" {
		path = "."
	}
	res, err := t.exec(&paddock.ExecRequest{Command: scriptCommand(opGrep, pattern, path, glob)})
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(res.Stderr) != "" && res.Stdout == "" {
		return "", failed(res)
	}
	out := strings.TrimRight(res.Stdout, "\n")
	if out == "" {
		return "no matches", nil
	}
	lines := strings.Split(out, "\n")
	if len(lines) > maxGrepLines {
		lines = append(lines[:maxGrepLines], fmt.Sprintf("[more than %d matches; narrow the search]", maxGrepLines))
	}
	return strings.Join(lines, "\n"), nil
}

func (t *toolCall) webSearch() (string, error) {
	q, err := t.str("query", true)
	if err != nil {
		return "", err
	}
	n, err := t.num("max_results", 5)
	if err != nil {
		return "", err
	}
	res, err := t.r.d.Search.Search(t.ctx, q, min(max(n, 1), 10))
	if err != nil {
		return "", err
	}
	return search.Format(res), nil
}

// statusLine is the first line of a failed tool's result, at most 200
// bytes: a span's status description, not the result itself.
func statusLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
