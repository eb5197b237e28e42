// Package agent runs the agent loop: it takes the runs that user messages
// create, calls the model, executes the built-in tools in the session's
// environment and records every step, durably, as messages and events.
//
// # Runs
//
// Post stores a user message, a queued run and their events in one
// transaction and returns. Workers (Runner.Run) claim runs under a lease,
// renewed every Heartbeat; a session's runs execute one at a time, oldest
// first, and different sessions in parallel. When its worker has a free
// slot and no earlier run of the session is active, Post claims the run
// itself, in its transaction, and hands it to a Run loop: the run needs
// no transaction of its own to start, and no worker has to look for it.
// A run alternates model calls and tool calls until the model answers
// without calling a tool or the step limit (model calls per run) is
// reached.
//
// # Durability
//
// Every finished step is persisted before the next begins: the assistant
// message of a model call (with its usage), then each tool result as it
// completes. Events are appended in the same transaction as the state
// they describe and published after it commits. To keep a step cheap,
// related writes share a transaction: the claim of a run, the record of
// its start (run.started) and the reads it starts from (its agent, the
// context messages the worker does not keep already) go in one, the
// Post's when it claims; the assistant message goes with the last deltas
// of its call and, when it calls no tool, with the run's completion.
//
// If a worker dies, its lease expires and any worker takes the run over:
// it rebuilds the context from the stored messages, executes only the
// tool calls without a stored result, and continues. A tool call whose
// result is stored is never executed again; a tool that was running when
// the worker died runs again. Token deltas are persisted in batches
// (DeltaFlush); a model call interrupted by a crash is made again, so a
// client may see deltas of a step twice: run.started with resumed=true
// precedes the repeat, and each delta carries its step number, so clients
// discard the partial text of that step.
//
// # Cancel
//
// Cancel ends the active run of a session (only that run: later queued
// runs stay queued). A run executing in this process is stopped at once:
// the model call is aborted and the tool processes killed through their
// contexts. A run held by another replica is flagged in the store and that
// replica stops it at its next heartbeat or step; a run nobody holds is
// ended directly. Shutting a worker down (cancelling Run's context) is not
// a cancel: its runs are left to be resumed.
//
// # Session status
//
// A session is running while it has queued or running runs. When its last
// run ends it returns to pending if that run completed or was cancelled,
// and becomes failed if it failed (a model or infrastructure error; tool
// errors go back to the model and do not fail the run). Posting a message
// makes it running again.
package agent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/paddockhq/paddock"
	"github.com/paddockhq/paddock/internal/codingagent"
	"github.com/paddockhq/paddock/internal/llm"
	"github.com/paddockhq/paddock/internal/search"
)

// Providers returns configured LLM providers by name: *llm.Registry.
type Providers interface {
	Provider(name string) (llm.Provider, error)
}

// UserProviders is implemented by a Providers that knows users' own
// provider keys (paddock.ProviderKey): ForUser returns provider name with
// the key userID stored, or ok false when the user stored none.
type UserProviders interface {
	ForUser(ctx context.Context, userID int64, name string) (p llm.Provider, ok bool, err error)
}

// Agents reads agents: paddock.AgentService.
type Agents interface {
	Agent(ctx context.Context, id string) (*paddock.Agent, error)
}

// Sessions reads, deletes and commits units of work on sessions:
// paddock.SessionService.
type Sessions interface {
	Session(ctx context.Context, id string) (*paddock.Session, error)
	DeleteSession(ctx context.Context, id string) error
	Commit(ctx context.Context, sessionID string, fn func(tx paddock.SessionTx) error) ([]*paddock.Event, error)
}

// Messages reads messages: *store.MessageService.
type Messages interface {
	Messages(ctx context.Context, filter paddock.MessageFilter) ([]*paddock.Message, int, error)
	// ContextMessages returns the messages of the session's runs up to
	// the one with Seq runSeq (and those of no run), in context order:
	// by run, then by Seq.
	ContextMessages(ctx context.Context, sessionID string, runSeq int64) ([]*paddock.Message, error)
	// ContextMessagesAfter returns those of the runs after afterRunSeq
	// only, or stale when the runs up to afterRunSeq got messages after
	// Seq afterSeq.
	ContextMessagesAfter(ctx context.Context, sessionID string, runSeq, afterRunSeq, afterSeq int64) (msgs []*paddock.Message, stale bool, err error)
}

// Runs reads runs and hands them to workers: *store.RunService.
type Runs interface {
	Runs(ctx context.Context, filter paddock.RunFilter) ([]*paddock.Run, int, error)
	ClaimRun(ctx context.Context, owner string, lease time.Duration) (*paddock.Run, error)
	RenewLease(ctx context.Context, id, owner string, lease time.Duration) (*paddock.Run, error)
	// RunnableRuns returns, oldest first, up to limit of the runs
	// ClaimRun would claim, without claiming them.
	RunnableRuns(ctx context.Context, limit int) ([]*paddock.Run, error)
}

// runClaimer is the unit of work of a store that can claim a run inside
// it (the store package's): the claim of a run and the record of its
// start then take one transaction, not two. ClaimRun returns ENotFound
// when the run is not (or no longer) runnable.
type runClaimer interface {
	ClaimRun(ctx context.Context, id, owner string, lease time.Duration) (*paddock.Run, error)
}

// Events appends events that go with no state change (deltas, tool
// output): paddock.EventService.
type Events interface {
	AppendEvents(ctx context.Context, sessionID string, events []*paddock.Event) error
}

