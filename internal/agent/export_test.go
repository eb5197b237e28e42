package agent

// Workers returns the number of Run loops of r executing runs.
func (r *Runner) Workers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.workers
}

// Wake makes r's Run loops look for runs to claim.
func (r *Runner) Wake() { r.signal() }
