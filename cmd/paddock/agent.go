package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/paddockhq/paddock/client"
)

func runAgent(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	sub := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"create": agentCreate, "ls": agentList, "get": agentGet, "rm": agentRemove,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprintln(stderr, "Usage: paddock agent create|ls|get|rm ...")
		return errUsage
	}
	return sub[args[0]](ctx, args[1:], stdout, stderr)
}

// parseInterspersed parses flags placed anywhere among the positional
// arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func agentCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("agent create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paddock agent create NAME [flags]")
		fs.PrintDefaults()
	}
	var in client.CreateAgent
	fs.StringVar(&in.SystemPrompt, "prompt", "", "system prompt")
	fs.StringVar(&in.Description, "description", "", "description")
	fs.StringVar(&in.Model, "model", "", "provider/model, e.g. openai/gpt-4o-mini (default: the server's)")
	tools := fs.String("tools", "", "comma-separated built-in tools: bash,read_file,write_file,edit_file,list_files,grep (default all; \"none\" for none)")
	image := fs.String("image", "", "image of the sessions' environments (default: the server's)")
	fs.IntVar(&in.MaxSteps, "max-steps", 0, "model calls per run (default: the server's)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return errUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	in.Name = pos[0]
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "tools" {
			list := []string{}
			for t := range strings.SplitSeq(*tools, ",") {
				if t = strings.TrimSpace(t); t != "" && t != "none" {
					list = append(list, t)
				}
			}
			in.Tools = &list
		}
	})
	if *image != "" {
		in.Environment = &client.AgentEnvironment{Image: *image}
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	a, err := c.CreateAgent(ctx, &in)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, a.ID)
	return nil
}

func agentList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("agent ls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	agents, err := allAgents(ctx, c)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, agents)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tMODEL\tTOOLS\tAGE")
	for _, a := range agents {
		model, tools := a.Model, "all"
		if model == "" {
			model = "(default)"
		}
		if a.Tools != nil {
			tools = strings.Join(a.Tools, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, a.Name, model, tools, age(a.CreatedAt))
	}
	return tw.Flush()
}

// allAgents lists every agent the caller sees, page by page.
func allAgents(ctx context.Context, c *client.Client) ([]client.Agent, error) {
	agents := []client.Agent{}
	for {
		l, err := c.Agents(ctx, 1000, len(agents))
		if err != nil {
			return nil, err
		}
		agents = append(agents, l.Items...)
		if len(l.Items) == 0 || len(agents) >= l.Total {
			return agents, nil
		}
	}
}

// resolveAgent finds an agent by id, else by its unique name.
func resolveAgent(ctx context.Context, c *client.Client, ref string) (*client.Agent, error) {
	if strings.HasPrefix(ref, "agt_") {
		a, err := c.Agent(ctx, ref)
		var apiErr *client.Error
		if err == nil || !errors.As(err, &apiErr) || apiErr.Status != 404 {
			return a, err
		}
	}
	agents, err := allAgents(ctx, c)
	if err != nil {
		return nil, err
	}
	var found *client.Agent
	for i, a := range agents {
		if a.Name == ref {
			if found != nil {
				return nil, fmt.Errorf("more than one agent is named %q: use its id", ref)
			}
			found = &agents[i]
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no agent %q: paddock agent ls lists yours, paddock agent create NAME makes one", ref)
	}
	return found, nil
}

func agentGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if !oneOperand(args) {
		fmt.Fprintln(stderr, "Usage: paddock agent get AGENT")
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	a, err := resolveAgent(ctx, c, args[0])
	if err != nil {
		return err
	}
	return printJSON(stdout, a)
}

func agentRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if !oneOperand(args) {
		fmt.Fprintln(stderr, "Usage: paddock agent rm AGENT")
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	a, err := resolveAgent(ctx, c, args[0])
	if err != nil {
		return err
	}
	if err := c.ArchiveAgent(ctx, a.ID); err != nil {
		return err
	}
	fmt.Fprintln(stdout, a.ID)
	return nil
}

// runRun is `paddock run AGENT PROMPT`: one run in a new session.
func runRun(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paddock run AGENT PROMPT [--json]")
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print only the final assistant message, as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return errUsage
	}
	if len(pos) != 2 {
		fs.Usage()
		return errUsage
	}
	c, a, sess, err := newSession(ctx, pos[0])
	if err != nil {
		return err
	}
	sigs := notifyInterrupt()
	defer signal.Stop(sigs)
	out := stdout
	if *asJSON {
		out = io.Discard
	}
	t := &turn{c: c, agentID: a.ID, sessionID: sess.ID, out: out, errOut: stderr}
	res, err := t.post(context.WithoutCancel(ctx), pos[1], sigs)
	if err != nil {
		return err
	}
	if *asJSON && res.final != nil {
		if err := printJSON(stdout, res.final); err != nil {
			return err
		}
	}
	switch res.status {
	case "failed":
		fmt.Fprintf(stderr, "paddock run: the run failed: %s\n", res.errMsg)
		return exitError{code: 1}
	case "cancelled":
		fmt.Fprintln(stderr, "paddock run: the run was cancelled")
		return exitError{code: 130}
	}
	return nil
}

