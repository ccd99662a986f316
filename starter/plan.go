package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

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
func writePlan(ctx context.Context, c client.Client, p *workflows.Progress, path, format string, stdout io.Writer, keep func(workflows.UserSyncResult) bool) (int, error) {
	w, err := newPlanWriter(path, format, stdout, nil)
	if err != nil {
		return 0, err
	}
	defer w.abort()
	err = forEachUser(ctx, c, p, func(u workflows.UserSyncResult) error {
		if keep != nil && !keep(u) {
			return nil
		}
		return w.write(u, nil, u)
	})
	if err != nil {
		return w.n, err
	}
	return w.n, w.close()
}

// writeRecords writes the audits of syncs that keep accepts (nil: all) in
// the plan's format, each row with the sync's time, trigger and link; a
// sync that left no audit (a run that continued as new) is passed over.
func writeRecords(path, format string, stdout io.Writer, syncs []syncRecord, keep func(workflows.UserSyncResult) bool) (int, error) {
	w, err := newPlanWriter(path, format, stdout, []string{"when", "trigger", "workflow"})
	if err != nil {
		return 0, err
	}
	defer w.abort()
	for _, s := range syncs {
		if s.Result == nil || keep != nil && !keep(*s.Result) {
			continue
		}
		link := s.Link
		if link == "" {
			link = s.WorkflowID
		}
		if err := w.write(*s.Result, []string{s.When.UTC().Format(time.RFC3339), s.Trigger, link}, s); err != nil {
			return w.n, err
		}
	}
	return w.n, w.close()
}

// planWriter writes a plan or report file, private to its owner: CSV rows
// (planHeader, then extra columns) or JSON lines.
type planWriter struct {
	f   *os.File // nil when writing to stdout
	cw  *csv.Writer
	enc *json.Encoder
	n   int
}

// StdoutPath is the --out that means standard output, on every command
// that takes --out.
const StdoutPath = "-"

// newPlanWriter writes a plan to the file at path, or to stdout when path
// is StdoutPath.
func newPlanWriter(path, format string, stdout io.Writer, extra []string) (*planWriter, error) {
	w := &planWriter{}
	var dst io.Writer = stdout
	if path != StdoutPath {
		f, err := createPrivate(path)
		if err != nil {
			return nil, fmt.Errorf("--out: %w", err)
		}
		w.f, dst = f, f
	}
	if format == "csv" {
		w.cw = csv.NewWriter(dst)
		_ = w.cw.Write(append(slices.Clone(planHeader), extra...))
	} else {
		w.enc = json.NewEncoder(dst)
	}
	return w, nil
}

// abort closes the file, if any, after a failure (close reports errors).
func (w *planWriter) abort() {
	if w.f != nil {
		_ = w.f.Close()
	}
}

// write writes one user's audit u: as CSV rows, each followed by the extra
// cells, or as the JSON line asJSON.
func (w *planWriter) write(u workflows.UserSyncResult, extra []string, asJSON any) error {
	w.n++
	if w.enc != nil {
		return w.enc.Encode(asJSON)
	}
	for _, row := range planRows(u) {
		for _, c := range extra {
			row = append(row, spreadsheetSafe(c))
		}
		_ = w.cw.Write(row) // a write error sticks: cw.Error reports it in close
	}
	return nil
}

func (w *planWriter) close() error {
	if w.cw != nil {
		w.cw.Flush()
		if err := w.cw.Error(); err != nil {
			return err
		}
	}
	if w.f == nil {
		return nil
	}
	return w.f.Close()
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
