package settlement

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/protoadapt"

	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Break kinds: how a movement differs between Unigate's statement and a
// counterparty's file.
const (
	BreakAmount         = "AMOUNT_MISMATCH"
	BreakCurrency       = "CURRENCY_MISMATCH"
	BreakState          = "STATE_MISMATCH"
	BreakMissingUnigate = "MISSING_IN_UNIGATE"
	BreakMissingThem    = "MISSING_AT_COUNTERPARTY"
)

// reconActor resolves breaks that a later run no longer finds.
const reconActor = "service:reconciliation"

// maxViolations caps the per-row errors of one rejected file.
const maxViolations = 100

// ErrBreakNotFound is returned for an unknown break id.
var ErrBreakNotFound = rpcerr.New(rpcerr.BreakNotFound, "break not found")

// ReconRun is one comparison of a counterparty's file with a statement.
type ReconRun struct {
	ID                    string
	StatementID           string
	FileName              string
	SHA256                string
	Rows                  int64
	Matched               int64
	Mismatched            int64
	MissingInUnigate      int64
	MissingAtCounterparty int64
	Cleared               int64
	CreateTime            time.Time
	Actor                 string
}

// Break is a movement on which the two sides disagree.
type Break struct {
	ID          string
	StatementID string
	PaymentID   string
	ReversalID  string
	Kind        string
	Detail      string
	Line        int64 // the counterparty's file line; 0 when missing there
	FirstRun    string
	LastRun     string
	CreateTime  time.Time
	ResolveTime time.Time // zero while open
	ResolvedBy  string
	Resolution  string
}

// ReconStore keeps reconciliation runs and breaks; part of Store.
type ReconStore interface {
	// ReconRun returns the run of a statement and file checksum with its
	// breaks, or found false.
	ReconRun(ctx context.Context, statementID, sha string) (run ReconRun, breaks []Break, found bool, err error)
	// SaveReconRun records, in one transaction, a run and the breaks it
	// found: each break opens (or, if still open or cleared by a run,
	// refreshes and reopens) its movement's break; an operator's
	// resolution stands. The statement's open breaks the run did not find
	// are resolved as cleared by it. If a run of the same statement and
	// checksum exists it writes nothing and returns that run, replayed.
	SaveReconRun(ctx context.Context, run ReconRun, breaks []Break) (ReconRun, []Break, bool, error)
	// ListBreaks returns breaks, oldest first: a statement's, or all; open
	// ones unless all is set.
	ListBreaks(ctx context.Context, statementID string, all bool, limit int) ([]Break, error)
	// ResolveBreak resolves an open break; a resolved one is returned as it
	// is. ErrBreakNotFound if there is none.
	ResolveBreak(ctx context.Context, id, by, reason string, now time.Time) (Break, error)
}

// counterRow is one data row of a counterparty's file.
type counterRow struct {
	line       int64
	typ        string
	paymentID  string
	reversalID string
	amount     money.Amount
	status     string
}

func (r counterRow) key() string { return r.paymentID + "\x00" + r.reversalID }

// reconColumns maps each column a counterparty's file may carry to the
// name it is read as: Unigate's own statement file is a valid input.
var reconColumns = map[string]string{
	"record": "record", "type": "type", "payment_id": "payment_id", "reversal_id": "reversal_id",
	"currency": "currency", "settlement_currency": "currency", "amount": "amount", "settlement_amount": "amount",
	"status": "status",
}

