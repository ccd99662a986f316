//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestCreatePrivateIsOwnerOnly(t *testing.T) {
	old := syscall.Umask(0) // the widest umask: the mode must not depend on it
	defer syscall.Umask(old)
	dir := t.TempDir()

	fresh := filepath.Join(dir, "plan.csv")
	f, err := createPrivate(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("slug,action\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	assertMode(t, fresh, 0o600)

	// An earlier report made world-readable is narrowed and truncated.
	existing := filepath.Join(dir, "afsync-report.csv")
	if err := os.WriteFile(existing, []byte("old personal data, longer than the new content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(existing, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err = createPrivate(existing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("new\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	assertMode(t, existing, 0o600)
	if b, _ := os.ReadFile(existing); string(b) != "new\n" {
		t.Errorf("content %q, want the old content replaced", b)
	}

	if _, err := createPrivate(filepath.Join(dir, "missing", "plan.csv")); err == nil {
		t.Error("a path in a missing directory was accepted")
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", filepath.Base(path), got, want)
	}
}
