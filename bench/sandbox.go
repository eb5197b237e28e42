package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// benchSandbox measures, on one busybox image and the command `true`:
// create-to-first-exec-result of Paddock (runc, gVisor) against bare
// `runc run` / `runsc run`; exec round trip against `runc exec`; and host
// memory per idle environment with n environments up.
func benchSandbox(ctx context.Context, bin string, runs, idle int) error {
	for _, b := range []string{"runc", "runsc", "/bin/busybox"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("the sandbox suite needs %s (apt-get install runc runsc busybox-static)", b)
		}
	}
	work, rootfs, archive, err := busyboxWork()
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// The environments started ahead of demand (the warm pool) are what a
	// create usually gets; a server with the pool off shows a cold start.
	cold, err := sandboxServer(ctx, bin, filepath.Join(work, "cold"), archive, "0")
	if err != nil {
		return err
	}
	coldRuns := map[string][]time.Duration{}
	for _, class := range []string{"runc", "gvisor"} {
		if coldRuns[class], err = paddockRuns(cold.api, class, runs, 0); err != nil {
			cold.stop()
			return fmt.Errorf("paddock %s, warm pool off: %w", class, err)
		}
	}
	cold.stop()
	srv, err := sandboxServer(ctx, bin, filepath.Join(work, "data"), archive, "")
	if err != nil {
		return err
	}
	defer srv.stop()
	api, data := srv.api, srv.data

	fmt.Printf("sandbox: busybox image, command `true`, %d runs each, %d CPUs\n", runs, numCPU())
	fmt.Println("create to first exec result (p50, p90); paddock's creates are spaced so the warm pool refills:")
	for _, c := range []struct {
		class, bare string
		pause       time.Duration
	}{{"runc", "runc", 300 * time.Millisecond}, {"gvisor", "runsc", time.Second}} {
		bare, err := bareRuns(ctx, work, rootfs, c.bare, runs)
		if err != nil {
			return fmt.Errorf("bare %s: %w", c.bare, err)
		}
		pd, err := paddockRuns(api, c.class, runs, c.pause)
		if err != nil {
			return fmt.Errorf("paddock %s: %w", c.class, err)
		}
		ratio := float64(pct(pd, 50)) / float64(pct(bare, 50))
		cr := coldRuns[c.class]
		fmt.Printf("  bare %-6s run               p50 %7.1f ms  p90 %7.1f ms\n", c.bare, ms(pct(bare, 50)), ms(pct(bare, 90)))
		fmt.Printf("  paddock %-6s create+exec     p50 %7.1f ms  p90 %7.1f ms  %.2fx bare  [%s]\n", c.class, ms(pct(pd, 50)), ms(pct(pd, 90)), ratio,
			verdict(ratio <= 1.3, "target <= 1.3x"))
		fmt.Printf("  paddock %-6s warm pool off   p50 %7.1f ms  p90 %7.1f ms  %.2fx bare  (a cold start)\n", c.class, ms(pct(cr, 50)), ms(pct(cr, 90)),
			float64(pct(cr, 50))/float64(pct(bare, 50)))
	}

	envID, err := execRoundTrip(ctx, api, data, runs)
	if err == nil {
		err = gvisorExec(api, runs)
	}
	if err != nil {
		if envID != "" {
			_ = api.call("DELETE", "/api/v1/environments/"+envID+"?force=true", nil, nil)
		}
		return err
	}
	// Resume latency: pause (freeze) then time the resume, over the API.
	for _, class := range []string{"runc", "gvisor"} {
		var e struct{ ID string }
		if err := api.call("POST", "/api/v1/environments?wait=true", envBody(class), &e); err != nil {
			return err
		}
		var resumes []time.Duration
		for i := 0; i < runs; i++ {
			if err := api.call("POST", "/api/v1/environments/"+e.ID+"/pause", map[string]string{"mode": "freeze"}, nil); err != nil {
				return err
			}
			t0 := time.Now()
			if err := api.call("POST", "/api/v1/environments/"+e.ID+"/resume", nil, nil); err != nil {
				return err
			}
			resumes = append(resumes, time.Since(t0))
		}
		fmt.Printf("resume after freeze, %-6s over HTTP   p50 %7.2f ms  p90 %7.2f ms  [%s]\n", class, ms(pct(resumes, 50)), ms(pct(resumes, 90)),
			verdict(pct(resumes, 50) < 50*time.Millisecond, "target p50 < 50 ms"))
		_ = api.call("DELETE", "/api/v1/environments/"+e.ID+"?force=true", nil, nil)
	}
	_ = api.call("DELETE", "/api/v1/environments/"+envID+"?force=true", nil, nil)

	// Host memory per idle environment.
	before := memUsed()
	var ids []string
	for i := 0; i < idle; i++ {
		var e struct{ ID, Status, Reason string }
		if err := api.call("POST", "/api/v1/environments?wait=true", envBody("runc"), &e); err != nil {
			return err
		}
		if e.Status != "running" {
			return fmt.Errorf("environment %s: %s %s", e.ID, e.Status, e.Reason)
		}
		ids = append(ids, e.ID)
	}
	time.Sleep(2 * time.Second) // let the guests settle
	after := memUsed()
	per := float64(after-before) / float64(idle) / (1 << 20)
	fmt.Printf("host memory per idle environment (%d runc environments, MemTotal-MemAvailable): %.2f MiB  [%s]\n", idle, per, verdict(per <= 10, "target <= 10 MiB"))
	if err := idleCPU(srv, ids); err != nil {
		return err
	}
	for _, id := range ids {
		_ = api.call("DELETE", "/api/v1/environments/"+id+"?force=true", nil, nil)
	}
	return nil
}

