package unigate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
)

// PartnerIDHeader is the gRPC metadata key that names the calling partner
// on a trusted network (mTLS identities replace it on the internet).
const PartnerIDHeader = "unigate-partner-id"

// Defaults of the options.
const (
	DefaultPayTimeout     = 10 * time.Second
	DefaultCallTimeout    = 5 * time.Second
	DefaultMaxAttempts    = 4
	DefaultInitialBackoff = 100 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
)

// Client calls Unigate's PartnerService for one partner. It is safe for
// concurrent use.
type Client struct {
	pc        partnerv1.PartnerServiceClient
	conn      *grpc.ClientConn // set when Dial made it; closed by Close
	partnerID string
	cfg       config
}

type config struct {
	creds          credentials.TransportCredentials
	dialOpts       []grpc.DialOption
	callTimeout    time.Duration // 0: DefaultCallTimeout
	payTimeout     time.Duration // 0: callTimeout if set, else DefaultPayTimeout
	maxAttempts    int
	initialBackoff time.Duration
	maxBackoff     time.Duration
	newKey         func() string
}

// Option configures a Client.
type Option func(*config)

// WithTransportCredentials sets the credentials Dial connects with: TLS
// (with a client certificate, for mTLS) in production,
// insecure.NewCredentials() on a trusted network or in tests. Dial needs
// credentials, from this option or from WithDialOptions.
func WithTransportCredentials(c credentials.TransportCredentials) Option {
	return func(cfg *config) { cfg.creds = c }
}

// WithDialOptions adds grpc.DialOptions for Dial (interceptors, keepalive,
// credentials). NewClient ignores them.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(cfg *config) { cfg.dialOpts = append(cfg.dialOpts, opts...) }
}

// WithCallTimeout sets the deadline of each attempt of every call: of Pay
// too, unless WithPayTimeout is given. The defaults are DefaultPayTimeout
// (10 s) for Pay and DefaultCallTimeout (5 s) for the others. The caller's
// context still bounds the whole call, retries included.
func WithCallTimeout(d time.Duration) Option {
	return func(cfg *config) { cfg.callTimeout = d }
}

// WithPayTimeout sets the deadline of each attempt of Pay only.
func WithPayTimeout(d time.Duration) Option {
	return func(cfg *config) { cfg.payTimeout = d }
}

// WithRetries sets how many times a call is sent at most, the first
// included (default 4; 1 disables retries).
func WithRetries(maxAttempts int) Option {
	return func(cfg *config) { cfg.maxAttempts = max(1, maxAttempts) }
}

// WithBackoff sets the wait before the first retry (default 100 ms) and
// the cap of the wait (default 5 s). The wait doubles at each retry and is
// jittered; a RetryInfo.retry_delay from Unigate takes its place.
func WithBackoff(initial, maxWait time.Duration) Option {
	return func(cfg *config) {
		if initial > 0 {
			cfg.initialBackoff = initial
		}
		if maxWait > 0 {
			cfg.maxBackoff = maxWait
		}
	}
}

// WithKeyGenerator replaces how Pay makes a partner_payment_id for a
// request that has none (default: [NewKey], 32 random hex characters). The
// keys must be unique per partner and 1 to 64 characters of
// [A-Za-z0-9._:-].
func WithKeyGenerator(f func() string) Option {
	return func(cfg *config) {
		if f != nil {
			cfg.newKey = f
		}
	}
}

func newConfig(opts []Option) config {
	cfg := config{
		maxAttempts:    DefaultMaxAttempts,
		initialBackoff: DefaultInitialBackoff,
		maxBackoff:     DefaultMaxBackoff,
		newKey:         NewKey,
	}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.maxBackoff = max(cfg.maxBackoff, cfg.initialBackoff)
	return cfg
}

