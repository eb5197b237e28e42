package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/paddockhq/paddock"
)

// Credits (seed 003): the balance is the grants less the cost of the
// recorded usage (credit.Ledger); /usage lists that usage.

type creditBalanceResponse struct {
	UserID   int64   `json:"user_id"`
	Balance  float64 `json:"balance" description:"USD"`
	Granted  float64 `json:"granted" description:"USD: the starting credit plus grants"`
	Spent    float64 `json:"spent" description:"USD: the cost of the user's model calls"`
	Currency string  `json:"currency" enum:"USD"`
	Enforced bool    `json:"enforced" description:"model calls are refused (402) once the balance is spent"`
}

type creditBalanceParams struct {
	UserID int64 `query:"user_id" description:"admins: another user's balance"`
}

type creditUsageParams struct {
	Page      int    `query:"page" minimum:"1" default:"1"`
	Size      int    `query:"size" minimum:"1" maximum:"200" default:"20"`
	AgentID   string `query:"agent_id"`
	SessionID string `query:"session_id"`
	UserID    int64  `query:"user_id" description:"admins: one user's usage (default: everyone's)"`
	Since     string `query:"since" description:"RFC 3339 time or Unix seconds, inclusive"`
	Until     string `query:"until" description:"RFC 3339 time or Unix seconds, exclusive"`
}

type creditUsageItem struct {
	ID                int64     `json:"id"`
	UserID            int64     `json:"user_id"`
	AgentID           string    `json:"agent_id,omitempty"`
	SessionID         string    `json:"session_id,omitempty"`
	RunID             string    `json:"run_id,omitempty"`
	MessageID         string    `json:"message_id,omitempty"`
	Provider          string    `json:"provider"`
	Model             string    `json:"model"`
	InputTokens       int64     `json:"input_tokens" description:"every input token, cached or not"`
	CachedInputTokens int64     `json:"cached_input_tokens" description:"of input_tokens, read from the provider's prompt cache"`
	CacheWriteTokens  int64     `json:"cache_write_tokens" description:"of input_tokens, written to the provider's prompt cache"`
	OutputTokens      int64     `json:"output_tokens"`
	Cost              float64   `json:"cost" description:"USD"`
	CreatedAt         time.Time `json:"created_at"`
}

type creditUsageResponse struct {
	Items     []creditUsageItem `json:"items"`
	Total     int               `json:"total"`
	Page      int               `json:"page"`
	Size      int               `json:"size"`
	TotalCost float64           `json:"total_cost" description:"USD, of every selected record"`
}

type creditAddRequest struct {
	UserID int64   `json:"user_id" required:"true"`
	Amount float64 `json:"amount" required:"true" description:"USD, non-zero, at most 1000000 either way; negative takes credit away"`
	Note   string  `json:"note,omitempty"`
}

func (s *Server) balance(r *http.Request, userID int64) (creditBalanceResponse, error) {
	b, err := s.Credits.Balance(r.Context(), userID)
	if err != nil {
		return creditBalanceResponse{}, err
	}
	return creditBalanceResponse{UserID: userID, Balance: b.Balance, Granted: b.Granted, Spent: b.Spent, Currency: "USD", Enforced: b.Enforced}, nil
}

// userParam reads the user_id query parameter of a route that shows one
// user's data (what: "balances", "usage"): nil when absent. A malformed id
// is EInvalid; another user's, unless the caller is an admin, EForbidden.
func userParam(r *http.Request, what string) (*int64, error) {
	v := r.URL.Query().Get("user_id")
	if v == "" {
		return nil, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return nil, paddock.Errorf(paddock.EInvalid, "query parameter \"user_id\" must be a positive integer, not %q", v)
	}
	if u := principal(r).User; id != u.ID && !u.IsAdmin() {
		return nil, paddock.Errorf(paddock.EForbidden, "only admins see other users' %s: user_id %d is not yours", what, id)
	}
	return &id, nil
}

func (s *Server) handleCreditBalance(w http.ResponseWriter, r *http.Request) error {
	id := principal(r).User.ID
	n, err := userParam(r, "balances")
	if err != nil {
		return err
	}
	if n != nil {
		if _, err := s.Users.User(r.Context(), *n); err != nil {
			return err
		}
		id = *n
	}
	b, err := s.balance(r, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, b)
}

func (s *Server) handleCreditUsage(w http.ResponseWriter, r *http.Request) error {
	page, size, err := pageSize(r)
	if err != nil {
		return err
	}
	f, err := usageFilter(r)
	if err != nil {
		return err
	}
	recs, total, err := s.Usage.UsageRecords(r.Context(), f, (page-1)*size, size)
	if err != nil {
		return err
	}
	tot, err := s.Usage.Usage(r.Context(), f)
	if err != nil {
		return err
	}
	out := creditUsageResponse{Items: make([]creditUsageItem, len(recs)), Total: total, Page: page, Size: size, TotalCost: tot.Cost}
	for i, u := range recs {
		out.Items[i] = creditUsageItem{ID: u.ID, UserID: u.OwnerID, AgentID: u.AgentID, SessionID: u.SessionID, RunID: u.RunID, MessageID: u.MessageID,
			Provider: u.Provider, Model: u.Model, InputTokens: u.InputTokens, CachedInputTokens: u.CachedInputTokens,
			CacheWriteTokens: u.CacheWriteTokens, OutputTokens: u.OutputTokens, Cost: u.Cost, CreatedAt: u.CreatedAt}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleCreditAdd(w http.ResponseWriter, r *http.Request) error {
	var req creditAddRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.UserID <= 0 {
		return paddock.Errorf(paddock.EInvalid, "field \"user_id\" is required: the id of the user to credit")
	}
	g := &paddock.CreditGrant{UserID: req.UserID, Amount: req.Amount, Note: req.Note, GrantedBy: principal(r).User.ID}
	if err := g.Validate(); err != nil {
		return err
	}
	if err := s.Credits.Store.GrantCredits(r.Context(), g); err != nil {
		return err
	}
	b, err := s.balance(r, req.UserID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, b)
}
