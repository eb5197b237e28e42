package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// benchAgent measures the agent runtime with a model that answers at once
// (a Chat Completions SSE server in this process):
//
//   - platform overhead of one loop step: POST of a message to the
//     run.completed event of a one-step text run, against a bare round trip
//     to the same server (GET /health) and to the model server;
//   - SSE fan-out: the delay from an event's created_at to its receipt by
//     each of subs subscribers of one session, over msgs messages.
func benchAgent(ctx context.Context, bin string, runs, subs, msgs int) error {
	// 1,000 subscribers need file descriptors on both ends; paddock
	// inherits the limit.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(4*subs+1024) {
		lim.Cur = min(lim.Max, uint64(4*subs+1024))
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise the open file limit: %w", err)
		}
	}
	modelURL, stopModel, err := startInstantModel()
	if err != nil {
		return err
	}
	defer stopModel()
	data, err := os.MkdirTemp("", "paddock-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	url, pid, stop, err := startPaddock(ctx, bin, data, map[string]string{
		"PADDOCK_ADMIN_PASSWORD":   "bench-password",
		"PADDOCK_LOG_REQUESTS":     "false",
		"PADDOCK_RATE_LIMIT_OTHER": "100000000",
		"PADDOCK_RATE_LIMIT_AUTH":  "1000",
		"PADDOCK_LOG_LEVEL":        "warn",
		// A network of its own, so that this suite can run while the
		// others (on 10.147/16) and the CLI tests (10.148-149) do.
		"PADDOCK_NETWORK_BRIDGE": "pdkagent",
		"PADDOCK_NETWORK_TABLE":  "paddock_agent",
		"PADDOCK_NETWORK_SUBNET": "10.146.0.0/16",
		"PADDOCK_DNS_UPSTREAMS":  "127.0.0.1:1",
		"OPENAI_API_KEY":         "sk-bench",
		"OPENAI_BASE_URL":        modelURL + "/v1",
	})
	if err != nil {
		return err
	}
	defer stop()
	token, err := loginToken(url)
	if err != nil {
		return err
	}
	api := &benchAPI{url: url, token: token, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: subs + 16}}}
	var agent struct{ ID string }
	if err := api.call(ctx, "POST", "/v1/agents", `{"name":"bench","tools":[]}`, &agent); err != nil {
		return err
	}
	fmt.Printf("agent runtime, model answering at once (in-harness Chat Completions SSE), SQLite, %d CPUs\n", runtime.NumCPU())

	// (a) One-step runs, one after the other, in one session, followed
	// over one SSE stream.
	var sess struct{ ID string }
	if err := api.call(ctx, "POST", "/v1/agents/"+agent.ID+"/sessions", `{}`, &sess); err != nil {
		return err
	}
	base := "/v1/agents/" + agent.ID + "/sessions/" + sess.ID
	events, closeStream, err := api.follow(ctx, base+"/events", 0)
	if err != nil {
		return err
	}
	const warmup = 5
	var steps []time.Duration
	var cpu0 time.Duration
	for i := range runs + warmup {
		if i == warmup {
			if cpu0, err = threadsCPU(pid); err != nil {
				closeStream()
				return err
			}
		}
		var msg struct {
			RunID string `json:"run_id"`
		}
		t0 := time.Now()
		if err := api.call(ctx, "POST", base+"/messages", `{"message":{"content":[{"type":"text","text":"hi"}]}}`, &msg); err != nil {
			closeStream()
			return err
		}
		if err := waitEvent(ctx, events, msg.RunID, "run.completed", 30*time.Second); err != nil {
			closeStream()
			return fmt.Errorf("run %d: %w", i, err)
		}
		if i >= warmup {
			steps = append(steps, time.Since(t0))
		}
	}
	cpu1, err := threadsCPU(pid)
	closeStream()
	if err != nil {
		return err
	}
	health := make([]time.Duration, 0, 200)
	for range 200 {
		t0 := time.Now()
		if err := api.call(ctx, "GET", "/health", "", nil); err != nil {
			return err
		}
		health = append(health, time.Since(t0))
	}
	modelRT, err := modelRoundTrips(ctx, modelURL, 200)
	if err != nil {
		return err
	}
	hp50, hp99 := pct(health, 50), pct(health, 99)
	mp50, mp99 := pct(modelRT, 50), pct(modelRT, 99)
	sp50, sp99 := pct(steps, 50), pct(steps, 99)
	fmt.Printf("one-step text run, POST message -> run.completed on SSE, %d runs in sequence:\n", runs)
	fmt.Printf("  reference: GET /health round trip          p50 %-9s p99 %s\n", fmtMS(hp50), fmtMS(hp99))
	fmt.Printf("  reference: model call round trip (stream)  p50 %-9s p99 %s\n", fmtMS(mp50), fmtMS(mp99))
	fmt.Printf("  paddock run                                p50 %-9s p99 %-9s %.1fx /health p50\n", fmtMS(sp50), fmtMS(sp99), float64(sp50)/float64(hp50))
	fmt.Printf("  paddock CPU per run (all threads)          %s\n", fmtMS((cpu1-cpu0)/time.Duration(runs)))
	over50 := sp50 - hp50 - mp50
	fmt.Printf("  overhead per step (run - /health - model)  p50 %-9s                [%s]\n", fmtMS(over50), verdict(over50 <= 2*time.Millisecond, "target <= 2 ms p50"))

	// (b) Fan-out: subs subscribers of one session, msgs messages. One
	// message's p99 over 1,000 deliveries swings by tens of ms from run
	// to run; the p99 over all of them is the figure.
	if err := api.call(ctx, "POST", "/v1/agents/"+agent.ID+"/sessions", `{}`, &sess); err != nil {
		return err
	}
	base = "/v1/agents/" + agent.ID + "/sessions/" + sess.ID
	perMsg, err := fanOut(ctx, api, base, subs, msgs)
	if err != nil {
		return err
	}
	var delays []time.Duration
	var msgP99 []time.Duration
	for _, d := range perMsg {
		delays = append(delays, d...)
		msgP99 = append(msgP99, pct(d, 99))
	}
	fp50, fp99 := pct(delays, 50), pct(delays, 99)
	fmt.Printf("SSE delivery of message.assistant to %d subscribers of one session, %d messages (created_at -> received):\n", subs, msgs)
	fmt.Printf("  paddock, all deliveries                    p50 %-9s p99 %-9s max %s  [%s]\n", fmtMS(fp50), fmtMS(fp99), fmtMS(slices.Max(delays)),
		verdict(fp99 <= 50*time.Millisecond, "target p99 <= 50 ms"))
	fmt.Printf("  p99 of each message's deliveries           first %-9s min %-9s median %-9s max %s\n",
		fmtMS(msgP99[0]), fmtMS(slices.Min(msgP99)), fmtMS(pct(msgP99, 50)), fmtMS(slices.Max(msgP99)))
	fmt.Println("note: harness, paddock and the model server share this machine; other work running on it inflates the figures.")
	return nil
}