// execRoundTrip times the exec of `true` on a new runc environment on api
// (data is the server's data directory, for runc exec), against runc exec
// and a host spawn of the same program. It returns the environment's id,
// for the caller to delete, also with an error.
func execRoundTrip(ctx context.Context, api *apiClient, data string, runs int) (string, error) {
	// Two clients, alternating: Go's net/http, and one that writes the
	// request and reads the answer on one connection in one goroutine, as
	// curl or Python's requests do. net/http hands each request to a
	// writer goroutine and each response from a reader goroutine, and on
	// this kind of VM every handoff that wakes an idle thread is dear; the
	// difference between the two is the client's own cost.
	id, lean, err := execEnv(api, "runc")
	if err != nil {
		return id, err
	}
	defer lean.close()
	execPath := "/api/v1/environments/" + id + "/exec"
	var api1, apiLean []time.Duration
	for i := 0; i < runs*10; i++ {
		t0 := time.Now()
		if err := api.call("POST", execPath, map[string]any{"command": []string{"true"}}, nil); err != nil {
			return id, err
		}
		api1 = append(api1, time.Since(t0))
		t0 = time.Now()
		if err := lean.post(execPath, `{"command":["true"]}`); err != nil {
			return id, err
		}
		apiLean = append(apiLean, time.Since(t0))
	}
	var runcExec []time.Duration
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		cmd := exec.CommandContext(ctx, "runc", "--root", filepath.Join(data, "sandbox", "runc"), "exec", id, "true")
		if out, err := cmd.CombinedOutput(); err != nil {
			return id, fmt.Errorf("runc exec: %v: %s", err, out)
		}
		runcExec = append(runcExec, time.Since(t0))
	}
	// What starting the same program costs on this machine, outside any
	// container: the floor under every exec.
	var spawn []time.Duration
	var faults int64
	for i := 0; i < runs*10; i++ {
		t0 := time.Now()
		cmd := exec.CommandContext(ctx, "/bin/busybox", "true")
		if err := cmd.Run(); err != nil {
			return id, fmt.Errorf("busybox true: %w", err)
		}
		spawn = append(spawn, time.Since(t0))
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			faults += ru.Minflt + ru.Majflt
		}
	}
	fault := faultCost()
	ratio := float64(pct(runcExec, 50)) / float64(pct(api1, 50))
	fmt.Println("exec round trip of `true` on a running environment:")
	fmt.Printf("  host spawn of busybox true  p50 %7.2f ms  p90 %7.2f ms  (os/exec, no container: the floor)\n", ms(pct(spawn, 50)), ms(pct(spawn, 90)))
	fmt.Printf("  page fault                  %7.2f µs each; busybox true takes %d to start and exit (%.2f ms)\n", float64(fault.Nanoseconds())/1000,
		faults/int64(len(spawn)), ms(fault*time.Duration(faults/int64(len(spawn)))))
	fmt.Printf("  runc exec                   p50 %7.2f ms  p90 %7.2f ms\n", ms(pct(runcExec, 50)), ms(pct(runcExec, 90)))
	fmt.Printf("  paddock exec, net/http      p50 %7.2f ms  p90 %7.2f ms  %.1fx faster  [%s; %s]\n", ms(pct(api1, 50)), ms(pct(api1, 90)), ratio,
		verdict(pct(api1, 50) < 3*time.Millisecond, "p50 < 3 ms"), verdict(ratio >= 15, "15x runc exec"))
	fmt.Printf("  paddock exec, one-conn      p50 %7.2f ms  p90 %7.2f ms  (net/http's own cost: %.2f ms)  [%s]\n", ms(pct(apiLean, 50)), ms(pct(apiLean, 90)),
		ms(pct(api1, 50)-pct(apiLean, 50)), verdict(pct(apiLean, 50) < 3*time.Millisecond, "p50 < 3 ms"))
	// What Paddock adds to starting the program: HTTP, the route, the
	// guest's channel and the container's namespaces and cgroups.
	fmt.Printf("  over the floor              %7.2f ms  (one-conn p50 minus the host spawn's: what a request adds to the program's own start)\n",
		ms(pct(apiLean, 50)-pct(spawn, 50)))
	return id, nil
}

