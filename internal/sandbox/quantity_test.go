package sandbox

import "testing"

func TestParseCPU(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"500m", 500, false},
		{"1", 1000, false},
		{"0.5", 500, false},
		{"1.5", 1500, false},
		{"2", 2000, false},
		{"0.0001", 1, false}, // rounded up like Kubernetes
		{" 250m ", 250, false},
		{"", 0, true},
		{"abc", 0, true},
		{"-1", 0, true},
		{"1x", 0, true},
		{".", 0, true},
		{"1.2.3", 0, true},
		{"1e", 0, true},
	} {
		got, err := ParseCPU(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseCPU(%q) = %d, %v; want %d, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"512Mi", 512 << 20, false},
		{"1Gi", 1 << 30, false},
		{"1G", 1e9, false},
		{"1024", 1024, false},
		{"1k", 1000, false},
		{"1Ki", 1024, false},
		{"1.5Gi", 3 << 29, false},
		{"1E", 1e18, false},
		{"1e3", 1000, false},
		{"128974848", 128974848, false},
		{"129e6", 129e6, false},
		{"123Mi", 123 << 20, false},
		{"100m", 1, false}, // 0.1 byte rounds up
		{"9Ei", 0, true},   // overflows int64
		{"1MB", 0, true},
		{"Mi", 0, true},
		{"1 Gi", 0, true},
	} {
		got, err := ParseBytes(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{FormatCPU(125), "125m"},
		{FormatCPU(2000), "2"},
		{FormatCPU(0), "0m"},
		{FormatBytes(256 << 20), "256Mi"},
		{FormatBytes(2 << 30), "2048Mi"},
		{FormatBytes(512 << 10), "512Ki"},
		{FormatBytes(100), "100"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"512Mi", "1e3", "0.5", "1E", "1e-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseBytes(%q) = %d", s, n)
		}
	})
}
