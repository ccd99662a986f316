package deploy

import (
	"bufio"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// dockerignore is a parsed .dockerignore: its patterns, in order, as
// Docker reads them (comments and blank lines dropped, paths cleaned and
// relative to the context root, "!" re-includes).
type dockerignore []string

func readDockerignore(t *testing.T) dockerignore {
	t.Helper()
	f, err := os.Open(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatalf(".dockerignore: %v (without it the Dockerfile's COPY . . puts .env and .git in the image)", err)
	}
	defer f.Close()
	var d dockerignore
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := strings.HasPrefix(line, "!")
		line = strings.TrimPrefix(line, "!")
		line = strings.TrimPrefix(path.Clean("/"+strings.TrimSpace(line)), "/")
		if neg {
			line = "!" + line
		}
		d = append(d, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// excludes reports whether Docker leaves name (slash-separated, relative to
// the context root) out of the build context: the last pattern matching it
// or one of its parent directories decides.
func (d dockerignore) excludes(name string) bool {
	excluded := false
	for _, p := range d {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if matchesOrParent(strings.Split(p, "/"), strings.Split(name, "/")) {
			excluded = !neg
		}
	}
	return excluded
}

// matchesOrParent reports whether the pattern's segments match name's
// segments or a leading run of them (a directory holding name). "**"
// matches any number of segments.
func matchesOrParent(pat, name []string) bool {
	if len(pat) == 0 {
		return true // name is pat's match or inside it
	}
	if pat[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchesOrParent(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, err := path.Match(pat[0], name[0])
	return err == nil && ok && matchesOrParent(pat[1:], name[1:])
}

func TestDockerignoreKeepsSecretsStateAndOutputsOut(t *testing.T) {
	d := readDockerignore(t)
	for _, entry := range []string{".env", ".afsync", ".git", "bin", "dist", "*.test", "*.out"} {
		found := false
		for _, p := range d {
			found = found || p == entry
		}
		if !found {
			t.Errorf(".dockerignore lacks the entry %q", entry)
		}
	}
	for _, name := range []string{
		".env", ".env.local", "deploy/.env", ".afsync/temporal.db", ".afsync",
		".git", ".git/config", "bin/worker", "dist/afsync.tar.gz",
		"afworker.test", "cover.out", "internal/afworker/afworker.test",
	} {
		if !d.excludes(name) {
			t.Errorf(".dockerignore lets %s into the build context", name)
		}
	}
	// What the Dockerfile builds from must stay in.
	for _, name := range []string{
		"go.mod", "go.sum", "worker/main.go", "starter/main.go",
		"internal/config/config.go", "pairing/spec.go", "deploy/example.env",
	} {
		if d.excludes(name) {
			t.Errorf(".dockerignore leaves %s out of the build context, which the image needs", name)
		}
	}
}

// The matcher above must itself tell entries apart, or the test proves nothing.
func TestDockerignoreMatcher(t *testing.T) {
	d := dockerignore{"bin", "**/*.test", "!keep.test", ".env"}
	for name, want := range map[string]bool{
		"bin/x": true, "binx": false, "a/b/c.test": true, "c.test": true,
		"keep.test": false, ".env": true, "deploy/.env": false, "go.mod": false,
	} {
		if got := d.excludes(name); got != want {
			t.Errorf("excludes(%q) = %v, want %v", name, got, want)
		}
	}
}
