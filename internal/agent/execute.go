package agent

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
)

// ExecuteRequest is a stateless execution: the agent loop over a
// conversation that is not stored in any session.
type ExecuteRequest struct {
	Agent   *paddock.Agent
	OwnerID int64
	// Messages is the conversation to answer, oldest first; the last is
	// the user's.
	Messages []*paddock.Message
	// ResponseFormat asks for a JSON answer, validated (see Format).
	ResponseFormat *Format
	// OnEvent, when set, receives the execution's events as they happen:
	// message.delta, tool.started, tool.output, tool.completed and
	// environment.ready, with RunID the execution's id and Seq 0. It is
	// called from the execution's goroutines, one call at a time. With a
	// ResponseFormat, one message.delta at the end carries the checked
	// answer instead of the model's own deltas.
	OnEvent func(*paddock.Event)
}

// ExecuteResult is the outcome of a stateless execution.
type ExecuteResult struct {
	ID string // "exe_...": the execution's id in events and usage records
	// Message is the final assistant message; with a response format its
	// text is the validated JSON.
	Message *paddock.Message
	// Messages are every message the execution produced, in order.
	Messages []*paddock.Message
	Usage    paddock.Usage // summed over the execution's model calls
	Steps    int
}

// Execute runs the agent loop on req.Messages without a session: the
// model is called, tools run in a temporary environment created on first
// use and deleted before Execute returns, and the usage of every model
// call is recorded (with the agent, no session). Cancelling ctx stops the
// model call and the tools. A JSON answer that does not match
// req.ResponseFormat is sent back to the model once, with the reason, to
// be corrected; if the second answer fails too the error is EUnavailable.
func (r *Runner) Execute(ctx context.Context, req ExecuteRequest) (*ExecuteResult, error) {
	if req.Agent == nil {
		return nil, paddock.Errorf(paddock.EInvalid, "agent is required")
	}
	if len(req.Messages) == 0 {
		return nil, paddock.Errorf(paddock.EInvalid, "messages are required")
	}
	for _, m := range req.Messages {
		if err := m.Validate(); err != nil {
			return nil, err
		}
	}
	p, model, err := r.resolveModel(ctx, req.Agent)
	if err != nil {
		return nil, err
	}
	mcp, err := r.mcpServers(ctx, req.OwnerID, req.Agent.MCPServers, nil)
	if err != nil {
		return nil, err
	}
	resources, err := r.runResources(ctx, req.OwnerID, req.Agent.Resources)
	if err != nil {
		return nil, err
	}
	x := &execution{r: r, req: req, id: newID("exe"), p: p, model: model, tools: toolset{mcp: mcp, resources: resources}}
	defer x.deleteEnvironment()
	res, err := x.run(ctx)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// execution is the state of one Execute.
type execution struct {
	r     *Runner
	req   ExecuteRequest
	id    string
	p     llm.Provider
	model string
	tools toolset // the MCP servers and resources the execution's tools reach

	emitMu sync.Mutex
	envMu  sync.Mutex
	envID  string // created (or being created) when set

	mu    sync.Mutex
	msgs  []*paddock.Message
	usage paddock.Usage
}

func (x *execution) emit(typ paddock.EventType, data any) {
	if x.req.OnEvent == nil {
		return
	}
	ev := paddock.NewEvent(typ, x.id, data)
	ev.CreatedAt = time.Now().UTC()
	x.emitMu.Lock()
	defer x.emitMu.Unlock()
	x.req.OnEvent(ev)
}

func (x *execution) add(m *paddock.Message) {
	x.mu.Lock()
	x.msgs = append(x.msgs, m)
	x.mu.Unlock()
}

func (x *execution) run(ctx context.Context) (*ExecuteResult, error) {
	maxSteps := x.req.Agent.MaxSteps
	if maxSteps <= 0 {
		maxSteps = x.r.cfg.MaxSteps
	}
	var final *paddock.Message
	step := 0
	for final == nil {
		step++
		m, err := x.callModel(ctx, step, nil)
		if err != nil {
			return nil, err
		}
		calls := m.ToolCalls()
		if len(calls) == 0 || step >= maxSteps {
			final = m
			break
		}
		if err := x.runTools(ctx, calls, step); err != nil {
			return nil, err
		}
	}
	if f := x.req.ResponseFormat; f != nil {
		text, err := f.Check(final.Text())
		if err != nil {
			// One repair: tell the model what is wrong and ask again.
			step++
			repair := &paddock.Message{Role: paddock.MessageUser, Content: []paddock.ContentPart{paddock.TextPart(
				fmt.Sprintf("Your answer does not match the required response format: %s\nAnswer again with only the corrected JSON.", paddock.ErrorMessage(err)))}}
			if final, err = x.callModel(ctx, step, repair); err != nil {
				return nil, err
			}
			if text, err = f.Check(final.Text()); err != nil {
				return nil, paddock.Errorf(paddock.EUnavailable, "the model's answer did not match the response format, even after a correction: %s", paddock.ErrorMessage(err))
			}
		}
		final.Content = []paddock.ContentPart{paddock.TextPart(text)}
		x.emit(paddock.EventMessageDelta, paddock.DeltaEvent{Step: step, Delta: text})
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return &ExecuteResult{ID: x.id, Message: final, Messages: x.msgs, Usage: x.usage, Steps: step}, nil
}

// callModel makes one model call over the conversation so far (and extra,
// a message not kept in it) and records its usage.
func (x *execution) callModel(ctx context.Context, step int, extra *paddock.Message) (*paddock.Message, error) {
	x.mu.Lock()
	msgs := append(append([]*paddock.Message{}, x.req.Messages...), x.msgs...)
	x.mu.Unlock()
	if extra != nil {
		msgs = append(msgs, extra)
	}
	req := &llm.Request{
		Model:    x.model,
		System:   x.req.Agent.SystemPrompt,
		Messages: buildContext(msgs),
		Tools:    x.r.toolDefs(ctx, x.req.Agent, x.tools),
		CacheKey: x.req.Agent.ID, // executions of one agent share its system prompt and tools
	}
	if extra != nil {
		req.Tools = nil // a correction needs no tools
	}
	if f := x.req.ResponseFormat; f != nil {
		req.ResponseFormat = f.LLM()
	}
	if err := x.r.checkCredits(ctx, x.req.OwnerID); err != nil {
		return nil, err
	}
	resp, err := x.p.Stream(ctx, req, func(ev llm.Event) {
		// With a response format the deltas are the checked answer, sent
		// once it is known (run): what the model streams may be corrected.
		if ev.Type == llm.EventTextDelta && ev.Text != "" && x.req.ResponseFormat == nil {
			x.emit(paddock.EventMessageDelta, paddock.DeltaEvent{Step: step, Delta: ev.Text})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("model call: %w", err)
	}
	u := x.r.usage(x.p, x.model, resp)
	m := &paddock.Message{ID: newID("msg"), RunID: x.id, Role: paddock.MessageAssistant,
		Content: fromLLMParts(resp.Message.Parts), Usage: u, CreatedAt: time.Now().UTC()}
	x.r.recordUsage(ctx, u.Record(paddock.UsageRecord{OwnerID: x.req.OwnerID, AgentID: x.req.Agent.ID, RunID: x.id, MessageID: m.ID}))
	x.mu.Lock()
	x.usage.Add(u)
	x.mu.Unlock()
	if extra == nil {
		x.add(m)
	}
	return m, nil
}

// runTools executes a step's calls in parallel and keeps their results in
// call order.
func (x *execution) runTools(ctx context.Context, calls []paddock.ContentPart, step int) error {
	results := make([]*paddock.Message, len(calls))
	sem := make(chan struct{}, maxParallelTools)
	var wg sync.WaitGroup
	for i, call := range calls {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			x.emit(paddock.EventToolStarted, paddock.ToolEvent{ToolCallID: call.ID, Name: call.Name, Step: step, Arguments: call.Arguments})
			out := &eventSink{x: x, call: call, step: step}
			result, isErr := x.r.execTool(ctx, x.req.Agent, x.tools, x.environment, call, out)
			if ctx.Err() != nil {
				return
			}
			m := &paddock.Message{ID: newID("msg"), RunID: x.id, Role: paddock.MessageTool, CreatedAt: time.Now().UTC(),
				Content: []paddock.ContentPart{{Type: paddock.PartToolResult, ToolCallID: call.ID, Name: call.Name, Result: result, IsError: isErr}}}
			x.emit(paddock.EventToolCompleted, paddock.ToolEvent{ToolCallID: call.ID, Name: call.Name, Step: step,
				Result: &result, IsError: isErr, MessageID: m.ID})
			results[i] = m
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	for _, m := range results {
		x.add(m)
	}
	return nil
}

// environment returns the execution's temporary environment, creating it
// on first use.
func (x *execution) environment(ctx context.Context) (string, error) {
	x.envMu.Lock()
	defer x.envMu.Unlock()
	if x.envID != "" {
		return x.envID, nil
	}
	env := x.r.agentEnvironment(x.req.Agent, x.req.OwnerID, "", "execution-"+x.id,
		map[string]string{"paddock.execution": x.id, "paddock.agent": x.req.Agent.ID})
	if env.Timeout == 0 {
		env.Timeout = 3600 // a safety net: Execute deletes it when done
	}
	id := x.r.reserveEnvironment(ctx, env)
	env.ID = id
	x.envID = id // deleted at the end even if starting fails half-way
	if err := x.r.startEnvironment(ctx, env); err != nil {
		return "", err
	}
	x.emit(paddock.EventEnvironmentReady, paddock.EnvironmentEvent{EnvironmentID: id})
	return id, nil
}

// deleteEnvironment deletes the temporary environment, if one was made.
func (x *execution) deleteEnvironment() {
	x.envMu.Lock()
	id := x.envID
	x.envMu.Unlock()
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := x.r.d.Sandbox.Delete(ctx, id, true); err != nil && paddock.ErrorCode(err) != paddock.ENotFound {
		x.r.log.Error("delete the environment of an execution", "execution_id", x.id, "environment_id", id, "err", err)
	}
}

// eventSink streams a tool's output as tool.output events.
type eventSink struct {
	x    *execution
	call paddock.ContentPart
	step int
}

func (s *eventSink) writer(stream string) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		s.x.emit(paddock.EventToolOutput, paddock.ToolEvent{ToolCallID: s.call.ID, Name: s.call.Name, Step: s.step,
			Stream: stream, Output: strings.ToValidUTF8(string(p), "\uFFFD")})
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