// Dial returns a Client of the PartnerService at target ("host:port", or
// any gRPC target) for partner partnerID. It does not wait for the
// connection: the first call connects. Close the Client when done.
func Dial(target string, partnerID string, opts ...Option) (*Client, error) {
	if partnerID == "" {
		return nil, errors.New("unigate: Dial: the partner id is required")
	}
	cfg := newConfig(opts)
	dialOpts := []grpc.DialOption{grpc.WithUserAgent("unigate-sdk-go")}
	if cfg.creds != nil {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(cfg.creds))
	}
	dialOpts = append(dialOpts, cfg.dialOpts...)
	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("unigate: Dial %s (set credentials with WithTransportCredentials): %w", target, err)
	}
	c := newClient(conn, partnerID, cfg)
	c.conn = conn
	return c, nil
}

// NewClient returns a Client over an existing connection, which the
// caller keeps and closes. It panics if partnerID is empty.
func NewClient(conn grpc.ClientConnInterface, partnerID string, opts ...Option) *Client {
	if partnerID == "" {
		panic("unigate: NewClient: the partner id is required")
	}
	return newClient(conn, partnerID, newConfig(opts))
}

func newClient(conn grpc.ClientConnInterface, partnerID string, cfg config) *Client {
	return &Client{pc: partnerv1.NewPartnerServiceClient(conn), partnerID: partnerID, cfg: cfg}
}

// Close closes the connection Dial made; it does nothing for a Client
// made by NewClient.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// PartnerID returns the partner the Client calls as.
func (c *Client) PartnerID() string { return c.partnerID }

// NewKey returns a fresh partner_payment_id from the Client's key
// generator. To survive a crash between Pay and storing its answer, make
// the key with NewKey, store it with the user's order, then Pay with it.
func (c *Client) NewKey() string { return c.cfg.newKey() }

// NewKey returns 32 random hexadecimal characters (128 bits from
// crypto/rand): a partner_payment_id that is unique without coordination.
func NewKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// DecodeCode classifies a scanned code, checks it and resolves its
// merchant. It moves no money and is retried on transport errors.
func (c *Client) DecodeCode(ctx context.Context, req *partnerv1.DecodeCodeRequest) (*partnerv1.DecodeCodeResponse, error) {
	var resp *partnerv1.DecodeCodeResponse
	_, err := c.invoke(ctx, c.timeout(false), func(ctx context.Context) (err error) {
		resp, err = c.pc.DecodeCode(ctx, req)
		return err
	})
	return resp, err
}

// CreateQuote prices a payment of a code. Set req.Amount (in the
// merchant's currency; a dynamic code's own amount, or nothing) to fix
// what the merchant receives, or — for a static code only — instead set
// req.WalletAmount (in the wallet's currency) to fix what the user pays;
// setting both is INVALID_ARGUMENT on wallet_amount. The quote carries
// both amounts, the rate, and SettlementAmount: what the partner will owe
// Unigate for the payment, in its settlement currency (the wallet amount
// when it settles in its wallet's currency). Pay with the quote's
// MerchantAmount. It moves no money and is retried on transport errors (a
// retry may create a second quote; the unused one expires).
func (c *Client) CreateQuote(ctx context.Context, req *partnerv1.CreateQuoteRequest) (*partnerv1.CreateQuoteResponse, error) {
	var resp *partnerv1.CreateQuoteResponse
	_, err := c.invoke(ctx, c.timeout(false), func(ctx context.Context) (err error) {
		resp, err = c.pc.CreateQuote(ctx, req)
		return err
	})
	return resp, err
}

