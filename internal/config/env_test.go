package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The names are an interface with operators: the constants must keep them.
func TestEnvNamesAreUnchanged(t *testing.T) {
	for got, want := range map[string]string{
		EnvTemporalAddress: "TEMPORAL_ADDRESS", EnvTemporalNamespace: "TEMPORAL_NAMESPACE",
		EnvAwardForceAPIURL: "AWARDFORCE_API_URL", EnvAwardForceAPIKey: "AWARDFORCE_API_KEY",
		EnvAwardForceRateLimit: "AWARDFORCE_RATE_LIMIT", EnvAwardForceWebhookSigningKey: "AWARDFORCE_WEBHOOK_SIGNING_KEY",
		EnvSalesforceLoginURL: "SALESFORCE_LOGIN_URL", EnvSalesforceClientID: "SALESFORCE_CLIENT_ID",
		EnvSalesforceClientSecret: "SALESFORCE_CLIENT_SECRET", EnvSalesforceUsername: "SALESFORCE_USERNAME",
		EnvSalesforcePrivateKeyFile: "SALESFORCE_PRIVATE_KEY_FILE", EnvSalesforceAudience: "SALESFORCE_AUDIENCE",
		EnvSalesforceAPIVersion: "SALESFORCE_API_VERSION", EnvSalesforceCommitHorizon: "SALESFORCE_COMMIT_HORIZON",
		EnvConfig: "AFSYNC_CONFIG", EnvHTTPAddr: "AFSYNC_HTTP_ADDR", EnvCodecCORSOrigins: "AFSYNC_CODEC_CORS_ORIGINS",
		EnvCodecToken: "AFSYNC_CODEC_TOKEN", EnvTemporalCLI: "AFSYNC_TEMPORAL_CLI", EnvAllowInsecureHTTP: "AFSYNC_ALLOW_INSECURE_HTTP",
		EnvCodecKey: "AFSYNC_CODEC_KEY", EnvCodecKeyID: "AFSYNC_CODEC_KEY_ID", EnvCodecOldKeys: "AFSYNC_CODEC_OLD_KEYS",
		EnvTemporalCompression: "AFSYNC_TEMPORAL_COMPRESSION", EnvLaneGather: "AFSYNC_LANE_GATHER", EnvLaneMaxGather: "AFSYNC_LANE_MAX_GATHER",
	} {
		if got != want {
			t.Errorf("constant %q, want %q", got, want)
		}
	}
}

// FromEnv reads every variable through its constant.
func TestFromEnvReadsTheConstants(t *testing.T) {
	key := filepath.Join(t.TempDir(), "sf.pem")
	if err := os.WriteFile(key, []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := FromEnv(env(map[string]string{
		EnvAwardForceAPIURL: "https://api.eu.cr4ce.com", EnvAwardForceAPIKey: "k", EnvAwardForceRateLimit: "12",
		EnvAwardForceWebhookSigningKey: "wh", EnvSalesforceLoginURL: "https://acme.my.salesforce.com",
		EnvSalesforceClientID: "id", EnvSalesforceClientSecret: "s", EnvSalesforceUsername: "u",
		EnvSalesforcePrivateKeyFile: key, EnvSalesforceAudience: "https://test.salesforce.com",
		EnvSalesforceAPIVersion: "v61.0", EnvSalesforceCommitHorizon: "3m", EnvConfig: "spec.yaml",
		EnvHTTPAddr: ":1", EnvCodecCORSOrigins: "https://ui", EnvCodecToken: "tok",
	}))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Salesforce
	if c.AwardForce.BaseURL != "https://api.eu.cr4ce.com" || c.AwardForce.APIKey != "k" || c.AwardForceRatePerMinute != 12 ||
		c.WebhookSigningKey != "wh" || s.LoginURL != "https://acme.my.salesforce.com" || s.ClientID != "id" ||
		s.ClientSecret != "s" || s.Username != "u" || string(s.PrivateKeyPEM) != "pem" || s.Audience != "https://test.salesforce.com" ||
		s.APIVersion != "v61.0" || c.CommitHorizon.String() != "3m0s" || c.SpecPath != "spec.yaml" || c.HTTPAddr != ":1" ||
		len(c.CodecCORSOrigins) != 1 || c.CodecCORSOrigins[0] != "https://ui" || c.CodecToken != "tok" {
		t.Errorf("config: %+v", c)
	}
}

var envNameRE = regexp.MustCompile(`\b(AWARDFORCE|SALESFORCE|TEMPORAL|AFSYNC)_[A-Z0-9_]*\*?`)

// sdkOrTestOnly are names that afsync mentions but does not read itself:
// the Temporal SDK's other standard settings, and a switch of the tests.
var sdkOrTestOnly = map[string]bool{
	"TEMPORAL_API_KEY": true, "TEMPORAL_PROFILE": true, "TEMPORAL_CONFIG_FILE": true,
	"AFSYNC_UPDATE_HISTORY": true,
}

// definedNames are the values of this package's Env* constants.
func definedNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{EnvCodecKey: true, EnvCodecKeyID: true, EnvCodecOldKeys: true}
	f, err := parser.ParseFile(token.NewFileSet(), "env.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && strings.HasPrefix(n.Name, "Env") {
					v, _ := strconv.Unquote(lit.Value)
					names[v] = true
				}
			}
		}
	}
	if len(names) < 20 {
		t.Fatalf("found only %d names in env.go", len(names))
	}
	return names
}

// literalExempt are the packages whose string literals may spell a name:
// this one, and those it imports, which cannot import it (their names are
// still checked against the constants).
var literalExempt = []string{"internal/config/", "internal/codec/", "awardforce/", "salesforce/"}

// flagDef matches pflag's flag definitions, whose last argument is the
// flag's usage text.
var flagDef = regexp.MustCompile(`^(String|Bool|Int|Int64|Float64|Duration|StringSlice|StringArray|Uint)(Var)?P?$`)

// Every Go file outside the tests names only variables defined here (no
// AWARDFORCE_BASE_URL that nothing reads), and outside the exempt packages
// no string literal of code or of an error message spells a name: they use
// the constants. Help text (a command's Short, Long and Example, a flag's
// usage) is prose and may.
func TestEnvNamesLiveInConfig(t *testing.T) {
	defined := definedNames(t)
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for _, m := range envNameRE.FindAllString(string(src), -1) {
			if strings.HasSuffix(m, "*") || defined[m] || sdkOrTestOnly[m] {
				continue
			}
			t.Errorf("%s mentions %s, which afsync does not read: name a variable internal/config defines", rel, m)
		}
		for _, prefix := range literalExempt {
			if strings.HasPrefix(rel, prefix) {
				return nil
			}
		}
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			return err
		}
		help := map[ast.Node]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && (k.Name == "Short" || k.Name == "Long" || k.Name == "Example") {
					help[n.Value] = true
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && flagDef.MatchString(sel.Sel.Name) && len(n.Args) > 0 {
					help[n.Args[len(n.Args)-1]] = true
				}
			case *ast.BasicLit:
				if n.Kind != token.STRING || help[n] {
					return true
				}
				v, err := strconv.Unquote(n.Value)
				if err != nil {
					return true
				}
				for _, m := range envNameRE.FindAllString(v, -1) {
					if defined[m] {
						t.Errorf("%s: the string literal %s spells %s: use the constant from internal/config", fset.Position(n.Pos()), n.Value, m)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files: is the module root %s?", checked, root)
	}
}
