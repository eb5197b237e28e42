package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/paddockhq/paddock/client"
)

// exitError carries a command's exit code out of `paddock env exec`.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// kvFlag collects repeated KEY=VALUE flags.
type kvFlag map[string]string

func (f kvFlag) String() string { return "" }
func (f kvFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	f[k] = val
	return nil
}

func runEnv(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	sub := map[string]func(context.Context, []string, io.Reader, io.Writer, io.Writer) error{
		"create": envCreate, "ls": envList, "get": envGet, "rm": envRemove, "exec": envExec, "logs": envLogs, "cp": envCp,
		"attach": envAttach, "port-forward": envPortForward, "ps": envPs, "output": envOutput, "kill": envKill,
		"pause": envPause, "resume": envResume, "timeout": envTimeout,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprintln(stderr, "Usage: paddock env create|ls|get|rm|exec|attach|ps|output|kill|logs|cp|port-forward|pause|resume|timeout ...")
		return errUsage
	}
	return sub[args[0]](ctx, args[1:], stdin, stdout, stderr)
}

func envCreate(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("env create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paddock env create NAME [flags] [-- COMMAND ARGS...]")
		fs.PrintDefaults()
	}
	in := client.CreateEnvironment{Env: kvFlag{}, Labels: kvFlag{}, NodeSelector: kvFlag{}}
	fs.StringVar(&in.Image, "image", "python:3.11-slim", "image")
	fs.StringVar(&in.Resources.CPU, "cpu", "1", "CPU limit, e.g. 500m or 2")
	fs.StringVar(&in.Resources.Memory, "memory", "512Mi", "memory limit")
	fs.StringVar(&in.Resources.Storage, "storage", "1Gi", "writable storage limit")
	fs.IntVar(&in.Timeout, "timeout", 0, "lifetime in seconds (default: the server's, 3600)")
	fs.Var(kvFlag(in.Env), "env", "environment variable KEY=VALUE (repeatable)")
	fs.Var(kvFlag(in.Labels), "label", "label KEY=VALUE (repeatable)")
	fs.Var(kvFlag(in.NodeSelector), "node-selector", "node label KEY=VALUE the node must have (repeatable)")
	class := fs.String("runtime-class", "", "runc or gvisor (default: the server's)")
	noInternet := fs.Bool("no-internet", false, "deny egress to the internet")
	wait := fs.Bool("wait", true, "wait until the environment runs")
	name, err := parseOperand(fs, args)
	if err != nil {
		return errUsage
	}
	if name == "" {
		fs.Usage()
		return errUsage
	}
	in.Name = name
	in.Command = fs.Args()
	iso := map[string]any{}
	if *class != "" {
		iso["runtime_class"] = *class
	}
	if *noInternet {
		iso["network_policy"] = map[string]any{"allow_internet": false}
	}
	if len(iso) > 0 {
		in.Isolation = iso
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	e, err := c.CreateEnvironment(ctx, &in)
	if err != nil {
		return err
	}
	if *wait {
		if e, err = c.WaitEnvironment(ctx, e.ID); err != nil {
			return err
		}
		if e.Status == "failed" {
			return fmt.Errorf("environment %s failed: %s", e.ID, e.Reason)
		}
	}
	fmt.Fprintln(stdout, e.ID)
	return nil
}

// oneOperand reports whether args of a command without flags is one
// operand, not a flag (-h asks for the usage; it names nothing).
func oneOperand(args []string) bool {
	return len(args) == 1 && !strings.HasPrefix(args[0], "-")
}

// parseOperand parses the flags of a command that takes one operand (an
// id, a name, a file), which may come before, among or after its flags:
// `env logs -f ID` as well as `env logs ID -f`. It returns the operand, ""
// when there is none; fs.Args() holds what follows it (for exec and
// create, the command, after an optional "--").
func parseOperand(fs *flag.FlagSet, args []string) (string, error) {
	ops, err := parseOperands(fs, args, 1)
	if err != nil || len(ops) == 0 {
		return "", err
	}
	return ops[0], nil
}

