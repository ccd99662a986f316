package logging

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

func TestEmailsNeverReachTheLog(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, slog.LevelDebug).With("user", "ada@example.org")
	err := fmt.Errorf("activity: %w", errors.New("INVALID_EMAIL_ADDRESS: Email: invalid email address: o'hara+x@mail.example.co.uk"))
	l.Error("Activity error for grace@example.org", "Error", err, "note", stringer{"kay@example.org"},
		slog.Group("req", "to", "bob@example.org"), "slug", "AbCdEfGh", "count", 3)
	out := buf.String()
	for _, leak := range []string{"ada@", "o'hara", "grace@", "kay@", "bob@"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %q: %s", leak, out)
		}
	}
	for _, keep := range []string{"AbCdEfGh", "count=3", "INVALID_EMAIL_ADDRESS", Mask} {
		if !strings.Contains(out, keep) {
			t.Errorf("log lost %q: %s", keep, out)
		}
	}
}
