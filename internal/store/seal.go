package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// sealer encrypts secrets for their columns (AES-256-GCM, with the
// column's name as associated data, so a value moved to another column
// does not open).
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return sealer{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealer{}, err
	}
	return sealer{aead}, nil
}

// sealed prefixes a sealed value: the base64 of nonce and ciphertext.
const sealed = "sealed:v1:"

// Errors of open; errWrongKey means the value was sealed with another key.
var (
	errNotSealed = errors.New("not sealed")
	errDamaged   = errors.New("damaged")
	errWrongKey  = errors.New("cannot be decrypted: the signing key (PADDOCK_SIGNING_KEY, <data>/jwt.key) is not the one it was stored with")
)

// seal returns the sealed form of plain for the column ad.
func (s sealer) seal(plain []byte, ad string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return sealed + base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(ad))), nil
}

// open returns what box, a value seal made for the column ad, holds.
func (s sealer) open(box, ad string) ([]byte, error) {
	if !strings.HasPrefix(box, sealed) {
		return nil, errNotSealed
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(box, sealed))
	if err != nil || len(b) < s.aead.NonceSize() {
		return nil, errDamaged
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(ad))
	if err != nil {
		return nil, errWrongKey
	}
	return plain, nil
}

// sealKeyError explains a key of the wrong length.
func sealKeyError(what string, err error) error { return fmt.Errorf("%s key: %w", what, err) }
