package afworker

import (
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
)

// Every worker, serving one integration or several, tolerates a saturated
// machine's waits before calling a workflow task deadlocked.
func TestWorkersWaitOutASaturatedMachineBeforeCallingATaskDeadlocked(t *testing.T) {
	for _, shared := range []bool{false, true} {
		o := pollers(worker.Options{}, mainWorkflowPollers, shared)
		if o.DeadlockDetectionTimeout != deadlockDetection {
			t.Errorf("shared %v: deadlock detection after %v, want %v", shared, o.DeadlockDetectionTimeout, deadlockDetection)
		}
	}
	if deadlockDetection >= 10*time.Second {
		t.Errorf("deadlock detection after %v: past the workflow task timeout (10 s) it never fires", deadlockDetection)
	}
}
