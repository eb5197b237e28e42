package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"

	"github.com/paddockhq/paddock"
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomString returns n characters drawn uniformly from alphabet.
func randomString(n int) string {
	const max = 256 - 256%len(alphabet) // reject bytes that would bias the draw
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic("auth: crypto/rand failed: " + err.Error()) // the platform is unusable without randomness
		}
		for _, b := range buf {
			if int(b) < max && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// RandomID returns prefix followed by n random lowercase alphanumerics.
func RandomID(prefix string, n int) string {
	const lower = "0123456789abcdefghijklmnopqrstuvwxyz"
	const max = 256 - 256%len(lower)
	out := []byte(prefix)
	buf := make([]byte, n*2+8)
	for len(out) < len(prefix)+n {
		if _, err := rand.Read(buf); err != nil {
			panic("auth: crypto/rand failed: " + err.Error())
		}
		for _, b := range buf {
			if int(b) < max && len(out) < len(prefix)+n {
				out = append(out, lower[int(b)%len(lower)])
			}
		}
	}
	return string(out)
}

// NewAPIKeySecret returns a new secret: the "pdk_" prefix and 40 base62
// characters (238 bits of entropy).
func NewAPIKeySecret() string { return paddock.APIKeyPrefix + randomString(40) }

// HashAPIKey returns the stored form of a secret. Secrets carry enough
// entropy that a fast hash is safe, and lookups by hash stay cheap.
func HashAPIKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
