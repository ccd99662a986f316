// Command starter is afsync's ops CLI: it triggers single syncs and
// backfills on a running worker, and serves the sandbox simulators.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", withHint(err))
		os.Exit(exitCode(err))
	}
}
