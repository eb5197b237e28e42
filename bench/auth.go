package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// benchAuth measures authenticated GET /api/v1/auth/me, for an API key and
// a JWT, against a bare net/http server returning the same body.
func benchAuth(ctx context.Context, bin string, conc int, d time.Duration) error {
	if d == 0 {
		d = 5 * time.Second
	}
	data, err := os.MkdirTemp("", "paddock-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	url, _, stop, err := startPaddock(ctx, bin, data, map[string]string{
		"PADDOCK_ADMIN_PASSWORD":   "bench-password",
		"PADDOCK_LOG_REQUESTS":     "false",
		"PADDOCK_RATE_LIMIT_OTHER": "100000000",
		"PADDOCK_RATE_LIMIT_AUTH":  "1000",
		"PADDOCK_LOG_LEVEL":        "warn",
		"GOMAXPROCS":               "",
	})
	if err != nil {
		return err
	}
	defer stop()

	jwt, err := loginToken(url)
	if err != nil {
		return err
	}
	key, err := createKey(url, jwt)
	if err != nil {
		return err
	}
	refURL, stopRef, err := startRef(ctx)
	if err != nil {
		return err
	}
	defer stopRef()

	get := func(base, token string) func() *http.Request {
		return func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/api/v1/auth/me", nil)
			if token != "" {
				r.Header.Set("Authorization", "Bearer "+token)
			}
			return r
		}
	}
	fmt.Printf("GET /api/v1/auth/me over HTTP/1.1 keep-alive, %d clients, %s per run, SQLite, %d CPUs\n", conc, d, runtime.NumCPU())
	fmt.Println("saturation (clients send back to back):")
	ref := load(ctx, conc, d, get(refURL, "x"))
	fmt.Printf("  reference (bare net/http, same JSON)  %s\n", ref)
	for _, c := range []struct{ name, token string }{{"API key", key}, {"JWT", jwt}} {
		res := load(ctx, conc, d, get(url, c.token))
		fmt.Printf("  paddock, %-8s                     %s  %.2fx reference  [%s]\n", c.name, res, res.RPS()/ref.RPS(),
			verdict(res.RPS() >= 5000 && res.Errors == 0, "target >= 5000 req/s"))
	}
	const rate = 5000
	fmt.Printf("latency at %d req/s offered by %d clients (from scheduled send time):\n", rate, conc)
	ref = paced(ctx, conc, rate, d, get(refURL, "x"))
	fmt.Printf("  reference (bare net/http, same JSON)  %s\n", ref)
	for _, c := range []struct{ name, token string }{{"API key", key}, {"JWT", jwt}} {
		res := paced(ctx, conc, rate, d, get(url, c.token))
		fmt.Printf("  paddock, %-8s                     %s  p99 %.2fx reference  [%s]\n", c.name, res, float64(res.P99)/float64(ref.P99),
			verdict(res.P99 < 10*time.Millisecond && res.Errors == 0, "target p99 < 10 ms"))
	}
	return nil
}

func verdict(ok bool, target string) string {
	if ok {
		return "meets " + target
	}
	return "MISSES " + target
}

// startPaddock runs `paddock serve` on a free port and waits until it
// answers. It returns the server's URL and process id.
func startPaddock(ctx context.Context, bin, data string, env map[string]string) (string, int, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", addr, "--data", data)
	cmd.Env = append(os.Environ(),
		// Its own network, so a server left over from another run cannot
		// collide with it; DNS to a dead port: nothing leaves the machine.
		"PADDOCK_NETWORK_BRIDGE=pdkbench", "PADDOCK_NETWORK_TABLE=paddock_bench",
		"PADDOCK_NETWORK_SUBNET=10.147.0.0/16", "PADDOCK_DNS_UPSTREAMS=127.0.0.1:1")
	for k, v := range env {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start %s: %w (run `make build` first)", bin, err)
	}
	bridge, table := "pdkbench", "paddock_bench"
	if v := env["PADDOCK_NETWORK_BRIDGE"]; v != "" {
		bridge = v
	}
	if v := env["PADDOCK_NETWORK_TABLE"]; v != "" {
		table = v
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		// Paddock keeps its network for its next start; the bench's own
		// network has no next start.
		_ = exec.Command("ip", "link", "del", bridge).Run()
		for _, family := range []string{"inet", "bridge"} {
			_ = exec.Command("nft", "delete", "table", family, table).Run()
		}
	}
	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(url + "/health"); err == nil {
			resp.Body.Close()
			return url, cmd.Process.Pid, stop, nil
		}
	}
	stop()
	return "", 0, nil, fmt.Errorf("paddock did not start: %s", logs.String())
}

func loginToken(url string) (string, error) {
	resp, err := http.Post(url+"/api/v1/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"bench-password"}`))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Token == "" {
		return "", fmt.Errorf("login: status %d, %v", resp.StatusCode, err)
	}
	return v.Token, nil
}

func createKey(url, token string) (string, error) {
	r, _ := http.NewRequest("POST", url+"/api/v1/api-keys", strings.NewReader(`{"description":"bench"}`))
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var v struct{ Key string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Key == "" {
		return "", fmt.Errorf("create key: status %d, %v", resp.StatusCode, err)
	}
	return v.Key, nil
}

// startRef re-executes this binary as the reference server.
func startRef(ctx context.Context) (string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, self, "ref-server")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return "", nil, fmt.Errorf("reference server: %w", err)
	}
	return strings.TrimSpace(line), func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
}

// refServer is the reference: net/http answering /api/v1/auth/me with the
// same JSON, checking only that an Authorization header is present.
func refServer([]string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println("http://" + ln.Addr().String())
	body := []byte(`{"id":"1","username":"admin","email":"","nickname":"Administrator","role":"admin"}` + "\n")
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
}