// parseOperands is parseOperand for commands with n operands; it returns
// the ones it found, at most n.
func parseOperands(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var ops []string
	for len(ops) < n && fs.NArg() > 0 {
		ops = append(ops, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return nil, err
		}
	}
	return ops, nil
}

func envList(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("env ls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	status := fs.String("status", "", "only environments with this status (or these, comma separated)")
	label := fs.String("label", "", "label selector, e.g. project=x,tier!=db")
	all := fs.Bool("a", false, "include terminated environments (left out by default)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	if !*all && *status == "" { // like docker ps: what still exists, and failures to look at
		*status = "pending,running,paused,terminating,failed"
	}
	l, err := c.Environments(ctx, *status, *label, 1000, 0)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, l)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tIMAGE\tCPU\tMEMORY\tAGE")
	for _, e := range l.Environments {
		status := e.Status
		if e.Reason != "" && e.Status == "failed" {
			status += " (" + e.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Name, status, e.Image, e.Resources.CPU, e.Resources.Memory, age(e.CreatedAt))
	}
	return tw.Flush()
}

func age(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func envGet(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if !oneOperand(args) {
		fmt.Fprintln(stderr, "Usage: paddock env get ID")
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	e, err := c.Environment(ctx, args[0])
	if err != nil {
		return err
	}
	return printJSON(stdout, e)
}

func envRemove(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("env rm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	force := fs.Bool("force", false, "kill at once, without the grace period")
	id, err := parseOperand(fs, args)
	if err != nil || id == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "Usage: paddock env rm ID [--force]")
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	if err := c.DeleteEnvironment(ctx, id, *force); err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	return nil
}

func envPause(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("env pause", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hibernate := fs.Bool("hibernate", false, "save the processes and memory to disk and free the memory (gVisor); default: freeze them in place")
	id, err := parseOperand(fs, args)
	if err != nil || id == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "Usage: paddock env pause ID [--hibernate]")
		return errUsage
	}
	mode := "freeze"
	if *hibernate {
		mode = "hibernate"
	}
	return envChange(ctx, stdout, func(c *client.Client) (*client.Environment, error) { return c.PauseEnvironment(ctx, id, mode) })
}

func envResume(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if !oneOperand(args) {
		fmt.Fprintln(stderr, "Usage: paddock env resume ID")
		return errUsage
	}
	return envChange(ctx, stdout, func(c *client.Client) (*client.Environment, error) { return c.ResumeEnvironment(ctx, args[0]) })
}

func envTimeout(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	seconds := 0
	if len(args) == 2 && !strings.HasPrefix(args[0], "-") {
		seconds, _ = strconv.Atoi(args[1])
	}
	if seconds <= 0 {
		fmt.Fprintln(stderr, "Usage: paddock env timeout ID SECONDS   (a new lifetime, counted from now)")
		return errUsage
	}
	return envChange(ctx, stdout, func(c *client.Client) (*client.Environment, error) {
		return c.SetEnvironmentTimeout(ctx, args[0], seconds)
	})
}

// envChange makes a change to an environment and prints its id, status
// and expiry.
func envChange(ctx context.Context, stdout io.Writer, change func(*client.Client) (*client.Environment, error)) error {
	c, err := apiClient()
	if err != nil {
		return err
	}
	e, err := change(c)
	if err != nil {
		return err
	}
	expires := "-"
	if e.ExpiresAt != nil {
		expires = e.ExpiresAt.Local().Format(time.DateTime)
	}
	fmt.Fprintf(stdout, "%s %s (expires %s)\n", e.ID, e.Status, expires)
	return nil
}

func envExec(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("env exec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paddock env exec ID [flags] -- COMMAND ARGS...")
		fs.PrintDefaults()
	}
	timeout := fs.Int("timeout", 30, "seconds before the command is killed")
	dir := fs.String("workdir", "", "working directory")
	withStdin := fs.Bool("i", false, "pass standard input (text, read to its end first) to the command")
	onTTY := fs.Bool("t", false, "run the command on a terminal, interactively, as env attach does (-it alike)")
	detach := fs.Bool("d", false, "start the command in the background and print its pid (see env ps, output, kill); -timeout then defaults to none")
	env := kvFlag{}
	fs.Var(env, "env", "environment variable KEY=VALUE (repeatable)")
	id, err := parseOperand(fs, args)
	if err != nil {
		return errUsage
	}
	if id == "" || fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	if *onTTY {
		if len(env) > 0 || *dir != "" {
			return errors.New("-t runs the command through env attach, which takes no -env or -workdir: wrap it, e.g. -- sh -c 'cd /dir && X=1 exec cmd'")
		}
		return attach(ctx, c, id, fs.Args(), true, stdin, stdout, stderr)
	}
	req := &client.ExecRequest{Command: fs.Args(), Timeout: *timeout, WorkingDir: *dir, Env: env}
	if *withStdin {
		if req.Stdin, err = readExecStdin(stdin); err != nil {
			return err
		}
	}
	// The server's cap on the request is what refuses a large stdin.
	explain := func(err error) error {
		var ce *client.Error
		if *withStdin && errors.As(err, &ce) && ce.Status == http.StatusRequestEntityTooLarge {
			return fmt.Errorf("%w (standard input travels in the request: copy larger input in with paddock env cp)", err)
		}
		return err
	}
	if *detach {
		timeoutSet := false
		fs.Visit(func(f *flag.Flag) { timeoutSet = timeoutSet || f.Name == "timeout" })
		if !timeoutSet {
			req.Timeout = 0 // as long as the environment
		}
		p, err := c.StartProcess(ctx, id, req)
		if err != nil {
			return explain(err)
		}
		fmt.Fprintln(stdout, p.PID)
		return nil
	}
	res, err := c.ExecStream(ctx, id, req, stdout, stderr)
	if err != nil {
		return explain(err)
	}
	switch {
	case res.TimedOut:
		fmt.Fprintf(stderr, "paddock: command timed out after %d s\n", *timeout)
	case res.OOMKilled:
		fmt.Fprintln(stderr, "paddock: command was killed: out of memory")
	}
	if res.ExitCode != 0 {
		return exitError{res.ExitCode}
	}
	return nil
}

