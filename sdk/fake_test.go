package unigate_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	unigate "github.com/unigate/unigate/sdk"
)

// startPartnerService serves srv as a PartnerService on a fresh loopback
// port and returns its address and a function that stops it.
func startPartnerService(srv partnerv1.PartnerServiceServer) (addr string, stop func()) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := grpc.NewServer()
	partnerv1.RegisterPartnerServiceServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	return lis.Addr().String(), s.Stop
}

// dial starts srv and returns a Client of it for partner "hipay", with
// fast backoff unless opts say otherwise.
func dial(t *testing.T, srv partnerv1.PartnerServiceServer, opts ...unigate.Option) *unigate.Client {
	t.Helper()
	addr, stop := startPartnerService(srv)
	t.Cleanup(stop)
	opts = append([]unigate.Option{
		unigate.WithTransportCredentials(insecure.NewCredentials()),
		unigate.WithBackoff(time.Millisecond, 5*time.Millisecond),
	}, opts...)
	c, err := unigate.Dial(addr, "hipay", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// call is what the fake saw of one call.
type call struct {
	method    string
	partnerID []string
	md        metadata.MD
	deadline  time.Duration // remaining on arrival; 0 if none
	key       string        // Pay's partner_payment_id
}

// fakePartner is a scripted PartnerService. Call n (1-based, counted over
// all unary methods) sleeps sleeps[n-1] (or until its deadline), then
// fails with errs[n-1] if that is not nil, else answers a canned success.
type fakePartner struct {
	partnerv1.UnimplementedPartnerServiceServer

	errs   []error
	sleeps []time.Duration
	// noEcho makes Pay answer a payment without the partner_payment_id.
	noEcho bool
	// stream scripts StreamEvents; conn is 1 for the first stream.
	stream func(conn int, req *partnerv1.StreamEventsRequest, s grpc.ServerStreamingServer[partnerv1.StreamEventsResponse]) error

	mu       sync.Mutex
	calls    []call
	streams  []int64 // after_sequence of each StreamEvents
	streamMD []metadata.MD
}

func (f *fakePartner) record(ctx context.Context, method, key string) (int, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	c := call{method: method, partnerID: md.Get(unigate.PartnerIDHeader), md: md, key: key}
	if dl, ok := ctx.Deadline(); ok {
		c.deadline = time.Until(dl)
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	n := len(f.calls)
	f.mu.Unlock()
	if n <= len(f.sleeps) && f.sleeps[n-1] > 0 {
		select {
		case <-time.After(f.sleeps[n-1]):
		case <-ctx.Done():
			return n, status.FromContextError(ctx.Err()).Err()
		}
	}
	if n <= len(f.errs) && f.errs[n-1] != nil {
		return n, f.errs[n-1]
	}
	return n, nil
}

func (f *fakePartner) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakePartner) keys() []string {
	var out []string
	for _, c := range f.Calls() {
		if c.method == "Pay" {
			out = append(out, c.key)
		}
	}
	return out
}

func (f *fakePartner) DecodeCode(ctx context.Context, req *partnerv1.DecodeCodeRequest) (*partnerv1.DecodeCodeResponse, error) {
	if _, err := f.record(ctx, "DecodeCode", ""); err != nil {
		return nil, err
	}
	return &partnerv1.DecodeCodeResponse{Kind: commonv1.CodeKind_CODE_KIND_EMVCO_MPM, WalletCurrency: "MNT"}, nil
}

func (f *fakePartner) CreateQuote(ctx context.Context, req *partnerv1.CreateQuoteRequest) (*partnerv1.CreateQuoteResponse, error) {
	if _, err := f.record(ctx, "CreateQuote", ""); err != nil {
		return nil, err
	}
	return &partnerv1.CreateQuoteResponse{Quote: &partnerv1.Quote{QuoteId: "q-1"}}, nil
}

func (f *fakePartner) Pay(ctx context.Context, req *partnerv1.PayRequest) (*partnerv1.PayResponse, error) {
	if _, err := f.record(ctx, "Pay", req.GetPartnerPaymentId()); err != nil {
		return nil, err
	}
	p := &partnerv1.Payment{PaymentId: "pay-1", PartnerPaymentId: req.GetPartnerPaymentId(), Result: commonv1.Result_RESULT_SUCCESS}
	if f.noEcho {
		p.PartnerPaymentId = ""
	}
	return &partnerv1.PayResponse{Payment: p}, nil
}

func (f *fakePartner) GetPayment(ctx context.Context, req *partnerv1.GetPaymentRequest) (*partnerv1.GetPaymentResponse, error) {
	if _, err := f.record(ctx, "GetPayment", req.GetPartnerPaymentId()); err != nil {
		return nil, err
	}
	return &partnerv1.GetPaymentResponse{Payment: &partnerv1.Payment{PaymentId: "pay-1", PartnerPaymentId: req.GetPartnerPaymentId()}}, nil
}

func (f *fakePartner) CancelPayment(ctx context.Context, req *partnerv1.CancelPaymentRequest) (*partnerv1.CancelPaymentResponse, error) {
	if _, err := f.record(ctx, "CancelPayment", req.GetPartnerPaymentId()); err != nil {
		return nil, err
	}
	return &partnerv1.CancelPaymentResponse{Result: commonv1.Result_RESULT_SUCCESS}, nil
}

func (f *fakePartner) StreamEvents(req *partnerv1.StreamEventsRequest, s grpc.ServerStreamingServer[partnerv1.StreamEventsResponse]) error {
	md, _ := metadata.FromIncomingContext(s.Context())
	f.mu.Lock()
	f.streams = append(f.streams, req.GetAfterSequence())
	f.streamMD = append(f.streamMD, md)
	n := len(f.streams)
	f.mu.Unlock()
	if f.stream == nil {
		return status.Error(codes.Unimplemented, "no events")
	}
	return f.stream(n, req, s)
}

func (f *fakePartner) Streams() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.streams...)
}

// unigateStatus returns a status error as Unigate makes one: ErrorInfo
// with reason, BadRequest for field, RetryInfo for retry.
func unigateStatus(code codes.Code, reason, field string, retry time.Duration, msg string) error {
	st := status.New(code, msg)
	var details []protoadapt.MessageV1
	if reason != "" {
		info := &errdetails.ErrorInfo{Domain: "unigate", Reason: reason}
		if field != "" {
			info.Metadata = map[string]string{"field": field}
		}
		details = append(details, info)
	}
	if field != "" {
		details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}})
	}
	if retry > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(retry)})
	}
	st, err := st.WithDetails(details...)
	if err != nil {
		panic(err)
	}
	return st.Err()
}

func unavailable() error { return status.Error(codes.Unavailable, "connection refused") }

func event(seq int64) *partnerv1.StreamEventsResponse {
	return &partnerv1.StreamEventsResponse{Event: &partnerv1.Event{
		EventId: fmt.Sprintf("ev-%d", seq), Sequence: seq, Type: partnerv1.EventType_EVENT_TYPE_PAYMENT_SUCCEEDED,
		Payment: &partnerv1.Payment{PaymentId: fmt.Sprintf("pay-%d", seq)},
	}}
}

// mustConn returns a plain connection to addr, closed when t ends.
func mustConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