// faultCost is what a page fault costs on this machine: the time to touch
// each page of fresh anonymous memory once. It explains the floor under an
// exec: a program's start is a few dozen faults, each well under a
// microsecond on a host with hardware nested paging and tens of
// microseconds under shadow paging.
func faultCost() time.Duration {
	const pages = 4096
	mem, err := syscall.Mmap(-1, 0, pages*4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return 0
	}
	defer syscall.Munmap(mem)
	t0 := time.Now()
	for i := 0; i < pages; i++ {
		mem[i*4096] = 1
	}
	return time.Since(t0) / pages
}

// execEnv creates an environment of class to time execs on, waits out
// the warm pool starting its replacement, and dials a one-connection
// client. It returns the id (for the caller to delete) also with an error.
func execEnv(api *apiClient, class string) (string, *connClient, error) {
	var env struct{ ID string }
	if err := api.call("POST", "/api/v1/environments?wait=true", envBody(class), &env); err != nil {
		return "", nil, err
	}
	time.Sleep(time.Second)
	lean, err := dialConnClient(api)
	return env.ID, lean, err
}

// gvisorExec times the exec of `true` through the one-connection client
// on a new gVisor environment, which it deletes: figures only, the target
// is runc's.
func gvisorExec(api *apiClient, runs int) error {
	id, lean, err := execEnv(api, "gvisor")
	if id != "" {
		defer api.call("DELETE", "/api/v1/environments/"+id+"?force=true", nil, nil)
	}
	if err != nil {
		return err
	}
	defer lean.close()
	var d []time.Duration
	for i := 0; i < runs*10; i++ {
		t0 := time.Now()
		if err := lean.post("/api/v1/environments/"+id+"/exec", `{"command":["true"]}`); err != nil {
			return err
		}
		d = append(d, time.Since(t0))
	}
	fmt.Printf("  paddock exec, gVisor        p50 %7.2f ms  p90 %7.2f ms  (one-conn; figures only)\n", ms(pct(d, 50)), ms(pct(d, 90)))
	return nil
}

// benchExec is the sandbox suite's exec round trip alone, to iterate on.
func benchExec(ctx context.Context, bin string, runs int) error {
	for _, b := range []string{"runc", "runsc", "/bin/busybox"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("the exec suite needs %s (apt-get install runc runsc busybox-static)", b)
		}
	}
	work, _, archive, err := busyboxWork()
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	srv, err := sandboxServer(ctx, bin, filepath.Join(work, "data"), archive, "")
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Printf("exec: busybox image, %d CPUs\n", numCPU())
	id, err := execRoundTrip(ctx, srv.api, srv.data, runs)
	if id != "" {
		_ = srv.api.call("DELETE", "/api/v1/environments/"+id+"?force=true", nil, nil)
	}
	if err == nil {
		err = gvisorExec(srv.api, runs)
	}
	return err
}

// busyboxWork makes a work directory holding the busybox root filesystem
// and its image archive; the caller removes it.
func busyboxWork() (work, rootfs, archive string, err error) {
	work, err = os.MkdirTemp("", "paddock-bench-")
	if err != nil {
		return "", "", "", err
	}
	rootfs, archive = filepath.Join(work, "rootfs"), filepath.Join(work, "busybox.tar")
	if err = os.Chmod(work, 0o711); err == nil {
		if err = busyboxRootfs(rootfs); err == nil {
			err = imageArchive(rootfs, archive)
		}
	}
	if err != nil {
		os.RemoveAll(work)
		return "", "", "", err
	}
	return work, rootfs, archive, nil
}

