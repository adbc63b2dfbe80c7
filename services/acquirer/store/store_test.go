package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
	"github.com/unigate/unigate/services/acquirer"
	"github.com/unigate/unigate/services/acquirer/store"
)

// The conformance suite of acquirer.Store: every test runs on a fresh
// SQLite and a fresh PostgreSQL database. Rows are built valid (the
// schema's CHECK constraints hold), with times at microsecond precision in
// UTC, as both back ends keep them.

// t0 is the suite's clock origin.
var t0 = time.Date(2025, 3, 1, 10, 0, 0, 123456000, time.UTC)

// at is t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

func ptr[T any](v T) *T { return &v }

// suite is one back end's migrated database and the store on it.
type suite struct {
	ctx context.Context
	db  *sqlstore.DB
	s   *store.SQLStore
}

// eachBackend runs fn on a fresh, migrated database on every back end.
func eachBackend(t *testing.T, fn func(t *testing.T, x suite)) {
	t.Helper()
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		fn(t, suite{ctx: ctx, db: db, s: store.New(db)})
	})
	// The services' store group-commits on PostgreSQL: every case again
	// through it (one at a time, each write is a batch of one).
	t.Run("postgres-group-commit", func(t *testing.T) {
		db := openPostgres(t)
		ctx, stop := context.WithCancel(context.Background())
		t.Cleanup(stop)
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		fn(t, suite{ctx: ctx, db: db, s: store.NewBatching(ctx, db, 16)})
	})
}

func openPostgres(t *testing.T) *sqlstore.DB {
	for _, b := range sqlstoretest.Backends() {
		if b.Name == "postgres" {
			return b.Open(t)
		}
	}
	t.Fatal("no PostgreSQL back end")
	return nil
}

const (
	partnerID = "hipay"
	networkID = "unionpay"
)

// newPayment returns a valid MPM payment, PROCESSING and scheduled a
// minute after its creation.
func newPayment(id string, created time.Time) acquirer.Payment {
	return acquirer.Payment{
		ID: id, PartnerID: partnerID, PartnerPaymentID: "key-" + id, RequestHash: "hash-" + id,
		Mode: acquirer.MPM, Status: acquirer.Processing, UserRef: "user-1",
		Merchant: acquirer.Merchant{ID: "merchant-1", NetworkID: networkID, Name: "Tea House", City: "Beijing",
			MCC: "5812", Country: "CN", Currency: "CNY"},
		MerchantAmount:   money.Amount{Currency: "CNY", Minor: 10000},
		WalletAmount:     money.Amount{Currency: "MNT", Minor: 4875000},
		SettlementAmount: money.Amount{Currency: "MNT", Minor: 4875000},
		CostAmount:       money.Amount{Currency: "MNT", Minor: 4800000},
		QuoteID:          "quote-" + id, Rate: "487.5",
		CreateTime: created, UpdateTime: created, NextAttempt: ptr(created.Add(time.Minute)),
		NetworkEndpoint: "unionpay.example:443", PartnerEndpoint: "hipay.example:443",
	}
}

// newCPMPayment returns a valid CPM payment for a network's order.
func newCPMPayment(id, orderID string, created time.Time) acquirer.Payment {
	p := newPayment(id, created)
	p.Mode, p.MerchantOrderID = acquirer.CPM, orderID
	p.PartnerPaymentID = "order:" + networkID + ":" + orderID
	return p
}

// state is a payment's place in its life, as a change to a new payment.
type state struct {
	name string
	set  func(p *acquirer.Payment)
}

func succeeded(p *acquirer.Payment) {
	p.Status, p.Credited, p.NetworkReference, p.LedgerPosted, p.NextAttempt = acquirer.Succeeded, true, "net-ref-0", true, nil
}

