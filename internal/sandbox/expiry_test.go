package sandbox

import (
	"testing"
	"time"

	"github.com/paddockhq/paddock"
)

// TestExpiry checks that no lifetime, however large, overflows into an
// expiry in the past: it is capped at paddock.MaxTimeout.
func TestExpiry(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	max := now.Add(paddock.MaxTimeout * time.Second)
	for _, tt := range []struct {
		seconds int
		want    time.Time
	}{
		{0, now},
		{-5, now},
		{3600, now.Add(time.Hour)},
		{paddock.MaxTimeout, max},
		{paddock.MaxTimeout + 1, max},
		{10000000000, max},
		{1<<63 - 1, max},
	} {
		if got := expiry(now, tt.seconds); !got.Equal(tt.want) {
			t.Errorf("expiry(%d) = %v, want %v", tt.seconds, got, tt.want)
		}
	}
}
