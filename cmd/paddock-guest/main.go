// Command paddock-guest is the guest agent that runs as PID 1 in every
// environment: the code of "paddock guest" in a small binary. Paddock
// mounts it into environments when it sits next to the paddock binary;
// starting it costs a fraction of the whole paddock binary's start-up
// (its package initialization) and of its memory.
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
