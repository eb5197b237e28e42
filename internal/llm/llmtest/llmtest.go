// Package llmtest holds test doubles for the llm contract: a scripted
// llm.Provider for agent-loop tests, an OpenAI-compatible HTTP server that
// serves a Provider's responses as Chat Completions SSE (so end-to-end tests
// can drive the real openai adapter), and a replay server that serves
// recorded wire bytes to adapter tests. Nothing here touches the network
// beyond the loopback interface.
package llmtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/paddockhq/paddock/internal/llm"
)

// Step is one scripted model call.
type Step struct {
	// Text is the assistant's text, streamed as the Deltas if they are set
	// (they should add up to Text), else as one delta.
	Text   string
	Deltas []string
	// ToolCalls are the calls the model makes, after the text. An empty ID
	// gets "call_<step>_<index>".
	ToolCalls []llm.ToolCall
	Usage     llm.Usage
	// StopReason defaults to tool_use with tool calls, end_turn without.
	StopReason llm.StopReason
	// Delay is waited before the first event; cancelling ctx interrupts it.
	Delay time.Duration
	// Err fails the call instead, before any event.
	Err error
	// Func, if set, replaces everything above: it answers the request
	// itself, emitting whatever events it likes.
	Func func(ctx context.Context, req *llm.Request, onEvent func(llm.Event)) (*llm.Response, error)
}

// ErrNoMoreSteps is returned by a Provider called more times than it has
// steps.
var ErrNoMoreSteps = errors.New("llmtest: no more scripted steps")

// Provider is a scripted llm.Provider: call n answers with step n. It records
// every request and is safe for concurrent use (concurrent calls take steps
// in the order they arrive).
type Provider struct {
	name string

	mu       sync.Mutex
	steps    []Step
	next     int
	requests []*llm.Request
}

var _ llm.Provider = (*Provider)(nil)

// New returns a Provider named "openai" that answers with steps in order.
func New(steps ...Step) *Provider { return &Provider{name: llm.OpenAI, steps: steps} }

// WithName sets the name the Provider reports and returns it.
func (p *Provider) WithName(name string) *Provider {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.name = name
	return p
}

// Append adds steps to the script.
func (p *Provider) Append(steps ...Step) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.steps = append(p.steps, steps...)
}

// Name returns the provider name ("openai" unless set with WithName).
func (p *Provider) Name() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.name
}

// Requests returns copies of the requests received so far, in order.
func (p *Provider) Requests() []*llm.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*llm.Request, len(p.requests))
	copy(out, p.requests)
	return out
}

// Calls returns how many calls the Provider has received.
func (p *Provider) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

// Remaining returns how many steps are left.
func (p *Provider) Remaining() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.steps) - p.next
}

// Stream implements llm.Provider by playing the next step.
func (p *Provider) Stream(ctx context.Context, req *llm.Request, onEvent func(llm.Event)) (*llm.Response, error) {
	p.mu.Lock()
	p.requests = append(p.requests, cloneRequest(req))
	n := p.next
	if n >= len(p.steps) {
		p.mu.Unlock()
		return nil, fmt.Errorf("call %d: %w", n+1, ErrNoMoreSteps)
	}
	step := p.steps[n]
	p.next++
	p.mu.Unlock()

	if onEvent == nil {
		onEvent = func(llm.Event) {}
	}
	if step.Func != nil {
		return step.Func(ctx, req, onEvent)
	}
	if step.Delay > 0 {
		t := time.NewTimer(step.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("llmtest: %w", ctx.Err())
		case <-t.C:
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("llmtest: %w", err)
	}
	if step.Err != nil {
		return nil, step.Err
	}
	return Play(ctx, n, step, req.Model, onEvent)
}

// Play emits step's events through an llm.Accumulator and returns its
// response; n numbers generated tool call ids.
func Play(ctx context.Context, n int, step Step, model string, onEvent func(llm.Event)) (*llm.Response, error) {
	acc := llm.NewAccumulator(model, onEvent)
	deltas := step.Deltas
	if len(deltas) == 0 && step.Text != "" {
		deltas = []string{step.Text}
	}
	for _, d := range deltas {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("llmtest: %w", err)
		}
		acc.Text(d)
	}
	for i, tc := range step.ToolCalls {
		id := tc.ID
		if id == "" {
			id = fmt.Sprintf("call_%d_%d", n, i)
		}
		acc.StartToolCall(i, id, tc.Name)
		acc.ToolCallDelta(i, tc.Arguments)
		acc.EndToolCall(i)
	}
	acc.SetUsage(step.Usage)
	return acc.Finish(step.StopReason), nil
}

func cloneRequest(r *llm.Request) *llm.Request {
	c := *r
	c.Messages = make([]llm.Message, len(r.Messages))
	for i, m := range r.Messages {
		c.Messages[i] = llm.Message{Role: m.Role, Parts: append([]llm.Part(nil), m.Parts...)}
	}
	c.Tools = append([]llm.Tool(nil), r.Tools...)
	if r.Temperature != nil {
		t := *r.Temperature
		c.Temperature = &t
	}
	if r.ResponseFormat != nil {
		rf := *r.ResponseFormat
		c.ResponseFormat = &rf
	}
	return &c
}
