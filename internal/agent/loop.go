package agent

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/document"
	"github.com/paddockhq/paddock/internal/llm"
)

// runState is what one execution of a run works with.
type runState struct {
	run     *paddock.Run
	agent   *paddock.Agent
	session *paddock.Session
	prior   []*paddock.Message // messages of the session's earlier runs, in context order
	tools   toolset            // the MCP servers and resources the run's tools reach

	mu  sync.Mutex
	own []*paddock.Message // this run's messages, in Seq order

	completed bool // the run's completion is recorded (with its last step)
	more      bool // other runs of the session were active when it was
}

func (s *runState) add(m *paddock.Message) {
	s.mu.Lock()
	s.own = append(s.own, m)
	s.mu.Unlock()
}

func (s *runState) snapshot() []*paddock.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.own)
}

// loop executes run from its persisted state to its end. It returns nil
// when it recorded the run's completion, with whether other runs of the
// session were active then, else why it stopped.
func (r *Runner) loop(ctx context.Context, run *paddock.Run, log *slog.Logger) (bool, error) {
	st, err := r.load(ctx, run)
	if err != nil {
		return false, err
	}
	maxSteps := st.agent.MaxSteps
	if maxSteps <= 0 {
		maxSteps = r.cfg.MaxSteps
	}
	step := 0
	for _, m := range st.own {
		if m.Role == paddock.MessageAssistant {
			step++
		}
	}
	for {
		own := st.snapshot()
		var last *paddock.Message
		for i := len(own) - 1; i >= 0; i-- {
			if own[i].Role == paddock.MessageAssistant {
				last = own[i]
				break
			}
		}
		if last != nil {
			calls := last.ToolCalls()
			if len(calls) == 0 {
				err := r.complete(ctx, st, "")
				return st.more, err
			}
			if err := r.runTools(ctx, st, calls, step, log); err != nil {
				return false, err
			}
			if step >= maxSteps {
				err := r.complete(ctx, st, fmt.Sprintf("stopped after %d steps: the agent's step limit", step))
				return st.more, err
			}
		}
		step++
		m, err := r.callModel(ctx, st, step)
		if err != nil {
			return false, err
		}
		st.add(m)
	}
}

