package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/mcptool"
)

// ToolSearchResources searches the knowledge-base resources a run names
// (RunOptions.Resources). It needs no environment and is offered to the
// runs that name resources, whatever their tools.
const ToolSearchResources = "search_resources"

// MaxRunResources bounds the resources one run may name.
const MaxRunResources = 50

// Resources finds resources and searches their text:
// paddock.ResourceService.
type Resources interface {
	Resource(ctx context.Context, id string) (*paddock.Resource, error)
	SearchResources(ctx context.Context, ids []string, query string, limit int) ([]*paddock.ResourceHit, error)
}

// toolset is what a run's tools reach besides the built-in ones: the MCP
// servers and the knowledge-base resources of the run.
type toolset struct {
	mcp       []mcptool.Server
	resources []*paddock.Resource
}

// runResources returns the resources ids (its agent's and its own) a run
// of owner's names, once each. One that is gone, or that owner may not
// see, is left out, and logged: the run goes on without it.
func (r *Runner) runResources(ctx context.Context, ownerID int64, ids []string) ([]*paddock.Resource, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if r.d.Resources == nil {
		return nil, resourcesUnavailable()
	}
	var out []*paddock.Resource
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		res, err := r.d.Resources.Resource(ctx, id)
		if paddock.ErrorCode(err) == paddock.ENotFound || err == nil && res.OwnerID != 0 && res.OwnerID != ownerID {
			r.log.WarnContext(ctx, "resource not found: the run goes on without it", "resource", id, "owner", ownerID)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

func resourcesUnavailable() error {
	return paddock.Errorf(paddock.EUnavailable, "knowledge-base resources are not configured on this server")
}

// checkResources checks the resource ids of a run's options.
func (r *Runner) checkResources(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if r.d.Resources == nil {
		return resourcesUnavailable()
	}
	if len(ids) > MaxRunResources {
		return paddock.Errorf(paddock.EInvalid, "a run may name at most %d resources, not %d", MaxRunResources, len(ids))
	}
	for _, id := range ids {
		if got, ok := paddock.ResourceRef(id); !ok || got != id {
			return paddock.Errorf(paddock.EInvalid, "resource id %q is not a resource id (res_...)", id)
		}
	}
	return nil
}

// resourceToolDef is the search_resources tool, naming the resources it
// searches.
func resourceToolDef(resources []*paddock.Resource) llm.Tool {
	var b strings.Builder
	b.WriteString("Search the documents the user attached to this conversation (a knowledge base) and return the passages that match the query best, each with its document. Prefer it to your own knowledge for questions about these documents. The documents:")
	for _, res := range resources {
		fmt.Fprintf(&b, "\n- %s", res.Title)
		if res.Description != "" {
			fmt.Fprintf(&b, ": %s", res.Description)
		}
	}
	return llm.Tool{
		Name:        ToolSearchResources,
		Description: b.String(),
		Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string","description":"The words to look for: any of them may match."},` +
			`"max_results":{"type":"integer","minimum":1,"maximum":10,"description":"Default 5."}},"required":["query"]}`),
	}
}

// searchResources runs a search_resources call over resources.
func (t *toolCall) searchResources(resources []*paddock.Resource) (string, error) {
	q, err := t.str("query", true)
	if err != nil {
		return "", err
	}
	n, err := t.num("max_results", 5)
	if err != nil {
		return "", err
	}
	ids := make([]string, len(resources))
	for i, res := range resources {
		ids[i] = res.ID
	}
	hits, err := t.r.d.Resources.SearchResources(t.ctx, ids, q, min(max(n, 1), 10))
	if err != nil {
		return "", err
	}
	if len(hits) == 0 {
		return fmt.Sprintf("No passage of the documents matches %q. Try other words.", q), nil
	}
	var b strings.Builder
	for i, h := range hits {
		if i > 0 {
			b.WriteString("\n\n")
		}
		fmt.Fprintf(&b, "[%d] %s (%s%s, passage %d)\n%s", i+1, h.Title, paddock.ResourceURIPrefix, h.ResourceID, h.Chunk+1, h.Text)
	}
	return cutMiddle(b.String(), t.r.cfg.MaxToolOutput), nil
}
