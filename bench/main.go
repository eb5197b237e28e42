// Command bench measures Paddock against reference commands in the same run
// and prints ratios. Run it with `make bench` or `go run ./bench <suite>`:
//
//	auth     authenticated GET /api/v1/auth/me over real HTTP (API key, JWT)
//	         vs a bare net/http server answering the same JSON
//	agent    one-step run overhead (POST message to run.completed) vs a
//	         /health round trip, Paddock's CPU per run, SSE fan-out delay
//	         to 1,000 subscribers of one session over 10 messages (-messages)
//	sandbox  create-to-first-exec vs bare runc/runsc run, exec round trip
//	         (through Go's net/http client and through a one-connection
//	         client, alternating) vs runc exec and vs a host spawn of the
//	         same program, host memory per idle environment (needs root)
//	exec     the sandbox suite's exec round trip alone (needs root)
//
// It starts the paddock binary (./bin/paddock, built by make) as a separate
// process on a temporary data directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "ref-server" { // the reference server, re-executed
		refServer(os.Args[2:])
		return
	}
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	bin := fs.String("paddock", "./bin/paddock", "paddock binary")
	suite := "auth"
	if len(os.Args) > 1 && os.Args[1][0] != '-' {
		suite = os.Args[1]
		os.Args = append(os.Args[:1], os.Args[2:]...)
	}
	conc := fs.Int("c", 50, "concurrent clients")
	dur := fs.Duration("d", 0, "duration of each measurement (default per suite)")
	runs := fs.Int("runs", 20, "sandbox: runs per measurement")
	idle := fs.Int("idle", 50, "sandbox: idle environments for the memory measurement")
	agentRuns := fs.Int("agent-runs", 50, "agent: one-step runs measured")
	subs := fs.Int("subscribers", 1000, "agent: SSE subscribers of one session")
	msgs := fs.Int("messages", 10, "agent: messages fanned out to the subscribers")
	_ = fs.Parse(os.Args[1:])
	var err error
	switch suite {
	case "auth":
		err = benchAuth(ctx, *bin, *conc, *dur)
	case "sandbox":
		err = benchSandbox(ctx, *bin, *runs, *idle)
	case "exec":
		err = benchExec(ctx, *bin, *runs)
	case "agent":
		err = benchAgent(ctx, *bin, *agentRuns, *subs, max(*msgs, 1))
	default:
		err = fmt.Errorf("unknown suite %q (want auth, agent, sandbox or exec)", suite)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
