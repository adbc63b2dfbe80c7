package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/sqlstore"
	"github.com/unigate/unigate/services/app"
	"github.com/unigate/unigate/services/router"
	"github.com/unigate/unigate/services/walletsim"
)

// TestOperatorCommands runs unigatectl against a whole switch with its
// security on: routing changes go through the router for admins only,
// keep what they do not name, and land in the audit chain with before
// and after; etcd refuses an operator's direct write.
func TestOperatorCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := app.StartStack(ctx, app.StackConfig{DataDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	ctl := func(operator string, args ...string) (string, error) {
		var out bytes.Buffer
		g := []string{"--pki", st.PKI.Dir, "--operator", operator, "--router", st.Addrs["router"],
			"--acquirer", st.Addrs["acquirer"], "--settlement", st.Addrs["settlement"], "--etcd", st.Addrs["etcd"],
			"--fx", st.Addrs["fx"]}
		_, err := run(ctx, append(g, args...), &out)
		return out.String(), err
	}

	// A viewer may read the table but not change it.
	if _, err := ctl("viewer", "routes", "get"); err != nil {
		t.Fatalf("viewer reads the table: %v", err)
	}
	_, err = ctl("viewer", "routes", "put-partner", "--id", "hipay", "--endpoint", "evil.example:443")
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("viewer changes a partner: got %v, want PermissionDenied", err)
	}
	_, err = ctl("operator", "routes", "put-partner", "--id", "hipay", "--disabled")
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("operator changes a partner: got %v, want PermissionDenied", err)
	}

	// An admin rotates hipay's key: the new version is added, the old one
	// and the rest of the record are kept.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ctl("admin", "routes", "put-partner", "--id", "hipay", "--signing-key", "v2="+base64.StdEncoding.EncodeToString(pub), "-o", "json")
	if err != nil {
		t.Fatalf("admin adds a key version: %v", err)
	}
	compact := strings.Join(strings.Fields(out), "") // protojson's spacing is deliberately unstable
	for _, want := range []string{`"partnerId":"hipay"`, `"version":"v2"`, `"prefix":"2899"`, `"currency":"MNT"`, `"auditEntryId"`} {
		if !strings.Contains(compact, want) {
			t.Errorf("put-partner output lacks %s:\n%s", want, out)
		}
	}
	var keys int
	deadline := time.Now().Add(10 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		table, err := ctl("viewer", "routes", "get", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		if keys = strings.Count(table, `"version"`); keys >= 7 { // 6 demo records + hipay's v2
			break
		}
	}
	if keys < 7 {
		t.Fatalf("the router's table never showed hipay's second key (%d key versions)", keys)
	}
	// Bad input: refused with the field, nothing written.
	if _, err := ctl("admin", "routes", "put-partner", "--id", "hipay", "--currency", "XXX"); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a partner with an unknown currency: got %v, want InvalidArgument", err)
	}

	// The change is in the audit log, chained, with before and after.
	db, err := sqlstore.Open(ctx, st.DSN("acquirer"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var found, denied *audit.Entry
	for deadline := time.Now().Add(15 * time.Second); (found == nil || denied == nil) && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		entries, err := audit.List(ctx, db, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range entries {
			switch {
			case e.Action == "routing.put_partner" && e.Subject == "partner:hipay":
				found = &entries[i]
			case e.Action == "auth.denied" && e.Actor == "operator:viewer" && strings.HasSuffix(e.Subject, "RoutingAdminService/PutPartner"):
				denied = &entries[i]
			}
		}
	}
	if found == nil || denied == nil {
		t.Fatalf("chained audit entries: routing change %v, viewer's refusal %v", found, denied)
	}
	if found.Actor != "operator:admin" || !strings.Contains(string(found.Before), "2899") ||
		strings.Contains(string(found.Before), `"v2"`) || !strings.Contains(string(found.After), `"v2"`) {
		t.Errorf("audit entry: actor %q, before %s, after %s", found.Actor, found.Before, found.After)
	}
	if out, err := runAudit(ctx, st.DSN("acquirer")); err != nil || !strings.Contains(out, "intact") {
		t.Errorf("audit verify: %v\n%s", err, out)
	}

	// Operators read elections from etcd but cannot write the table there.
	if out, err := ctl("viewer", "leader", "acquirer"); err != nil || !strings.Contains(out, "revision") {
		t.Errorf("leader: %v %q", err, out)
	}
	if out, err := ctl("viewer", "leaders"); err != nil || !strings.Contains(out, "ELECTION") || !strings.Contains(out, "audit-linker-") ||
		!strings.Contains(out, "\nacquirer ") {
		t.Errorf("leaders: %v %q", err, out)
	}
	g := globals{pki: st.PKI.Dir, operator: "admin", etcd: st.Addrs["etcd"]}
	cli, err := g.connectEtcd()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, router.Prefix+"partners/hipay", "{}"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("an operator writes etcd directly: got %v, want permission denied", err)
	}
	// Bootstrapping again changes nothing and fails nothing.
	if _, err := ctl("admin", "etcd", "bootstrap"); err != nil {
		t.Errorf("etcd bootstrap again: %v", err)
	}

	// FX: a viewer sees the rates, their ages and the chosen provider,
	// prices a code without storing a quote, and reads the history.
	if out, err := ctl("viewer", "fx", "rates"); err != nil || !strings.Contains(out, "CNY/MNT") || !strings.Contains(out, "CHOSEN") ||
		!strings.Contains(out, "staleness limit 10s") {
		t.Errorf("fx rates: %v %q", err, out)
	}
	if out, err := ctl("viewer", "fx", "rates", "--pair", "USD/KWD", "-o", "json"); err != nil || !strings.Contains(out, "RATE_VERDICT_CHOSEN") {
		t.Errorf("fx rates -o json: %v %q", err, out)
	}
	sim, err := st.Dial("merchantsim", authn.Operator, "viewer")
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ms, err := simulatorv1.NewMerchantSimulatorServiceClient(sim).ListMerchants(ctx, &simulatorv1.ListMerchantsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	code := ms.GetMerchants()[0].GetStaticCode()
	// 100.00 CNY at 480.25 MNT/CNY + 150 bps = 487.45375: 48,745.38 MNT.
	if out, err := ctl("viewer", "fx", "quote", "--partner", "hipay", code, "100.00"); err != nil || !strings.Contains(out, "48745.38 MNT") ||
		!strings.Contains(out, "CNY/MNT from static") {
		t.Errorf("fx quote: %v %q", err, out)
	}
	// The user pays exactly 1,000 VND; zalopay settles in USD.
	out, err = ctl("viewer", "fx", "quote", "--partner", "zalopay", "--wallet", code, "1000", "-o", "json")
	var q struct {
		WalletAmount, SettlementAmount struct{ Currency, MinorUnits string }
		Direction                      string
	}
	if err != nil || json.Unmarshal([]byte(out), &q) != nil || q.WalletAmount.MinorUnits != "1000" || q.WalletAmount.Currency != "VND" ||
		q.SettlementAmount.Currency != "USD" || q.Direction != "QUOTE_DIRECTION_FIX_WALLET" {
		t.Errorf("fx quote --wallet: %v %q", err, out)
	}
	if _, err := ctl("viewer", "fx", "quote", "--partner", "hipay", code, "1.005"); err == nil || !strings.Contains(err.Error(), "fractional digits") {
		t.Errorf("an amount with more decimals than CNY has: %v", err)
	}
	var quotes int
	fxdb, err := sqlstore.Open(ctx, st.DSN("fx"))
	if err != nil {
		t.Fatal(err)
	}
	defer fxdb.Close()
	if err := fxdb.QueryRowContext(ctx, `SELECT count(*) FROM fx_quotes`).Scan(&quotes); err != nil || quotes != 0 {
		t.Errorf("fx quote stored %d quotes (%v); a preview stores none", quotes, err)
	}
	if out, err := ctl("viewer", "fx", "history", "CNY/MNT", "--since", "1h"); err != nil || !strings.Contains(out, "static") {
		t.Errorf("fx history: %v %q", err, out)
	}
	if _, err := ctl("viewer", "fx", "history", "CNY-MNT"); err == nil {
		t.Error("fx history of a malformed pair succeeded")
	}

	// A statement's file: pay, let the poster post, close a cycle, and
	// download the statement with its checksum.
	pconn, err := st.Dial("acquirer", authn.Partner, "hipay")
	if err != nil {
		t.Fatal(err)
	}
	defer pconn.Close()
	_, _, paid, err := walletsim.New("hipay", pconn).ScanAndPay(ctx, code, &commonv1.Money{Currency: "CNY", MinorUnits: 2500}, "ctl-statement", "u-ctl")
	if err != nil || paid.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("pay: %v %v", paid, err)
	}
	acqdb, err := sqlstore.Open(ctx, st.DSN("acquirer"))
	if err != nil {
		t.Fatal(err)
	}
	defer acqdb.Close()
	waitPosted := func(paymentID string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var posted bool
			if err := acqdb.QueryRowContext(ctx, `SELECT ledger_posted FROM acq_payments WHERE payment_id = $1`, paymentID).Scan(&posted); err == nil && posted {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("payment %s was not posted within 10s", paymentID)
			}
		}
	}
	waitPosted(paid.GetPaymentId())
	if _, err := ctl("operator", "cycles", "close"); err != nil {
		t.Fatalf("cycles close: %v", err)
	}
	if out, err := ctl("viewer", "cycles", "list"); err != nil || !strings.Contains(out, "CYCLE") || !strings.Contains(out, "cycle-") {
		t.Errorf("cycles list: %v %q", err, out)
	}
	out, err = ctl("viewer", "statements", "list")
	var list struct {
		Statements []struct{ StatementId, PartnerId string }
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Statements) == 0 {
		t.Fatalf("statements list: %v %q", err, out)
	}
	fileDir := t.TempDir()
	out, err = ctl("viewer", "statements", "file", list.Statements[len(list.Statements)-1].StatementId, "--dir", fileDir)
	if err != nil {
		t.Fatalf("statements file: %v %q", err, out)
	}
	path := strings.Split(strings.TrimSpace(out), "\n")[0]
	body, err1 := os.ReadFile(path)
	check, err2 := os.ReadFile(path + ".sha256")
	sum := sha256.Sum256(body)
	if err1 != nil || err2 != nil || string(check) != hex.EncodeToString(sum[:])+"  "+filepath.Base(path)+"\n" ||
		!strings.Contains(string(body), paid.GetPaymentId()) || !strings.Contains(string(body), "\nT,payments=1 refunds=0 cancels=0 fees=0,rows=1,") {
		t.Fatalf("statement file %s: %v %v\n%s\n%s", path, err1, err2, body, check)
	}

	// Reconciliation under the settlement noun: the statement's own file
	// matches; a counterparty's file with an extra payment breaks once, a
	// viewer may not reconcile, an operator resolves the break.
	stID := list.Statements[len(list.Statements)-1].StatementId
	if out, err := ctl("operator", "settlement", "reconcile", stID, path); err != nil || !strings.Contains(out, "rows 1: matched 1, mismatched 0") {
		t.Fatalf("reconcile the statement's own file: %v %q", err, out)
	}
	theirs := filepath.Join(fileDir, "theirs.csv")
	extra := strings.Replace(string(body), "\nT,", "\nD,PAYMENT,their-only,,,CNY,1.00,,,\nT,", 1)
	if err := os.WriteFile(theirs, []byte(extra), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl("viewer", "settlement", "reconcile", stID, theirs); err == nil || !strings.Contains(err.Error(), "PermissionDenied") {
		t.Errorf("a viewer reconciled: %v", err)
	}
	out, err = ctl("operator", "settlement", "reconcile", stID, theirs)
	if err != nil || !strings.Contains(out, "missing in Unigate 1") || !strings.Contains(out, "MISSING_IN_UNIGATE") {
		t.Fatalf("reconcile their file: %v %q", err, out)
	}
	out, err = ctl("viewer", "settlement", "breaks", "--statement", stID, "-o", "json")
	var breaks struct {
		Breaks []struct{ BreakId, PaymentId string }
	}
	if err != nil || json.Unmarshal([]byte(out), &breaks) != nil || len(breaks.Breaks) != 1 || breaks.Breaks[0].PaymentId != "their-only" {
		t.Fatalf("settlement breaks: %v %q", err, out)
	}
	if out, err := ctl("operator", "settlement", "resolve", breaks.Breaks[0].BreakId, "--reason", "their test payment"); err != nil ||
		!strings.Contains(out, "resolved by operator:operator: their test payment") {
		t.Fatalf("settlement resolve: %v %q", err, out)
	}
	if out, err := ctl("viewer", "settlement", "breaks"); err != nil || strings.Contains(out, "their-only") {
		t.Fatalf("open breaks after the resolve: %v %q", err, out)
	}
	bad := filepath.Join(fileDir, "bad.csv")
	if err := os.WriteFile(bad, []byte("type,payment_id,reversal_id,currency,amount\nPAYMENT,x,,CNY,1.001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl("operator", "settlement", "reconcile", stID, bad); err == nil || !strings.Contains(err.Error(), "rows[2].amount") {
		t.Errorf("a bad file: %v", err)
	}
	if out, err := ctl("viewer", "settlement", "statement"); err != nil || !strings.Contains(out, stID) || !strings.Contains(out, "NET") {
		t.Errorf("settlement statement: %v %q", err, out)
	}
	if out, err := ctl("viewer", "settlement", "cycles"); err != nil || !strings.Contains(out, "CYCLE") {
		t.Errorf("settlement cycles: %v %q", err, out)
	}
	if out, err := ctl("operator", "settlement", "close"); err != nil || !strings.Contains(out, "STATEMENT") {
		t.Errorf("settlement close: %v %q", err, out)
	}
	// What Unigate owes the network for that cycle, and its file.
	out, err = ctl("viewer", "settlement", "network-statements", "--network", "cnsim", "-o", "json")
	var nets struct {
		NetworkStatements []struct{ StatementId, NetworkId string }
	}
	if err != nil || json.Unmarshal([]byte(out), &nets) != nil || len(nets.NetworkStatements) == 0 || nets.NetworkStatements[0].NetworkId != "cnsim" {
		t.Fatalf("settlement network-statements: %v %q", err, out)
	}
	if out, err := ctl("viewer", "settlement", "statement", nets.NetworkStatements[len(nets.NetworkStatements)-1].StatementId, "--dir", fileDir); err != nil ||
		!strings.Contains(out, "unigate-network-statement_cnsim_CNY_") {
		t.Errorf("a network statement's file: %v %q", err, out)
	} else if body, err := os.ReadFile(strings.Split(strings.TrimSpace(out), "\n")[0]); err != nil || !strings.Contains(string(body), paid.GetPaymentId()+",,") {
		t.Errorf("the network statement file: %v\n%s", err, body)
	}

	// A fee agreement and a cutoff set through the routing table reach
	// the settlement service: hipay's next cycle charges 1% plus 0.05 per
	// payment; a bad time zone is refused.
	if _, err := ctl("admin", "routes", "put-partner", "--id", "hipay", "--settlement-cutoff", "18:00", "--time-zone", "Mars/Olympus"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("an unknown time zone: %v", err)
	}
	if _, err := ctl("admin", "routes", "put-partner", "--id", "hipay", "--fees", "0:100:5", "--settlement-cutoff", "18:00",
		"--time-zone", "Asia/Ulaanbaatar"); err != nil {
		t.Fatalf("put-partner --fees: %v", err)
	}
	for attempt := 0; ; attempt++ {
		_, _, paid, err := walletsim.New("hipay", pconn).ScanAndPay(ctx, code, &commonv1.Money{Currency: "CNY", MinorUnits: 2500},
			fmt.Sprintf("ctl-fee-%d", attempt), "u-ctl")
		if err != nil || paid.GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("pay: %v %v", paid, err)
		}
		waitPosted(paid.GetPaymentId())
		out, err := ctl("operator", "settlement", "close", "--partner", "hipay", "-o", "json")
		var closed struct {
			Cycle      struct{ PartnerId string }
			Statements []struct {
				Gross, Fee, NetReceivable struct{ MinorUnits string }
			}
		}
		if err != nil || json.Unmarshal([]byte(out), &closed) != nil || closed.Cycle.PartnerId != "hipay" || len(closed.Statements) != 1 {
			t.Fatalf("settlement close --partner hipay: %v %q", err, out)
		}
		st := closed.Statements[0]
		gross, _ := strconv.ParseInt(st.Gross.MinorUnits, 10, 64)
		fee, _ := strconv.ParseInt(st.Fee.MinorUnits, 10, 64)
		if fee > 0 {
			if want := (gross+50)/100 + 5; fee != want {
				t.Fatalf("fee %d on gross %d, want %d", fee, gross, want)
			}
			break
		}
		if attempt == 20 {
			t.Fatalf("no fee charged after the agreement was set: %s", out)
		}
		time.Sleep(100 * time.Millisecond) // the settlement service's table follows etcd
	}
}

func runAudit(ctx context.Context, dsn string) (string, error) {
	var out bytes.Buffer
	_, err := run(ctx, []string{"audit", "verify", "--dsn", dsn}, &out)
	return out.String(), err
}