// Environments reads environments, to wait for a new one to run:
// paddock.EnvironmentService.
type Environments interface {
	Environment(ctx context.Context, id string) (*paddock.Environment, error)
}

// Sandbox creates, runs commands in and deletes environments:
// *sandbox.Manager. Exec must kill the command's process group when ctx is
// cancelled: that is how Cancel stops running tools.
type Sandbox interface {
	Create(ctx context.Context, env *paddock.Environment) error
	Exec(ctx context.Context, id string, req *paddock.ExecRequest) (*paddock.ExecResult, error)
	Delete(ctx context.Context, id string, force bool) error
	// Background processes (bash's background, bash_output, kill_process).
	StartProcess(ctx context.Context, id string, req *paddock.ExecRequest) (paddock.Process, error)
	ProcessOutput(ctx context.Context, id, pid string, since int64, wait bool) (paddock.ProcessOutput, error)
	KillProcess(ctx context.Context, id, pid string) (paddock.Process, error)
}

// UsageRecorder records the usage of model calls made outside a session's
// unit of work (stateless executions, context summaries):
// paddock.UsageService.
type UsageRecorder interface {
	RecordUsage(ctx context.Context, u *paddock.UsageRecord) error
}

// Publisher fans events out to live subscribers: *pubsub.Bus.
type Publisher interface {
	Publish(sessionID string, events ...*paddock.Event)
}

// Deps are the Runner's collaborators. All are required but Log, Credits
// and Usage (without it, calls outside a session unit of work are not
// recorded).
type Deps struct {
	Providers    Providers
	Agents       Agents
	Sessions     Sessions
	Messages     Messages
	Runs         Runs
	Events       Events
	Environments Environments
	Sandbox      Sandbox
	Bus          Publisher
	Usage        UsageRecorder
	// Credits, when set, is asked before every model call whether the
	// owner may make it (credit.Ledger.Check); its error fails the call.
	Credits func(ctx context.Context, ownerID int64) error
	// Search, when set, backs the web_search tool.
	Search WebSearcher
	// Resources, when set, backs the search_resources tool of runs that
	// name knowledge-base resources.
	Resources Resources
	// MCP and MCPServers, when set, give agents the tools of the MCP
	// servers they name.
	MCP        MCP
	MCPServers MCPServers
	// ClaudeOAuth refreshes the Claude Code sign-ins of users' coding
	// agents (internal/codingagent); the zero value: Anthropic's endpoint.
	ClaudeOAuth codingagent.OAuth
	Log         *slog.Logger
	// Tracer, when set, records each run's execution, model calls and
	// tool calls as spans.
	Tracer trace.Tracer
}

// WebSearcher searches the web: *search.Client.
type WebSearcher interface {
	Search(ctx context.Context, query string, n int) ([]search.Result, error)
}

// Config configures a Runner. Zero fields take the defaults noted.
type Config struct {
	Model        string            // model of agents that name none; default "openai/gpt-4o-mini"
	DefaultImage string            // image of session environments; default "python:3.11-slim"
	Resources    paddock.Resources // default resources of session environments; default 1 CPU, 1Gi memory, 2Gi storage
	Workdir      string            // tools' working directory, created in each environment; default "/workspace"
	MaxSteps     int               // step limit of agents that set none; default paddock.DefaultMaxSteps
	// ToolTimeout bounds one tool call; the bash tool may ask for less.
	// Default 2 minutes.
	ToolTimeout   time.Duration
	MaxToolOutput int    // bytes of a tool result kept per stream; default 32 KiB
	Owner         string // this worker's name in leases; default hostname + random suffix
	Lease         time.Duration
	Heartbeat     time.Duration // lease renewal and cross-replica cancel check; default Lease/3
	Poll          time.Duration // how often idle workers look for runs; default 500ms
	MaxConcurrent int           // runs executed at once by this worker; default 16
	DeltaFlush    time.Duration // batching of delta and tool output events; default 50ms
	// EnvironmentStart bounds the wait for a new environment to run;
	// default 3 minutes (a first image pull can be slow).
	EnvironmentStart time.Duration
	// Catalog is the model table: context windows (for context
	// compaction) and prices (models not in it are free). Default: llm's
	// table.
	Catalog *llm.Catalog
	// Summarizer is the model that compacts long histories,
	// "provider/model"; default: the model of the run.
	Summarizer string
	// MCPPrivate lets users' own and inline MCP servers be on loopback
	// and private networks (shared servers, added by admins, always may).
	MCPPrivate bool
}

func (c *Config) setDefaults() {
	if c.Model == "" {
		c.Model = "openai/gpt-4o-mini"
	}
	if c.DefaultImage == "" {
		c.DefaultImage = "python:3.11-slim"
	}
	if c.Resources.CPU == "" {
		c.Resources.CPU = "1"
	}
	if c.Resources.Memory == "" {
		c.Resources.Memory = "1Gi"
	}
	if c.Resources.Storage == "" {
		c.Resources.Storage = "2Gi"
	}
	if c.Workdir == "" {
		c.Workdir = "/workspace"
	}
	if c.MaxSteps <= 0 {
		c.MaxSteps = paddock.DefaultMaxSteps
	}
	if c.ToolTimeout <= 0 {
		c.ToolTimeout = 2 * time.Minute
	}
	if c.MaxToolOutput <= 0 {
		c.MaxToolOutput = 32 << 10
	}
	if c.Owner == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "paddock"
		}
		c.Owner = host + "-" + strings.ToLower(rand.Text()[:8])
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.Heartbeat <= 0 || c.Heartbeat >= c.Lease {
		c.Heartbeat = c.Lease / 3
	}
	if c.Poll <= 0 {
		c.Poll = 500 * time.Millisecond
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = 16
	}
	if c.DeltaFlush <= 0 {
		c.DeltaFlush = 50 * time.Millisecond
	}
	if c.EnvironmentStart <= 0 {
		c.EnvironmentStart = 3 * time.Minute
	}
	if c.Catalog == nil {
		c.Catalog = llm.NewCatalog()
	}
}

