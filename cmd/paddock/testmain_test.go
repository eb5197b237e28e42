package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// paddockBin is a static build of this command, made once for the tests:
// the binary the CLI and restart tests run. guestBin, next to it, is the
// static paddock-guest: the guest agent of the environments the tests
// create (the binaries started as servers find it there).
var paddockBin, guestBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "paddock-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // environments' unprivileged root must reach the guest
	paddockBin = filepath.Join(dir, "paddock")
	build := exec.Command("go", "build", "-trimpath", "-o", paddockBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build paddock: %v\n%s", err, out)
		os.Exit(1)
	}
	guestBin = filepath.Join(dir, "paddock-guest")
	build = exec.Command("go", "build", "-trimpath", "-o", guestBin, "../paddock-guest")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build paddock-guest: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
