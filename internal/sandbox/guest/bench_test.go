package guest

import (
	"context"
	"testing"
)

// BenchmarkExecTrue measures the protocol and process start without a
// container (the guest runs in the test process).
func BenchmarkExecTrue(b *testing.B) {
	c, _, _ := startGuest(b, Config{Env: []string{"PATH=/usr/bin:/bin"}})
	for b.Loop() {
		if _, err := c.Exec(context.Background(), &ExecRequest{Command: []string{"true"}}, nil, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