// newSession starts a session with the agent named by ref (an id or a
// unique name) for `run` and `chat`.
func newSession(ctx context.Context, ref string) (*client.Client, *client.Agent, *client.Session, error) {
	c, err := apiClient()
	if err != nil {
		return nil, nil, nil, err
	}
	a, err := resolveAgent(ctx, c, ref)
	if err != nil {
		return nil, nil, nil, err
	}
	sess, err := c.CreateSession(ctx, a.ID, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, a, sess, nil
}

// runChat is `paddock chat AGENT`: a session fed line by line from stdin.
// Ctrl-C during a run cancels the run; at the prompt it exits.
func runChat(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "Usage: paddock chat AGENT")
		return errUsage
	}
	c, a, sess, err := newSession(ctx, args[0])
	if err != nil {
		return err
	}
	interactive := false
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		interactive = true
		fmt.Fprintf(stderr, "Chatting with %s (session %s). Ctrl-C cancels a run; Ctrl-D or Ctrl-C at the prompt exits.\n", a.Name, sess.ID)
	}
	// Interrupts are ours from here on: main's context ends on the first
	// one, so the work below runs on a context that does not.
	sigs := notifyInterrupt()
	defer signal.Stop(sigs)
	ctx = context.WithoutCancel(ctx)

	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() { // ends with stdin: at EOF, or with the process
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		readErr <- sc.Err()
	}()
	t := &turn{c: c, agentID: a.ID, sessionID: sess.ID, out: stdout, errOut: stderr}
	for {
		if interactive {
			fmt.Fprint(stdout, "> ")
		}
		var line string
		select {
		case line = <-lines:
		case err := <-readErr:
			if interactive {
				fmt.Fprintln(stdout)
			}
			return err
		case sig := <-sigs:
			if interactive {
				fmt.Fprintln(stdout)
			}
			if sig == syscall.SIGTERM {
				return exitError{code: 143}
			}
			return nil
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		res, err := t.post(ctx, line, sigs)
		if err != nil {
			return err
		}
		switch res.status {
		case "failed":
			fmt.Fprintf(stderr, "[the run failed: %s]\n", res.errMsg)
		case "cancelled":
			fmt.Fprintln(stderr, "[cancelled]")
		}
	}
}

// notifyInterrupt delivers SIGINT and SIGTERM to the returned channel.
func notifyInterrupt() chan os.Signal {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	return sigs
}

// turn posts messages to one session and renders the runs they start.
type turn struct {
	c                  *client.Client
	agentID, sessionID string
	out, errOut        io.Writer
	lastSeq            int64 // events up to here were seen by earlier turns
}

// turnResult is how a run ended.
type turnResult struct {
	status string // completed, failed or cancelled
	errMsg string
	final  *client.Message // the last assistant message
}

var errRunEnded = errors.New("run ended")

