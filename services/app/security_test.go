package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	acquiringv1 "github.com/unigate/unigate/proto/gen/unigate/acquiring/v1"
	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"

	unigate "github.com/unigate/unigate/sdk"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/pki"
	"github.com/unigate/unigate/pkg/quota"
	"github.com/unigate/unigate/pkg/reqsign"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/services/router"
	"github.com/unigate/unigate/services/walletsim"
)

// testTransport: without a client certificate, or with one from another
// authority, no call reaches a handler; a partner cannot call internal
// services; an operator's role decides what it may do.
func (e *env) testTransport(t *testing.T) {
	ctx := context.Background()
	call := func(t *testing.T, conn *grpc.ClientConn) error {
		t.Helper()
		_, err := partnerv1.NewPartnerServiceClient(conn).GetPayment(ctx, &partnerv1.GetPaymentRequest{
			Id: &partnerv1.GetPaymentRequest_PaymentId{PaymentId: "x"}})
		return err
	}
	dial := func(t *testing.T, opt grpc.DialOption) *grpc.ClientConn {
		t.Helper()
		c, err := grpcx.Dial(e.stack.Addrs["acquirer"], 5*time.Second, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// presenting trusts the acquirer's CA and presents kp.
	presenting := func(t *testing.T, kp tls.Certificate) grpc.DialOption {
		t.Helper()
		cfg, err := pki.ClientConfig("", "", e.stack.PKI.CA("unigate"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
		return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
	}
	t.Run("plaintext", func(t *testing.T) {
		if err := call(t, dial(t, grpc.WithTransportCredentials(insecure.NewCredentials()))); status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		cfg, err := pki.ClientConfig("", "", e.stack.PKI.CA("unigate"))
		if err != nil {
			t.Fatal(err)
		}
		if err := call(t, dial(t, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))); status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a certificate from another authority", func(t *testing.T) {
		other, err := pki.WriteDev(t.TempDir(), pki.DevSpec{Partners: []string{"hipay"}})
		if err != nil {
			t.Fatal(err)
		}
		crt, key := other.Cert(authn.Partner, "hipay")
		kp, err := tls.LoadX509KeyPair(crt, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := call(t, dial(t, presenting(t, kp))); status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an expired certificate", func(t *testing.T) {
		dir := e.stack.PKI.Dir
		ca, err := pki.LoadCA(dir+"/ca/partners.crt", dir+"/ca/partners.key")
		if err != nil {
			t.Fatal(err)
		}
		ended := time.Now().Add(-time.Hour)
		crt, key, err := ca.Issue(authn.Identity{Kind: authn.Partner, ID: "hipay"}, []string{"localhost"}, ended.Add(-24*time.Hour), ended)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := tls.X509KeyPair(crt, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := call(t, dial(t, presenting(t, kp))); status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("refused handshakes are audited", func(t *testing.T) {
		// The refusals above: no certificate, one of an unknown authority,
		// an expired one. (The plaintext attempt is refused as well.)
		waitFor(t, "the refused handshakes in the audit log", func() bool {
			var noCert, unknownCA, expired int
			err := e.db.QueryRowContext(ctx, `SELECT
				COALESCE(SUM(CASE WHEN after_json LIKE '%provide a certificate%' THEN 1 ELSE 0 END), 0),
				COALESCE(SUM(CASE WHEN after_json LIKE '%unknown authority%' THEN 1 ELSE 0 END), 0),
				COALESCE(SUM(CASE WHEN after_json LIKE '%expired%' THEN 1 ELSE 0 END), 0)
				FROM audit_log WHERE actor = 'unauthenticated' AND action = 'auth.handshake'
				AND outcome = 'refused:UNAUTHENTICATED'`).Scan(&noCert, &unknownCA, &expired)
			return err == nil && noCert >= 1 && unknownCA >= 1 && expired >= 1
		})
	})
	t.Run("the SDK given a partner's certificate", func(t *testing.T) {
		crt, key := e.stack.PKI.Cert(authn.Partner, "hipay")
		creds, err := unigate.MutualTLS(crt, key, e.stack.PKI.CA("unigate"))
		if err != nil {
			t.Fatal(err)
		}
		signKey, err := e.stack.PKI.SigningKey(authn.Partner, "hipay")
		if err != nil {
			t.Fatal(err)
		}
		unigateKey, err := e.stack.PKI.SigningKey(authn.Service, "acquirer")
		if err != nil {
			t.Fatal(err)
		}
		unigatePub := unigateKey.Public().(ed25519.PublicKey)
		c, err := unigate.Dial(e.stack.Addrs["acquirer"], "hipay", unigate.WithTransportCredentials(creds),
			unigate.WithRequestSigning("v1", signKey, unigatePub))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.DecodeCode(ctx, &partnerv1.DecodeCodeRequest{Code: e.staticCode(0)}); err != nil {
			t.Fatalf("decode through the SDK: %v", err)
		}
		// A signed money-moving call: the SDK's signature verifies.
		q, err := c.CreateQuote(ctx, &partnerv1.CreateQuoteRequest{Code: e.staticCode(0), Amount: cny(250)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Pay(ctx, &partnerv1.PayRequest{PartnerPaymentId: "sdk-signed-1", Code: e.staticCode(0), Amount: cny(250),
			QuoteId: q.GetQuote().GetQuoteId(), UserRef: "u-sdk"})
		if err != nil || p.GetPayment().GetResult() != commonv1.Result_RESULT_SUCCESS {
			t.Fatalf("a signed Pay through the SDK, its answer's signature verified: %v %v", p, err)
		}
		// An answer that does not verify (here: checked against another
		// key) is an unknown outcome, never a success to act on.
		otherPub, _, _ := ed25519.GenerateKey(nil)
		d, err := unigate.Dial(e.stack.Addrs["acquirer"], "hipay", unigate.WithTransportCredentials(creds),
			unigate.WithRequestSigning("v1", signKey, otherPub))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if _, err := d.Pay(ctx, &partnerv1.PayRequest{PartnerPaymentId: "sdk-signed-1", Code: e.staticCode(0), Amount: cny(250),
			QuoteId: q.GetQuote().GetQuoteId(), UserRef: "u-sdk"}); !errors.Is(err, unigate.ErrOutcomeUnknown) {
			t.Fatalf("an answer signed by another key: %v", err)
		}
	})
	t.Run("a partner on internal services", func(t *testing.T) {
		for _, svc := range []string{"settlement", "router"} {
			conn := e.conn(svc, authn.Partner, "hipay")
			var err error
			if svc == "settlement" {
				_, err = settlementv1.NewSettlementServiceClient(conn).PostPayments(ctx, &settlementv1.PostPaymentsRequest{})
			} else {
				err = conn.Invoke(ctx, "/unigate.router.v1.RouterService/GetRoutingTable", &partnerv1.GetPaymentRequest{}, &partnerv1.GetPaymentResponse{})
			}
			if rpcerr.ReasonOf(err) != rpcerr.PermissionDenied {
				t.Fatalf("%s: got %v", svc, err)
			}
		}
	})
	t.Run("a service on another's internal API", func(t *testing.T) {
		// Only the acquirer orchestrates fx, risk and settlement: a risk
		// replica's certificate cannot post to the ledger.
		conn := e.conn("settlement", authn.Service, "risk")
		_, err := settlementv1.NewSettlementServiceClient(conn).PostPayments(ctx, &settlementv1.PostPaymentsRequest{})
		if rpcerr.ReasonOf(err) != rpcerr.PermissionDenied {
			t.Fatalf("risk on settlement: got %v", err)
		}
	})
	t.Run("refusals are audited and chained", func(t *testing.T) {
		x := walletsim.New("cnsim", e.network("cnsim"))
		if _, err := x.Client.DecodeCode(ctx, &partnerv1.DecodeCodeRequest{Code: "x"}); rpcerr.ReasonOf(err) != rpcerr.PermissionDenied {
			t.Fatalf("a network on the partner API: %v", err)
		}
		waitFor(t, "the refusal linked into the audit chain", func() bool {
			var n int
			err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE actor = 'network:cnsim'
				AND action = 'auth.denied' AND subject = '/unigate.partner.v1.PartnerService/DecodeCode'
				AND outcome = 'refused:PERMISSION_DENIED' AND seq IS NOT NULL`).Scan(&n)
			return err == nil && n == 1
		})
		rep, err := audit.Verify(ctx, e.db)
		if err != nil || rep.FirstBroken != 0 || rep.Entries == 0 {
			t.Fatalf("audit chain: %+v %v", rep, err)
		}
	})
	t.Run("operator roles", func(t *testing.T) {
		if _, err := pki.WriteDev(e.stack.PKI.Dir, pki.DevSpec{Operators: map[string]authn.Role{"viewer": authn.Viewer}}); err != nil {
			t.Fatal(err)
		}
		viewer := settlementv1.NewSettlementServiceClient(e.conn("settlement", authn.Operator, "viewer"))
		if _, err := viewer.GetTrialBalance(ctx, &settlementv1.GetTrialBalanceRequest{}); err != nil {
			t.Fatalf("a viewer reads the trial balance: %v", err)
		}
		cutoff := timestamppb.New(time.Now().Add(-time.Hour))
		if _, err := viewer.CloseCycle(ctx, &settlementv1.CloseCycleRequest{Cutoff: cutoff}); rpcerr.ReasonOf(err) != rpcerr.PermissionDenied {
			t.Fatalf("a viewer closing a cycle: %v", err)
		}
		if _, err := viewer.PostPayments(ctx, &settlementv1.PostPaymentsRequest{}); rpcerr.ReasonOf(err) != rpcerr.PermissionDenied {
			t.Fatalf("an operator posting to the ledger: %v", err)
		}
		// An operator may read a partner's payment, naming the partner.
		w := walletsim.New("hipay", e.partner("hipay"))
		_, _, p, err := w.ScanAndPay(ctx, e.staticCode(0), cny(321), "sec-op-1", "u-sec")
		if err != nil {
			t.Fatal(err)
		}
		ops := walletsim.New("hipay", e.conn("acquirer", authn.Operator, "viewer"))
		got, err := ops.Client.GetPayment(ops.Context(ctx), &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}})
		if err != nil || got.GetPayment().GetPaymentId() != p.GetPaymentId() {
			t.Fatalf("an operator reading a payment: %v %v", got, err)
		}
		if _, err := ops.Client.CancelPayment(ops.Context(ctx), &partnerv1.CancelPaymentRequest{Id: &partnerv1.CancelPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}}); rpcerr.ReasonOf(err) != rpcerr.PermissionDenied {
			t.Fatalf("an operator cancelling through the partner API: %v", err)
		}
	})
}

// testIsolation: a partner or network sees only its own payments, refunds
// and events; another's are NOT_FOUND whichever way they are named, so
// ids cannot be probed.
func (e *env) testIsolation(t *testing.T) {
	ctx := context.Background()
	hipay := walletsim.New("hipay", e.partner("hipay"))
	_, _, p, err := hipay.ScanAndPay(ctx, e.staticCode(0), cny(1234), "iso-1", "u-iso")
	if err != nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("pay: %v %v", p, err)
	}
	zalo := walletsim.New("zalopay", e.partner("zalopay"))
	byID := &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}}
	byKey := &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PartnerPaymentId{PartnerPaymentId: "iso-1"}}
	for name, req := range map[string]*partnerv1.GetPaymentRequest{"id": byID, "key": byKey} {
		if _, err := zalo.Client.GetPayment(zalo.Context(ctx), req); rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
			t.Fatalf("another partner reading by %s: %v", name, err)
		}
	}
	for name, req := range map[string]*partnerv1.CancelPaymentRequest{
		"id":  {Id: &partnerv1.CancelPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}},
		"key": {Id: &partnerv1.CancelPaymentRequest_PartnerPaymentId{PartnerPaymentId: "iso-1"}},
	} {
		if _, err := zalo.Client.CancelPayment(zalo.Context(ctx), req); rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
			t.Fatalf("another partner cancelling by %s: %v", name, err)
		}
	}
	// Another partner's stream carries none of hipay's events.
	sctx, stop := context.WithTimeout(zalo.Context(ctx), time.Second)
	defer stop()
	stream, err := zalo.Client.StreamEvents(sctx, &partnerv1.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			break // the deadline ends the stream
		}
		if pid := ev.GetEvent().GetPayment().GetPartnerId(); pid != "" && pid != "zalopay" {
			t.Fatalf("zalopay received %s's event", pid)
		}
	}
	// Another network: read, cancel, refund by id or order, refund lookup.
	e.onboardNetwork("othernet")
	other := acquiringv1.NewAcquiringServiceClient(e.network("othernet"))
	if _, err := other.GetPayment(ctx, &acquiringv1.GetPaymentRequest{Id: &acquiringv1.GetPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}}); rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
		t.Fatalf("another network reading: %v", err)
	}
	if _, err := other.RefundPayment(ctx, refundRequest("iso-r", p.GetPaymentId(), 1, "")); rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
		t.Fatalf("another network refunding: %v", err)
	}
	r, err := e.pos().refund("iso-r-own", p.GetPaymentId(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.GetRefund(ctx, &acquiringv1.GetRefundRequest{Id: &acquiringv1.GetRefundRequest_RefundId{RefundId: r.GetRefundId()}}); rpcerr.ReasonOf(err) != rpcerr.RefundNotFound {
		t.Fatalf("another network reading a refund: %v", err)
	}
	if _, err := other.CancelPayment(ctx, &acquiringv1.CancelPaymentRequest{Id: &acquiringv1.CancelPaymentRequest_PaymentId{PaymentId: p.GetPaymentId()}}); rpcerr.ReasonOf(err) != rpcerr.PaymentNotFound {
		t.Fatalf("another network cancelling: %v", err)
	}
}

// testQuotas: a partner's limits come from the routing table, apply
// without a restart, and a call over them is RESOURCE_EXHAUSTED with
// QuotaFailure and RetryInfo; so is a stream over the stream limit.
func (e *env) testQuotas(t *testing.T) {
	ctx := context.Background()
	cli, err := e.stack.EtcdClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	partner := router.Partner{ID: "quotawallet", Name: "Limited", Currency: "MNT", SigningKeys: e.keys(authn.Partner, "quotawallet"),
		Limits: &quota.Limits{RatePerSecond: 0.5, Burst: 3, MaxStreams: 1}}
	if err := router.PutPartner(ctx, cli, partner); err != nil {
		t.Fatal(err)
	}
	w := walletsim.New("quotawallet", e.partner("quotawallet"))
	decode := func() error {
		_, err := w.Client.DecodeCode(w.Context(ctx), &partnerv1.DecodeCodeRequest{Code: e.staticCode(0)})
		return err
	}
	var refused error
	waitFor(t, "the partner's limits", func() bool {
		refused = decode()
		return status.Code(refused) == codes.ResourceExhausted
	})
	if rpcerr.ReasonOf(refused) != rpcerr.QuotaExceeded {
		t.Fatalf("reason %s", rpcerr.ReasonOf(refused))
	}
	var qf *errdetails.QuotaFailure
	var ri *errdetails.RetryInfo
	for _, d := range status.Convert(refused).Details() {
		switch d := d.(type) {
		case *errdetails.QuotaFailure:
			qf = d
		case *errdetails.RetryInfo:
			ri = d
		}
	}
	if qf == nil || qf.GetViolations()[0].GetSubject() != "partner:quotawallet" || ri == nil || ri.GetRetryDelay().AsDuration() <= 0 {
		t.Fatalf("details: %v %v", qf, ri)
	}
	// Other partners keep their own budgets.
	h := walletsim.New("hipay", e.partner("hipay"))
	if _, err := h.Client.DecodeCode(h.Context(ctx), &partnerv1.DecodeCodeRequest{Code: e.staticCode(0)}); err != nil {
		t.Fatalf("another partner: %v", err)
	}
	// One stream at a time.
	partner.Limits = &quota.Limits{MaxStreams: 1}
	if err := router.PutPartner(ctx, cli, partner); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new limits", func() bool { // five at once: more than the old burst
		for range 5 {
			if decode() != nil {
				return false
			}
		}
		return true
	})
	// A payment gives the first stream an event to deliver: once it has,
	// the stream is surely open at the server.
	if _, _, p, err := w.ScanAndPay(ctx, e.staticCode(0), cny(500), "quota-1", "u-quota"); err != nil || p.GetResult() != commonv1.Result_RESULT_SUCCESS {
		t.Fatalf("pay: %v %v", p, err)
	}
	sctx, stop := context.WithCancel(w.Context(ctx))
	defer stop()
	first, err := w.Client.StreamEvents(sctx, &partnerv1.StreamEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(); err != nil {
		t.Fatalf("the first stream: %v", err)
	}
	firstEnded := make(chan error, 1)
	go func() {
		for {
			if _, err := first.Recv(); err != nil {
				firstEnded <- err
				return
			}
		}
	}()
	waitFor(t, "a second stream refused", func() bool {
		select {
		case err := <-firstEnded:
			t.Fatalf("the first stream ended: %v", err)
		default:
		}
		actx, cancel := context.WithTimeout(sctx, 300*time.Millisecond)
		defer cancel()
		second, err := w.Client.StreamEvents(actx, &partnerv1.StreamEventsRequest{})
		if err == nil {
			_, err = second.Recv()
		}
		return rpcerr.ReasonOf(err) == rpcerr.QuotaExceeded
	})
}

// testSignatures: money-moving requests must be signed with a registered,
// current key version; a stale time, a reused request id or a bad
// signature is refused, and the refusal audited.
func (e *env) testSignatures(t *testing.T) {
	ctx := context.Background()
	cli, err := e.stack.EtcdClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	_, oldKey, _ := ed25519.GenerateKey(nil)
	_, newKey, _ := ed25519.GenerateKey(nil)
	ended := time.Now().Add(-time.Minute) // the rotation window from v1 to v2 is over
	old := router.NewSigningKey("v1", oldKey.Public().(ed25519.PublicKey))
	old.NotAfter = &ended
	if err := router.PutPartner(ctx, cli, router.Partner{ID: "signwallet", Name: "Signing", Currency: "MNT",
		SigningKeys: []router.SigningKey{old, router.NewSigningKey("v2", newKey.Public().(ed25519.PublicKey))}}); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.WriteDev(e.stack.PKI.Dir, pki.DevSpec{Partners: []string{"signwallet"}}); err != nil {
		t.Fatal(err)
	}
	// A connection that signs nothing by itself.
	crt, key := e.stack.PKI.Cert(authn.Partner, "signwallet")
	cfg, err := pki.ClientConfig(crt, key, e.stack.PKI.CA("unigate"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpcx.Dial(e.stack.Addrs["acquirer"], 5*time.Second, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := partnerv1.NewPartnerServiceClient(conn)
	const method = "/unigate.partner.v1.PartnerService/CancelPayment"
	req := &partnerv1.CancelPaymentRequest{Id: &partnerv1.CancelPaymentRequest_PartnerPaymentId{PartnerPaymentId: "no-such-key"}}
	cancel := func(md metadata.MD) error {
		_, err := c.CancelPayment(metadata.NewOutgoingContext(ctx, md), req)
		return err
	}
	sign := func(k ed25519.PrivateKey, version string, at time.Time, id string) metadata.MD {
		md, err := reqsign.Sign(k, version, method, "partner:signwallet", req, at, id)
		if err != nil {
			t.Fatal(err)
		}
		return md
	}
	waitFor(t, "the partner's keys", func() bool {
		return rpcerr.ReasonOf(cancel(sign(newKey, "v2", time.Now(), reqsign.NewRequestID()))) == rpcerr.PaymentNotFound
	})
	replayed := sign(newKey, "v2", time.Now(), reqsign.NewRequestID())
	tampered := sign(newKey, "v2", time.Now(), reqsign.NewRequestID())
	tampered.Set(reqsign.HeaderID, reqsign.NewRequestID()) // the id is part of what was signed
	for _, tc := range []struct {
		name   string
		md     metadata.MD
		reason rpcerr.Reason
	}{
		{"a current key", replayed, rpcerr.PaymentNotFound},
		{"the same request again", replayed, rpcerr.RequestReplayed},
		{"unsigned", metadata.MD{}, rpcerr.SignatureInvalid},
		{"a bad signature", tampered, rpcerr.SignatureInvalid},
		{"another key under the version", sign(oldKey, "v2", time.Now(), reqsign.NewRequestID()), rpcerr.SignatureInvalid},
		{"the old key after the rotation window", sign(oldKey, "v1", time.Now(), reqsign.NewRequestID()), rpcerr.SignatureInvalid},
		{"an unknown version", sign(newKey, "v3", time.Now(), reqsign.NewRequestID()), rpcerr.SignatureInvalid},
		{"a stale request time", sign(newKey, "v2", time.Now().Add(-10*time.Minute), reqsign.NewRequestID()), rpcerr.RequestExpired},
		{"a request time from the future", sign(newKey, "v2", time.Now().Add(10*time.Minute), reqsign.NewRequestID()), rpcerr.RequestExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := cancel(tc.md); rpcerr.ReasonOf(err) != tc.reason {
				t.Fatalf("got %v, want %s", err, tc.reason)
			}
		})
	}
	waitFor(t, "the refusals audited", func() bool {
		var n int
		err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE actor = 'partner:signwallet' AND subject = $1
			AND outcome IN ('refused:SIGNATURE_INVALID', 'refused:REQUEST_EXPIRED', 'refused:REQUEST_REPLAYED')`, method).Scan(&n)
		return err == nil && n >= 7
	})
}
