package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/paddockhq/paddock/client"
)

// envPs lists an environment's background processes.
func envPs(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "Usage: paddock env ps ID")
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	procs, err := c.Processes(ctx, args[0])
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tSTATUS\tEXIT\tAGE\tCOMMAND")
	for _, p := range procs {
		exit := ""
		if p.ExitCode != nil {
			exit = fmt.Sprint(*p.ExitCode)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.PID, p.Status, exit, age(p.StartedAt), strings.Join(p.Command, " "))
	}
	return tw.Flush()
}

// envOutput prints a background process's output, following it with -f;
// once the process has ended it exits with its exit code.
func envOutput(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("env output", flag.ContinueOnError)
	fs.SetOutput(stderr)
	follow := fs.Bool("f", false, "follow: print new output until the process ends")
	since := fs.Int64("since", 0, "byte offset to start from")
	ops, err := parseOperands(fs, args, 2)
	if err != nil || len(ops) != 2 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "Usage: paddock env output ID PID [-f] [--since N]")
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	p, err := c.ProcessOutput(ctx, ops[0], ops[1], *since, *follow, stdout, stderr)
	if err != nil {
		return err
	}
	return processEnd(p, stderr)
}

// envKill kills a background process.
func envKill(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) != 2 || strings.HasPrefix(args[0], "-") || strings.HasPrefix(args[1], "-") {
		fmt.Fprintln(stderr, "Usage: paddock env kill ID PID")
		return errUsage
	}
	c, err := apiClient()
	if err != nil {
		return err
	}
	p, err := c.KillProcess(ctx, args[0], args[1])
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, p.PID)
	return nil
}

// processEnd turns an ended process into the command's exit: its code,
// with a note on stderr when it did not simply exit.
func processEnd(p *client.Process, stderr io.Writer) error {
	switch {
	case p.Status == "killed":
		fmt.Fprintln(stderr, "paddock: the process was killed")
		return exitError{137}
	case p.TimedOut:
		fmt.Fprintln(stderr, "paddock: the process timed out")
	case p.OOMKilled:
		fmt.Fprintln(stderr, "paddock: the process was killed: out of memory")
	}
	if p.ExitCode != nil && *p.ExitCode != 0 {
		return exitError{*p.ExitCode}
	}
	return nil
}
