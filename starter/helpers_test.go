package main

import (
	"go.temporal.io/api/workflowservice/v1"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/devstack"
)

type workflowListRequest = workflowservice.ListWorkflowExecutionsRequest

func configFor(s *devstack.Stack) config.Temporal {
	return config.Temporal{Address: s.Server.Address, Namespace: s.Server.Namespace}
}