// parseReconFile reads a counterparty's CSV file (docs/settlement.md,
// "Reconciliation"): a header naming at least type, payment_id,
// reversal_id, currency (or settlement_currency) and amount (or
// settlement_amount), and optionally record (D for data, T for a trailer,
// which is skipped) and status (SUCCEEDED when empty); other columns are
// ignored. It returns every row, or one violation per bad row (at most
// maxViolations) and no rows.
func parseReconFile(file []byte) ([]counterRow, []*errdetails.BadRequest_FieldViolation) {
	var bad []*errdetails.BadRequest_FieldViolation
	violate := func(line int64, column, format string, args ...any) {
		bad = append(bad, &errdetails.BadRequest_FieldViolation{
			Field:       fmt.Sprintf("rows[%d].%s", line, column),
			Description: fmt.Sprintf(format, args...),
			Reason:      string(rpcerr.ReconciliationFileInvalid),
		})
	}
	r := csv.NewReader(bytes.NewReader(file))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		violate(1, "header", "no header row: %v", err)
		return nil, bad
	}
	col := map[string]int{}
	for i, h := range header {
		name, ok := reconColumns[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))]
		if !ok {
			continue
		}
		if _, dup := col[name]; dup {
			violate(1, "header", "column %s appears twice", name)
			continue
		}
		col[name] = i
	}
	for _, need := range []string{"type", "payment_id", "reversal_id", "currency", "amount"} {
		if _, ok := col[need]; !ok {
			violate(1, "header", "missing column %s", need)
		}
	}
	if len(bad) > 0 {
		return nil, bad
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var (
		rows  []counterRow
		lines = map[string]int64{}
	)
	for len(bad) < maxViolations {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var line int
			if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
				line = pe.Line
			}
			violate(int64(line), "csv", "%v", err)
			break // the reader cannot be trusted past a malformed record
		}
		line, _ := r.FieldPos(0)
		n := int64(line)
		if len(rec) != len(header) {
			violate(n, "csv", "has %d fields, the header %d", len(rec), len(header))
			continue
		}
		switch rec := field(rec, "record"); rec {
		case "", "D":
		case "T":
			continue
		default:
			violate(n, "record", "is %q, want D or T", rec)
			continue
		}
		row := counterRow{line: n, typ: strings.ToUpper(field(rec, "type")), paymentID: field(rec, "payment_id"),
			reversalID: field(rec, "reversal_id"), status: strings.ToUpper(field(rec, "status"))}
		ok := true
		switch row.typ {
		case "PAYMENT":
			if row.reversalID != "" {
				violate(n, "reversal_id", "must be empty for a PAYMENT")
				ok = false
			}
		case "FEE":
			if row.reversalID != "" {
				violate(n, "reversal_id", "must be empty for a FEE")
				ok = false
			}
		case "REFUND", "CANCEL":
			if row.reversalID == "" {
				violate(n, "reversal_id", "is required for a %s", row.typ)
				ok = false
			}
		default:
			violate(n, "type", "is %q, want PAYMENT, REFUND, CANCEL or FEE", row.typ)
			ok = false
		}
		if row.paymentID == "" {
			violate(n, "payment_id", "is required")
			ok = false
		}
		if row.status == "" {
			row.status = "SUCCEEDED"
		}
		cur := strings.ToUpper(field(rec, "currency"))
		if _, err := money.LookupCurrency(cur); err != nil {
			violate(n, "currency", "%q is not an ISO 4217 currency", cur)
			ok = false
		} else if a, err := parseSignedMajor(cur, field(rec, "amount")); err != nil {
			violate(n, "amount", "%v", err)
			ok = false
		} else {
			row.amount = a
		}
		if !ok {
			continue
		}
		if first, dup := lines[row.key()]; dup {
			violate(n, "payment_id", "repeats the movement of line %d", first)
			continue
		}
		lines[row.key()] = n
		rows = append(rows, row)
	}
	if len(bad) > 0 {
		return nil, bad
	}
	return rows, nil
}