// fanOut opens subs streams of the session, posts msgs messages one after
// the other (each once every subscriber has the previous answer) and
// returns, per message, each subscriber's delay from the message.assistant
// event's created_at to its receipt.
func fanOut(ctx context.Context, api *benchAPI, base string, subs, msgs int) ([][]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		delays   = make([][]time.Duration, msgs) // by message
		errs     []error
		ready    sync.WaitGroup
		started  = make(chan struct{})
		received = make(chan struct{}, subs*msgs)
	)
	ready.Add(subs)
	for range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(err error) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			r, _ := http.NewRequestWithContext(ctx, "GET", api.url+base+"/events", nil)
			r.Header.Set("Authorization", "Bearer "+api.token)
			r.Header.Set("Accept", "text/event-stream")
			resp, err := api.http.Do(r)
			ready.Done()
			if err != nil {
				fail(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				fail(fmt.Errorf("subscribe: status %d", resp.StatusCode))
				return
			}
			<-started
			seen := 0 // message.assistant events received
			err = readSSE(resp.Body, func(typ string, data []byte) bool {
				if typ != "message.assistant" || seen == msgs {
					return false
				}
				got := time.Now()
				var ev struct {
					CreatedAt time.Time `json:"created_at"`
				}
				if err := json.Unmarshal(data, &ev); err != nil {
					fail(err)
					return true
				}
				mu.Lock()
				delays[seen] = append(delays[seen], got.Sub(ev.CreatedAt))
				mu.Unlock()
				received <- struct{}{}
				seen++
				// Stay connected: a subscriber hanging up while the others
				// still wait for this event would slow their delivery
				// down with its teardown.
				return false
			})
			if err != nil && ctx.Err() == nil {
				fail(err)
			}
		}()
	}
	ready.Wait()
	close(started)
	stop := func(err error) ([][]time.Duration, error) {
		cancel()
		wg.Wait()
		return nil, err
	}
	mu.Lock()
	failed := len(errs) > 0
	mu.Unlock()
	if failed {
		return stop(fmt.Errorf("%d of %d subscribers failed, first: %w", len(errs), subs, errs[0]))
	}
	time.Sleep(200 * time.Millisecond) // let the last subscriptions register
	for i := range msgs {
		if err := api.call(ctx, "POST", base+"/messages", `{"message":{"content":[{"type":"text","text":"hi"}]}}`, nil); err != nil {
			return stop(err)
		}
		timeout := time.After(60 * time.Second)
		for range subs {
			select {
			case <-received:
			case <-timeout:
				mu.Lock()
				n, nerr := len(delays[i]), len(errs)
				mu.Unlock()
				return stop(fmt.Errorf("message %d: %d of %d subscribers got the answer within 60 s (%d errors)", i+1, n, subs, nerr))
			}
		}
		time.Sleep(100 * time.Millisecond) // the run's last events, then quiet
	}
	cancel()
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d subscribers failed: %v", len(errs), errors.Join(errs...))
	}
	return delays, nil
}

