package pairing

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a spec: where, what, and how to fix it.
type Problem struct {
	// Key is the key path in the spec, e.g. "options.create_if_missing" or
	// "fields[2].direction" (list indexes count from 0); "spec" for the document itself.
	Key string `json:"key"`
	// Line is the 1-based line in the YAML source, 0 when unknown.
	Line int `json:"line,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Fix says what to change.
	Fix string `json:"fix"`
}

// String renders the problem as "key (line N): message; fix: fix".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Key)
	if p.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.Line)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	if p.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// ValidationError lists every problem found in a spec, in the order found.
// Parse, Validate and Check return it; use errors.As to reach the problems.
type ValidationError struct {
	Problems []Problem `json:"problems"`
}

// Error lists the problems, one a line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid pairing spec: ")
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, "invalid pairing spec: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects Problems; the first problem reported for a key wins, so that
// a value that failed to decode is not also reported as missing.
type problems struct {
	list  []Problem
	seen  map[string]bool
	lines map[string]int // key path → line, from the YAML source when parsed
}

func (ps *problems) add(key, message, fix string) {
	if ps.seen[key] {
		return
	}
	ps.addAlways(key, message, fix)
}

// addAlways adds a problem even when key already has one: for several distinct
// problems under one key, such as required CRM fields missing from "fields".
func (ps *problems) addAlways(key, message, fix string) {
	if ps.seen == nil {
		ps.seen = map[string]bool{}
	}
	ps.seen[key] = true
	ps.list = append(ps.list, Problem{Key: key, Line: ps.line(key), Message: message, Fix: fix})
}

// line finds the line of key, or of its closest ancestor that has one.
func (ps *problems) line(key string) int {
	for k := key; k != ""; {
		if l, ok := ps.lines[k]; ok {
			return l
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps.list}
}
