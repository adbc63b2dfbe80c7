package risk

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

// TestCases: a payment opens one case however often asked; analysts
// assign and resolve it with a label and a note; a resolved case is final;
// a confirmed fraud puts the user and the device on the block list and
// moves the policy version; the labels are there
// for the next training set; every step is in the case's history.
func TestCases(t *testing.T) {
	sqlstoretest.Run(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.Migrate(ctx, Migrations); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
		q := NewCases(db, func() time.Time { return now })
		c, err := q.Open(ctx, Case{PaymentID: "p1", PartnerID: "hipay", UserRef: "u1", DeviceRef: "d1", Merchant: "cnsim/M1",
			Reasons: []string{"new-device.high", "model: speed_kmh +5.7"}, ScoreBP: 7400})
		if err != nil || c.State != CaseOpen || c.ScoreBP != 7400 || len(c.Reasons) != 2 {
			t.Fatalf("open: %+v %v", c, err)
		}
		again, err := q.Open(ctx, Case{PaymentID: "p1", Reasons: []string{"other"}})
		if err != nil || again.ID != c.ID || len(again.Reasons) != 2 {
			t.Fatalf("open again: %+v %v", again, err)
		}
		now = now.Add(time.Second) // the queue is oldest first
		legit, err := q.Open(ctx, Case{PaymentID: "p2", PartnerID: "hipay", UserRef: "u2", Reasons: []string{"burst.user"}, ScoreBP: 100})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Open(ctx, Case{PaymentID: "p3", ScoreBP: 10_001}); rpcerr.ReasonOf(err) != rpcerr.InvalidArgument {
			t.Fatalf("a score above 1: %v", err)
		}
		if open, err := q.List(ctx, CaseOpen, "", 10); err != nil || len(open) != 2 || open[0].ID != c.ID {
			t.Fatalf("open cases: %+v %v", open, err)
		}

		now = now.Add(time.Minute)
		if c, err = q.Assign(ctx, c.ID, "analyst:mei", "operator:lead"); err != nil || c.State != CaseAssigned || c.Assignee != "analyst:mei" {
			t.Fatalf("assign: %+v %v", c, err)
		}
		if mine, err := q.List(ctx, "", "analyst:mei", 10); err != nil || len(mine) != 1 {
			t.Fatalf("mei's cases: %+v %v", mine, err)
		}
		if _, err := q.Resolve(ctx, c.ID, LabelLegit, "looked fine", "analyst:mei", true); rpcerr.ReasonOf(err) != rpcerr.InvalidArgument {
			t.Fatalf("blocking on a legitimate label: %v", err)
		}
		if _, err := q.Resolve(ctx, c.ID, "MAYBE", "x", "analyst:mei", false); rpcerr.ReasonOf(err) != rpcerr.InvalidArgument {
			t.Fatalf("a bad label: %v", err)
		}
		now = now.Add(time.Minute)
		if c, err = q.Resolve(ctx, c.ID, LabelFraud, "card tester, new phone", "analyst:mei", true); err != nil ||
			c.State != CaseResolved || c.Label != LabelFraud {
			t.Fatalf("resolve: %+v %v", c, err)
		}
		if _, err := q.Resolve(ctx, c.ID, LabelLegit, "changed my mind", "analyst:mei", false); rpcerr.ReasonOf(err) != rpcerr.CaseResolved {
			t.Fatalf("resolving twice: %v", err)
		}
		if _, err := q.Assign(ctx, "nope", "analyst:mei", "operator:lead"); rpcerr.ReasonOf(err) != rpcerr.CaseNotFound {
			t.Fatalf("an unknown case: %v", err)
		}
		// The fraud's user and device are on the block list, named by the
		// case, and the policy moved so that every replica picks them up.
		ps := NewPolicyStore(db, func() time.Time { return now })
		blocks, err := ps.ListEntries(ctx, ListBlock, "")
		var got []string
		for _, e := range blocks {
			got = append(got, e.Kind+" "+e.Value+" "+e.Actor+" "+e.Note)
		}
		if err != nil || strings.Join(got, "; ") != "device hipay/d1 analyst:mei confirmed fraud, case "+c.ID+
			"; user hipay/u1 analyst:mei confirmed fraud, case "+c.ID || !blocks[0].UpdateTime.Equal(now) {
			t.Fatalf("blocks: %v\n%s", err, strings.Join(got, "\n"))
		}
		if v, err := ps.Version(ctx); err != nil || v != 1 {
			t.Fatalf("policy version after the block: %d %v, want 1", v, err)
		}
		if evs, err := ps.Events(ctx, 0, 10); err != nil || len(evs) != 1 || evs[0].Action != "case.block" || evs[0].Actor != "analyst:mei" ||
			!strings.Contains(evs[0].Detail, "user hipay/u1, device hipay/d1") {
			t.Fatalf("policy events: %+v %v", evs, err)
		}
		if got, err := q.Get(ctx, c.ID); err != nil || got.State != CaseResolved || got.Resolution != "card tester, new phone" {
			t.Fatalf("get: %+v %v", got, err)
		}
		if _, err := q.Get(ctx, "nope"); rpcerr.ReasonOf(err) != rpcerr.CaseNotFound {
			t.Fatalf("get an unknown case: %v", err)
		}
		if _, err := q.Resolve(ctx, legit.ID, LabelLegit, "a regular, paying for lunch", "analyst:mei", false); err != nil {
			t.Fatal(err)
		}
		if v, err := ps.Version(ctx); err != nil || v != 1 {
			t.Fatalf("a resolution without a block moved the policy: %d %v", v, err)
		}
		labels, err := q.Labels(ctx, time.Time{})
		if err != nil || labels["p1"] != LabelFraud || labels["p2"] != LabelLegit || len(labels) != 2 {
			t.Fatalf("labels: %v %v", labels, err)
		}
		evs, err := q.Events(ctx, c.ID)
		var steps []string
		for _, e := range evs {
			steps = append(steps, e.Actor+" "+e.Action)
		}
		if err != nil || strings.Join(steps, "; ") != "service:risk open; operator:lead assign; analyst:mei resolve" ||
			evs[2].Detail != "FRAUD: card tester, new phone" || evs[2].Seq != 3 {
			t.Fatalf("history: %v %+v", err, evs)
		}
	})
}
