// Command worker runs afsync's Temporal worker: it polls the main task queue
// (workflows and Salesforce activities) and the rate-limited Award Force task
// queue. With --dev it first starts the embedded default: the official
// Temporal dev server with its UI, and the sandbox simulators.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}
