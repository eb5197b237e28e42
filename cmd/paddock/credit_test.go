package main

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/llm/llmtest"
)

// TestSeed003Credits charges model calls against the caller's balance:
// with enforcement on, a user without credit is refused before any model
// call (and charged nothing); an admin adds credit; each call's cost is
// spent; the usage list shows the calls.
func TestSeed003Credits(t *testing.T) {
	t.Parallel()
	// 20,000 input and 10,000 output tokens of gpt-4o-mini cost 0.009 USD.
	step := llmtest.Step{Text: "ok", Usage: llm.Usage{InputTokens: 20_000, OutputTokens: 10_000}}
	model := llmtest.New(step, step, step)
	withLLM(t, model)
	s := startServer(t, func(c *Config) { c.Credits.Enforce = true })
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "spender")
	uid, _ := strconv.ParseInt(s.expect(t, 200, req{method: "GET", path: "/api/v1/auth/me", token: user}).m(t)["id"].(string), 10, 64)
	s.expect(t, 201, req{method: "POST", path: "/api/assistants", token: user, body: map[string]any{"name": "a", "llmModel": "gpt-4o-mini", "tools": []string{}}})
	balance := func() map[string]any {
		return s.expect(t, 200, req{method: "GET", path: "/api/v1/agent/credits/balance", token: user}).m(t)
	}
	if b := balance(); b["balance"].(float64) != 0 || b["enforced"] != true || b["currency"] != "USD" || int64(b["user_id"].(float64)) != uid {
		t.Errorf("balance %v", b)
	}

	// No credit: refused before the model is called, on every surface.
	execute := req{method: "POST", path: "/api/assistants/a/execute", token: user, body: map[string]any{"userInput": "hi"}}
	assistantError(t, s.do(t, execute), 402, "PAYMENT_REQUIRED")
	r := s.do(t, req{method: "POST", path: "/api/v1/agent/agent/stream", token: user, body: map[string]any{"messages": []any{map[string]string{"content": "hi"}}, "agent_name": "a"}})
	if r.status != 402 || r.m(t)["code"] != "INSUFFICIENT_CREDITS" || r.m(t)["detail"] == "" {
		t.Errorf("agent stream without credit: %d %s", r.status, r.body)
	}
	if model.Calls() != 0 {
		t.Fatalf("the model was called %d times", model.Calls())
	}

	// An admin adds credit; users cannot.
	s.expect(t, 403, req{method: "POST", path: "/api/v1/agent/credits/add", token: user, body: map[string]any{"user_id": uid, "amount": 1}})
	s.expect(t, 400, req{method: "POST", path: "/api/v1/agent/credits/add", token: admin, body: map[string]any{"user_id": uid, "amount": 0}})
	// Amounts are bounded: two grants of 1e308 once summed to +Inf, and
	// the balance could no longer be shown.
	for _, amount := range []float64{1e308, 1e308, -1_000_001} {
		r := s.expect(t, 400, req{method: "POST", path: "/api/v1/agent/credits/add", token: admin, body: map[string]any{"user_id": uid, "amount": amount}})
		if !strings.Contains(r.message(t), `"amount" must be a non-zero number of USD between -1000000 and 1000000`) {
			t.Errorf("grant of %g: %s", amount, r.body)
		}
	}
	balance()
	s.expect(t, 404, req{method: "POST", path: "/api/v1/agent/credits/add", token: admin, body: map[string]any{"user_id": 99999, "amount": 1}})
	if b := s.expect(t, 201, req{method: "POST", path: "/api/v1/agent/credits/add", token: admin, body: map[string]any{"user_id": uid, "amount": 0.01, "note": "trial"}}).m(t); b["balance"].(float64) != 0.01 {
		t.Errorf("after add %v", b)
	}
	// Two calls fit in 0.01 (the check is before each call); the third does not.
	s.expect(t, 200, execute)
	s.expect(t, 200, execute)
	assistantError(t, s.do(t, execute), 402, "PAYMENT_REQUIRED")
	if model.Calls() != 2 {
		t.Errorf("model calls %d, want 2", model.Calls())
	}
	if b := balance(); math.Abs(b["spent"].(float64)-0.018) > 1e-9 || math.Abs(b["balance"].(float64)+0.008) > 1e-9 {
		t.Errorf("balance after two calls %v", b)
	}
	u := s.expect(t, 200, req{method: "GET", path: "/api/v1/agent/credits/usage?size=1", token: user}).m(t)
	items := u["items"].([]any)
	if u["total"].(float64) != 2 || len(items) != 1 || math.Abs(u["total_cost"].(float64)-0.018) > 1e-9 || items[0].(map[string]any)["model"] != "gpt-4o-mini" || items[0].(map[string]any)["cached_input_tokens"] != 0.0 {
		t.Errorf("usage %v", u)
	}
	// Admins see any user's balance; users only their own.
	if b := s.expect(t, 200, req{method: "GET", path: "/api/v1/agent/credits/balance?user_id=" + strconv.FormatInt(uid, 10), token: admin}).m(t); math.Abs(b["spent"].(float64)-0.018) > 1e-9 {
		t.Errorf("admin's view %v", b)
	}
	s.expect(t, 403, req{method: "GET", path: "/api/v1/agent/credits/balance?user_id=1", token: user})
	// So is their usage: another user's id is refused, not ignored.
	for _, path := range []string{"/api/v1/agent/credits/usage", "/v1/usage"} {
		if r := s.expect(t, 403, req{method: "GET", path: path + "?user_id=1", token: user}); !strings.Contains(r.message(t), "only admins see other users' usage") {
			t.Errorf("%s?user_id=1: %s", path, r.body)
		}
		if r := s.expect(t, 400, req{method: "GET", path: path + "?user_id=abc", token: user}); !strings.Contains(r.message(t), `"user_id" must be a positive integer`) {
			t.Errorf("%s?user_id=abc: %s", path, r.body)
		}
		s.expect(t, 200, req{method: "GET", path: path + "?user_id=" + strconv.FormatInt(uid, 10), token: user})
	}
	if u := s.expect(t, 200, req{method: "GET", path: "/api/v1/agent/credits/usage?user_id=" + strconv.FormatInt(uid, 10), token: admin}).m(t); u["total"].(float64) != 2 {
		t.Errorf("admin's usage view %v", u)
	}
}
