// Command paddock is Paddock: `paddock serve` runs the server; the other
// subcommands are its command-line client and tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/paddockhq/paddock/internal/sandbox/guest"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// The guest agent runs inside each environment as PID 1; it owns its
	// signals, so it starts before anything else is set up.
	if len(os.Args) > 1 && os.Args[1] == "guest" {
		os.Exit(guest.Main(os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name, usage string
	hidden      bool
	run         func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{name: "serve", usage: "run the Paddock server", run: runServe},
		{name: "login", usage: "log in to a server and remember the token", run: runLogin},
		{name: "env", usage: "environments: create, ls, get, rm, exec, attach, ps, output, kill, logs, cp, port-forward", run: runEnv},
		{name: "image", usage: "images: pull, import, build, ls, rm", run: runImage},
		{name: "agent", usage: "agents: create, ls, get, rm", run: runAgent},
		{name: "run", usage: "run an agent on a prompt in a new session, streaming its work", run: runRun},
		{name: "chat", usage: "chat with an agent: one message per line of stdin", run: runChat},
		{name: "version", usage: "print the version", run: func(_ context.Context, _ []string, _ io.Reader, stdout, _ io.Writer) error {
			_, err := fmt.Fprintln(stdout, "paddock", version)
			return err
		}},
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			if err := c.run(ctx, args[1:], stdin, stdout, stderr); err != nil {
				var exit exitError
				switch {
				case err == errUsage:
					return 2
				case errors.As(err, &exit):
					return exit.code
				}
				fmt.Fprintf(stderr, "paddock %s: %v\n", c.name, err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(stderr, "paddock: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// errUsage reports a usage error already printed by the flag package.
var errUsage = fmt.Errorf("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: paddock <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		if !c.hidden {
			fmt.Fprintf(w, "  %-10s %s\n", c.name, c.usage)
		}
	}
	fmt.Fprintln(w, "\nRun 'paddock <command> -h' for a command's flags.")
}