// maxExecStdin bounds what exec -i reads; the server's own cap on a
// request (max_body_bytes, 1 MiB by default) is usually lower.
const maxExecStdin = 64 << 20

// readExecStdin reads the standard input exec -i passes to the command:
// the exec API carries it as a JSON string, so it must be text.
func readExecStdin(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxExecStdin+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("read standard input: %w", err)
	case len(b) > maxExecStdin:
		return "", fmt.Errorf("standard input is larger than %d MiB: copy it in with paddock env cp", maxExecStdin>>20)
	case !utf8.Valid(b):
		return "", errors.New("standard input is not UTF-8 text: copy binary input in with paddock env cp")
	}
	return string(b), nil
}

func envLogs(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("env logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	follow := fs.Bool("f", false, "follow: print new lines as they come")
	tail := fs.Int("tail", 0, "only the last N lines")
	timestamps := fs.Bool("timestamps", false, "prefix lines with their time")
	id, err := parseOperand(fs, args)
	if err != nil || id == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "Usage: paddock env logs ID [-f] [--tail N] [--timestamps]")
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	print := func(e client.LogEntry) error {
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		if *timestamps && e.Timestamp != nil {
			fmt.Fprintf(w, "%s ", e.Timestamp.Local().Format(time.RFC3339))
		}
		_, err := fmt.Fprintln(w, e.Message)
		return err
	}
	if *follow {
		return c.FollowLogs(ctx, id, *tail, print)
	}
	entries, err := c.Logs(ctx, id, *tail)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := print(e); err != nil {
			return err
		}
	}
	return nil
}