// states are the starting states of the transition tests. Each has two
// attempts behind it, so that a counted attempt shows.
var states = []state{
	{"processing", func(p *acquirer.Payment) {}},
	{"processing+cancel", func(p *acquirer.Payment) { p.CancelRequested = true }},
	{"processing+timed out", func(p *acquirer.Payment) {
		p.CancelRequested, p.FailureReason, p.FailureMessage = true, rpcerr.PaymentTimedOut, "outcome unknown"
	}},
	// A CPM authorization recorded, its user not yet named to risk.
	{"processing+authorized", func(p *acquirer.Payment) {
		p.Credited, p.NetworkReference, p.UserRef = true, "auth-ref-0", "user-7"
	}},
	// An authorization risk refused, being given back.
	{"processing+refused", func(p *acquirer.Payment) {
		p.Credited, p.NetworkReference, p.UserRef = true, "auth-ref-0", "user-7"
		p.CancelRequested, p.FailureReason, p.FailureMessage = true, rpcerr.RiskLimitExceeded, "over the daily limit"
	}},
	{"succeeded", succeeded},
	{"succeeded+cancel", func(p *acquirer.Payment) {
		succeeded(p)
		p.CancelRequested, p.NextAttempt = true, ptr(p.CreateTime.Add(time.Minute))
	}},
	{"failed", func(p *acquirer.Payment) {
		p.Status, p.FailureReason, p.FailureMessage, p.NextAttempt = acquirer.Failed, rpcerr.MerchantCreditFailed, "declined", nil
	}},
	{"cancelled", func(p *acquirer.Payment) {
		p.Status, p.Credited, p.LedgerPosted, p.NextAttempt = acquirer.Cancelled, true, true, nil
	}},
}

func stateNamed(name string) state {
	for _, s := range states {
		if s.name == name {
			return s
		}
	}
	panic("no state " + name)
}

// paymentIn returns a new payment in the named state.
func paymentIn(id, stateName string, created time.Time) acquirer.Payment {
	p := newPayment(id, created)
	p.Attempts = 2
	stateNamed(stateName).set(&p)
	return p
}

// insert stores p, failing the test unless it is inserted as given.
func (x suite) insert(t *testing.T, p acquirer.Payment) acquirer.Payment {
	t.Helper()
	got, inserted, err := x.s.InsertPayment(x.ctx, p)
	if err != nil || !inserted {
		t.Fatalf("InsertPayment(%s) = inserted %v, %v", p.ID, inserted, err)
	}
	return got
}

// payment reads a payment or fails the test.
func (x suite) payment(t *testing.T, id string) acquirer.Payment {
	t.Helper()
	p, err := x.s.Payment(x.ctx, id)
	if err != nil {
		t.Fatalf("Payment(%s): %v", id, err)
	}
	return p
}

// eventRow is an acq_events row.
type eventRow struct {
	ID, PartnerID, Type, PaymentID, RefundID string
	Time                                     time.Time
	Sequence                                 *int64
}

