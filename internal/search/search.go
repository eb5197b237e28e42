// Package search asks a web search API for results: a self-hosted SearXNG,
// the Brave Search API or Tavily. Agents use it through the web_search
// tool.
package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paddockhq/paddock"
)

// Providers.
const (
	SearXNG = "searxng"
	Brave   = "brave"
	Tavily  = "tavily"
)

// Result is one search result.
type Result struct {
	Title   string `json:"title"`
	URL     string `json:"url"`
	Snippet string `json:"snippet"`
}

// Config selects and configures a provider.
type Config struct {
	Provider string        // searxng, brave or tavily
	URL      string        // base URL: required for SearXNG; the public API by default for the others
	APIKey   string        // Brave and Tavily
	Timeout  time.Duration // per search; default 15s
}

// Client searches with one provider. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
}

// New returns a Client, or an EInvalid error naming what is missing.
func New(cfg Config, hc *http.Client) (*Client, error) {
	cfg.Provider = strings.ToLower(strings.TrimSpace(cfg.Provider))
	switch cfg.Provider {
	case SearXNG:
		if cfg.URL == "" {
			return nil, paddock.Errorf(paddock.EInvalid, "search: SearXNG needs its URL (PADDOCK_SEARCH_URL)")
		}
	case Brave, Tavily:
		if cfg.APIKey == "" {
			return nil, paddock.Errorf(paddock.EInvalid, "search: %s needs an API key (PADDOCK_SEARCH_API_KEY)", cfg.Provider)
		}
		if cfg.URL == "" {
			cfg.URL = map[string]string{Brave: "https://api.search.brave.com", Tavily: "https://api.tavily.com"}[cfg.Provider]
		}
	default:
		return nil, paddock.Errorf(paddock.EInvalid, "search: provider %q is not supported: use searxng, brave or tavily", cfg.Provider)
	}
	if _, err := url.Parse(cfg.URL); err != nil {
		return nil, paddock.Errorf(paddock.EInvalid, "search: URL %q: %v", cfg.URL, err)
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{cfg: cfg, http: hc}, nil
}

// Provider returns the provider's name.
func (c *Client) Provider() string { return c.cfg.Provider }

// Search returns up to n results for query. Failures of the provider are
// EUnavailable, with its status and message.
func (c *Client) Search(ctx context.Context, query string, n int) ([]Result, error) {
	if strings.TrimSpace(query) == "" {
		return nil, paddock.Errorf(paddock.EInvalid, "search: the query is empty")
	}
	n = min(max(n, 1), 20)
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var req *http.Request
	var err error
	switch c.cfg.Provider {
	case SearXNG:
		req, err = http.NewRequestWithContext(ctx, "GET", c.cfg.URL+"/search?"+url.Values{"q": {query}, "format": {"json"}}.Encode(), nil)
	case Brave:
		req, err = http.NewRequestWithContext(ctx, "GET", c.cfg.URL+"/res/v1/web/search?"+url.Values{"q": {query}, "count": {strconv.Itoa(n)}}.Encode(), nil)
		if req != nil {
			req.Header.Set("X-Subscription-Token", c.cfg.APIKey)
		}
	case Tavily:
		body, _ := json.Marshal(map[string]any{"query": query, "max_results": n, "api_key": c.cfg.APIKey})
		req, err = http.NewRequestWithContext(ctx, "POST", c.cfg.URL+"/search", bytes.NewReader(body))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
		}
	}
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, paddock.Errorf(paddock.EUnavailable, "search (%s): %v", c.cfg.Provider, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, paddock.Errorf(paddock.EUnavailable, "search (%s): %v", c.cfg.Provider, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, paddock.Errorf(paddock.EUnavailable, "search (%s): HTTP %d: %.200s", c.cfg.Provider, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var out []Result
	switch c.cfg.Provider {
	case SearXNG, Tavily:
		var r struct {
			Results []struct{ Title, URL, Content string } `json:"results"`
		}
		err = json.Unmarshal(b, &r)
		for _, x := range r.Results {
			out = append(out, Result{Title: x.Title, URL: x.URL, Snippet: x.Content})
		}
	case Brave:
		var r struct {
			Web struct {
				Results []struct{ Title, URL, Description string } `json:"results"`
			} `json:"web"`
		}
		err = json.Unmarshal(b, &r)
		for _, x := range r.Web.Results {
			out = append(out, Result{Title: x.Title, URL: x.URL, Snippet: x.Description})
		}
	}
	if err != nil {
		return nil, paddock.Errorf(paddock.EUnavailable, "search (%s): unexpected response: %v", c.cfg.Provider, err)
	}
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// Format writes results as numbered text for a model.
func Format(results []Result) string {
	if len(results) == 0 {
		return "no results"
	}
	var b strings.Builder
	for i, r := range results {
		fmt.Fprintf(&b, "%d. %s\n   %s\n   %s\n", i+1, r.Title, r.URL, strings.Join(strings.Fields(r.Snippet), " "))
	}
	return b.String()
}
