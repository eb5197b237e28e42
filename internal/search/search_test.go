package search

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paddockhq/paddock"
)

// The providers' answers, as their APIs document them (abridged).
const (
	searxngBody = `{"query":"paddock","number_of_results":2,"results":[{"url":"https://example.com/a","title":"A","content":"first  result","engine":"duckduckgo"},{"url":"https://example.com/b","title":"B","content":"second"}]}`
	braveBody   = `{"type":"search","query":{"original":"paddock"},"web":{"type":"search","results":[{"title":"A","url":"https://example.com/a","description":"first <strong>result</strong>","page_age":"2025-01-01"}]}}`
	tavilyBody  = `{"query":"paddock","answer":null,"results":[{"title":"A","url":"https://example.com/a","content":"first result","score":0.98}],"response_time":1.2}`
)

func TestProviders(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		provider, body string
		check          func(r *http.Request, body []byte) string
	}{
		{SearXNG, searxngBody, func(r *http.Request, _ []byte) string {
			if r.URL.Path != "/search" || r.URL.Query().Get("q") != "paddock sandbox" || r.URL.Query().Get("format") != "json" {
				return r.URL.String()
			}
			return ""
		}},
		{Brave, braveBody, func(r *http.Request, _ []byte) string {
			if r.URL.Path != "/res/v1/web/search" || r.URL.Query().Get("q") != "paddock sandbox" || r.Header.Get("X-Subscription-Token") != "k1" {
				return r.URL.String() + " " + r.Header.Get("X-Subscription-Token")
			}
			return ""
		}},
		{Tavily, tavilyBody, func(r *http.Request, body []byte) string {
			var in map[string]any
			_ = json.Unmarshal(body, &in)
			if r.Method != "POST" || r.URL.Path != "/search" || in["query"] != "paddock sandbox" || r.Header.Get("Authorization") != "Bearer k1" {
				return r.Method + " " + r.URL.Path + " " + string(body)
			}
			return ""
		}},
	} {
		t.Run(c.provider, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if bad := c.check(r, body); bad != "" {
					t.Errorf("request: %s", bad)
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, c.body)
			}))
			defer srv.Close()
			cl, err := New(Config{Provider: c.provider, URL: srv.URL, APIKey: "k1"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := cl.Search(context.Background(), "paddock sandbox", 5)
			if err != nil || len(res) == 0 || res[0].Title != "A" || res[0].URL != "https://example.com/a" || !strings.HasPrefix(res[0].Snippet, "first") {
				t.Fatalf("results %+v, %v", res, err)
			}
			if f := Format(res); !strings.Contains(f, "1. A\n   https://example.com/a\n   first") {
				t.Errorf("format %q", f)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"invalid token"}`, http.StatusUnauthorized)
	}))
	defer srv.Close()
	cl, _ := New(Config{Provider: Brave, URL: srv.URL, APIKey: "bad"}, nil)
	if _, err := cl.Search(context.Background(), "x", 3); paddock.ErrorCode(err) != paddock.EUnavailable || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("error %v", err)
	}
	for _, cfg := range []Config{{Provider: "google"}, {Provider: SearXNG}, {Provider: Tavily}} {
		if _, err := New(cfg, nil); paddock.ErrorCode(err) != paddock.EInvalid {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
