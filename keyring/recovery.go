package keyring

import (
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
)

// Recovery key format, version 1 (docs/KEYRING.md): the 37 bytes
// version (0x01) || master key (32) || CRC-32/IEEE of the first 33 bytes
// (big-endian), in RFC 4648 base32 without padding (60 characters, the last
// 4 bits zero), printed in 15 groups of 4 separated by "-".
const (
	recoveryVersion = 1
	recoveryRawSize = 1 + KeySize + 4
	recoveryChars   = (recoveryRawSize*8 + 4) / 5 // 60
	recoveryGroup   = 4
)

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func encodeRecoveryKey(master *[KeySize]byte) string {
	var raw [recoveryRawSize]byte
	defer clear(raw[:])
	raw[0] = recoveryVersion
	copy(raw[1:], master[:])
	binary.BigEndian.PutUint32(raw[1+KeySize:], crc32.ChecksumIEEE(raw[:1+KeySize]))
	enc := recoveryEncoding.EncodeToString(raw[:])
	var b strings.Builder
	for i := 0; i < len(enc); i += recoveryGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(enc[i : i+recoveryGroup])
	}
	return b.String()
}

// ParseRecoveryKey decodes a recovery key as printed by RecoveryKey and
// returns the master key. It ignores case, spaces, tabs, newlines and dashes,
// and reads the digits 0 and 1 (not in the alphabet) as the letters O and I.
// A wrong length, a foreign character or a checksum mismatch (a typo) yields
// an error wrapping ErrBadRecoveryKey.
func ParseRecoveryKey(s string) ([32]byte, error) {
	var master [32]byte
	norm := make([]byte, 0, recoveryChars)
	n := 0
	for _, r := range s {
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '-':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		case r == '0':
			r = 'O'
		case r == '1':
			r = 'I'
		}
		if !(r >= 'A' && r <= 'Z' || r >= '2' && r <= '7') {
			return master, fmt.Errorf("%w: character %q is not in the alphabet A-Z, 2-7", ErrBadRecoveryKey, r)
		}
		n++
		if n <= recoveryChars {
			norm = append(norm, byte(r))
		}
	}
	if n != recoveryChars {
		return master, fmt.Errorf("%w: %d characters, want %d", ErrBadRecoveryKey, n, recoveryChars)
	}
	raw, err := recoveryEncoding.DecodeString(string(norm))
	defer clear(raw)
	if err != nil || len(raw) != recoveryRawSize || recoveryEncoding.EncodeToString(raw) != string(norm) {
		return master, fmt.Errorf("%w: checksum mismatch (check for a mistyped character)", ErrBadRecoveryKey)
	}
	if binary.BigEndian.Uint32(raw[1+KeySize:]) != crc32.ChecksumIEEE(raw[:1+KeySize]) {
		return master, fmt.Errorf("%w: checksum mismatch (check for a mistyped character)", ErrBadRecoveryKey)
	}
	if raw[0] != recoveryVersion {
		return master, fmt.Errorf("%w: version %d", ErrBadRecoveryKey, raw[0])
	}
	copy(master[:], raw[1:])
	return master, nil
}