// Pay pays a merchant-presented code at a quoted rate.
//
// If req.PartnerPaymentId is empty, Pay makes a key (see WithKeyGenerator)
// and sends the request with it; req itself is not modified. The answer's
// payment carries the key: store it. Every retry sends the same key, so a
// payment is never made twice.
//
// A nil error means Unigate answered: check resp.Payment.Result. S is
// paid, F is not (Payment.FailureReason says why), U means "not known yet":
// inquire with GetPaymentByPartnerKey, never tell the user it failed.
//
// An error matching a reason sentinel (ErrQuoteExpired, …) means Unigate
// refused the request and no money moved. An error matching
// ErrOutcomeUnknown means the outcome cannot be known (the connection
// broke, the deadline passed, Unigate answered INTERNAL): treat it like U;
// errors.As gives the [*OutcomeUnknownError] with the key.
func (c *Client) Pay(ctx context.Context, req *partnerv1.PayRequest) (*partnerv1.PayResponse, error) {
	if req.GetPartnerPaymentId() == "" {
		if req == nil {
			req = &partnerv1.PayRequest{}
		} else {
			req = proto.CloneOf(req)
		}
		req.PartnerPaymentId = c.cfg.newKey()
	}
	key := req.GetPartnerPaymentId()
	var resp *partnerv1.PayResponse
	attempts, err := c.invoke(ctx, c.timeout(true), func(ctx context.Context) (err error) {
		resp, err = c.pc.Pay(ctx, req)
		return err
	})
	if err != nil {
		return nil, moneyMovingError("Pay", key, "", attempts, err)
	}
	if p := resp.GetPayment(); p != nil && p.GetPartnerPaymentId() == "" {
		p.PartnerPaymentId = key
	}
	return resp, nil
}

// GetPayment returns a payment by Unigate's payment id.
func (c *Client) GetPayment(ctx context.Context, paymentID string) (*partnerv1.GetPaymentResponse, error) {
	return c.getPayment(ctx, &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PaymentId{PaymentId: paymentID}})
}

// GetPaymentByPartnerKey returns a payment by the partner's idempotency key
// (its partner_payment_id). After a U or an ErrOutcomeUnknown, inquire with
// it: ErrPaymentNotFound then means the Pay never reached Unigate.
func (c *Client) GetPaymentByPartnerKey(ctx context.Context, partnerPaymentID string) (*partnerv1.GetPaymentResponse, error) {
	return c.getPayment(ctx, &partnerv1.GetPaymentRequest{Id: &partnerv1.GetPaymentRequest_PartnerPaymentId{PartnerPaymentId: partnerPaymentID}})
}

func (c *Client) getPayment(ctx context.Context, req *partnerv1.GetPaymentRequest) (*partnerv1.GetPaymentResponse, error) {
	var resp *partnerv1.GetPaymentResponse
	_, err := c.invoke(ctx, c.timeout(false), func(ctx context.Context) (err error) {
		resp, err = c.pc.GetPayment(ctx, req)
		return err
	})
	return resp, err
}

// CancelPayment cancels a payment, named by Unigate's payment id, in full.
// Cancelling is idempotent, so it is retried like Pay, and it returns an
// error matching ErrOutcomeUnknown when the outcome cannot be known.
// Result S: cancelled; U: the reversal is in flight (inquire).
func (c *Client) CancelPayment(ctx context.Context, paymentID string) (*partnerv1.CancelPaymentResponse, error) {
	return c.cancel(ctx, "", paymentID, &partnerv1.CancelPaymentRequest{Id: &partnerv1.CancelPaymentRequest_PaymentId{PaymentId: paymentID}})
}

// CancelPaymentByPartnerKey is CancelPayment naming the payment by the
// partner's idempotency key.
func (c *Client) CancelPaymentByPartnerKey(ctx context.Context, partnerPaymentID string) (*partnerv1.CancelPaymentResponse, error) {
	return c.cancel(ctx, partnerPaymentID, "", &partnerv1.CancelPaymentRequest{Id: &partnerv1.CancelPaymentRequest_PartnerPaymentId{PartnerPaymentId: partnerPaymentID}})
}