func envBody(class string) map[string]any {
	return map[string]any{
		"name": "bench", "image": "busybox:bench", "timeout": 600,
		"resources": map[string]string{"cpu": "1", "memory": "256Mi", "storage": "256Mi"},
		"isolation": map[string]any{"runtime_class": class},
	}
}

// sandboxSrv is a paddock started by sandboxServer.
type sandboxSrv struct {
	api  *apiClient
	data string
	pid  int
	stop func()
}

// sandboxServer starts paddock on data with the busybox image imported;
// warmPool "" keeps the default.
func sandboxServer(ctx context.Context, bin, data, archive, warmPool string) (*sandboxSrv, error) {
	url, pid, stop, err := startPaddock(ctx, bin, data, map[string]string{
		"PADDOCK_ADMIN_PASSWORD": "bench-password", "PADDOCK_LOG_REQUESTS": "false", "PADDOCK_LOG_LEVEL": "warn",
		"PADDOCK_RATE_LIMIT_OTHER": "100000000", "PADDOCK_RATE_LIMIT_EXEC": "100000000", "PADDOCK_RATE_LIMIT_ENVIRONMENT_CREATE": "100000000",
		"PADDOCK_STOP_GRACE": "1s", "PADDOCK_WARM_POOL": warmPool,
	})
	if err != nil {
		return nil, err
	}
	tok, err := loginToken(url)
	if err != nil {
		stop()
		return nil, err
	}
	api := &apiClient{url: url, token: tok}
	f, err := os.Open(archive)
	if err != nil {
		stop()
		return nil, err
	}
	err = api.call("POST", "/api/v1/images/import?name=busybox:bench", f, nil)
	f.Close()
	if err != nil {
		stop()
		return nil, fmt.Errorf("import image: %w", err)
	}
	return &sandboxSrv{api: api, data: data, pid: pid, stop: stop}, nil
}

// paddockRuns times create (waiting until running) plus a first exec,
// pausing between runs.
func paddockRuns(api *apiClient, class string, runs int, pause time.Duration) ([]time.Duration, error) {
	var out []time.Duration
	for i := 0; i < runs+1; i++ {
		time.Sleep(pause)
		t0 := time.Now()
		var e struct{ ID, Status, Reason string }
		if err := api.call("POST", "/api/v1/environments?wait=true", envBody(class), &e); err != nil {
			return nil, err
		}
		if e.Status != "running" {
			return nil, fmt.Errorf("environment %s: %s %s", e.ID, e.Status, e.Reason)
		}
		var res struct {
			ExitCode int `json:"exit_code"`
		}
		if err := api.call("POST", "/api/v1/environments/"+e.ID+"/exec", map[string]any{"command": []string{"true"}}, &res); err != nil {
			return nil, err
		}
		d := time.Since(t0)
		if i > 0 { // the first run warms caches
			out = append(out, d)
		}
		if err := api.call("DELETE", "/api/v1/environments/"+e.ID+"?force=true", nil, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// bareRuns times `runc run` / `runsc run` of `true` in a bundle on the
// same tree, with the default spec of `runc spec`.
func bareRuns(ctx context.Context, work, rootfs, runtime string, runs int) ([]time.Duration, error) {
	bundle := filepath.Join(work, "bundle-"+runtime)
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return nil, err
	}
	spec := exec.CommandContext(ctx, "runc", "spec", "--bundle", bundle)
	if out, err := spec.CombinedOutput(); err != nil && !strings.Contains(string(out), "exists") {
		return nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	cfgPath := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, err
	}
	cfg["root"] = map[string]any{"path": rootfs, "readonly": true}
	proc := cfg["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"true"}
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		return nil, err
	}
	state := filepath.Join(work, "state-"+runtime)
	var out []time.Duration
	for i := 0; i < runs+1; i++ {
		id := fmt.Sprintf("bench-%s-%d", runtime, i)
		args := []string{"--root", state, "run", "--bundle", bundle, id}
		if runtime == "runsc" {
			args = append([]string{"--root", state, "--platform", "ptrace", "--network", "none", "--ignore-cgroups"}, args[2:]...)
		}
		t0 := time.Now()
		cmd := exec.CommandContext(ctx, runtime, args...)
		if o, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s run: %v: %s", runtime, err, o)
		}
		if i > 0 {
			out = append(out, time.Since(t0))
		}
	}
	return out, nil
}

// busyboxRootfs makes a tree with a static busybox and its applets.
func busyboxRootfs(dir string) error {
	for _, d := range []string{"bin", "tmp", "proc", "sys", "dev", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), b, 0o755); err != nil {
		return err
	}
	for _, applet := range []string{"sh", "true", "sleep", "cat", "echo", "ls"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/:/bin/sh\n"), 0o644)
}

// imageArchive writes a one-layer docker-save archive of dir.
func imageArchive(dir, out string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name, _ = filepath.Rel(dir, p)
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	// LayerFromReader would copy the layer to a temporary file it never
	// removes.
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	img, err = mutate.Config(img, v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}})
	if err != nil {
		return err
	}
	tag, err := name.NewTag("bench/busybox:bench")
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, tag, img)
}