// events returns the events naming a payment, oldest first.
func (x suite) events(t *testing.T, paymentID string) []eventRow {
	t.Helper()
	rows, err := x.db.QueryContext(x.ctx, `SELECT event_id, partner_id, event_type, payment_id, refund_id, create_time, sequence
		FROM acq_events WHERE payment_id = $1 ORDER BY create_time, event_id`, paymentID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []eventRow
	for rows.Next() {
		var (
			e   eventRow
			seq sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &e.PartnerID, &e.Type, &e.PaymentID, &e.RefundID, &e.Time, &seq); err != nil {
			t.Fatal(err)
		}
		e.Time = e.Time.UTC()
		if seq.Valid {
			e.Sequence = &seq.Int64
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantEvents checks a payment's events: one per type in types, in order,
// of the suite's partner, for refundID ("" for payment events), at when.
func (x suite) wantEvents(t *testing.T, paymentID, refundID string, when time.Time, types ...string) {
	t.Helper()
	got := x.events(t, paymentID)
	var gotTypes []string
	for _, e := range got {
		gotTypes = append(gotTypes, e.Type)
	}
	if !slices.Equal(gotTypes, types) {
		t.Fatalf("events of %s = %v, want %v", paymentID, gotTypes, types)
	}
	for _, e := range got {
		if e.PartnerID != partnerID || e.RefundID != refundID || !e.Time.Equal(when) || e.Sequence != nil || e.ID == "" {
			t.Errorf("event %+v: want partner %s, refund %q, time %s, no sequence", e, partnerID, refundID, when)
		}
	}
}

// diff lists the exported fields in which got and want differ; times must
// be the same instant in the same location.
func diff(got, want any) []string {
	var out []string
	diffValue(&out, "", reflect.ValueOf(got), reflect.ValueOf(want))
	return out
}

var timeType = reflect.TypeOf(time.Time{})

func diffValue(out *[]string, path string, g, w reflect.Value) {
	show := func(v reflect.Value) string {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return "nil"
			}
			v = v.Elem()
		}
		return fmt.Sprintf("%v", v.Interface())
	}
	switch {
	case g.Type() == timeType:
		gt, wt := g.Interface().(time.Time), w.Interface().(time.Time)
		if !gt.Equal(wt) || gt.Location() != wt.Location() {
			*out = append(*out, fmt.Sprintf("%s = %s, want %s", path, gt, wt))
		}
	case g.Kind() == reflect.Struct:
		for i := range g.NumField() {
			f := g.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if path != "" {
				name = path + "." + name
			}
			diffValue(out, name, g.Field(i), w.Field(i))
		}
	case g.Kind() == reflect.Pointer && !g.IsNil() && !w.IsNil():
		diffValue(out, path, g.Elem(), w.Elem())
	case g.Kind() == reflect.Pointer:
		if g.IsNil() != w.IsNil() {
			*out = append(*out, fmt.Sprintf("%s = %s, want %s", path, show(g), show(w)))
		}
	case !reflect.DeepEqual(g.Interface(), w.Interface()):
		*out = append(*out, fmt.Sprintf("%s = %s, want %s", path, show(g), show(w)))
	}
}

// same fails the test if got differs from want.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := diff(got, want); len(d) > 0 {
		t.Fatalf("%s differs:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

// is reports whether err is target itself or wraps it: identity, not the
// reason match of rpcerr.Error.Is (under which every INTERNAL error would
// pass for ErrFenced).
func is(err, target error) bool {
	for err != nil {
		if err == target {
			return true
		}
		if multi, ok := err.(interface{ Unwrap() []error }); ok {
			return slices.ContainsFunc(multi.Unwrap(), func(e error) bool { return is(e, target) })
		}
		err = errors.Unwrap(err)
	}
	return false
}

func TestInsertPayment(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		t.Run("round-trips every state", func(t *testing.T) {
			for i, st := range states {
				t.Run(st.name, func(t *testing.T) {
					p := paymentIn(fmt.Sprintf("pay-state-%d", i), st.name, at(time.Duration(i)*time.Second))
					p.UserRef, p.NetworkReference, p.FailureMessage = "user-ü", "ref-"+st.name, p.FailureMessage+" ✓"
					if i%2 == 0 {
						p.DeviceRef = fmt.Sprintf("dev:%d.A-z_9", i)
					}
					got, inserted, err := x.s.InsertPayment(x.ctx, p)
					if err != nil || !inserted {
						t.Fatalf("InsertPayment = inserted %v, %v", inserted, err)
					}
					same(t, "returned payment", got, p)
					same(t, "Payment", x.payment(t, p.ID), p)
					byKey, err := x.s.PaymentByKey(x.ctx, p.PartnerID, p.PartnerPaymentID)
					if err != nil {
						t.Fatal(err)
					}
					same(t, "PaymentByKey", byKey, p)
					if evs := x.events(t, p.ID); len(evs) != 0 {
						t.Errorf("inserting wrote events %v", evs)
					}
				})
			}
		})

		t.Run("a CPM payment is found by its order", func(t *testing.T) {
			p := x.insert(t, newCPMPayment("pay-cpm-1", "order-1", t0))
			got, err := x.s.PaymentByOrder(x.ctx, networkID, "order-1")
			if err != nil {
				t.Fatal(err)
			}
			same(t, "PaymentByOrder", got, p)
			if _, err := x.s.PaymentByOrder(x.ctx, "other-network", "order-1"); !is(err, acquirer.ErrPaymentNotFound) {
				t.Errorf("another network's order: %v, want ErrPaymentNotFound", err)
			}
		})

		t.Run("the same id returns the stored payment", func(t *testing.T) {
			p := x.insert(t, newPayment("pay-dup", t0))
			again := newPayment("pay-dup", at(time.Second))
			again.RequestHash, again.MerchantAmount.Minor = "another-hash", 20000
			got, inserted, err := x.s.InsertPayment(x.ctx, again)
			if err != nil || inserted {
				t.Fatalf("InsertPayment again = inserted %v, %v; want the stored one", inserted, err)
			}
			same(t, "returned payment", got, p)
			same(t, "stored payment", x.payment(t, p.ID), p)
		})

		t.Run("the same CPM order under another id returns the stored payment", func(t *testing.T) {
			p := x.insert(t, newCPMPayment("pay-order-a", "order-2", t0))
			other := newCPMPayment("pay-order-b", "order-2", at(time.Second))
			other.PartnerPaymentID, other.RequestHash = "another-key", "another-hash"
			got, inserted, err := x.s.InsertPayment(x.ctx, other)
			if err != nil || inserted {
				t.Fatalf("InsertPayment = inserted %v, %v; want the stored one", inserted, err)
			}
			same(t, "returned payment", got, p)
			if _, err := x.s.Payment(x.ctx, other.ID); !is(err, acquirer.ErrPaymentNotFound) {
				t.Errorf("Payment(%s) = %v, want ErrPaymentNotFound: nothing inserted", other.ID, err)
			}
			// The same order on another network is another payment.
			elsewhere := newCPMPayment("pay-order-c", "order-2", t0)
			elsewhere.Merchant.NetworkID, elsewhere.PartnerPaymentID = "other-network", "order:other-network:order-2"
			x.insert(t, elsewhere)
		})

		t.Run("MPM payments do not share the order index", func(t *testing.T) {
			a, b := newPayment("pay-mpm-a", t0), newPayment("pay-mpm-b", t0)
			a.MerchantOrderID, b.MerchantOrderID = "order-3", "order-3"
			x.insert(t, a)
			x.insert(t, b)
			x.insert(t, newCPMPayment("pay-mpm-c", "order-3", t0))
			if _, err := x.s.PaymentByOrder(x.ctx, networkID, "order-4"); !is(err, acquirer.ErrPaymentNotFound) {
				t.Errorf("unknown order: %v", err)
			}
			mpm := newPayment("pay-mpm-d", t0)
			mpm.MerchantOrderID = "order-5"
			x.insert(t, mpm)
			if _, err := x.s.PaymentByOrder(x.ctx, networkID, "order-5"); !is(err, acquirer.ErrPaymentNotFound) {
				t.Errorf("PaymentByOrder found an MPM payment: %v", err)
			}
		})

		t.Run("a taken partner key under another id returns the holder", func(t *testing.T) {
			p := x.insert(t, newPayment("pay-key-a", t0))
			other := newPayment("pay-key-b", at(time.Second))
			other.PartnerPaymentID = p.PartnerPaymentID
			got, inserted, err := x.s.InsertPayment(x.ctx, other)
			if err != nil || inserted || got.ID != p.ID {
				t.Fatalf("InsertPayment = %s, inserted %v, %v; want the holder %s", got.ID, inserted, err, p.ID)
			}
			same(t, "stored payment", x.payment(t, p.ID), p)
		})

		t.Run("unknown payments", func(t *testing.T) {
			if _, err := x.s.Payment(x.ctx, "no-such-payment"); !is(err, acquirer.ErrPaymentNotFound) {
				t.Errorf("Payment: %v", err)
			}
			if _, err := x.s.PaymentByKey(x.ctx, partnerID, "no-such-key"); !is(err, acquirer.ErrPaymentNotFound) {
				t.Errorf("PaymentByKey: %v", err)
			}
			if _, err := x.s.PaymentByKey(x.ctx, "other-partner", "key-pay-dup"); !is(err, acquirer.ErrPaymentNotFound) {
				t.Errorf("PaymentByKey of another partner's key: %v", err)
			}
		})

		t.Run("the schema refuses", func(t *testing.T) {
			for i, tc := range []struct {
				name   string
				change func(p *acquirer.Payment)
			}{
				{"a processing payment without a next attempt", func(p *acquirer.Payment) { p.NextAttempt = nil }},
				{"a cancel-requested succeeded payment without a next attempt", func(p *acquirer.Payment) {
					succeeded(p)
					p.CancelRequested = true
				}},
				{"a succeeded payment with a next attempt", func(p *acquirer.Payment) {
					succeeded(p)
					p.NextAttempt = ptr(t0)
				}},
				{"a failed payment with a next attempt", func(p *acquirer.Payment) { p.Status = acquirer.Failed }},
				{"a zero merchant amount", func(p *acquirer.Payment) { p.MerchantAmount.Minor = 0 }},
				{"a negative wallet amount", func(p *acquirer.Payment) { p.WalletAmount.Minor = -1 }},
				{"an unknown mode", func(p *acquirer.Payment) { p.Mode = "QR" }},
				{"an unknown status", func(p *acquirer.Payment) { p.Status = "DONE" }},
				{"a refunded processing payment", func(p *acquirer.Payment) { p.RefundedMinor = 1 }},
				{"more refunded than paid", func(p *acquirer.Payment) {
					succeeded(p)
					p.RefundedMinor = p.MerchantAmount.Minor + 1
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					p := newPayment(fmt.Sprintf("pay-refused-%d", i), t0)
					tc.change(&p)
					if _, inserted, err := x.s.InsertPayment(x.ctx, p); err == nil || inserted {
						t.Fatalf("InsertPayment = inserted %v, %v; want the database to refuse it", inserted, err)
					}
					if _, err := x.s.Payment(x.ctx, p.ID); !is(err, acquirer.ErrPaymentNotFound) {
						t.Fatalf("Payment after a refused insert: %v", err)
					}
				})
			}
		})
	})
}

// The times of the transition tests: payments are created at t0, changed
// at when, and rescheduled to next.
var (
	when = at(time.Hour)
	next = at(2 * time.Hour)
)

// change is what a transition does to a payment in one starting state.
type change struct {
	from string
	do   func(p *acquirer.Payment)
}

// transitionCase is one named transition: the states it applies from
// (every other state is left as it is) and the event it writes.
type transitionCase struct {
	name   string
	run    func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error)
	fenced bool // takes a fence
	// applies lists the starting states it applies from and its change.
	applies []change
	// event is the event type it writes on the changed row; nil: none.
	event func(p acquirer.Payment) string
}

