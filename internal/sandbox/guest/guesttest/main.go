// Command guesttest is the guest agent as a standalone binary, for tests of
// the sandbox drivers (cmd/paddock runs the same code as "paddock guest").
package main

import (
	"os"

	"github.com/paddockhq/paddock/internal/sandbox/guest"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "guest" {
		args = args[1:]
	}
	os.Exit(guest.Main(args))
}
