package store

import (
	"context"
	"strings"
	"testing"
)

// TestActiveRunQueriesUseIndex checks on SQLite that the queries looking
// for a session's active runs use runs_session_active, and do not read
// every run the session ever had.
func TestActiveRunQueriesUseIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openTestSQLite(t)
	for name, q := range map[string]string{
		"ActiveRuns": activeRunsQuery,
		"claimQuery": claimQuery,
		"runnable":   runnableQuery,
		"claimRun":   claimRunQuery,
	} {
		n := strings.Count(q, "?")
		args := make([]any, n)
		for i := range args {
			args[i] = "x"
		}
		rows, err := db.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "; ")
		// Every read of a session's runs (the subquery's, ActiveRuns') must
		// go through the partial index.
		for _, step := range plan {
			if strings.Contains(step, "SCAN") || strings.Contains(step, "sqlite_autoindex_runs") && strings.Contains(step, "session_id") {
				t.Errorf("%s reads a session's runs through its (session_id, seq) key, not runs_session_active: %s", name, all)
			}
		}
		if !strings.Contains(all, "runs_session_active") {
			t.Errorf("%s does not use runs_session_active: %s", name, all)
		}
	}
}
