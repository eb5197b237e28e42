package main

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkMe measures authenticated GET /api/v1/auth/me in process over
// real HTTP (loopback), for profiling; bench/ measures it end to end.
func BenchmarkMe(b *testing.B) {
	s := startServer(b, func(c *Config) { c.RateLimits.Other = 1 << 30 })
	tok := s.login(b, "admin", testAdminPassword)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(25)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, _ := http.NewRequest("GET", s.url+"/api/v1/auth/me", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			resp, err := client.Do(r)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
