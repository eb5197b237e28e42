package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/paddockhq/paddock/client"
)

// credentials are what `paddock login` remembers for the other commands.
type credentials struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

func credentialsPath() (string, error) {
	if p := os.Getenv("PADDOCK_CREDENTIALS"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config directory: %w", err)
	}
	return filepath.Join(dir, "paddock", "credentials.json"), nil
}

// apiClient returns a client for the server and token of PADDOCK_URL and
// PADDOCK_TOKEN, else of the last `paddock login`.
func apiClient() (*client.Client, error) {
	c := credentials{Server: os.Getenv("PADDOCK_URL"), Token: os.Getenv("PADDOCK_TOKEN")}
	if c.Server == "" || c.Token == "" {
		path, err := credentialsPath()
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("not logged in: run `paddock login`, or set PADDOCK_URL and PADDOCK_TOKEN")
		} else if err != nil {
			return nil, err
		}
		var saved credentials
		if err := json.Unmarshal(b, &saved); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if c.Server == "" {
			c.Server = saved.Server
		}
		if c.Token == "" {
			c.Token = saved.Token
		}
	}
	return client.New(c.Server, c.Token), nil
}

func runLogin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", envOr("PADDOCK_URL", "http://127.0.0.1:8000"), "server URL (env PADDOCK_URL)")
	username := fs.String("username", "admin", "username")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	password, err := readPassword(stdin, stderr, *passwordStdin)
	if err != nil {
		return err
	}
	c := client.New(*server, "")
	res, err := c.Login(ctx, *username, password)
	if err != nil {
		return err
	}
	path, err := credentialsPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(credentials{Server: c.BaseURL, Token: res.Token}, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	fmt.Fprintf(stdout, "Logged in to %s as %s (%s); the token expires at %s.\n", c.BaseURL, res.User.Username, res.User.Role, res.ExpiresAt.Local().Format("2006-01-02 15:04"))
	return nil
}

// readPassword reads a password without echo from a terminal, or one line
// from stdin.
func readPassword(stdin io.Reader, stderr io.Writer, fromStdin bool) (string, error) {
	if f, ok := stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
