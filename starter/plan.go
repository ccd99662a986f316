package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/workflows"
)

func planFormat(format, out string) (string, error) {
	if format == "" {
		switch strings.ToLower(filepath.Ext(out)) {
		case ".jsonl", ".json", ".ndjson":
			format = "jsonl"
		default:
			format = "csv"
		}
	}
	if format != "csv" && format != "jsonl" {
		return "", fmt.Errorf("--format %q: want csv or jsonl", format)
	}
	return format, nil
}

// privateFileMode is the mode of plan and report files: they hold personal
// data (emails, names, every field's before and after), so only their
// owner may read them.
const privateFileMode os.FileMode = 0o600

// createPrivate creates or truncates the file at path for writing, readable
// and writable by its owner only (privateFileMode), whatever the umask, and
// also when the file existed with a wider mode.
func createPrivate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, privateFileMode)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(privateFileMode); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// writePlan reads every chunk's audit and writes, per user that keep
// accepts (nil: every user), the outcome, the decision and every field's
// before → after, as CSV or JSON lines; it returns how many users it wrote.
func writePlan(ctx context.Context, c client.Client, p *workflows.Progress, path, format string, keep func(workflows.UserSyncResult) bool) (int, error) {
	f, err := createPrivate(path)
	if err != nil {
		return 0, fmt.Errorf("--out: %w", err)
	}
	defer f.Close()
	var (
		cw  *csv.Writer
		enc *json.Encoder
	)
	if format == "csv" {
		cw = csv.NewWriter(f)
		_ = cw.Write(planHeader)
	} else {
		enc = json.NewEncoder(f)
	}
	n := 0
	err = forEachUser(ctx, c, p, func(u workflows.UserSyncResult) error {
		if keep != nil && !keep(u) {
			return nil
		}
		n++
		if enc != nil {
			return enc.Encode(u)
		}
		for _, row := range planRows(u) {
			_ = cw.Write(row) // a write error sticks: cw.Error reports it below
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, err
		}
	}
	return n, f.Close()
}

// planHeader names the CSV plan's columns.
var planHeader = []string{"slug", "action", "outcome", "record_id", "reason", "target", "field", "source", "before", "after", "note"}

// planRows renders one user's audit as CSV rows: one per field change, or a
// single row when nothing changes. Every cell is made spreadsheet-safe.
func planRows(u workflows.UserSyncResult) [][]string {
	d := u.Decision
	base := []string{u.Slug, string(d.Action), string(u.Outcome), u.RecordID, firstNonEmpty(u.Error, d.Reason)}
	row := func(cells ...string) []string {
		r := make([]string, 0, len(planHeader))
		for _, c := range base {
			r = append(r, spreadsheetSafe(c))
		}
		for _, c := range cells {
			r = append(r, spreadsheetSafe(c))
		}
		return r
	}
	var rows [][]string
	for _, ch := range d.CRM {
		rows = append(rows, row("salesforce", ch.Field, ch.Source, ch.Before, ch.After, ch.Note))
	}
	for _, ch := range d.AwardForce {
		rows = append(rows, row("awardforce", ch.Field, ch.Source, ch.Before, ch.After, ch.Note))
	}
	for _, sk := range d.SkippedFields {
		rows = append(rows, row("awardforce", sk.Field, "", "", sk.Value, "left out: "+sk.Reason))
	}
	if len(rows) == 0 {
		rows = append(rows, row("", "", "", "", "", ""))
	}
	return rows
}

// spreadsheetSafe defuses a cell that a spreadsheet would run as a formula
// (CSV injection: the values come from people's own profiles): one starting
// with = + - @, a tab or a carriage return gets a leading apostrophe, which
// spreadsheets read as "text". The JSON-lines plan carries values untouched.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
