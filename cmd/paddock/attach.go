package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/paddockhq/paddock/client"
)

func envAttach(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("env attach", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paddock env attach ID [flags] [-- COMMAND ARGS...]")
		fs.PrintDefaults()
	}
	tty := fs.String("tty", "auto", "run on a terminal: true, false, or auto (when standard input is one)")
	id, err := parseOperand(fs, args)
	if err != nil {
		return errUsage
	}
	useTTY, err := strconv.ParseBool(*tty)
	if *tty == "auto" {
		useTTY, err = isTerminal(stdin), nil
	}
	if id == "" || err != nil {
		fs.Usage()
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	return attach(ctx, c, id, fs.Args(), useTTY, stdin, stdout, stderr)
}

// isTerminal reports whether r is a terminal.
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// attach runs command (the environment's shell when empty) in environment
// id interactively: standard input goes to it, its output comes back, and
// on a terminal (useTTY) the local one is put in raw mode and its size
// follows the window's. It returns the process's exit code as an
// exitError.
func attach(ctx context.Context, c *client.Client, id string, command []string, useTTY bool, stdin io.Reader, stdout, stderr io.Writer) error {
	o := client.AttachOptions{Command: command, TTY: useTTY}
	in, _ := stdin.(*os.File)
	local := useTTY && isTerminal(in)
	if local {
		o.Cols, o.Rows, _ = term.GetSize(int(in.Fd()))
	}
	a, err := c.Attach(ctx, id, o)
	if err != nil {
		return err
	}
	defer a.Close()
	if local {
		old, err := term.MakeRaw(int(in.Fd()))
		if err != nil {
			return fmt.Errorf("put the terminal in raw mode: %w", err)
		}
		defer term.Restore(int(in.Fd()), old)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for range winch {
				if cols, rows, err := term.GetSize(int(in.Fd())); err == nil {
					_ = a.Resize(cols, rows)
				}
			}
		}()
	}
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := stdin.Read(buf)
			if n > 0 && a.Stdin(buf[:n]) != nil {
				return
			}
			if errors.Is(err, io.EOF) {
				_ = a.CloseStdin()
				return
			}
			if err != nil {
				return
			}
		}
	}()
	eol := "\n"
	if local {
		eol = "\r\n" // raw mode: no newline translation
	}
	code, err := a.Wait(stdout, stderr, func(msg string) { fmt.Fprint(stderr, "paddock: ", msg, eol) })
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

func envPortForward(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("env port-forward", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paddock env port-forward ID PORT [--address HOST:PORT]")
		fs.PrintDefaults()
	}
	addr := fs.String("address", "", "local address to listen on (default 127.0.0.1:PORT; :0 picks a free port)")
	ops, err := parseOperands(fs, args, 2)
	if err != nil {
		return errUsage
	}
	if len(ops) != 2 || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	id := ops[0]
	port, err := strconv.Atoi(ops[1])
	if err != nil || port < 1 || port > 65535 {
		return fmt.Errorf("port %q is not a TCP port (1-65535)", ops[1])
	}
	if *addr == "" {
		*addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	if _, err := c.ExposePort(ctx, id, port); err != nil {
		return err
	}
	target, err := url.Parse(c.BaseURL + "/api/v1/environments/" + url.PathEscape(id) + "/ports/" + strconv.Itoa(port))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set("Authorization", "Bearer "+c.Token)
		},
		FlushInterval: -1, // server-sent events and long polls as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			fmt.Fprintf(stderr, "paddock: %s %s: %v\n", r.Method, r.URL.Path, err)
			http.Error(w, "paddock port-forward: "+err.Error(), http.StatusBadGateway)
		},
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: time.Minute}
	fmt.Fprintf(stdout, "Forwarding http://%s to port %d of %s (HTTP and WebSocket); Ctrl-C stops\n", ln.Addr(), port, id)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shut)
	}
}
