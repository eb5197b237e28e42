package agent

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
)

// Context management. A request whose estimated size exceeds the model's
// budget (its context window less room for the answer) is brought under
// it in two moves, each only if the previous one did not suffice:
//
//  1. Long tool results of earlier turns are cut to their head and tail.
//  2. Older turns of the session are replaced by a summary the model
//     writes: the request then starts with the summary, followed by the
//     most recent turns, whole.
//
// Only the request changes: the stored history stays complete. A summary
// is kept per session (in memory) and extended as the history grows, so a
// long conversation costs one summary call when it crosses the budget
// again, not one per step. Sizes are estimated at four characters per
// token, which errs on the large side for English text and code.

const (
	charsPerToken = 4
	imageTokens   = 1_000 // a typical image's cost
	// defaultWindow is the context window of a model the catalog does
	// not know.
	defaultWindow = 128_000
	// minToolKeep is the least a cut tool result keeps, in characters.
	minToolKeep = 2_000
)

// summary is a compacted prefix of a session's history.
type summary struct {
	through string // id of the last message it covers
	text    string
}

// budget returns the tokens a request to the model may use.
func (r *Runner) budget(provider, model string) int {
	window, reserve := defaultWindow, 0
	if info, ok := r.cfg.Catalog.Lookup(provider, model); ok && info.ContextWindow > 0 {
		window, reserve = info.ContextWindow, info.MaxOutput
	}
	reserve = min(cmp.Or(reserve, window/4), window/4)
	return window - reserve
}

func estimateText(s string) int { return (len(s) + charsPerToken - 1) / charsPerToken }

// estimate returns the estimated tokens of a request.
func estimate(req *llm.Request) int {
	n := estimateText(req.System)
	for _, t := range req.Tools {
		n += estimateText(t.Name) + estimateText(t.Description) + estimateText(string(t.Parameters))
	}
	return n + estimateMessages(req.Messages)
}

func estimateMessages(msgs []llm.Message) int {
	n := 0
	for _, m := range msgs {
		n += 4 // role and framing
		for _, p := range m.Parts {
			switch p.Type {
			case llm.PartImage:
				n += imageTokens
			default:
				n += estimateText(p.Text) + estimateText(p.Arguments) + estimateText(p.Result) + estimateText(p.ToolName)
			}
		}
	}
	return n
}

// cutMiddle shortens s to about keep characters: its head and tail around
// a marker saying how much was left out.
func cutMiddle(s string, keep int) string {
	if len(s) <= keep {
		return s
	}
	head, tail := keep*2/3, keep/3
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	start := len(s) - tail
	for start < len(s) && !utf8.RuneStart(s[start]) {
		start++
	}
	return fmt.Sprintf("%s\n[... %d characters left out to fit the context window ...]\n%s", s[:head], start-head, s[start:])
}

// cutToolResults cuts tool results longer than keep characters in msgs,
// in place, and reports whether it cut any.
func cutToolResults(msgs []llm.Message, keep int) bool {
	cut := false
	for i := range msgs {
		for j := range msgs[i].Parts {
			p := &msgs[i].Parts[j]
			if p.Type == llm.PartToolResult && len(p.Result) > keep {
				p.Result = cutMiddle(p.Result, keep)
				cut = true
			}
		}
	}
	return cut
}

// fitContext sets req.Messages to the run's context, compacted if it
// exceeds the model's budget (see above).
func (r *Runner) fitContext(ctx context.Context, st *runState, p llm.Provider, req *llm.Request) error {
	own := st.snapshot()
	prior := st.prior
	req.Messages = buildContext(append(prior[:len(prior):len(prior)], own...))
	budget := r.budget(p.Name(), req.Model)
	before := estimate(req)
	if before <= budget {
		return nil
	}

	// 1. Cut long tool results of earlier turns (and of this run, if it
	// alone is too large).
	ownMsgs := buildContext(own)
	priorMsgs := req.Messages[:len(req.Messages)-len(ownMsgs)]
	keep := max(budget*charsPerToken/8, minToolKeep)
	cutToolResults(priorMsgs, keep)
	if estimate(req) > budget {
		cutToolResults(req.Messages[len(priorMsgs):], keep)
	}
	if estimate(req) <= budget {
		return nil
	}

	// 2. Summarize the older turns: keep the newest whole turns that fit
	// in half the budget (a turn starts at a user message).
	fixed := estimate(&llm.Request{System: req.System, Tools: req.Tools, Messages: req.Messages[len(priorMsgs):]})
	room := budget/2 - fixed
	cut, size := len(prior), 0
	for i := len(prior) - 1; i >= 0; i-- {
		if prior[i].Role != paddock.MessageUser {
			continue
		}
		if size += estimateMessages(buildContext(prior[i:cut])); size > room { // one turn's size
			break
		}
		cut = i
	}
	if cut == 0 {
		return nil // nothing older to summarize: send it cut, and let the provider judge
	}
	text, err := r.summarize(ctx, st, p, req.Model, prior[:cut], budget)
	if err != nil {
		return fmt.Errorf("compact the context: %w", err)
	}
	kept := buildContext(append(prior[cut:len(prior):len(prior)], own...))
	cutToolResults(kept, keep)
	prefix := llm.Part{Type: llm.PartText, Text: "<conversation_summary>\nThe earlier part of this conversation, summarized:\n" +
		text + "\n</conversation_summary>"}
	kept[0].Parts = append([]llm.Part{prefix}, kept[0].Parts...) // a turn starts with the user
	req.Messages = kept
	return r.appendEvents(ctx, st.session.ID, paddock.NewEvent(paddock.EventContextCompacted, st.run.ID, paddock.CompactionEvent{
		SummarizedMessages: cut, KeptMessages: len(prior) - cut + len(own), TokensBefore: before, TokensAfter: estimate(req),
	}))
}

