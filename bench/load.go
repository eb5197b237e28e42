package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"
)

// loadResult summarises one closed-loop load run.
type loadResult struct {
	Requests int
	Errors   int
	Elapsed  time.Duration
	P50, P99 time.Duration
}

func (r loadResult) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

func (r loadResult) String() string {
	return fmt.Sprintf("%8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  (%d requests, %d errors)",
		r.RPS(), ms(r.P50), ms(r.P99), r.Requests, r.Errors)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// load runs conc clients, each sending requests back to back for d, after a
// short warm-up, and reports throughput and latency percentiles.
func load(ctx context.Context, conc int, d time.Duration, newReq func() *http.Request) loadResult {
	return paced(ctx, conc, 0, d, newReq)
}

// paced runs conc clients that together offer rate requests per second
// (each client sends on its own schedule; 0 means back to back), and
// reports latency measured from each request's scheduled start, so a stall
// counts against every request it delays (no coordinated omission).
func paced(ctx context.Context, conc int, rate float64, d time.Duration, newReq func() *http.Request) loadResult {
	tr := &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, MaxConnsPerHost: conc * 2}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	run := func(d time.Duration, record bool) loadResult {
		var mu sync.Mutex
		var all []time.Duration
		errors := 0
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		start := time.Now()
		for i := 0; i < conc; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				lat := make([]time.Duration, 0, 4096)
				errs := 0
				var interval time.Duration
				if rate > 0 {
					interval = time.Duration(float64(conc) / rate * float64(time.Second))
				}
				next := time.Now().Add(time.Duration(i) * interval / time.Duration(conc))
				for time.Now().Before(deadline) && ctx.Err() == nil {
					t0 := time.Now()
					if interval > 0 {
						if wait := time.Until(next); wait > 0 {
							time.Sleep(wait)
						}
						t0 = next
						next = next.Add(interval)
					}
					resp, err := client.Do(newReq())
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							errs++
						}
					} else {
						errs++
					}
					lat = append(lat, time.Since(t0))
				}
				mu.Lock()
				all = append(all, lat...)
				errors += errs
				mu.Unlock()
			}(i)
		}
		wg.Wait()
		res := loadResult{Requests: len(all), Errors: errors, Elapsed: time.Since(start)}
		if record && len(all) > 0 {
			slices.Sort(all)
			res.P50 = all[len(all)/2]
			res.P99 = all[len(all)*99/100]
		}
		return res
	}
	run(d/5, false) // warm up connections and caches
	return run(d, true)
}

func numCPU() int { return runtime.NumCPU() }