// benchAPI calls paddock with a token.
type benchAPI struct {
	url, token string
	http       *http.Client
}

func (a *benchAPI) call(ctx context.Context, method, path, body string, out any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, _ := http.NewRequestWithContext(ctx, method, a.url+path, rd)
	r.Header.Set("Authorization", "Bearer "+a.token)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

type sseItem struct {
	typ   string
	runID string
}

// follow streams a session's events after seq into a channel.
func (a *benchAPI) follow(ctx context.Context, path string, after int64) (<-chan sseItem, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	r, _ := http.NewRequestWithContext(ctx, "GET", a.url+path, nil)
	r.Header.Set("Authorization", "Bearer "+a.token)
	r.Header.Set("Accept", "text/event-stream")
	r.Header.Set("Last-Event-ID", strconv.FormatInt(after, 10))
	resp, err := a.http.Do(r)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	ch := make(chan sseItem, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		defer resp.Body.Close()
		_ = readSSE(resp.Body, func(typ string, data []byte) bool {
			var ev struct {
				RunID string `json:"run_id"`
			}
			_ = json.Unmarshal(data, &ev)
			select {
			case ch <- sseItem{typ, ev.RunID}:
				return false
			case <-ctx.Done():
				return true
			}
		})
	}()
	return ch, func() { cancel(); <-done }, nil
}

// waitEvent waits for an event of type typ of run runID.
func waitEvent(ctx context.Context, ch <-chan sseItem, runID, typ string, d time.Duration) error {
	timeout := time.After(d)
	for {
		select {
		case it, ok := <-ch:
			if !ok {
				return errors.New("the event stream ended")
			}
			if it.runID == runID && it.typ == typ {
				return nil
			}
			if it.runID == runID && (it.typ == "run.failed" || it.typ == "run.cancelled") {
				return fmt.Errorf("the run ended with %s", it.typ)
			}
		case <-timeout:
			return fmt.Errorf("no %s within %s", typ, d)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readSSE calls fn with each event's type and data until fn returns true
// or the stream ends.
func readSSE(r io.Reader, fn func(typ string, data []byte) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var typ string
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if data != nil && fn(typ, data) {
				return nil
			}
			typ, data = "", nil
		case bytes.HasPrefix(line, []byte("event: ")):
			typ = string(line[7:])
		case bytes.HasPrefix(line, []byte("data: ")):
			data = append(data, line[6:]...)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

// instantCompletion is the whole streamed answer of the instant model.
var instantCompletion = func() []byte {
	var b bytes.Buffer
	for _, c := range []string{
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":null}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":1,"total_tokens":11}}`,
	} {
		b.WriteString("data: " + c + "\n\n")
	}
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}()

// startInstantModel serves Chat Completions that answer "ok" at once, as
// SSE, on a free loopback port.
func startInstantModel() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(instantCompletion)
	})
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// modelRoundTrips times n streamed calls to the model server, read to the end.
func modelRoundTrips(ctx context.Context, url string, n int) ([]time.Duration, error) {
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	out := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		r, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/chat/completions", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, time.Since(t0))
	}
	return out, nil
}

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.2fms", ms(d)) }

// threadsCPU is the CPU time pid's threads have run, in nanoseconds
// (/proc/PID/task/*/schedstat), fine enough for a few milliseconds of
// work, which /proc/PID/stat's 10 ms ticks are not. Threads that exited
// are not counted: a Go server keeps its threads.
func threadsCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("read the threads of process %d: %v", pid, err)
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", t, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}
