package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"github.com/paddockhq/paddock"
)

// tickets are short-lived, single-use credentials for the WebSocket attach
// and the port proxy, for browsers that cannot send an Authorization
// header there. A ticket names its purpose, environment and user and is
// signed, so any replica with the same key verifies it; each is accepted
// once per replica.
type tickets struct {
	key  []byte
	ttl  time.Duration
	mu   sync.Mutex
	used map[string]time.Time
}

func newTickets(key []byte, ttl time.Duration) *tickets {
	return &tickets{key: key, ttl: ttl, used: map[string]time.Time{}}
}

func (t *tickets) mac(payload string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte("ticket\x00" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// issue returns a ticket for purpose on envID for userID.
func (t *tickets) issue(purpose, envID string, userID int64, now time.Time) (string, time.Time) {
	return t.issueFor(purpose, envID, userID, now.Add(t.ttl))
}

// issueFor returns a signed token for purpose on envID that expires at exp.
func (t *tickets) issueFor(purpose, envID string, userID int64, exp time.Time) (string, time.Time) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(exp.Unix()))
	binary.BigEndian.PutUint64(b[8:], uint64(userID))
	nonce := make([]byte, 9)
	_, _ = rand.Read(nonce)
	payload := purpose + "." + envID + "." + base64.RawURLEncoding.EncodeToString(append(b[:], nonce...))
	return payload + "." + t.mac(payload), exp
}

// redeem checks a single-use ticket for purpose on envID and returns its
// user id.
func (t *tickets) redeem(ticket, purpose, envID string, now time.Time) (int64, error) {
	return t.check(ticket, purpose, envID, now, true)
}

// check verifies a signed token; once makes it single-use.
func (t *tickets) check(ticket, purpose, envID string, now time.Time, once bool) (int64, error) {
	bad := paddock.Errorf(paddock.EUnauthorized, "invalid or expired ticket")
	i := strings.LastIndexByte(ticket, '.')
	if i < 0 {
		return 0, bad
	}
	payload, mac := ticket[:i], ticket[i+1:]
	if !hmac.Equal([]byte(mac), []byte(t.mac(payload))) {
		return 0, bad
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 || parts[0] != purpose || parts[1] != envID {
		return 0, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < 16 {
		return 0, bad
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0)
	if !now.Before(exp) {
		return 0, bad
	}
	uid := int64(binary.BigEndian.Uint64(raw[8:16]))
	if !once {
		return uid, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.used {
		if !now.Before(e) {
			delete(t.used, k)
		}
	}
	if _, seen := t.used[mac]; seen {
		return 0, paddock.Errorf(paddock.EUnauthorized, "ticket already used")
	}
	t.used[mac] = exp
	return uid, nil
}