// refused is RefuseAuthorized's change, leaving the reference and user as
// they are where ref or user is "".
func refused(ref, user string) func(p *acquirer.Payment) {
	return func(p *acquirer.Payment) {
		p.Credited, p.CancelRequested, p.NextAttempt = true, true, ptr(next)
		p.FailureReason, p.FailureMessage = rpcerr.RiskLimitExceeded, "over the monthly limit"
		if ref != "" {
			p.NetworkReference = ref
		}
		if user != "" {
			p.UserRef = user
		}
	}
}

func eventType(typ string) func(acquirer.Payment) string {
	return func(acquirer.Payment) string { return typ }
}

var transitions = []transitionCase{
	{
		name: "MarkSucceeded",
		run: func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.MarkSucceeded(x.ctx, id, "net-ref-1", "", when, f)
		},
		fenced: true,
		applies: []change{
			{"processing", func(p *acquirer.Payment) {
				p.Status, p.NetworkReference, p.Credited, p.NextAttempt, p.LedgerPosted = acquirer.Succeeded, "net-ref-1", true, nil, false
			}},
			{"processing+authorized", func(p *acquirer.Payment) {
				p.Status, p.NetworkReference, p.Credited, p.NextAttempt, p.LedgerPosted = acquirer.Succeeded, "net-ref-1", true, nil, false
			}},
		},
		event: eventType(acquirer.EventPaymentSucceeded),
	},
	{
		name: "MarkSucceeded naming the user",
		run: func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.MarkSucceeded(x.ctx, id, "net-ref-1", "user-9", when, f)
		},
		fenced: true,
		applies: []change{
			{"processing", func(p *acquirer.Payment) {
				p.Status, p.NetworkReference, p.UserRef, p.Credited, p.NextAttempt = acquirer.Succeeded, "net-ref-1", "user-9", true, nil
			}},
			{"processing+authorized", func(p *acquirer.Payment) {
				p.Status, p.NetworkReference, p.UserRef, p.Credited, p.NextAttempt = acquirer.Succeeded, "net-ref-1", "user-9", true, nil
			}},
		},
		event: eventType(acquirer.EventPaymentSucceeded),
	},
	{
		name: "MarkCredited",
		run: func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.MarkCredited(x.ctx, id, "net-ref-1", when, f)
		},
		fenced: true,
		applies: []change{
			{"processing+cancel", func(p *acquirer.Payment) { p.Credited, p.NetworkReference = true, "net-ref-1" }},
			{"processing+timed out", func(p *acquirer.Payment) { p.Credited, p.NetworkReference = true, "net-ref-1" }},
			{"processing+refused", func(p *acquirer.Payment) { p.Credited, p.NetworkReference = true, "net-ref-1" }},
		},
	},
	{
		name: "MarkAuthorized",
		run: func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.MarkAuthorized(x.ctx, id, "auth-ref-1", "user-9", when, f)
		},
		fenced: true,
		applies: []change{
			{"processing", func(p *acquirer.Payment) { p.Credited, p.NetworkReference, p.UserRef = true, "auth-ref-1", "user-9" }},
			{"processing+authorized", func(p *acquirer.Payment) { p.Credited, p.NetworkReference, p.UserRef = true, "auth-ref-1", "user-9" }},
		},
	},
	{
		name: "RefuseAuthorized",
		run: func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.RefuseAuthorized(x.ctx, id, "auth-ref-1", "user-9", rpcerr.RiskLimitExceeded, "over the monthly limit", next, when, f)
		},
		fenced: true,
		applies: []change{
			{"processing", refused("auth-ref-1", "user-9")},
			{"processing+authorized", refused("auth-ref-1", "user-9")},
		},
	},
	{
		name: "RefuseAuthorized keeping the reference and user",
		run: func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.RefuseAuthorized(x.ctx, id, "", "", rpcerr.RiskLimitExceeded, "over the monthly limit", next, when, f)
		},
		fenced: true,
		applies: []change{
			{"processing", refused("", "user-1")},
			{"processing+authorized", refused("auth-ref-0", "user-7")},
		},
	},
	{
		name: "MarkFailed",
		run: func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.MarkFailed(x.ctx, id, rpcerr.RiskDeclined, "over the daily limit", when, f)
		},
		fenced: true,
		applies: []change{{"processing", func(p *acquirer.Payment) {
			p.Status, p.FailureReason, p.FailureMessage, p.NextAttempt = acquirer.Failed, rpcerr.RiskDeclined, "over the daily limit", nil
		}}},
		event: eventType(acquirer.EventPaymentFailed),
	},
	{
		name: "Reschedule",
		run: func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.Reschedule(x.ctx, id, next, when, f)
		},
		fenced: true,
		applies: []change{
			{"processing", func(p *acquirer.Payment) { p.NextAttempt, p.Attempts = ptr(next), 3 }},
			{"processing+cancel", func(p *acquirer.Payment) { p.NextAttempt, p.Attempts = ptr(next), 3 }},
			{"processing+timed out", func(p *acquirer.Payment) { p.NextAttempt, p.Attempts = ptr(next), 3 }},
			{"processing+authorized", func(p *acquirer.Payment) { p.NextAttempt, p.Attempts = ptr(next), 3 }},
			{"processing+refused", func(p *acquirer.Payment) { p.NextAttempt, p.Attempts = ptr(next), 3 }},
			{"succeeded+cancel", func(p *acquirer.Payment) { p.NextAttempt, p.Attempts = ptr(next), 3 }},
		},
	},
	{
		name: "RequestCancel",
		run: func(x suite, id string, _ *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.RequestCancel(x.ctx, id, t0.Add(-time.Hour), next, when)
		},
		applies: []change{
			{"processing", func(p *acquirer.Payment) { p.CancelRequested, p.NextAttempt = true, ptr(next) }},
			{"processing+authorized", func(p *acquirer.Payment) { p.CancelRequested, p.NextAttempt = true, ptr(next) }},
			{"succeeded", func(p *acquirer.Payment) { p.CancelRequested, p.NextAttempt = true, ptr(next) }},
		},
	},
	{
		name: "TimeOut",
		run: func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.TimeOut(x.ctx, id, "gave up", next, when, f)
		},
		fenced: true,
		applies: []change{
			{"processing", func(p *acquirer.Payment) {
				p.CancelRequested, p.FailureReason, p.FailureMessage, p.NextAttempt = true, rpcerr.PaymentTimedOut, "gave up", ptr(next)
			}},
			{"processing+authorized", func(p *acquirer.Payment) {
				p.CancelRequested, p.FailureReason, p.FailureMessage, p.NextAttempt = true, rpcerr.PaymentTimedOut, "gave up", ptr(next)
			}},
		},
	},
	{
		name: "MarkReversed",
		run: func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.MarkReversed(x.ctx, id, when, f)
		},
		fenced: true,
		applies: []change{
			{"processing+cancel", func(p *acquirer.Payment) { p.Status, p.NextAttempt, p.LedgerPosted = acquirer.Cancelled, nil, false }},
			{"processing+timed out", func(p *acquirer.Payment) { p.Status, p.NextAttempt, p.LedgerPosted = acquirer.Failed, nil, false }},
			{"processing+refused", func(p *acquirer.Payment) { p.Status, p.NextAttempt, p.LedgerPosted = acquirer.Failed, nil, false }},
			{"succeeded+cancel", func(p *acquirer.Payment) { p.Status, p.NextAttempt, p.LedgerPosted = acquirer.Cancelled, nil, false }},
		},
		event: func(p acquirer.Payment) string {
			if p.FailureReason != "" {
				return acquirer.EventPaymentFailed
			}
			return acquirer.EventPaymentCancelled
		},
	},
	{
		name: "RefuseCancel",
		run: func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.RefuseCancel(x.ctx, id, when, f)
		},
		fenced:  true,
		applies: []change{{"succeeded+cancel", func(p *acquirer.Payment) { p.CancelRequested, p.NextAttempt = false, nil }}},
	},
	{
		name: "Unschedule",
		run: func(x suite, id string, f *acquirer.Fence) (acquirer.Payment, bool, error) {
			return x.s.Unschedule(x.ctx, id, when, f)
		},
		fenced: true,
		applies: []change{
			{"succeeded", func(p *acquirer.Payment) {}},
			{"failed", func(p *acquirer.Payment) {}},
			{"cancelled", func(p *acquirer.Payment) {}},
		},
	},
}