// Reconcile compares a counterparty's file with a statement and records
// the run (ReconStore.SaveReconRun). The same file again returns the first
// run's report, replayed. A file with bad rows imports nothing: the error
// is RECONCILIATION_FILE_INVALID with a BadRequest violation per row.
func (s *Service) Reconcile(ctx context.Context, statementID, fileName string, file []byte) (ReconRun, []Break, bool, error) {
	st, err := s.store.Statement(ctx, statementID)
	if err != nil {
		return ReconRun{}, nil, false, err
	}
	sum := sha256.Sum256(file)
	sha := hex.EncodeToString(sum[:])
	if run, breaks, found, err := s.store.ReconRun(ctx, st.ID, sha); err != nil || found {
		return run, breaks, found, err
	}
	theirs, bad := parseReconFile(file)
	if len(bad) > 0 {
		e := rpcerr.New(rpcerr.ReconciliationFileInvalid, "file: %d bad rows, the first %s: %s; nothing was imported",
			len(bad), bad[0].Field, bad[0].Description)
		e.Details = []protoadapt.MessageV1{&errdetails.BadRequest{FieldViolations: bad}}
		return ReconRun{}, nil, false, e
	}
	run := ReconRun{StatementID: st.ID, FileName: fileName, SHA256: sha, Rows: int64(len(theirs)),
		CreateTime: s.now().UTC().Truncate(time.Microsecond), Actor: reconActor}
	if id, ok := authn.FromContext(ctx); ok {
		run.Actor = id.String()
	}
	byKey := make(map[string]*counterRow, len(theirs))
	for i := range theirs {
		byKey[theirs[i].key()] = &theirs[i]
	}
	found := map[string]Break{}
	var missingThem []Break
	err = s.store.StatementRows(ctx, st, func(ours StatementRow) error {
		key := ours.PaymentID + "\x00" + ours.ReversalID()
		them, ok := byKey[key]
		if !ok {
			missingThem = append(missingThem, Break{PaymentID: ours.PaymentID, ReversalID: ours.ReversalID(), Kind: BreakMissingThem,
				Detail: fmt.Sprintf("%s of %s posted %s is not in the file", ours.Type(), ours.Settlement, ours.PostTime.Format(time.RFC3339))})
			return nil
		}
		delete(byKey, key)
		b := Break{PaymentID: ours.PaymentID, ReversalID: ours.ReversalID(), Line: them.line}
		switch {
		case them.typ != ours.Type() || them.status != "SUCCEEDED":
			b.Kind, b.Detail = BreakState, fmt.Sprintf("state: Unigate %s SUCCEEDED, counterparty %s %s", ours.Type(), them.typ, them.status)
		case them.amount.Currency != ours.Settlement.Currency:
			b.Kind, b.Detail = BreakCurrency, fmt.Sprintf("currency: Unigate %s, counterparty %s", ours.Settlement, them.amount)
		case them.amount.Minor != ours.Settlement.Minor:
			b.Kind, b.Detail = BreakAmount, fmt.Sprintf("amount: Unigate %s, counterparty %s", ours.Settlement, them.amount)
		default:
			run.Matched++
			return nil
		}
		run.Mismatched++
		found[key] = b
		return nil
	})
	if err != nil {
		return ReconRun{}, nil, false, err
	}
	// The file's breaks in file order, then Unigate's unmatched rows.
	breaks := make([]Break, 0, len(found)+len(byKey)+len(missingThem))
	for _, them := range theirs {
		if b, ok := found[them.key()]; ok {
			breaks = append(breaks, b)
		} else if _, ok := byKey[them.key()]; ok {
			run.MissingInUnigate++
			breaks = append(breaks, Break{PaymentID: them.paymentID, ReversalID: them.reversalID, Kind: BreakMissingUnigate, Line: them.line,
				Detail: fmt.Sprintf("%s of %s is not in statement %s", them.typ, them.amount, st.ID)})
		}
	}
	run.MissingAtCounterparty = int64(len(missingThem))
	breaks = append(breaks, missingThem...)
	for i := range breaks {
		breaks[i].StatementID = st.ID
	}
	return s.store.SaveReconRun(ctx, run, breaks)
}

// ListBreaks returns reconciliation breaks, oldest first.
func (s *Service) ListBreaks(ctx context.Context, statementID string, all bool, limit int) ([]Break, error) {
	return s.store.ListBreaks(ctx, statementID, all, limit)
}

// ResolveBreak resolves an open break with the caller's reason.
func (s *Service) ResolveBreak(ctx context.Context, id, reason string) (Break, error) {
	by := "service:settlement"
	if who, ok := authn.FromContext(ctx); ok {
		by = who.String()
	}
	return s.store.ResolveBreak(ctx, id, by, reason, s.now().UTC().Truncate(time.Microsecond))
}

// parseSignedMajor parses an amount in major units that may start with a
// minus sign (a refund or a cancel, as in the statement file).
func parseSignedMajor(cur, s string) (money.Amount, error) {
	digits, negative := strings.CutPrefix(s, "-")
	a, err := money.ParseMajor(cur, digits)
	if negative {
		a.Minor = -a.Minor
	}
	return a, err
}
