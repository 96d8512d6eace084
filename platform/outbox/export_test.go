package outbox

import "time"

// SetProgressEvery sets how often a redrive logs its progress. Call it before tests run.
func SetProgressEvery(d time.Duration) { progressEvery = d }

// RedriveWindow is how many changes a redrive publishes before waiting for their acks.
const RedriveWindow = redriveWindow
