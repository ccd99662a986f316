// Package devserver runs the official Temporal dev server (`temporal server
// start-dev`) as a child process: the embedded default of `worker --dev` and
// the real server of the integration tests.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/workflows"
)

// PinnedVersion is the Temporal CLI afsync is built and tested with (server
// 1.29.1, UI 2.42.1). Later CLIs cannot be `go install`ed: they carry a
// replace directive.
const PinnedVersion = "v1.5.1"

// InstallCommand builds the pinned CLI from the Go module proxy.
const InstallCommand = "go install github.com/temporalio/cli/cmd/temporal@" + PinnedVersion

// SearchAttributeValueLimit is the largest search attribute value the dev
// server takes (frontend.searchAttributesSizeOfValueLimit; the server's
// default is 2 KB): the identity ledger's pages fill it, a quarter as many
// pages as at 2 KB for the same pairings (workflows/ledger_fit.go). Their
// memos grow with it, so the memo size above which the server logs a
// warning is raised beside it.
const SearchAttributeValueLimit = workflows.LedgerValueHope

// Options configures the dev server.
type Options struct {
	// Binary is the temporal CLI; empty means Find().
	Binary string
	// IP to listen on; default 127.0.0.1.
	IP string
	// Port of the frontend; 0 picks a free one.
	Port int
	// UIPort of the web UI; 0 picks a free one, -1 disables the UI.
	UIPort int
	// DBFile keeps history in SQLite across restarts; empty keeps it in memory.
	DBFile string
	// Namespace to create; default "default".
	Namespace string
	// SearchAttributes are registered at start.
	SearchAttributes []temporal.SearchAttributeKey
	// Log receives the server's output; nil discards it.
	Log io.Writer
	// ExtraArgs are passed to `temporal server start-dev` as they are (for
	// example --ui-codec-endpoint).
	ExtraArgs []string
	// Partitions, when above 0, sets every task queue's partitions (the
	// server's default is four, and Temporal Cloud's cannot be changed):
	// the benchmark compares both.
	Partitions int
	// ServerDefaultLimits keeps the server's own 2 KB search attribute
	// value limit instead of SearchAttributeValueLimit, as a cluster that
	// was not told otherwise has it.
	ServerDefaultLimits bool
}

// Server is a running dev server.
type Server struct {
	cmd *exec.Cmd
	// Address is the frontend's host:port.
	Address string
	// UIURL is the web UI's address, empty when disabled.
	UIURL string
	// Namespace is the namespace created at start.
	Namespace string
	done      chan struct{}
	waitErr   error
}

// Pid is the dev server's process id (for the benchmark's CPU figures).
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Find locates the temporal CLI: $AFSYNC_TEMPORAL_CLI, then $GOBIN,
// $GOPATH/bin and ~/go/bin (where `go install` puts it), then $PATH.
func Find() (string, error) {
	if p := os.Getenv(config.EnvTemporalCLI); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", config.EnvTemporalCLI, p, err)
		}
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if d := os.Getenv("GOPATH"); d != "" {
		dirs = append(dirs, filepath.Join(filepath.SplitList(d)[0], "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "temporal")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the Temporal CLI is not installed: run `%s` (a few minutes the first time), or set %s to its path", InstallCommand, config.EnvTemporalCLI)
}

// Start launches the dev server and waits until it answers health checks.
// A server on free ports that exits before it is ready (another process
// took a port it derives from the one it was given: several dev servers
// start at once when test packages run in parallel) is started again on
// other ports, three times at most.
func Start(ctx context.Context, opts Options) (*Server, error) {
	for attempt := 1; ; attempt++ {
		s, err := start(ctx, opts)
		if err == nil || !errors.Is(err, errExitedEarly) || opts.Port > 0 || attempt == 3 {
			return s, err
		}
	}
}

// errExitedEarly is the error of a server process that ended before it
// answered.
var errExitedEarly = errors.New("temporal dev server exited before it was ready")

func start(ctx context.Context, opts Options) (*Server, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = Find(); err != nil {
			return nil, err
		}
	}
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	port, err := portOrFree(opts.IP, opts.Port)
	if err != nil {
		return nil, err
	}
	args := []string{"server", "start-dev",
		"--ip", opts.IP, "--port", strconv.Itoa(port),
		"--namespace", opts.Namespace,
		"--log-level", "warn",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
	}
	if !opts.ServerDefaultLimits {
		args = append(args,
			"--dynamic-config-value", "frontend.searchAttributesSizeOfValueLimit="+strconv.Itoa(SearchAttributeValueLimit),
			"--dynamic-config-value", "limit.memoSize.warn="+strconv.Itoa(2*SearchAttributeValueLimit))
	}
	if opts.Partitions > 0 {
		n := strconv.Itoa(opts.Partitions)
		args = append(args,
			"--dynamic-config-value", "matching.numTaskqueueReadPartitions="+n,
			"--dynamic-config-value", "matching.numTaskqueueWritePartitions="+n)
	}
	s := &Server{Address: net.JoinHostPort(opts.IP, strconv.Itoa(port)), Namespace: opts.Namespace, done: make(chan struct{})}
	if opts.UIPort < 0 {
		args = append(args, "--headless")
	} else {
		ui, err := portOrFree(opts.IP, opts.UIPort)
		if err != nil {
			return nil, err
		}
		args = append(args, "--ui-port", strconv.Itoa(ui), "--ui-ip", opts.IP)
		s.UIURL = "http://" + net.JoinHostPort(opts.IP, strconv.Itoa(ui))
	}
	if opts.DBFile != "" {
		if err := os.MkdirAll(filepath.Dir(opts.DBFile), 0o755); err != nil {
			return nil, err
		}
		args = append(args, "--db-filename", opts.DBFile)
	}
	for _, k := range opts.SearchAttributes {
		args = append(args, "--search-attribute", k.GetName()+"="+k.GetValueType().String())
	}
	args = append(args, opts.ExtraArgs...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = opts.Log, opts.Log
	// Its own process group, so that Stop ends the server and its children
	// and a Ctrl-C in the terminal reaches us first.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		c, err := client.Dial(client.Options{HostPort: s.Address, Namespace: s.Namespace, Logger: quietLogger{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			if err == nil {
				_, err = c.DescribeTaskQueue(ctx, "afsync-ready-probe", 1)
			}
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("%w: %v (is port %s or the database file in use?)", errExitedEarly, s.waitErr, s.Address)
		case <-ctx.Done():
			return fmt.Errorf("temporal dev server at %s not ready: %w (last error: %v)", s.Address, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop ends the server gracefully (SIGTERM, then SIGKILL after 10 s) and waits.
func (s *Server) Stop() error {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	var exitErr *exec.ExitError
	if s.waitErr != nil && !errors.As(s.waitErr, &exitErr) {
		return s.waitErr
	}
	return nil
}

// Done is closed when the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

func portOrFree(ip string, port int) (int, error) {
	if port > 0 {
		return port, nil
	}
	return FreePort(ip)
}

// FreePort returns a TCP port on ip that nothing listened on a moment ago,
// for a server that cannot be told to pick one itself.
func FreePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// quietLogger drops the SDK client's logs during readiness probing.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