// Errors that end a run's execution on this worker.
var (
	errCancelled = errors.New("run cancelled")
	errLeaseLost = errors.New("run lease lost")
)

// lockStripes is the number of per-session mutexes, chosen by hash.
const lockStripes = 64

// Runner posts messages to sessions and executes their runs. It is safe
// for concurrent use. Its background work happens in Run.
type Runner struct {
	cfg Config
	d   Deps
	log *slog.Logger

	wake chan struct{}
	// slots holds a token per run executing here, up to MaxConcurrent;
	// Post takes one to claim the run it queues.
	slots chan struct{}
	// claimed hands the runs Post claimed to a Run loop. Sends never
	// block: each run in it holds a slot.
	claimed chan *paddock.Run
	// starved is set when a runnable run was left for want of a slot, so
	// that the end of a run looks for runs again.
	starved atomic.Bool

	mu      sync.Mutex
	workers int                                // Run loops executing runs: Post claims only while there is one
	active  map[string]context.CancelCauseFunc // run id -> cancel, for runs executing here
	started map[string]*loaded                 // run id -> what its claim read, for runs whose claim recorded their start

	contextsMu sync.Mutex
	contexts   map[string]*sessionContext // session id -> the context of its runs so far

	// commitLocks order commit-then-publish per session, so that live
	// subscribers get a session's events in Seq order.
	commitLocks [lockStripes]sync.Mutex
	// envLocks serialize the creation of a session's environment among
	// the parallel tool calls of a run.
	envLocks [lockStripes]sync.Mutex

	summaries sync.Map // session id -> *summary: compacted history prefixes
}

// NewRunner returns a Runner. Call Run to execute runs.
func NewRunner(cfg Config, d Deps) *Runner {
	cfg.setDefaults()
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Tracer == nil {
		d.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return &Runner{
		cfg:      cfg,
		d:        d,
		log:      d.Log.With("component", "agent", "worker", cfg.Owner),
		wake:     make(chan struct{}, 1),
		slots:    make(chan struct{}, cfg.MaxConcurrent),
		claimed:  make(chan *paddock.Run, cfg.MaxConcurrent),
		active:   map[string]context.CancelCauseFunc{},
		started:  map[string]*loaded{},
		contexts: map[string]*sessionContext{},
	}
}

// Owner returns the name this worker holds leases under.
func (r *Runner) Owner() string { return r.cfg.Owner }

func stripe(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % lockStripes)
}

// commit runs fn as a unit of work on the session and publishes the events
// it appended.
func (r *Runner) commit(ctx context.Context, sessionID string, fn func(tx paddock.SessionTx) error) error {
	mu := &r.commitLocks[stripe(sessionID)]
	mu.Lock()
	defer mu.Unlock()
	events, err := r.d.Sessions.Commit(ctx, sessionID, fn)
	if err != nil {
		return err
	}
	r.d.Bus.Publish(sessionID, events...)
	return nil
}

// appendEvents appends and publishes events that describe no state change.
func (r *Runner) appendEvents(ctx context.Context, sessionID string, events ...*paddock.Event) error {
	if len(events) == 0 {
		return nil
	}
	mu := &r.commitLocks[stripe(sessionID)]
	mu.Lock()
	defer mu.Unlock()
	if err := r.d.Events.AppendEvents(ctx, sessionID, events); err != nil {
		return err
	}
	r.d.Bus.Publish(sessionID, events...)
	return nil
}