// idleCPU prints the CPU Paddock (and the processes it ran) used over two
// reaper ticks with the environments ids idle, against what asking runc
// about each of them every tick would cost, measured here.
func idleCPU(srv *sandboxSrv, ids []string) error {
	const window, tick = 10 * time.Second, 5 * time.Second
	// The warm pool refills after the creates took its environments; the
	// window starts once that work, which is not idle cost, is over.
	before, err := settled(srv.pid, time.Second, 30*time.Second)
	if err != nil {
		return err
	}
	time.Sleep(window)
	after, err := procCPU(srv.pid)
	if err != nil {
		return err
	}
	var state time.Duration
	const probes = 5
	for range probes {
		cmd := exec.Command("runc", "--root", filepath.Join(srv.data, "sandbox", "runc"), "state", ids[0])
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("runc state: %w", err)
		}
		state += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	used := float64(after-before) / float64(window) * 100
	polling := float64(state/probes) * float64(len(ids)) / float64(tick) * 100
	fmt.Printf("paddock CPU with %d environments idle: %.1f%% of a core; a runc state per environment per %s tick would add %.1f%%\n",
		len(ids), used, tick, polling)
	return nil
}

// settled waits, at most max, for a step in which pid (with the children
// it waited for) used under 5% of a core, and returns its CPU time then.
func settled(pid int, step, max time.Duration) (time.Duration, error) {
	last, err := procCPU(pid)
	if err != nil {
		return 0, err
	}
	for end := time.Now().Add(max); time.Now().Before(end); {
		time.Sleep(step)
		now, err := procCPU(pid)
		if err != nil {
			return 0, err
		}
		if now-last < step/20 {
			return now, nil
		}
		last = now
	}
	return last, nil
}

// procCPU is the user and system CPU time of process pid and of the
// children it waited for, from /proc/pid/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may hold spaces: state is
	// field 3, utime..cstime are 14..17.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 15 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	var ticks int64
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

// memUsed is MemTotal - MemAvailable in bytes.
func memUsed() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	var total, avail int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var k string
		var v int64
		fmt.Sscanf(sc.Text(), "%s %d", &k, &v)
		switch k {
		case "MemTotal:":
			total = v << 10
		case "MemAvailable:":
			avail = v << 10
		}
	}
	return total - avail
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, len(s)*p/100)]
}

// apiClient is a minimal JSON client for the harness.
type apiClient struct{ url, token string }

func (c *apiClient) call(method, path string, in, out any) error {
	var body io.Reader
	ct := "application/json"
	switch v := in.(type) {
	case nil:
	case io.Reader:
		body, ct = v, "application/x-tar"
	default:
		b, _ := json.Marshal(v)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, body)
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// connClient sends requests on one kept-alive connection and reads each
// answer in the calling goroutine: the least a client can add to a round
// trip.
type connClient struct {
	conn net.Conn
	r    *bufio.Reader
	head string // the Host and Authorization header lines
}

func dialConnClient(api *apiClient) (*connClient, error) {
	host := strings.TrimPrefix(api.url, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	return &connClient{conn: conn, r: bufio.NewReader(conn), head: "Host: " + host + "\r\nAuthorization: Bearer " + api.token + "\r\n"}, nil
}

// post sends body to path and reads the whole answer, which must be 200.
func (c *connClient) post(path, body string) error {
	req := "POST " + path + " HTTP/1.1\r\n" + c.head + "Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := io.WriteString(c.conn, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return nil
}

func (c *connClient) close() { c.conn.Close() }
