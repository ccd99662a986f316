// Package logging builds afsync's slog loggers. Their handler masks email
// addresses wherever they appear: API error messages can quote them
// (Salesforce's INVALID_EMAIL_ADDRESS does), and the SDK logs activity
// errors verbatim. Emails are personal data and stay out of logs.
package logging

import (
	"context"
	"io"
	"log/slog"
	"regexp"
)

var emailPattern = regexp.MustCompile(`[A-Za-z0-9._%+\-']+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)

// Mask is what an email address becomes in a log.
const Mask = "<email>"

// New returns a text logger at level that masks email addresses.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(Redacting(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})))
}

// Redacting wraps h so that every message and attribute value has its
// email addresses masked.
func Redacting(h slog.Handler) slog.Handler { return redacting{h} }

type redacting struct{ next slog.Handler }

func (r redacting) Enabled(ctx context.Context, l slog.Level) bool { return r.next.Enabled(ctx, l) }

func (r redacting) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, scrub(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(scrubAttr(a))
		return true
	})
	return r.next.Handle(ctx, out)
}

func (r redacting) WithAttrs(as []slog.Attr) slog.Handler {
	scrubbed := make([]slog.Attr, len(as))
	for i, a := range as {
		scrubbed[i] = scrubAttr(a)
	}
	return redacting{r.next.WithAttrs(scrubbed)}
}

func (r redacting) WithGroup(name string) slog.Handler { return redacting{r.next.WithGroup(name)} }

func scrubAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, scrub(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, g := range attrs {
			out[i] = scrubAttr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, scrub(x.Error()))
		case interface{ String() string }:
			return slog.String(a.Key, scrub(x.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func scrub(s string) string { return emailPattern.ReplaceAllString(s, Mask) }