// TestTransitions applies every payment transition from every starting
// state, unfenced and with a fence that holds (the two run different code:
// one statement, or a transaction that reads the fence first).
func TestTransitions(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		if ok, err := x.s.ClaimFence(x.ctx, acquirer.SingletonName, 7); err != nil || !ok {
			t.Fatalf("ClaimFence = %v, %v", ok, err)
		}
		holding := &acquirer.Fence{Name: acquirer.SingletonName, Revision: 7}
		n := 0
		for _, fence := range []*acquirer.Fence{nil, holding} {
			mode := "unfenced"
			if fence != nil {
				mode = "fenced"
			}
			t.Run(mode, func(t *testing.T) {
				for _, tc := range transitions {
					if fence != nil && !tc.fenced {
						continue
					}
					t.Run(tc.name, func(t *testing.T) {
						for _, st := range states {
							t.Run(st.name, func(t *testing.T) {
								n++
								before := x.insert(t, paymentIn(fmt.Sprintf("pay-%d", n), st.name, t0))
								want, applies := before, false
								for _, c := range tc.applies {
									if c.from == st.name {
										c.do(&want)
										want.UpdateTime, applies = when, true
									}
								}
								got, applied, err := tc.run(x, before.ID, fence)
								if err != nil {
									t.Fatalf("%s: %v", tc.name, err)
								}
								if applied != applies {
									t.Fatalf("%s from %s: applied = %v, want %v", tc.name, st.name, applied, applies)
								}
								same(t, "returned payment", got, want)
								same(t, "stored payment", x.payment(t, before.ID), want)
								var types []string
								if applies && tc.event != nil {
									types = []string{tc.event(want)}
								}
								x.wantEvents(t, before.ID, "", when, types...)
							})
						}
					})
				}
			})
		}

		// No PROCESSING row should be marked posted; if one is, success
		// still leaves it owing its posting.
		t.Run("MarkSucceeded owes the posting", func(t *testing.T) {
			p := paymentIn("pay-posted-early", "processing", t0)
			p.LedgerPosted = true
			x.insert(t, p)
			got, applied, err := x.s.MarkSucceeded(x.ctx, p.ID, "net-ref-1", "", when, nil)
			if err != nil || !applied || got.LedgerPosted || x.payment(t, p.ID).LedgerPosted {
				t.Fatalf("MarkSucceeded = applied %v, LedgerPosted %v, %v; want applied, owing its posting", applied, got.LedgerPosted, err)
			}
		})

		t.Run("an unknown payment", func(t *testing.T) {
			for _, tc := range transitions {
				if _, applied, err := tc.run(x, "no-such-payment", nil); !is(err, acquirer.ErrPaymentNotFound) || applied {
					t.Errorf("%s = applied %v, %v; want ErrPaymentNotFound", tc.name, applied, err)
				}
			}
		})
	})
}

