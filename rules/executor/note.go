package executor

import "context"

// Note records a decision taken outside a plan's run (the daemon's
// shedding controller: a shed requested, a request held, a restore due)
// in the audit store and as an audit point, like the executor's own
// events. plan may be empty.
func (e *Executor) Note(ctx context.Context, plan, actor, event, detail string) {
	e.record(ctx, plan, "", actor, event, detail)
}
