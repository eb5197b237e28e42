package main

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestBadInputEveryRoute sends every route what a careless or hostile
// client would: malformed JSON, JSON of the wrong shape and types, a body
// far over any limit, nonsense query parameters and ids that do not exist,
// as an admin and as a plain user. However wrong the request, the answer is
// a client error or, where the route does not care, a success: never a
// 500 (a bug), a 501 (a stub) or a connection dropped by a panic.
func TestBadInputEveryRoute(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	admin := s.login(t, "admin", testAdminPassword)
	user := s.createUser(t, admin, "mallory")

	// Every path parameter is an id that does not exist, but for a port
	// (a number) and the provider of a provider key (one that exists).
	params := regexp.MustCompile(`\{[^}]*\}`)
	fill := func(path string) string {
		return params.ReplaceAllStringFunc(path, func(p string) string {
			switch p {
			case "{$}":
				return ""
			case "{port}":
				return "8000"
			case "{provider}":
				return "openai"
			case "{path...}", "{path}":
				return "x/y"
			}
			return "zz-unknown"
		})
	}
	wrongTypes := `{"name":1,"id":{},"command":"ls","message":7,"messages":{},"model":[],"tools":"x","url":5,` +
		`"username":true,"password":1,"image":[],"resources":"big","timeout":"soon","content":5,"role":9,` +
		`"api_key":[],"enabled":"yes","permissions":7,"expires_at":"tomorrow","path":{},"data":1}`
	bodies := []string{`{"a":`, `[1,2]`, `"text"`, `null`, wrongTypes, `{"name":"` + strings.Repeat("x", 4<<20) + `"}`}
	query := "?limit=-1&offset=x&since=abc&follow=maybe&tail=-5&page=0&size=100000&force=perhaps&status=%00&label=%3D%3D"

	for _, rt := range s.routes() {
		method, path, _ := strings.Cut(rt, " ")
		if strings.HasSuffix(path, "/logout") || strings.HasSuffix(path, "/token/refresh") {
			continue // they end the session the rest of the test uses
		}
		if method == "" {
			method = "GET" // a route of any method
		}
		path = fill(path)
		for who, token := range map[string]string{"admin": admin, "user": user} {
			check := func(what string, rq req) {
				t.Helper()
				rq.token = token
				r := s.do(t, rq)
				if r.status >= 500 && r.status != http.StatusServiceUnavailable && r.status != http.StatusBadGateway {
					t.Errorf("%s as %s, %s: status %d; body %.300s", rt, who, what, r.status, r.body)
				}
			}
			check("unknown ids and bad query", req{method: method, path: path + query})
			if method == "POST" || method == "PUT" || method == "PATCH" {
				for _, b := range bodies {
					check(fmt.Sprintf("body %.20q", b), req{method: method, path: path, body: []byte(b), contentType: "application/json"})
				}
				check("a body that is not JSON", req{method: method, path: path, body: bytes.Repeat([]byte{0xff, 0}, 100), contentType: "application/octet-stream"})
			}
		}
	}
}