func (r *Runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func newID(prefix string) string { return prefix + "_" + strings.ToLower(rand.Text()[:24]) }

// Post adds a user message to the session and queues a run to answer it;
// it returns the stored message without waiting for the run. The message's
// role must be user (or empty). With an idempotency key, a retry with the
// same requestHash returns the message of the first post and queues
// nothing; the same key with another hash is EConflict. An unknown session
// is ENotFound; an invalid message EInvalid.
func (r *Runner) Post(ctx context.Context, sessionID string, msg *paddock.Message, idempotencyKey, requestHash string) (*paddock.Message, error) {
	return r.PostWith(ctx, sessionID, msg, idempotencyKey, requestHash, paddock.RunOptions{})
}

// PostWith is Post with options for the run it queues: other tools, a
// reasoning effort, the user's locale. Tools must be built-in tools or
// web_search (EInvalid otherwise).
func (r *Runner) PostWith(ctx context.Context, sessionID string, msg *paddock.Message, idempotencyKey, requestHash string, opts paddock.RunOptions) (*paddock.Message, error) {
	return r.post(ctx, sessionID, nil, msg, idempotencyKey, requestHash, opts)
}

// PostCheck decides whether a message may be posted to a session, given
// the session and its agent: its error, returned as is, refuses it.
type PostCheck func(a *paddock.Agent, s *paddock.Session) error

// PostChecked is Post for a caller that must check the session and its
// agent first (ownership, archived agents): check is called in the Post's
// unit of work, with both as stored, before anything else, so the caller
// need not read them itself.
func (r *Runner) PostChecked(ctx context.Context, sessionID string, check PostCheck, msg *paddock.Message, idempotencyKey, requestHash string) (*paddock.Message, error) {
	return r.post(ctx, sessionID, check, msg, idempotencyKey, requestHash, paddock.RunOptions{})
}

func (r *Runner) post(ctx context.Context, sessionID string, check PostCheck, msg *paddock.Message, idempotencyKey, requestHash string, opts paddock.RunOptions) (*paddock.Message, error) {
	if err := r.checkOptions(opts); err != nil {
		return nil, err
	}
	if msg == nil {
		return nil, paddock.Errorf(paddock.EInvalid, "message is required")
	}
	m := &paddock.Message{Role: msg.Role, Content: msg.Content}
	if m.Role == "" {
		m.Role = paddock.MessageUser
	}
	if m.Role != paddock.MessageUser {
		return nil, paddock.Errorf(paddock.EInvalid, "only user messages can be posted, not %q", m.Role)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	// With a free slot and a Run loop to execute it, the run is claimed
	// in this unit of work when no earlier run of the session is active:
	// its start is recorded with the message, and the Run loop executes it
	// without looking for it (a write transaction and a wakeup less).
	slot := r.takeSlot()
	var out *paddock.Message
	var claimed *paddock.Run
	var pre *loaded
	created := false
	err := r.commit(ctx, sessionID, func(tx paddock.SessionTx) error {
		sess, err := tx.Session(ctx)
		if err != nil {
			return err
		}
		var a *paddock.Agent
		if check != nil {
			if a, err = r.sessionAgent(ctx, tx, sess); err != nil {
				return err
			}
			if err := check(a, sess); err != nil {
				return err
			}
		}
		if idempotencyKey != "" {
			prev, err := tx.RunByIdempotencyKey(ctx, idempotencyKey)
			switch {
			case err == nil && prev.RequestHash != requestHash:
				return paddock.Errorf(paddock.EConflict, "idempotency key %q was used with a different request", idempotencyKey)
			case err == nil:
				out, err = tx.Message(ctx, prev.TriggerMessageID)
				return err
			case paddock.ErrorCode(err) != paddock.ENotFound:
				return err
			}
		}
		run := &paddock.Run{ID: newID("run"), IdempotencyKey: idempotencyKey, RequestHash: requestHash, Options: opts, TraceParent: traceParent(ctx)}
		claim := false
		if slot {
			active, err := tx.ActiveRuns(ctx)
			if err != nil {
				return err
			}
			claim = len(active) == 0
		}
		if claim {
			now := time.Now()
			expires := now.Add(r.cfg.Lease)
			run.Status, run.LeaseOwner, run.LeaseExpiresAt, run.StartedAt = paddock.RunRunning, r.cfg.Owner, &expires, &now
		}
		m.RunID = run.ID
		if err := tx.CreateMessage(ctx, m); err != nil {
			return err
		}
		run.TriggerMessageID = m.ID
		if err := tx.CreateRun(ctx, run); err != nil {
			return err
		}
		tx.Emit(paddock.NewEvent(paddock.EventMessageUser, run.ID, m))
		if sess.Status != paddock.SessionRunning {
			if err := setSessionStatus(ctx, tx, paddock.SessionRunning); err != nil {
				return err
			}
		}
		if claim {
			tx.Emit(runStarted(run, false))
			posted := *m // the caller gets m
			if pre, err = r.preload(ctx, tx, run, sess, a, &posted); err != nil {
				return err
			}
			claimed = run
		}
		out, created = m, true
		return nil
	})
	if err != nil {
		r.releaseSlot(slot)
		return nil, err
	}
	if claimed != nil {
		r.handOff(ctx, claimed, pre)
		return out, nil
	}
	r.releaseSlot(slot)
	if created {
		r.signal()
	}
	return out, nil
}

// takeSlot takes a slot for a run Post would claim, if one is free and a
// Run loop is there to execute the run.
func (r *Runner) takeSlot() bool {
	r.mu.Lock()
	workers := r.workers
	r.mu.Unlock()
	if workers == 0 {
		return false
	}
	select {
	case r.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (r *Runner) releaseSlot(taken bool) {
	if taken {
		<-r.slots
	}
}

// handOff gives a run Post claimed to a Run loop or, when none is left,
// releases it for any worker to take.
func (r *Runner) handOff(ctx context.Context, run *paddock.Run, pre *loaded) {
	r.mu.Lock()
	ok := r.workers > 0
	if ok {
		r.started[run.ID] = pre
		r.claimed <- run
	}
	r.mu.Unlock()
	if !ok {
		r.release(ctx, run)
		<-r.slots
	}
}

// release gives up this worker's lease on a run it claimed but does not
// execute, for another worker to take it now.
func (r *Runner) release(ctx context.Context, run *paddock.Run) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := r.d.Runs.RenewLease(ctx, run.ID, r.cfg.Owner, 0); err != nil && paddock.ErrorCode(err) != paddock.EConflict {
		r.log.Warn("release run lease", "run_id", run.ID, "err", err)
	}
	r.signal()
}

func setSessionStatus(ctx context.Context, tx paddock.SessionTx, st paddock.SessionStatus) error {
	if _, err := tx.UpdateSession(ctx, paddock.SessionUpdate{Status: &st}); err != nil {
		return err
	}
	tx.Emit(paddock.NewEvent(paddock.EventSessionStatus, "", paddock.SessionStatusEvent{Status: st}))
	return nil
}

// Cancel cancels the session's active run (the running one, or the first
// queued) and returns it; later queued runs stay queued. A run executing
// in this process ends cancelled within moments; one executing on another
// replica when that replica next checks (Heartbeat); one nobody holds at
// once. A session without an active run is EConflict; an unknown session
// ENotFound.
func (r *Runner) Cancel(ctx context.Context, sessionID string) (*paddock.Run, error) {
	var target *paddock.Run
	err := r.commit(ctx, sessionID, func(tx paddock.SessionTx) error {
		runs, err := tx.ActiveRuns(ctx)
		if err != nil {
			return err
		}
		if len(runs) == 0 {
			return paddock.Errorf(paddock.EConflict, "session %s has no active run", sessionID)
		}
		head := runs[0]
		if head.LeaseOwner == "" || head.LeaseExpiresAt == nil || head.LeaseExpiresAt.Before(time.Now()) {
			// Nobody works on it: end it here.
			target, _, err = endRun(ctx, tx, head, paddock.RunCancelled, "", "", nil)
			return err
		}
		yes := true
		target, err = tx.UpdateRun(ctx, head.ID, paddock.RunUpdate{CancelRequested: &yes})
		return err
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	cancel := r.active[target.ID]
	r.mu.Unlock()
	if cancel != nil {
		cancel(errCancelled)
	}
	if target.Status.Done() {
		r.signal() // the next queued run may start
	}
	return target, nil
}

// DeleteSession cancels the session's active run, deletes its environment
// and then the session with its messages, runs and events. An unknown
// session is ENotFound.
func (r *Runner) DeleteSession(ctx context.Context, sessionID string) error {
	sess, err := r.d.Sessions.Session(ctx, sessionID)
	if err != nil {
		return err
	}
	if _, err := r.Cancel(ctx, sessionID); err != nil && paddock.ErrorCode(err) != paddock.EConflict {
		return err
	}
	mu := &r.envLocks[stripe(sessionID)]
	mu.Lock()
	defer mu.Unlock()
	if sess, err = r.d.Sessions.Session(ctx, sessionID); err != nil {
		return err
	}
	if sess.EnvironmentID != "" {
		if err := r.d.Sandbox.Delete(ctx, sess.EnvironmentID, true); err != nil && paddock.ErrorCode(err) != paddock.ENotFound {
			return fmt.Errorf("delete environment of session %s: %w", sessionID, err)
		}
	}
	r.forgetContext(sessionID)
	return r.d.Sessions.DeleteSession(ctx, sessionID)
}

// endRun records run's end with status in tx and sets the session's
// status: running while other runs wait, else pending, or failed when the
// run failed. It reports whether other runs of the session wait. A step
// count, when given, is recorded with the end.
func endRun(ctx context.Context, tx paddock.SessionTx, run *paddock.Run, status paddock.RunStatus, errMsg, note string, step *int) (*paddock.Run, bool, error) {
	now := time.Now()
	upd := paddock.RunUpdate{Status: &status, EndedAt: &now, Step: step}
	if errMsg != "" {
		upd.Error = &errMsg
	}
	ended, err := tx.UpdateRun(ctx, run.ID, upd)
	if err != nil {
		return nil, false, err
	}
	var typ paddock.EventType
	switch status {
	case paddock.RunCompleted:
		typ = paddock.EventRunCompleted
	case paddock.RunFailed:
		typ = paddock.EventRunFailed
	case paddock.RunCancelled:
		typ = paddock.EventRunCancelled
	}
	tx.Emit(paddock.NewEvent(typ, run.ID, paddock.RunEvent{RunID: run.ID, Status: status, Step: ended.Step, Error: errMsg, Note: note}))

	rest, err := tx.ActiveRuns(ctx)
	if err != nil {
		return nil, false, err
	}
	want := paddock.SessionRunning
	if len(rest) == 0 {
		want = paddock.SessionPending
		if status == paddock.RunFailed {
			want = paddock.SessionFailed
		}
	}
	sess, err := tx.Session(ctx)
	if err != nil {
		return nil, false, err
	}
	if sess.Status != want {
		if err := setSessionStatus(ctx, tx, want); err != nil {
			return nil, false, err
		}
	}
	return ended, len(rest) > 0, nil
}

// Run claims and executes runs until ctx is done, then waits for the runs
// it started to stop. Runs interrupted by ctx are not ended: their leases
// are released for another worker to resume them. It returns nil.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ticker := time.NewTicker(r.cfg.Poll)
	defer ticker.Stop()
	for r.claim(ctx, &wg) {
	}
	// From now on, Posts claim the runs they queue for this loop.
	r.mu.Lock()
	r.workers++
	r.mu.Unlock()
	defer r.stopWorker(ctx)
	look := false
	for {
		for look && r.claim(ctx, &wg) {
		}
		look = true
		select {
		case <-ctx.Done():
			return nil
		case run := <-r.claimed:
			r.launch(ctx, &wg, run)
			look = false // Post claimed it: there is nothing new to look for
		case <-ticker.C:
		case <-r.wake:
		}
	}
}

// stopWorker records that a Run loop stopped; the last one releases the
// runs Post claimed for it that it did not start.
func (r *Runner) stopWorker(ctx context.Context) {
	r.mu.Lock()
	r.workers--
	var left []*paddock.Run
	for r.workers == 0 && len(r.claimed) > 0 {
		run := <-r.claimed
		delete(r.started, run.ID)
		left = append(left, run)
	}
	r.mu.Unlock()
	for _, run := range left {
		r.release(ctx, run)
		<-r.slots
	}
}

// claim claims one run if there is room and a run, and starts it. It
// reports whether there may be more runs to claim now.
func (r *Runner) claim(ctx context.Context, wg *sync.WaitGroup) bool {
	select {
	case r.slots <- struct{}{}:
	default:
		r.starved.Store(true)
		return false
	}
	run, more, err := r.claimRun(ctx)
	if err != nil {
		<-r.slots
		if paddock.ErrorCode(err) != paddock.ENotFound && ctx.Err() == nil {
			r.log.Error("claim run", "err", err)
		}
		return more
	}
	r.launch(ctx, wg, run)
	return more
}

// launch executes a claimed run, which holds a slot, in a goroutine of
// wg.
func (r *Runner) launch(ctx context.Context, wg *sync.WaitGroup, run *paddock.Run) {
	runCtx, cancel := context.WithCancelCause(ctx)
	r.mu.Lock()
	r.active[run.ID] = cancel
	r.mu.Unlock()
	wg.Go(func() {
		more := true
		defer func() {
			r.mu.Lock()
			delete(r.active, run.ID)
			delete(r.started, run.ID)
			r.mu.Unlock()
			cancel(nil)
			<-r.slots
			// The session's next run may be claimable, or a run left
			// for want of a slot.
			if r.starved.Swap(false) || more {
				r.signal()
			}
		}()
		more = r.execute(ctx, runCtx, cancel, run)
	})
}

// maxContexts bounds the sessions whose context a Runner keeps.
const maxContexts = 64

// sessionContext is what a Runner keeps of a session's context between
// runs, so that a run reads only the messages of the runs since: the
// messages of the runs up to runSeq (and of no run), in context order.
// Those runs have ended: they get no more messages (a tool result or
// answer is stored only while its run holds its lease), and should one
// get one anyway (a message stored by other means), the store reports it
// and the context is read again in full.
type sessionContext struct {
	runSeq  int64
	lastSeq int64              // the highest message Seq in msgs
	msgs    []*paddock.Message // shared, read-only
}

// contextReader reads the messages of a session's runs after those a
// Runner keeps: Messages.ContextMessagesAfter, or the same in a unit of
// work (runLoader).
type contextReader func(ctx context.Context, runSeq, afterRunSeq, afterSeq int64) ([]*paddock.Message, bool, error)

// keptContext returns the messages of run's context from what the Runner
// keeps of its session's and those read by after, or nil when it keeps
// nothing of use (the caller then reads the context in full). posted,
// when not nil, is the message that queued run, stored in the unit of
// work after reads in: when it directly follows the messages kept, it is
// the only message since, and nothing is read.
func (r *Runner) keptContext(ctx context.Context, run *paddock.Run, posted *paddock.Message, after contextReader) ([]*paddock.Message, error) {
	r.contextsMu.Lock()
	c := r.contexts[run.SessionID]
	r.contextsMu.Unlock()
	if posted != nil {
		// Messages are numbered in the order they are stored: when posted
		// follows those kept (or the session had none), no other was
		// stored since, to a run or to none.
		if c == nil && run.Seq == 1 && posted.Seq == 1 {
			return []*paddock.Message{posted}, nil
		}
		if c != nil && c.runSeq == run.Seq-1 && posted.Seq == c.lastSeq+1 {
			return append(c.msgs[:len(c.msgs):len(c.msgs)], posted), nil
		}
	}
	if c == nil || c.runSeq >= run.Seq || after == nil {
		return nil, nil
	}
	newer, stale, err := after(ctx, run.Seq, c.runSeq, c.lastSeq)
	if err != nil || stale {
		return nil, err
	}
	return append(c.msgs[:len(c.msgs):len(c.msgs)], newer...), nil
}

// contextMessages returns the messages of the session's runs up to run
// (and of no run), in context order: msgs when not nil (read by the
// claim), else read from the store. It keeps those before run for the
// session's next run.
func (r *Runner) contextMessages(ctx context.Context, run *paddock.Run, msgs []*paddock.Message) ([]*paddock.Message, error) {
	if msgs == nil {
		var err error
		if msgs, err = r.keptContext(ctx, run, nil, func(ctx context.Context, runSeq, afterRunSeq, afterSeq int64) ([]*paddock.Message, bool, error) {
			return r.d.Messages.ContextMessagesAfter(ctx, run.SessionID, runSeq, afterRunSeq, afterSeq)
		}); err != nil {
			return nil, err
		}
	}
	if msgs == nil {
		var err error
		if msgs, err = r.d.Messages.ContextMessages(ctx, run.SessionID, run.Seq); err != nil {
			return nil, err
		}
	}
	// Keep the runs before this one: they have ended.
	kept := msgs
	for i, m := range msgs {
		if m.RunID == run.ID {
			kept = msgs[:i]
			break
		}
	}
	r.keepContext(run.SessionID, run.Seq-1, kept)
	return msgs, nil
}

// keepContext keeps msgs, the messages of the session's runs up to runSeq
// (and of no run) in context order, for the session's next runs. Those
// runs must have ended.
func (r *Runner) keepContext(sessionID string, runSeq int64, msgs []*paddock.Message) {
	keep := &sessionContext{runSeq: runSeq, msgs: msgs[:len(msgs):len(msgs)]}
	for _, m := range msgs {
		keep.lastSeq = max(keep.lastSeq, m.Seq)
	}
	r.contextsMu.Lock()
	defer r.contextsMu.Unlock()
	if _, ok := r.contexts[sessionID]; !ok && len(r.contexts) >= maxContexts {
		for id := range r.contexts { // evict one, any
			delete(r.contexts, id)
			break
		}
	}
	if cur := r.contexts[sessionID]; cur == nil || cur.runSeq <= keep.runSeq {
		r.contexts[sessionID] = keep
	}
}

// forgetContext drops what the Runner keeps of a session's context.
func (r *Runner) forgetContext(sessionID string) {
	r.contextsMu.Lock()
	delete(r.contexts, sessionID)
	r.contextsMu.Unlock()
}

// claimCandidates is how many runnable runs claimRun reads at once: it
// tries them in turn when other workers take them first.
const claimCandidates = 4

// claimRun claims the oldest runnable run and, in the same unit of work,
// records its start (see start), unless a cancel was requested. load then
// only reads. It returns ENotFound when there is no run to claim, and
// reports whether there may be more runs to claim (a worker that knows
// there are none waits for a Post, a run's end or its poll).
func (r *Runner) claimRun(ctx context.Context) (*paddock.Run, bool, error) {
	cands, err := r.d.Runs.RunnableRuns(ctx, claimCandidates)
	if err != nil {
		return nil, false, err
	}
	for i, cand := range cands {
		more := i < len(cands)-1 || len(cands) == claimCandidates
		if r.holds(cand.ID) {
			// Its lease expired while this worker runs it (a stalled
			// heartbeat): a second execution here would pass every fence,
			// which checks the owner. The heartbeat renews it, or
			// another worker takes it over and fences this one.
			continue
		}
		var run *paddock.Run
		var pre *loaded
		unsupported := false
		err = r.commit(ctx, cand.SessionID, func(tx paddock.SessionTx) error {
			c, ok := tx.(runClaimer)
			if !ok {
				unsupported = true
				return nil
			}
			var err error
			if run, err = c.ClaimRun(ctx, cand.ID, r.cfg.Owner, r.cfg.Lease); err != nil || run.CancelRequested {
				return err // a cancelled run is ended by execute, started or not
			}
			run, pre, err = r.start(ctx, tx, run)
			return err
		})
		switch {
		case unsupported:
			run, err := r.d.Runs.ClaimRun(ctx, r.cfg.Owner, r.cfg.Lease)
			return run, err == nil, err
		case paddock.ErrorCode(err) == paddock.ENotFound:
			continue // another worker was first, or the session is gone
		case err != nil:
			return nil, false, err
		}
		if pre != nil {
			r.mu.Lock()
			r.started[run.ID] = pre
			r.mu.Unlock()
		}
		return run, more, nil
	}
	return nil, len(cands) == claimCandidates, paddock.Errorf(paddock.ENotFound, "no runnable run")
}

// holds reports whether this Runner executes run, or has claimed it for a
// Run loop.
func (r *Runner) holds(runID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, active := r.active[runID]
	_, started := r.started[runID]
	return active || started
}

// runStarted returns the run.started event of run.
func runStarted(run *paddock.Run, resumed bool) *paddock.Event {
	return paddock.NewEvent(paddock.EventRunStarted, run.ID, paddock.RunEvent{
		RunID: run.ID, Status: paddock.RunRunning, Step: run.Step, Resumed: resumed})
}

// start records in tx that run starts, or resumes, on this worker, with
// its run.started event, and returns the run and what it starts from (see
// preload).
func (r *Runner) start(ctx context.Context, tx paddock.SessionTx, run *paddock.Run) (*paddock.Run, *loaded, error) {
	resumed := run.Status == paddock.RunRunning
	if !resumed {
		running, now := paddock.RunRunning, time.Now()
		var err error
		if run, err = tx.UpdateRun(ctx, run.ID, paddock.RunUpdate{Status: &running, StartedAt: &now}); err != nil {
			return nil, nil, err
		}
	}
	tx.Emit(runStarted(run, resumed))
	sess, err := tx.Session(ctx)
	if err != nil {
		return nil, nil, err
	}
	pre, err := r.preload(ctx, tx, run, sess, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	return run, pre, nil
}

// loaded is what a run starts from, read by the unit of work that
// claimed it.
type loaded struct {
	session *paddock.Session
	agent   *paddock.Agent     // nil: read when the run starts
	msgs    []*paddock.Message // the run's context; nil: read when the run starts
}

// runLoader is the unit of work of a store that reads, inside it, the
// session's agent and the context messages of its runs (the store
// package's). A claim reads them there: on SQLite, reads right after a
// write cost less on the writer than on a reader.
type runLoader interface {
	Agent(ctx context.Context) (*paddock.Agent, error)
	ContextMessagesAfter(ctx context.Context, runSeq, afterRunSeq, afterSeq int64) ([]*paddock.Message, bool, error)
}

// preload reads in tx what run starts from, as far as the store can: its
// agent (unless a, read already, is given) and, when the Runner keeps its
// session's earlier context, the messages since (none when posted, the
// message that queued run, stored in tx, is the only one: see
// keptContext). The full context of a session is not read here: it may be
// long, and the transaction holds the session's lock.
func (r *Runner) preload(ctx context.Context, tx paddock.SessionTx, run *paddock.Run, sess *paddock.Session, a *paddock.Agent, posted *paddock.Message) (*loaded, error) {
	pre := &loaded{session: sess, agent: a}
	var after contextReader
	l, ok := tx.(runLoader)
	if ok {
		var err error
		if pre.agent == nil {
			if pre.agent, err = l.Agent(ctx); err != nil {
				return nil, err
			}
		}
		after = l.ContextMessagesAfter
	}
	var err error
	if pre.msgs, err = r.keptContext(ctx, run, posted, after); err != nil {
		return nil, err
	}
	return pre, nil
}

// sessionAgent returns the agent of sess: in tx when the store can read
// it there.
func (r *Runner) sessionAgent(ctx context.Context, tx paddock.SessionTx, sess *paddock.Session) (*paddock.Agent, error) {
	if l, ok := tx.(runLoader); ok {
		return l.Agent(ctx)
	}
	return r.d.Agents.Agent(ctx, sess.AgentID)
}

// traceParent is ctx's span as a W3C traceparent, "" when ctx has none.
func traceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c.Get("traceparent")
}

// postedSpan is the span of the request that posted run, as a remote span
// context (invalid when there was none).
func postedSpan(run *paddock.Run) trace.SpanContext {
	if run.TraceParent == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": run.TraceParent})
	return trace.SpanContextFromContext(ctx)
}

// takeStarted returns what the claim of run read if it recorded its
// start, once.
func (r *Runner) takeStarted(runID string) *loaded {
	r.mu.Lock()
	defer r.mu.Unlock()
	pre := r.started[runID]
	delete(r.started, runID)
	return pre
}

// execute runs one claimed run under a heartbeat and records how it ended.
// It reports whether runs may be claimable now: false when it recorded
// the run's end and no other run of its session is active.
func (r *Runner) execute(parent, ctx context.Context, cancel context.CancelCauseFunc, run *paddock.Run) bool {
	log := r.log.With("run_id", run.ID, "session_id", run.SessionID)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		r.heartbeat(ctx, cancel, run.ID, log)
	}()
	if run.CancelRequested {
		cancel(errCancelled)
	}
	// The run's span: a root, since the run outlives the request that
	// queued it, and may be resumed by another worker; linked to that
	// request's span, which the run keeps (TraceParent), so whichever
	// server executes or resumes the run links it.
	opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("paddock.run.id", run.ID),
		attribute.String("paddock.session.id", run.SessionID))}
	if sc := postedSpan(run); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	sctx, span := r.d.Tracer.Start(ctx, "invoke_agent", opts...)
	more, err := r.loop(sctx, run, log)
	if err != nil {
		span.SetStatus(codes.Error, failureMessage(err))
	}
	span.End()
	cancel(nil)
	<-hbDone

	cause := context.Cause(ctx)
	bg, stop := context.WithTimeout(context.WithoutCancel(parent), 30*time.Second)
	defer stop()
	switch {
	case errors.Is(err, errCancelled) || errors.Is(cause, errCancelled):
		return r.end(bg, run, paddock.RunCancelled, "", "", log)
	case errors.Is(err, errLeaseLost) || errors.Is(cause, errLeaseLost):
		log.Warn("lost the lease of a run; another worker has it")
	case parent.Err() != nil:
		// Shutting down: leave the run for another worker, now.
		if _, err := r.d.Runs.RenewLease(bg, run.ID, r.cfg.Owner, 0); err != nil && paddock.ErrorCode(err) != paddock.EConflict {
			log.Warn("release run lease", "err", err)
		}
	case err != nil:
		log.Warn("run failed", "err", err)
		return r.end(bg, run, paddock.RunFailed, failureMessage(err), "", log)
	default:
		return more
	}
	return true
}

// failureMessage is the error a failed run shows: safe to send.
func failureMessage(err error) string {
	if paddock.ErrorCode(err) == paddock.EInternal {
		return "internal error"
	}
	return paddock.ErrorMessage(err)
}

// end records the end of run, unless it has ended or left this worker. It
// reports whether runs may be claimable now (see execute).
func (r *Runner) end(ctx context.Context, run *paddock.Run, status paddock.RunStatus, errMsg, note string, log *slog.Logger) bool {
	more := true
	err := r.commit(ctx, run.SessionID, func(tx paddock.SessionTx) error {
		cur, err := tx.Run(ctx, run.ID)
		if err != nil {
			return err
		}
		if cur.Status.Done() || cur.LeaseOwner != r.cfg.Owner {
			return nil
		}
		_, more, err = endRun(ctx, tx, cur, status, errMsg, note, nil)
		return err
	})
	if err != nil {
		log.Error("record run end", "status", status, "err", err)
		return true
	}
	return more
}

// heartbeat renews the run's lease until ctx is done, cancelling the run
// when the lease is lost or a cancel was requested through the store.
func (r *Runner) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, runID string, log *slog.Logger) {
	t := time.NewTicker(r.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		run, err := r.d.Runs.RenewLease(ctx, runID, r.cfg.Owner, r.cfg.Lease)
		switch {
		case err == nil && run.CancelRequested:
			cancel(errCancelled)
			return
		case err == nil:
		case paddock.ErrorCode(err) == paddock.EConflict || paddock.ErrorCode(err) == paddock.ENotFound:
			cancel(errLeaseLost)
			return
		case ctx.Err() == nil:
			log.Warn("renew run lease", "err", err)
		}
	}
}

// fence checks, inside a unit of work, that this worker still holds the
// run and that nobody asked to cancel it.
func (r *Runner) fence(ctx context.Context, tx paddock.SessionTx, runID string) (*paddock.Run, error) {
	cur, err := tx.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	if cur.Status.Done() || cur.LeaseOwner != r.cfg.Owner {
		return nil, errLeaseLost
	}
	if cur.CancelRequested {
		return nil, errCancelled
	}
	return cur, nil
}
