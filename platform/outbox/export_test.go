package outbox

import "time"

// SetProgressEvery sets how often a redrive logs its progress. Call it before tests run.
func SetProgressEvery(d time.Duration) { progressEvery = d }

// RedriveWindow is how many changes a redrive publishes before waiting for their acks.
const RedriveWindow = redriveWindow

// SetRedriveLeaderCheck sets how often a redrive checks its leadership's session. Call it
// before tests run.
func SetRedriveLeaderCheck(d time.Duration) { redriveLeaderCheck = d }

// ErrLostLeadership ends a redrive whose leadership ended under it.
var ErrLostLeadership = errLostLeadership
