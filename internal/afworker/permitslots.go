package afworker

import (
	"context"

	"go.temporal.io/sdk/interceptor"

	"github.com/afsync/afsync/activities"
)

// permitSlots makes each Award Force activity wait for the moment its
// permit allows (activities.AwaitPermitSlot) before it runs.
type permitSlots struct {
	interceptor.WorkerInterceptorBase
}

func (*permitSlots) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &permitSlotActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type permitSlotActivity struct {
	interceptor.ActivityInboundInterceptorBase
}

func (a *permitSlotActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if err := activities.AwaitPermitSlot(ctx); err != nil {
		return nil, err
	}
	return a.Next.ExecuteActivity(ctx, in)
}