// post sends text, then follows the session's events, rendering those of
// the run it started, until that run ends. An interrupt cancels the run; a
// second one (or SIGTERM) gives up waiting.
func (t *turn) post(ctx context.Context, text string, sigs <-chan os.Signal) (*turnResult, error) {
	msg, err := t.c.PostMessage(ctx, t.agentID, t.sessionID, text, "")
	if err != nil {
		return nil, err
	}
	r := &renderer{out: t.out, runID: msg.RunID}
	followCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- t.c.FollowEvents(followCtx, t.agentID, t.sessionID, t.lastSeq, func(ev client.SessionEvent) error {
			t.lastSeq = ev.Seq
			if r.event(ev) {
				return errRunEnded
			}
			return nil
		})
	}()
	cancelled := false
	for {
		select {
		case err := <-done:
			r.endLine()
			if !errors.Is(err, errRunEnded) {
				return nil, err
			}
			return &r.result, nil
		case sig := <-sigs:
			if cancelled || sig == syscall.SIGTERM {
				stop()
				<-done
				r.endLine()
				return nil, exitError{code: 130}
			}
			cancelled = true
			fmt.Fprintln(t.errOut, "\n[cancelling the run; Ctrl-C again to stop waiting]")
			if _, _, err := t.c.CancelSession(ctx, t.agentID, t.sessionID); err != nil {
				fmt.Fprintf(t.errOut, "[cancel: %v]\n", err)
			}
		}
	}
}

// renderer prints one run's events compactly: the text as it streams, a
// line per tool call and the tool's output indented.
type renderer struct {
	out     io.Writer
	runID   string
	result  turnResult
	col     int  // characters on the current line
	deltas  bool // text of the current step was streamed
	output  bool // the current tool streamed output
	stepped map[int]bool
}

// event renders ev and reports whether the run has ended.
func (r *renderer) event(ev client.SessionEvent) bool {
	if r.runID != "" && ev.RunID != r.runID {
		return false
	}
	switch ev.Type {
	case "message.delta":
		var d struct {
			Step  int    `json:"step"`
			Delta string `json:"delta"`
		}
		_ = json.Unmarshal(ev.Data, &d)
		if !r.deltas && r.stepped[d.Step] {
			// The model call of this step is made again (a worker took
			// the run over): what was printed of it is void.
			r.endLine()
			r.print("[the model call was retried]\n")
		}
		if r.stepped == nil {
			r.stepped = map[int]bool{}
		}
		r.stepped[d.Step], r.deltas = true, true
		r.print(d.Delta)
	case "message.assistant":
		var m client.Message
		if json.Unmarshal(ev.Data, &m) == nil {
			r.result.final = &m
			if !r.deltas {
				r.print(m.Text())
			}
		}
		r.deltas = false
		r.endLine()
	case "tool.started":
		var te toolEvent
		_ = json.Unmarshal(ev.Data, &te)
		r.endLine()
		r.print("→ " + te.Name + ": " + toolSummary(te.Name, te.Arguments) + "\n")
		r.output = false
	case "tool.output":
		var te toolEvent
		_ = json.Unmarshal(ev.Data, &te)
		r.indented(te.Output)
		r.output = true
	case "tool.completed":
		var te toolEvent
		_ = json.Unmarshal(ev.Data, &te)
		if !r.output && te.Result != nil {
			r.indented(clip(*te.Result, 20))
		}
		r.endLine()
		if te.IsError {
			r.print("  (error)\n")
		}
	case "run.completed", "run.failed", "run.cancelled":
		var re struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		_ = json.Unmarshal(ev.Data, &re)
		r.result.status = strings.TrimPrefix(ev.Type, "run.")
		r.result.errMsg = re.Error
		return true
	}
	return false
}

type toolEvent struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Output    string          `json:"output"`
	Result    *string         `json:"result"`
	IsError   bool            `json:"is_error"`
}

// toolSummary is a one-line view of a tool call's arguments.
func toolSummary(name string, raw json.RawMessage) string {
	var args map[string]any
	if json.Unmarshal(raw, &args) == nil {
		for _, k := range []string{"command", "path", "pattern"} {
			if v, ok := args[k].(string); ok {
				return oneLine(v)
			}
		}
	}
	return oneLine(string(raw))
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// clip keeps the first n lines of s.
func clip(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n {
		return s
	}
	return strings.Join(lines[:n], "") + fmt.Sprintf("... (%d more lines)\n", len(lines)-n)
}

func (r *renderer) print(s string) {
	if s == "" {
		return
	}
	io.WriteString(r.out, s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		r.col = len(s) - i - 1
	} else {
		r.col += len(s)
	}
}

// indented prints s with each line indented.
func (r *renderer) indented(s string) {
	for s != "" {
		line, rest, nl := strings.Cut(s, "\n")
		if r.col == 0 {
			r.print("    ")
		}
		r.print(line)
		if nl {
			r.print("\n")
		}
		s = rest
	}
}

// endLine ends a partly printed line.
func (r *renderer) endLine() {
	if r.col > 0 {
		r.print("\n")
	}
}