// load marks the run started (or resumed), unless its claim did, and
// reads what it needs that the claim did not.
func (r *Runner) load(ctx context.Context, run *paddock.Run) (*runState, error) {
	st := &runState{run: run}
	pre := r.takeStarted(run.ID)
	if pre == nil {
		err := r.commit(ctx, run.SessionID, func(tx paddock.SessionTx) error {
			cur, err := r.fence(ctx, tx, run.ID)
			if err != nil {
				return err
			}
			st.run, pre, err = r.start(ctx, tx, cur)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	st.session, st.agent = pre.session, pre.agent
	if st.agent == nil {
		var err error
		if st.agent, err = r.d.Agents.Agent(ctx, st.session.AgentID); err != nil {
			return nil, fmt.Errorf("agent of session %s: %w", run.SessionID, err)
		}
	}
	if tools := st.run.Options.Tools; tools != nil { // this run's tools, not the agent's
		a := *st.agent
		a.Tools = append([]string{}, *tools...)
		st.agent = &a
	}
	var err error
	if st.tools.mcp, err = r.mcpServers(ctx, st.session.OwnerID, st.agent.MCPServers, st.run.Options.MCPServers); err != nil {
		return nil, err
	}
	if st.tools.resources, err = r.runResources(ctx, st.session.OwnerID, append(slices.Clone(st.agent.Resources), st.run.Options.Resources...)); err != nil {
		return nil, err
	}
	// Context order: by run, then by Seq. A message posted while an earlier
	// run was working belongs after that run, not in the middle of it.
	msgs, err := r.contextMessages(ctx, st.run, pre.msgs)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if m.RunID == run.ID {
			st.own = append(st.own, m)
		} else {
			st.prior = append(st.prior, m)
		}
	}
	return st, nil
}

// complete records the run's completion, unless the last step did, and
// keeps the session's context with the run's messages for its next run.
func (r *Runner) complete(ctx context.Context, st *runState, note string) error {
	if !st.completed {
		err := r.commit(ctx, st.run.SessionID, func(tx paddock.SessionTx) error {
			cur, err := r.fence(ctx, tx, st.run.ID)
			if err != nil {
				return err
			}
			_, st.more, err = endRun(ctx, tx, cur, paddock.RunCompleted, "", note, nil)
			return err
		})
		if err != nil {
			return err
		}
	}
	r.keepContext(st.run.SessionID, st.run.Seq, append(st.prior[:len(st.prior):len(st.prior)], st.snapshot()...))
	return nil
}

// resolveModel returns the provider and model id of the agent's model:
// the provider with the key of the agent's owner when the owner stored
// one (UserProviders), else with the server's.
func (r *Runner) resolveModel(ctx context.Context, a *paddock.Agent) (llm.Provider, string, error) {
	model := a.Model
	if model == "" {
		model = r.cfg.Model
	}
	provider, id := llm.ParseModel(model)
	if provider == "" {
		return nil, "", paddock.Errorf(paddock.EInvalid, "cannot tell the provider of model %q: name it as provider/model, e.g. openai/gpt-4o-mini", model)
	}
	if up, ok := r.d.Providers.(UserProviders); ok && a.OwnerID != 0 {
		p, found, err := up.ForUser(ctx, a.OwnerID, provider)
		if err != nil {
			return nil, "", err
		}
		if found {
			return p, id, nil
		}
	}
	p, err := r.d.Providers.Provider(provider)
	if err != nil {
		return nil, "", err
	}
	return p, id, nil
}

// cost returns the price in USD of a call's usage.
func (r *Runner) cost(provider, model string, u llm.Usage) float64 {
	if info, ok := r.cfg.Catalog.Lookup(provider, model); ok {
		return info.Cost(u)
	}
	return 0
}

// callModel makes the run's step-th model call, streaming its text as
// delta events, and persists the assistant message with its usage.
func (r *Runner) callModel(ctx context.Context, st *runState, step int) (*paddock.Message, error) {
	p, model, err := r.resolveModel(ctx, st.agent)
	if err != nil {
		return nil, err
	}
	req := &llm.Request{
		Model:     model,
		System:    st.agent.SystemPrompt,
		Tools:     r.toolDefs(ctx, st.agent, st.tools),
		Reasoning: st.run.Options.Reasoning,
		CacheKey:  st.session.ID,
	}
	if loc := st.run.Options.Locale; loc != "" {
		req.System = strings.TrimSpace(req.System + "\n\nThe user's locale is " + loc + ": answer in its language unless asked otherwise.")
	}
	if err := r.fitContext(ctx, st, p, req); err != nil {
		return nil, err
	}
	if err := r.checkCredits(ctx, st.session.OwnerID); err != nil {
		return nil, err
	}
	deltas := r.newBatcher(ctx, st.run.SessionID, func(_, text string) *paddock.Event {
		return paddock.NewEvent(paddock.EventMessageDelta, st.run.ID, paddock.DeltaEvent{Step: step, Delta: text})
	})
	resp, err := p.Stream(ctx, req, func(ev llm.Event) {
		if ev.Type == llm.EventTextDelta {
			deltas.add("", ev.Text)
		}
	})
	if err != nil {
		deltas.close(false)
		return nil, fmt.Errorf("model call: %w", err)
	}
	// The last deltas go in the step's unit of work, not one of their own.
	tail := deltas.drain()

	m := &paddock.Message{
		RunID:   st.run.ID,
		Role:    paddock.MessageAssistant,
		Content: fromLLMParts(resp.Message.Parts),
		Usage:   r.usage(p, model, resp),
	}
	// An answer without tool calls is the run's last step: its completion
	// is recorded with it, in one unit of work.
	final := len(m.ToolCalls()) == 0
	err = r.commit(ctx, st.run.SessionID, func(tx paddock.SessionTx) error {
		cur, err := r.fence(ctx, tx, st.run.ID)
		if err != nil {
			return err
		}
		tx.Emit(tail...)
		if err := tx.CreateMessage(ctx, m); err != nil {
			return err
		}
		if !final {
			if _, err := tx.UpdateRun(ctx, st.run.ID, paddock.RunUpdate{Step: &step}); err != nil {
				return err
			}
		}
		if err := tx.RecordUsage(ctx, m.Usage.Record(paddock.UsageRecord{
			OwnerID: st.session.OwnerID, AgentID: st.agent.ID, SessionID: st.session.ID, RunID: st.run.ID, MessageID: m.ID,
		})); err != nil {
			return err
		}
		tx.Emit(paddock.NewEvent(paddock.EventMessageAssistant, st.run.ID, m))
		if final {
			// The step count goes with the end: one update of the run.
			_, st.more, err = endRun(ctx, tx, cur, paddock.RunCompleted, "", "", &step)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	st.completed = final
	return m, nil
}

// maxParallelTools bounds the tool calls of one step run at once.
const maxParallelTools = 8

// runTools executes the calls that have no stored result, in parallel,
// persisting each result as it completes.
func (r *Runner) runTools(ctx context.Context, st *runState, calls []paddock.ContentPart, step int, log *slog.Logger) error {
	done := map[string]bool{}
	for _, m := range st.snapshot() {
		for _, p := range m.Content {
			if p.Type == paddock.PartToolResult {
				done[p.ToolCallID] = true
			}
		}
	}
	var missing []paddock.ContentPart
	for _, c := range calls {
		if !done[c.ID] {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sem := make(chan struct{}, maxParallelTools)
	errs := make([]error, len(missing))
	var wg sync.WaitGroup
	for i, call := range missing {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = r.runTool(ctx, st, call, step, log)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// runTool executes one call and persists its result. Tool failures are
// results; only the run's own interruption (cancel, lease, shutdown) or a
// store failure is an error.
func (r *Runner) runTool(ctx context.Context, st *runState, call paddock.ContentPart, step int, log *slog.Logger) error {
	if err := r.appendEvents(ctx, st.run.SessionID, paddock.NewEvent(paddock.EventToolStarted, st.run.ID, paddock.ToolEvent{
		ToolCallID: call.ID, Name: call.Name, Step: step, Arguments: call.Arguments,
	})); err != nil {
		return err
	}
	output := r.newBatcher(ctx, st.run.SessionID, func(stream, text string) *paddock.Event {
		return paddock.NewEvent(paddock.EventToolOutput, st.run.ID, paddock.ToolEvent{
			ToolCallID: call.ID, Name: call.Name, Step: step, Stream: stream, Output: text,
		})
	})
	env := func(ctx context.Context) (string, error) { return r.ensureEnvironment(ctx, st) }
	result, isErr := r.execTool(ctx, st.agent, st.tools, env, call, output)
	output.close(ctx.Err() == nil)
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	m := &paddock.Message{
		RunID: st.run.ID,
		Role:  paddock.MessageTool,
		Content: []paddock.ContentPart{{
			Type: paddock.PartToolResult, ToolCallID: call.ID, Name: call.Name, Result: result, IsError: isErr,
		}},
	}
	err := r.commit(ctx, st.run.SessionID, func(tx paddock.SessionTx) error {
		if _, err := r.fence(ctx, tx, st.run.ID); err != nil {
			return err
		}
		if err := tx.CreateMessage(ctx, m); err != nil {
			return err
		}
		tx.Emit(paddock.NewEvent(paddock.EventToolCompleted, st.run.ID, paddock.ToolEvent{
			ToolCallID: call.ID, Name: call.Name, Step: step, Result: &result, IsError: isErr, MessageID: m.ID,
		}))
		return nil
	})
	if err != nil {
		return err
	}
	if isErr {
		log.Debug("tool call failed", "tool", call.Name, "tool_call_id", call.ID)
	}
	st.add(m)
	return nil
}

// interrupted is the result given to the model for a tool call of an
// ended run that never got one (the run was cancelled or failed).
const interrupted = "the tool call was interrupted before it finished"

// buildContext turns stored messages, in context order, into the model's
// conversation: each assistant message is followed by the results of its
// tool calls, in call order; results without their call are dropped and
// calls without a result get an interrupted error result.
func buildContext(msgs []*paddock.Message) []llm.Message {
	results := map[string]paddock.ContentPart{}
	for _, m := range msgs {
		if m.Role == paddock.MessageTool {
			for _, p := range m.Content {
				if p.Type == paddock.PartToolResult {
					results[p.ToolCallID] = p
				}
			}
		}
	}
	var out []llm.Message
	for _, m := range msgs {
		switch m.Role {
		case paddock.MessageUser:
			if parts := userParts(m.Content); len(parts) > 0 {
				out = append(out, llm.Message{Role: llm.RoleUser, Parts: parts})
			}
		case paddock.MessageAssistant:
			out = append(out, llm.Message{Role: llm.RoleAssistant, Parts: toLLMParts(m.Content)})
			for _, c := range m.ToolCalls() {
				res, ok := results[c.ID]
				if !ok {
					res = paddock.ContentPart{Result: interrupted, IsError: true}
				}
				out = append(out, llm.Message{Role: llm.RoleTool, Parts: []llm.Part{{
					Type: llm.PartToolResult, ToolCallID: c.ID, ToolName: c.Name, Result: res.Result, IsError: res.IsError,
				}}})
			}
		}
	}
	return out
}

// maxInlineFile bounds the text of a file part given to the model.
const maxInlineFile = 256 << 10

func userParts(content []paddock.ContentPart) []llm.Part {
	var parts []llm.Part
	for _, p := range content {
		switch p.Type {
		case paddock.PartText:
			parts = append(parts, llm.Part{Type: llm.PartText, Text: p.Text})
		case paddock.PartImage:
			data, err := base64.StdEncoding.DecodeString(p.Data)
			if err != nil {
				parts = append(parts, llm.Part{Type: llm.PartText, Text: "[an image that could not be decoded]"})
				continue
			}
			parts = append(parts, llm.Part{Type: llm.PartImage, ImageMIME: p.MIMEType, ImageData: data})
		case paddock.PartFile:
			data, err := base64.StdEncoding.DecodeString(p.Data)
			name := cmp.Or(p.Name, "file")
			if err == nil && p.MIMEType == "application/pdf" {
				text, err := document.PDFText(data)
				if err != nil {
					parts = append(parts, llm.Part{Type: llm.PartText, Text: fmt.Sprintf("[attached PDF %s: %s]", name, paddock.ErrorMessage(err))})
				} else {
					parts = append(parts, llm.Part{Type: llm.PartText, Text: fmt.Sprintf("<file name=%q type=\"application/pdf\">\n%s\n</file>", name, text)})
				}
				continue
			}
			switch {
			case err != nil || !utf8.Valid(data):
				parts = append(parts, llm.Part{Type: llm.PartText, Text: fmt.Sprintf("[attached file %s (%s), not text]", name, p.MIMEType)})
			case len(data) > maxInlineFile:
				parts = append(parts, llm.Part{Type: llm.PartText, Text: fmt.Sprintf("[attached file %s (%s), %d bytes: too large to include]", name, p.MIMEType, len(data))})
			default:
				parts = append(parts, llm.Part{Type: llm.PartText, Text: fmt.Sprintf("<file name=%q>\n%s\n</file>", name, data)})
			}
		}
	}
	return parts
}

func toLLMParts(content []paddock.ContentPart) []llm.Part {
	var parts []llm.Part
	for _, p := range content {
		switch p.Type {
		case paddock.PartText:
			parts = append(parts, llm.Part{Type: llm.PartText, Text: p.Text})
		case paddock.PartThinking:
			parts = append(parts, llm.Part{Type: llm.PartThinking, Text: p.Text, Signature: p.Signature})
		case paddock.PartToolCall:
			parts = append(parts, llm.Part{Type: llm.PartToolCall, ToolCallID: p.ID, ToolName: p.Name,
				Arguments: p.ArgumentsText(), Signature: p.Signature})
		}
	}
	return parts
}

func fromLLMParts(parts []llm.Part) []paddock.ContentPart {
	content := []paddock.ContentPart{}
	for _, p := range parts {
		switch p.Type {
		case llm.PartText:
			content = append(content, paddock.ContentPart{Type: paddock.PartText, Text: p.Text})
		case llm.PartThinking:
			content = append(content, paddock.ContentPart{Type: paddock.PartThinking, Text: p.Text, Signature: p.Signature})
		case llm.PartToolCall:
			content = append(content, paddock.ContentPart{Type: paddock.PartToolCall, ID: p.ToolCallID, Name: p.ToolName,
				Arguments: paddock.ToolArguments(p.Arguments), Signature: p.Signature})
		}
	}
	return content
}

// batcher collects text (token deltas, tool output) and appends it as
// events DeltaFlush after the first text since its last write, so a fast
// stream costs a few writes a second. It has no goroutine of its own: a
// timer writes.
type batcher struct {
	r         *Runner
	ctx       context.Context
	sessionID string
	mk        func(key, text string) *paddock.Event

	mu     sync.Mutex
	keys   []string
	bufs   map[string]*strings.Builder
	timer  *time.Timer // the pending write, if any
	closed bool
	flush  sync.Mutex // one write at a time, so events keep their order
}

func (r *Runner) newBatcher(ctx context.Context, sessionID string, mk func(key, text string) *paddock.Event) *batcher {
	return &batcher{r: r, ctx: ctx, sessionID: sessionID, mk: mk, bufs: map[string]*strings.Builder{}}
}

func (b *batcher) add(key, text string) {
	if text == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	buf, ok := b.bufs[key]
	if !ok {
		buf = &strings.Builder{}
		b.bufs[key] = buf
	}
	if buf.Len() == 0 {
		b.keys = append(b.keys, key)
	}
	buf.WriteString(text)
	if b.timer == nil && !b.closed {
		b.timer = time.AfterFunc(b.r.cfg.DeltaFlush, b.tick)
	}
}

// take returns what was collected, as events, and forgets it.
func (b *batcher) take() []*paddock.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.timer = nil
	var events []*paddock.Event
	for _, k := range b.keys {
		buf := b.bufs[k]
		events = append(events, b.mk(k, buf.String()))
		buf.Reset()
	}
	b.keys = b.keys[:0]
	return events
}

// tick is the timed write; it writes nothing once the batcher is stopped.
func (b *batcher) tick() {
	b.flush.Lock()
	defer b.flush.Unlock()
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if !closed {
		b.writeLocked()
	}
}

// write appends what was collected. A write error is logged: the text
// still reaches the store in the message or result that follows.
func (b *batcher) write() {
	b.flush.Lock()
	defer b.flush.Unlock()
	b.writeLocked()
}

func (b *batcher) writeLocked() {
	events := b.take()
	if len(events) == 0 {
		return
	}
	if err := b.r.appendEvents(b.ctx, b.sessionID, events...); err != nil && b.ctx.Err() == nil {
		b.r.log.Warn("append stream events", "session_id", b.sessionID, "err", err)
	}
}

// writer returns an io.Writer that adds to key.
func (b *batcher) writer(key string) io.Writer { return batchWriter{b, key} }

// stop ends the timed writes; a write under way finishes first.
func (b *batcher) stop() {
	b.mu.Lock()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.mu.Unlock()
	b.flush.Lock() // wait for a write the timer started
	b.flush.Unlock()
}

// close stops the batcher, writing what is left if flush.
func (b *batcher) close(flush bool) {
	b.stop()
	if flush {
		b.write()
	}
}

// drain stops the batcher and returns what it has not written, for the
// caller to append in its own unit of work.
func (b *batcher) drain() []*paddock.Event {
	b.stop()
	b.flush.Lock()
	defer b.flush.Unlock()
	return b.take()
}

type batchWriter struct {
	b   *batcher
	key string
}

func (w batchWriter) Write(p []byte) (int, error) {
	w.b.add(w.key, strings.ToValidUTF8(string(p), "\uFFFD"))
	return len(p), nil
}
