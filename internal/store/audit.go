package store

import (
	"context"
	"fmt"
	"time"

	"github.com/paddockhq/paddock"
)

var _ paddock.AuditService = (*AuditService)(nil)

// AuditService stores login and operation logs. It implements
// paddock.AuditService.
type AuditService struct {
	db *DB
}

// NewAuditService returns an AuditService backed by db.
func NewAuditService(db *DB) *AuditService { return &AuditService{db: db} }

const loginLogColumns = "id, user_id, username, address, user_agent, success, reason, created_at"

func scanLoginLog(row interface{ Scan(...any) error }) (*paddock.LoginLog, error) {
	var l paddock.LoginLog
	err := row.Scan(&l.ID, &l.UserID, &l.Username, &l.Address, &l.UserAgent, &l.Success, &l.Reason, timeCol{&l.CreatedAt})
	return &l, err
}

// RecordLogin stores l, setting its ID and CreatedAt.
func (s *AuditService) RecordLogin(ctx context.Context, l *paddock.LoginLog) error {
	l.CreatedAt = normTime(s.db.now())
	err := s.db.write1(ctx, func(c conn) error {
		return c.queryRow(ctx, "INSERT INTO login_logs (user_id, username, address, user_agent, success, reason, created_at) VALUES ("+
			placeholders(7)+") RETURNING id", l.UserID, l.Username, l.Address, l.UserAgent, l.Success, l.Reason, s.db.timeArg(l.CreatedAt)).Scan(&l.ID)
	})
	if err != nil {
		return fmt.Errorf("record login: %w", err)
	}
	return nil
}

func auditWhere(f paddock.AuditFilter) ([]string, []any) {
	var where []string
	var args []any
	if f.Username != nil {
		where, args = append(where, "username = ?"), append(args, *f.Username)
	}
	if f.Success != nil {
		where, args = append(where, "success = ?"), append(args, *f.Success)
	}
	if f.Method != nil {
		where, args = append(where, "method = ?"), append(args, *f.Method)
	}
	return where, args
}

// LoginLogs returns a page of login logs, newest first.
func (s *AuditService) LoginLogs(ctx context.Context, f paddock.AuditFilter) ([]*paddock.LoginLog, int, error) {
	if err := checkPage(f.Offset, f.Limit); err != nil {
		return nil, 0, err
	}
	where, args := auditWhere(paddock.AuditFilter{Username: f.Username, Success: f.Success})
	return listPage(ctx, s.db, "login_logs", loginLogColumns, where, args, "created_at DESC, id DESC", f.Offset, f.Limit, scanLoginLog)
}

func (s *AuditService) deleteLog(ctx context.Context, table, what string, id int64) error {
	res, err := s.db.exec(ctx, "DELETE FROM "+table+" WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete %s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return paddock.Errorf(paddock.ENotFound, "%s %d not found", what, id)
	}
	return nil
}

// DeleteLoginLog deletes a login log entry.
func (s *AuditService) DeleteLoginLog(ctx context.Context, id int64) error {
	return s.deleteLog(ctx, "login_logs", "login log", id)
}

const operationLogColumns = "id, user_id, username, method, path, status, duration_us, address, user_agent, request_id, body, created_at"

func scanOperationLog(row interface{ Scan(...any) error }) (*paddock.OperationLog, error) {
	var l paddock.OperationLog
	var us int64
	err := row.Scan(&l.ID, &l.UserID, &l.Username, &l.Method, &l.Path, &l.Status, &us, &l.Address, &l.UserAgent, &l.RequestID, &l.Body, timeCol{&l.CreatedAt})
	l.Duration = time.Duration(us) * time.Microsecond
	return &l, err
}

func (s *AuditService) insertOperation(ctx context.Context, c conn, l *paddock.OperationLog) error {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = s.db.now()
	}
	l.CreatedAt = normTime(l.CreatedAt)
	err := c.queryRow(ctx, "INSERT INTO operation_logs (user_id, username, method, path, status, duration_us, address, user_agent, request_id, body, created_at) VALUES ("+
		placeholders(11)+") RETURNING id", l.UserID, l.Username, l.Method, l.Path, l.Status, l.Duration.Microseconds(), l.Address, l.UserAgent,
		l.RequestID, l.Body, s.db.timeArg(l.CreatedAt)).Scan(&l.ID)
	if err != nil {
		return fmt.Errorf("record operation: %w", err)
	}
	return nil
}

// RecordOperation stores l, setting its ID and (when zero) CreatedAt.
func (s *AuditService) RecordOperation(ctx context.Context, l *paddock.OperationLog) error {
	return s.db.write1(ctx, func(c conn) error { return s.insertOperation(ctx, c, l) })
}

// RecordOperations stores logs in one transaction.
func (s *AuditService) RecordOperations(ctx context.Context, logs []*paddock.OperationLog) error {
	return s.db.inTx(ctx, func(tx conn) error {
		for _, l := range logs {
			if err := s.insertOperation(ctx, tx, l); err != nil {
				return err
			}
		}
		return nil
	})
}

// OperationLogs returns a page of operation logs, newest first.
func (s *AuditService) OperationLogs(ctx context.Context, f paddock.AuditFilter) ([]*paddock.OperationLog, int, error) {
	if err := checkPage(f.Offset, f.Limit); err != nil {
		return nil, 0, err
	}
	where, args := auditWhere(paddock.AuditFilter{Username: f.Username, Method: f.Method})
	return listPage(ctx, s.db, "operation_logs", operationLogColumns, where, args, "created_at DESC, id DESC", f.Offset, f.Limit, scanOperationLog)
}

// DeleteOperationLog deletes an operation log entry.
func (s *AuditService) DeleteOperationLog(ctx context.Context, id int64) error {
	return s.deleteLog(ctx, "operation_logs", "operation log", id)
}
