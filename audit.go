package paddock

import (
	"context"
	"time"
)

// LoginLog is one login attempt, successful or not.
type LoginLog struct {
	ID        int64
	UserID    int64 // 0 when the username is unknown
	Username  string
	Address   string
	UserAgent string
	Success   bool
	Reason    string // why it failed
	CreatedAt time.Time
}

// OperationLog is one mutating API request: who, what, how it ended.
// Body holds the request body with secrets redacted, or a description of
// a body that is not recorded.
type OperationLog struct {
	ID        int64
	UserID    int64
	Username  string
	Method    string
	Path      string
	Status    int
	Duration  time.Duration
	Address   string
	UserAgent string
	RequestID string
	Body      string
	CreatedAt time.Time
}

// AuditFilter selects log entries. Zero fields do not filter.
type AuditFilter struct {
	Username *string
	Success  *bool   // login logs
	Method   *string // operation logs
	Offset   int
	Limit    int // 0 means no limit
}

// AuditService stores login and operation logs, newest first.
type AuditService interface {
	RecordLogin(ctx context.Context, l *LoginLog) error
	LoginLogs(ctx context.Context, f AuditFilter) ([]*LoginLog, int, error)
	DeleteLoginLog(ctx context.Context, id int64) error
	RecordOperation(ctx context.Context, l *OperationLog) error
	// RecordOperations stores several entries in one transaction.
	RecordOperations(ctx context.Context, logs []*OperationLog) error
	OperationLogs(ctx context.Context, f AuditFilter) ([]*OperationLog, int, error)
	DeleteOperationLog(ctx context.Context, id int64) error
}
