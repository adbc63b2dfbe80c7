package settlement

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// ErrStatementNotFound is returned for an unknown statement id.
var ErrStatementNotFound = rpcerr.New(rpcerr.StatementNotFound, "statement not found")

// StatementRow is one movement of a statement: a payment, a refund or a
// cancel posted in the statement's cycle, on the partner's receivable in
// the statement's currency.
type StatementRow struct {
	PostingID string
	PaymentID string
	Kind      string // the posting's kind: "payment", "reversal:<id>", "fee:<statement id>"
	PostTime  time.Time
	PartnerID string
	// Settlement is the row's amount on the statement's account: on a
	// partner's receivable debit-positive, on a network's payable
	// credit-positive; a refund or cancel is negative.
	Settlement money.Amount
	Merchant   money.Amount // what the merchant was paid (negative: given back)
	FXRevenue  money.Amount // in the settlement currency (negative: reversed)
}

// Type is PAYMENT, REFUND, CANCEL or FEE.
func (r StatementRow) Type() string {
	switch {
	case r.Kind == "payment":
		return "PAYMENT"
	case isFeeKind(r.Kind):
		return "FEE"
	case strings.HasPrefix(r.Kind, "reversal:cancel-"):
		return "CANCEL"
	default:
		return "REFUND"
	}
}

// ReversalID is the refund's or the cancel's id ("" for a payment).
func (r StatementRow) ReversalID() string {
	if id, ok := strings.CutPrefix(r.Kind, "reversal:"); ok {
		return id
	}
	return ""
}

// StatementFileName is a statement's file name: stable, one per partner
// (or network), settlement currency and cycle.
func StatementFileName(st Statement) string {
	if st.NetworkID != "" {
		return fmt.Sprintf("unigate-network-statement_%s_%s_%s.csv", st.NetworkID, st.NetReceivable.Currency, st.CycleID)
	}
	return fmt.Sprintf("unigate-statement_%s_%s_%s.csv", st.PartnerID, st.NetReceivable.Currency, st.CycleID)
}

// statementColumns is a partner statement file's header row;
// networkColumns a network statement file's.
var (
	statementColumns = []string{"record", "type", "payment_id", "reversal_id", "posted_at",
		"settlement_currency", "settlement_amount", "merchant_currency", "merchant_amount", "fx_revenue"}
	networkColumns = []string{"record", "type", "payment_id", "reversal_id", "posted_at", "partner_id", "currency", "amount"}
)

// Statement returns a statement.
func (s *Service) Statement(ctx context.Context, id string) (Statement, error) {
	return s.store.Statement(ctx, id)
}

// WriteStatementFile writes the statement's CSV file to w as its rows
// come from the database, never holding the file in memory, and returns
// the file's SHA-256 in hex. The file (docs/settlement.md):
//
//	record,type,payment_id,reversal_id,posted_at,settlement_currency,settlement_amount,merchant_currency,merchant_amount,fx_revenue
//	D,PAYMENT,<id>,,2026-12-02T10:00:00.000000Z,USD,14.30,CNY,100.00,0.22
//	D,REFUND,<id>,<refund id>,…,USD,-4.76,CNY,-33.33,-0.07
//	D,FEE,<cycle id>,,<cutoff>,USD,0.05,,,
//	T,payments=1 refunds=1 cancels=0 fees=1,rows=3,,,USD,9.59,,,
//
// Amounts are in major units with the currency's digits; a refund or a
// cancel is negative. The trailer's settlement amount is the statement's
// net, and WriteStatementFile fails if the rows do not add up to it.
func (s *Service) WriteStatementFile(ctx context.Context, st Statement, w io.Writer) (string, error) {
	h := sha256.New()
	cw := csv.NewWriter(io.MultiWriter(w, h))
	columns := statementColumns
	if st.NetworkID != "" {
		columns = networkColumns
	}
	if err := cw.Write(columns); err != nil {
		return "", err
	}
	var (
		n, net int64
		counts = map[string]int{}
	)
	err := s.store.StatementRows(ctx, st, func(r StatementRow) error {
		n++
		net += r.Settlement.Minor
		counts[r.Type()]++
		head := []string{"D", r.Type(), r.PaymentID, r.ReversalID(), r.PostTime.UTC().Format("2006-01-02T15:04:05.000000Z")}
		if st.NetworkID != "" {
			return cw.Write(append(head, r.PartnerID, r.Settlement.Currency, r.Settlement.Major()))
		}
		merchant, fx := []string{r.Merchant.Currency, r.Merchant.Major()}, r.FXRevenue.Major()
		if r.Type() == "FEE" { // no merchant leg, no FX
			merchant, fx = []string{"", ""}, ""
		}
		return cw.Write(append(head, r.Settlement.Currency, r.Settlement.Major(), merchant[0], merchant[1], fx))
	})
	if err != nil {
		return "", err
	}
	if n != st.Postings || net != st.NetReceivable.Minor {
		return "", fmt.Errorf("settlement: statement %s: %d rows net %d, the statement says %d postings net %d",
			st.ID, n, net, st.Postings, st.NetReceivable.Minor)
	}
	trailer := []string{"T", fmt.Sprintf("payments=%d refunds=%d cancels=%d fees=%d", counts["PAYMENT"], counts["REFUND"], counts["CANCEL"], counts["FEE"]),
		"rows=" + strconv.FormatInt(n, 10), "", ""}
	if st.NetworkID != "" {
		trailer = append(trailer, "", st.NetReceivable.Currency, st.NetReceivable.Major())
	} else {
		trailer = append(trailer, st.NetReceivable.Currency, st.NetReceivable.Major(), "", "", "")
	}
	if err := cw.Write(trailer); err != nil {
		return "", err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ListCycles returns closed cycles, newest first.
func (s *Service) ListCycles(ctx context.Context, before time.Time, limit int) ([]Cycle, error) {
	return s.store.ListCycles(ctx, before, limit)
}
