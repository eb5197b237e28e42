package sandbox

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// quantitySuffixes are the Kubernetes quantity suffixes, as multipliers.
var quantitySuffixes = map[string]*big.Rat{
	"":   big.NewRat(1, 1),
	"m":  big.NewRat(1, 1000),
	"k":  big.NewRat(1000, 1),
	"M":  big.NewRat(1000*1000, 1),
	"G":  big.NewRat(1000*1000*1000, 1),
	"T":  new(big.Rat).SetInt64(1000 * 1000 * 1000 * 1000),
	"P":  new(big.Rat).SetInt64(1000 * 1000 * 1000 * 1000 * 1000),
	"E":  new(big.Rat).SetInt64(1000 * 1000 * 1000 * 1000 * 1000 * 1000),
	"Ki": big.NewRat(1<<10, 1),
	"Mi": big.NewRat(1<<20, 1),
	"Gi": big.NewRat(1<<30, 1),
	"Ti": new(big.Rat).SetInt64(1 << 40),
	"Pi": new(big.Rat).SetInt64(1 << 50),
	"Ei": new(big.Rat).SetInt64(1 << 60),
}

// parseQuantity parses a Kubernetes quantity ("500m", "1.5", "512Mi",
// "1G", "1e3") into an exact rational number. Negative values are rejected:
// no resource in Paddock can be negative.
func parseQuantity(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty quantity")
	}
	if s[0] == '+' {
		s = s[1:]
	}
	// The number is the longest prefix of digits and at most one dot.
	i := 0
	dot := false
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' && !dot) {
		if s[i] == '.' {
			dot = true
		}
		i++
	}
	num, suffix := s[:i], s[i:]
	if num == "" || num == "." {
		return nil, fmt.Errorf("quantity %q: want a number such as 500m, 1, 0.5, 512Mi or 1Gi", s)
	}
	v, ok := new(big.Rat).SetString(num)
	if !ok {
		return nil, fmt.Errorf("quantity %q: bad number", s)
	}
	if len(suffix) > 1 && (suffix[0] == 'e' || suffix[0] == 'E') {
		// Decimal exponent, "1e3". "E" alone is the exa suffix.
		exp := 0
		neg := false
		j := 1
		if j < len(suffix) && (suffix[j] == '-' || suffix[j] == '+') {
			neg = suffix[j] == '-'
			j++
		}
		if j == len(suffix) || len(suffix)-j > 2 {
			return nil, fmt.Errorf("quantity %q: bad exponent", s)
		}
		for ; j < len(suffix); j++ {
			if suffix[j] < '0' || suffix[j] > '9' {
				return nil, fmt.Errorf("quantity %q: bad exponent", s)
			}
			exp = exp*10 + int(suffix[j]-'0')
		}
		p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil))
		if neg {
			p.Inv(p)
		}
		return v.Mul(v, p), nil
	}
	mul, ok := quantitySuffixes[suffix]
	if !ok {
		return nil, fmt.Errorf("quantity %q: unknown suffix %q (use m, k, M, G, T, Ki, Mi, Gi, Ti)", s, suffix)
	}
	return v.Mul(v, mul), nil
}

// ParseCPU parses a CPU quantity ("500m", "1", "0.5") into millicores,
// rounding a fraction of a millicore up as Kubernetes does.
func ParseCPU(s string) (int64, error) {
	v, err := parseQuantity(s)
	if err != nil {
		return 0, err
	}
	return ratToInt(v.Mul(v, big.NewRat(1000, 1)), s)
}

// ParseBytes parses a memory or storage quantity ("512Mi", "1Gi", "1G",
// "1024") into bytes, rounding a fraction of a byte up.
func ParseBytes(s string) (int64, error) {
	v, err := parseQuantity(s)
	if err != nil {
		return 0, err
	}
	return ratToInt(v, s)
}

// ratToInt rounds v up to an int64.
func ratToInt(v *big.Rat, s string) (int64, error) {
	q, r := new(big.Int).QuoRem(v.Num(), v.Denom(), new(big.Int))
	if r.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() || q.Int64() == math.MaxInt64 {
		return 0, fmt.Errorf("quantity %q is too large", s)
	}
	return q.Int64(), nil
}

// FormatCPU renders millicores as Kubernetes does: "125m", or "2" for whole
// cores.
func FormatCPU(millis int64) string {
	if millis%1000 == 0 && millis != 0 {
		return fmt.Sprintf("%d", millis/1000)
	}
	return fmt.Sprintf("%dm", millis)
}

// FormatBytes renders a byte count for display, rounded to the nearest
// binary unit: "256Mi" at or above 1Mi, "512Ki" below it, plain bytes
// under 1Ki.
func FormatBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d", n)
	case n < 1<<20:
		return fmt.Sprintf("%dKi", (n+1<<9)>>10)
	default:
		return fmt.Sprintf("%dMi", (n+1<<19)>>20)
	}
}