// summarizePrompt instructs the model that compacts a history.
const summarizePrompt = `You compact conversations between a user and an AI agent that uses tools in a sandbox.
Write a summary that lets the agent continue the conversation without the original:
the user's goals and requests, decisions and answers given, facts learned, files
created or changed (with paths), commands run and their important results, and
anything left to do. Be concise but keep names, numbers, paths and identifiers exact.
Answer with the summary only.`

// summarize returns a summary of msgs, the oldest messages of the
// session, extending the session's previous summary when it covers a
// prefix of them.
func (r *Runner) summarize(ctx context.Context, st *runState, p llm.Provider, model string, msgs []*paddock.Message, budget int) (string, error) {
	last := msgs[len(msgs)-1].ID
	var prev *summary
	if v, ok := r.summaries.Load(st.session.ID); ok {
		prev = v.(*summary)
		if prev.through == last {
			return prev.text, nil
		}
	}
	rest := msgs
	var b strings.Builder
	if prev != nil {
		for i, m := range msgs {
			if m.ID == prev.through {
				rest = msgs[i+1:]
				b.WriteString("Summary of the conversation before what follows:\n" + prev.text + "\n\n")
				break
			}
		}
		if len(rest) == len(msgs) {
			prev = nil // the history changed under it
		}
	}
	transcript(&b, buildContext(rest))
	// The transcript itself must fit: keep its end, the most recent part.
	text := b.String()
	if limit := (budget - estimateText(summarizePrompt)) * charsPerToken; len(text) > limit {
		start := len(text) - limit
		for start < len(text) && !utf8.RuneStart(text[start]) {
			start++
		}
		text = "[... the beginning is left out ...]\n" + text[start:]
	}

	sp, model, err := r.summarizer(p, model)
	if err != nil {
		return "", err
	}
	if err := r.checkCredits(ctx, st.session.OwnerID); err != nil {
		return "", err
	}
	resp, err := sp.Stream(ctx, &llm.Request{
		Model:    model,
		System:   summarizePrompt,
		Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: text}}}},
	}, func(llm.Event) {})
	if err != nil {
		return "", err
	}
	u := r.usage(sp, model, resp)
	r.recordUsage(ctx, u.Record(paddock.UsageRecord{OwnerID: st.session.OwnerID, AgentID: st.agent.ID, SessionID: st.session.ID, RunID: st.run.ID}))
	out := strings.TrimSpace(resp.Message.Text())
	if out == "" {
		return "", paddock.Errorf(paddock.EUnavailable, "the model returned an empty summary")
	}
	r.summaries.Store(st.session.ID, &summary{through: last, text: out})
	return out, nil
}

// summarizer returns the provider and model that write summaries: the
// configured one, else the run's.
func (r *Runner) summarizer(p llm.Provider, model string) (llm.Provider, string, error) {
	if r.cfg.Summarizer == "" {
		return p, model, nil
	}
	return r.resolveModel(context.Background(), &paddock.Agent{Model: r.cfg.Summarizer}) // the server's key: no owner
}

// transcript writes msgs as plain text for the summarizer.
func transcript(b *strings.Builder, msgs []llm.Message) {
	for _, m := range msgs {
		for _, p := range m.Parts {
			switch p.Type {
			case llm.PartText:
				fmt.Fprintf(b, "%s: %s\n", m.Role, p.Text)
			case llm.PartImage:
				fmt.Fprintf(b, "%s: [an image]\n", m.Role)
			case llm.PartToolCall:
				fmt.Fprintf(b, "assistant called %s %s\n", p.ToolName, cutMiddle(p.Arguments, minToolKeep))
			case llm.PartToolResult:
				status := "result"
				if p.IsError {
					status = "error"
				}
				fmt.Fprintf(b, "%s %s: %s\n", p.ToolName, status, cutMiddle(p.Result, minToolKeep))
			}
		}
	}
}

// usage returns the usage of a call with its cost.
func (r *Runner) usage(p llm.Provider, model string, resp *llm.Response) *paddock.Usage {
	return &paddock.Usage{
		InputTokens:       resp.Usage.InputTokens,
		CachedInputTokens: resp.Usage.CachedInputTokens,
		CacheWriteTokens:  resp.Usage.CacheWriteTokens,
		OutputTokens:      resp.Usage.OutputTokens,
		Cost:              r.cost(p.Name(), model, resp.Usage),
		Model:             cmp.Or(resp.Model, model),
		Provider:          p.Name(),
	}
}

// checkCredits refuses a model call of an owner without credit.
func (r *Runner) checkCredits(ctx context.Context, ownerID int64) error {
	if r.d.Credits == nil {
		return nil
	}
	return r.d.Credits(ctx, ownerID)
}

// recordUsage records the usage of a call made outside a session's unit
// of work. A failure is logged: the answer matters more than its record.
func (r *Runner) recordUsage(ctx context.Context, u *paddock.UsageRecord) {
	if r.d.Usage == nil {
		return
	}
	if err := r.d.Usage.RecordUsage(context.WithoutCancel(ctx), u); err != nil {
		r.log.Error("record usage", "err", err)
	}
}
