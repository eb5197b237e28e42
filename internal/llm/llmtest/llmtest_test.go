package llmtest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
	"github.com/paddockhq/paddock/internal/llm/openai"
)

func TestScript(t *testing.T) {
	boom := errors.New("boom")
	p := llmtest.New(
		llmtest.Step{Deltas: []string{"a", "b"}, Text: "ab"},
		llmtest.Step{Err: boom},
		llmtest.Step{ToolCalls: []llm.ToolCall{{Name: "bash", Arguments: `{"cmd":"ls"}`}}},
	)
	var deltas []string
	resp, err := p.Stream(context.Background(), &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser}}}, func(ev llm.Event) {
		if ev.Type == llm.EventTextDelta {
			deltas = append(deltas, ev.Text)
		}
	})
	if err != nil || resp.Message.Text() != "ab" || len(deltas) != 2 || resp.StopReason != llm.StopEndTurn {
		t.Fatalf("step 1: %+v %v %v", resp, deltas, err)
	}
	if _, err := p.Stream(context.Background(), &llm.Request{}, nil); !errors.Is(err, boom) {
		t.Fatalf("step 2: %v", err)
	}
	resp, err = p.Stream(context.Background(), &llm.Request{}, nil)
	if err != nil || resp.StopReason != llm.StopToolUse || resp.Message.ToolCalls()[0].ID != "call_2_0" {
		t.Fatalf("step 3: %+v %v", resp, err)
	}
	if _, err := p.Stream(context.Background(), &llm.Request{}, nil); !errors.Is(err, llmtest.ErrNoMoreSteps) {
		t.Fatalf("past the script: %v", err)
	}
	if p.Calls() != 4 || len(p.Requests()[0].Messages) != 1 || p.Remaining() != 0 {
		t.Errorf("calls %d requests %+v", p.Calls(), p.Requests())
	}
}

func TestDelayCancel(t *testing.T) {
	p := llmtest.New(llmtest.Step{Delay: time.Hour, Text: "late"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := p.Stream(ctx, &llm.Request{}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stream: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	const n = 20
	steps := make([]llmtest.Step, n)
	for i := range steps {
		steps[i] = llmtest.Step{Text: "x"}
	}
	p := llmtest.New(steps...)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := p.Stream(context.Background(), &llm.Request{}, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p.Calls() != n || p.Remaining() != 0 {
		t.Errorf("calls %d remaining %d", p.Calls(), p.Remaining())
	}
}

func TestOpenAIServerError(t *testing.T) {
	// Errors from the scripted provider reach the openai adapter as OpenAI
	// errors; a context-length error keeps its meaning.
	p := llmtest.New(llmtest.Step{Err: llm.Classify("x", &llm.APIError{StatusCode: 400, ContextLength: true, Message: "too long"})})
	srv := llmtest.NewOpenAIServer(t, p)
	client, err := openai.New(llm.Config{BaseURL: srv.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Stream(context.Background(), &llm.Request{Model: "m"}, nil)
	if !errors.Is(err, llm.ErrContextLength) || paddock.ErrorCode(err) != paddock.EInvalid {
		t.Fatalf("Stream: %v", err)
	}
}