func (c *Client) cancel(ctx context.Context, key, paymentID string, req *partnerv1.CancelPaymentRequest) (*partnerv1.CancelPaymentResponse, error) {
	var resp *partnerv1.CancelPaymentResponse
	attempts, err := c.invoke(ctx, c.timeout(false), func(ctx context.Context) (err error) {
		resp, err = c.pc.CancelPayment(ctx, req)
		return err
	})
	if err != nil {
		return nil, moneyMovingError("CancelPayment", key, paymentID, attempts, err)
	}
	return resp, nil
}

// moneyMovingError returns err, or an *OutcomeUnknownError around it when
// err does not say for sure that Unigate did nothing. attempts is 0 when
// nothing was sent.
func moneyMovingError(method, key, paymentID string, attempts int, err error) error {
	e := asError(err)
	if attempts == 0 || !outcomeUnknown(e) {
		return e
	}
	return &OutcomeUnknownError{Method: method, PartnerPaymentID: key, PaymentID: paymentID, Attempts: attempts, Err: e}
}

// outcomeUnknown reports whether an error from a call that moves money
// leaves its outcome open. The codes Unigate refuses a request with
// (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ALREADY_EXISTS,
// PERMISSION_DENIED, UNAUTHENTICATED, …) are definite. The ones below can
// also come from the transport or the client library after the request was
// sent, or (INTERNAL) from a failure half-way.
func outcomeUnknown(e *Error) bool {
	switch e.Code {
	case codes.Canceled, codes.Unknown, codes.DeadlineExceeded, codes.ResourceExhausted,
		codes.Aborted, codes.Internal, codes.Unavailable, codes.DataLoss:
		return true
	}
	return false
}

func (c *Client) timeout(pay bool) time.Duration {
	switch {
	case pay && c.cfg.payTimeout > 0:
		return c.cfg.payTimeout
	case c.cfg.callTimeout > 0:
		return c.cfg.callTimeout
	case pay:
		return DefaultPayTimeout
	default:
		return DefaultCallTimeout
	}
}

// outgoing returns ctx carrying the partner id (replacing any the caller
// set, so that it is sent exactly once).
func (c *Client) outgoing(ctx context.Context) context.Context {
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	md.Set(PartnerIDHeader, c.partnerID)
	return metadata.NewOutgoingContext(ctx, md)
}

// invoke runs call with the partner metadata and a per-attempt deadline,
// retrying while retrying is safe and attempts remain. It returns how many
// attempts were sent and the last error as an *Error.
func (c *Client) invoke(ctx context.Context, timeout time.Duration, call func(context.Context) error) (int, error) {
	ctx = c.outgoing(ctx)
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			// The caller gave up: nothing more is sent.
			return attempt - 1, asError(err)
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := call(actx)
		cancel()
		if err == nil {
			return attempt, nil
		}
		e := asError(err)
		if attempt >= c.cfg.maxAttempts || !retryable(e) || ctx.Err() != nil {
			return attempt, e
		}
		if !sleep(ctx, c.backoff(attempt, e)) {
			return attempt, e
		}
	}
}

// retryable reports whether an attempt that failed with e may be sent
// again: the service was unavailable, the attempt ran out of time, or
// Unigate said it was overloaded and when to come back.
func retryable(e *Error) bool {
	switch e.Code {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	case codes.ResourceExhausted:
		return e.RetryAfter > 0
	}
	return false
}

// backoff returns the wait before retry number attempt (1 for the first):
// Unigate's RetryInfo delay if it gave one, else a jittered exponential
// wait between half and all of initial·2^(attempt-1), capped.
func (c *Client) backoff(attempt int, e *Error) time.Duration {
	if e != nil && e.RetryAfter > 0 {
		return e.RetryAfter
	}
	return jittered(c.cfg.initialBackoff, c.cfg.maxBackoff, attempt)
}

func jittered(initial, maxWait time.Duration, attempt int) time.Duration {
	d := initial
	for i := 1; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	half := d / 2
	return half + mrand.N(half+1)
}

// sleep waits d or until ctx ends, reporting whether it waited in full.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