// TestRequestCancelGuards checks the cancel window and refunds.
func TestRequestCancelGuards(t *testing.T) {
	eachBackend(t, func(t *testing.T, x suite) {
		created := at(time.Minute)
		for _, tc := range []struct {
			name        string
			state       string
			windowStart time.Time
			applies     bool
		}{
			{"created at the window's start", "succeeded", created, true},
			{"created a microsecond before the window", "succeeded", created.Add(time.Microsecond), false},
			{"created long before the window", "succeeded", created.Add(time.Hour), false},
			{"in flight, created before the window", "processing", created.Add(time.Microsecond), false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := x.insert(t, paymentIn("pay-window-"+tc.name, tc.state, created))
				got, applied, err := x.s.RequestCancel(x.ctx, p.ID, tc.windowStart, next, when)
				if err != nil || applied != tc.applies {
					t.Fatalf("RequestCancel = applied %v, %v; want %v", applied, err, tc.applies)
				}
				if got.CancelRequested != tc.applies {
					t.Fatalf("CancelRequested = %v, want %v", got.CancelRequested, tc.applies)
				}
				if !tc.applies {
					same(t, "payment", got, p)
				}
			})
		}

		t.Run("refunded", func(t *testing.T) {
			p := x.insert(t, paymentIn("pay-refunded", "succeeded", created))
			r, _, err := x.s.InsertRefund(x.ctx, newRefund("ref-1", p.ID, 100, at(2*time.Minute)), acquirer.Proportional)
			if err != nil {
				t.Fatal(err)
			}
			p = x.payment(t, p.ID)
			got, applied, err := x.s.RequestCancel(x.ctx, p.ID, t0, next, when)
			if err != nil || applied {
				t.Fatalf("RequestCancel of a refunded payment = applied %v, %v", applied, err)
			}
			same(t, "payment", got, p)
			// A failed refund gives its amount back: nothing is refunded any more.
			if _, ok, err := x.s.MarkRefundFailed(x.ctx, r.ID, rpcerr.WalletDeclined, "no", at(3*time.Minute), nil); err != nil || !ok {
				t.Fatalf("MarkRefundFailed = %v, %v", ok, err)
			}
			if _, applied, err := x.s.RequestCancel(x.ctx, p.ID, t0, next, when); err != nil || !applied {
				t.Fatalf("RequestCancel after the refund failed = applied %v, %v; want applied", applied, err)
			}
		})
	})
}
