// Package merchantsim is a merchant-network simulator: a real gRPC server
// that owns a set of merchants with EMVCo merchant-presented QR codes,
// answers Unigate's MerchantNetworkService (look up, credit, inquire) and,
// for the demo and tests, lists its merchants and their codes. It keeps its
// credits in memory: it stands for a system outside Unigate.
package merchantsim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	merchantv1 "github.com/unigate/unigate/proto/gen/unigate/merchant/v1"
	simulatorv1 "github.com/unigate/unigate/proto/gen/unigate/simulator/v1"

	"github.com/unigate/unigate/pkg/emvqr"
	"github.com/unigate/unigate/pkg/money"
)

// Behavior is how the simulator answers credits for a merchant.
type Behavior string

// Behaviors.
const (
	// Accept credits at once (S).
	Accept Behavior = ""
	// Decline every credit (F).
	Decline Behavior = "decline"
	// Slow credits the merchant but answers only after the caller's
	// deadline: the caller sees a timeout (U) and must inquire.
	Slow Behavior = "slow"
	// BlackHole never answers and never credits: only a reversal settles
	// the caller's U.
	BlackHole Behavior = "blackhole"
	// Drop credits the merchant and then the connection drops: the caller
	// sees UNAVAILABLE (U) and must inquire.
	Drop Behavior = "drop"
	// Garbled credits the merchant and answers S with a network reference
	// no database should store as it is (a NUL byte, control characters,
	// far too long).
	Garbled Behavior = "garbled"
)

// Merchant is a simulated merchant.
type Merchant struct {
	ID, Name, LocalName, City, MCC, Country, Currency string
	Behavior                                          Behavior
}

// Config is the simulated network.
type Config struct {
	NetworkID string
	// GUID goes into sub-tag 00 of merchant account template 26; the
	// merchant id into sub-tag 01.
	GUID string
	// URLIssuer is the issuer whose URL codes the network resolves
	// ("wechat"): wxp://f2f0<merchant id in lower case>.
	URLIssuer string
	Merchants []Merchant
}

// DefaultConfig is the network the demo uses: merchants in Erenhot and
// Shenzhen, paid in CNY.
func DefaultConfig() Config {
	return Config{
		NetworkID: "cnsim",
		GUID:      "CN.UNIGATE.SIM",
		URLIssuer: "wechat",
		Merchants: []Merchant{
			{ID: "M10001", Name: "Erenhot Dumpling House", LocalName: "二连浩特饺子馆", City: "Erenhot", MCC: "5812", Country: "CN", Currency: "CNY"},
			{ID: "M10002", Name: "Huaqiang Electronics", LocalName: "华强电子", City: "Shenzhen", MCC: "5732", Country: "CN", Currency: "CNY"},
			{ID: "M10003", Name: "Closed Account Store", City: "Erenhot", MCC: "5411", Country: "CN", Currency: "CNY", Behavior: Decline},
			{ID: "M10004", Name: "Slow Line Teahouse", City: "Shenzhen", MCC: "5814", Country: "CN", Currency: "CNY", Behavior: Slow},
			{ID: "M10005", Name: "Lost Signal Kiosk", City: "Erenhot", MCC: "5499", Country: "CN", Currency: "CNY", Behavior: BlackHole},
			{ID: "M10006", Name: "Dropped Line Noodles", City: "Shenzhen", MCC: "5812", Country: "CN", Currency: "CNY", Behavior: Drop},
			{ID: "M10007", Name: "Garbled Telex Books", City: "Erenhot", MCC: "5942", Country: "CN", Currency: "CNY", Behavior: Garbled},
		},
	}
}

type credit struct {
	merchantID string
	amount     money.Amount
	result     commonv1.Result
	reference  string
	reason     string
}

// reversedCredit marks a credit id reversed before any credit arrived, so
// a late credit is refused.
var reversedCredit = &credit{result: commonv1.Result_RESULT_FAILURE, reason: "REVERSED"}

// Simulator serves both the network API and the simulator API.
type Simulator struct {
	merchantv1.UnimplementedMerchantNetworkServiceServer
	simulatorv1.UnimplementedMerchantSimulatorServiceServer

	cfg       Config
	merchants map[string]Merchant
	mu        sync.Mutex
	credits   map[string]*credit
}

// New returns a simulator.
func New(cfg Config) *Simulator {
	s := &Simulator{cfg: cfg, merchants: map[string]Merchant{}, credits: map[string]*credit{}}
	for _, m := range cfg.Merchants {
		s.merchants[m.ID] = m
	}
	return s
}

func (s *Simulator) toProto(m Merchant) *commonv1.Merchant {
	return &commonv1.Merchant{MerchantId: m.ID, NetworkId: s.cfg.NetworkID, Name: m.Name, City: m.City,
		Mcc: m.MCC, Country: m.Country, Currency: m.Currency}
}

// Code returns the EMVCo MPM payload of merchant id: static when amount is
// zero, dynamic with the amount otherwise.
func (s *Simulator) Code(id string, amount money.Amount) (string, error) {
	m, ok := s.merchants[id]
	if !ok {
		return "", fmt.Errorf("merchantsim: no merchant %s", id)
	}
	cur, err := money.LookupCurrency(m.Currency)
	if err != nil {
		return "", err
	}
	p := &emvqr.MPM{
		PayloadFormat: "01", Initiation: "11",
		MerchantAccounts: []emvqr.MerchantAccount{{ID: "26", GUID: s.cfg.GUID, Fields: []emvqr.Object{{ID: "01", Value: m.ID}}}},
		MCC:              m.MCC, Currency: cur.Numeric, Country: m.Country, MerchantName: m.Name, MerchantCity: m.City,
	}
	if amount.Minor > 0 {
		if amount.Currency != m.Currency {
			return "", fmt.Errorf("merchantsim: merchant %s is paid in %s, not %s", id, m.Currency, amount.Currency)
		}
		p.Initiation = "12"
		p.Amount = amount.Major()
		p.Additional = []emvqr.Object{{ID: "05", Value: uuid.NewString()[:8]}}
	}
	if m.LocalName != "" {
		p.Language = []emvqr.Object{{ID: "00", Value: "ZH"}, {ID: "01", Value: m.LocalName}}
	}
	return emvqr.EncodeMPM(p)
}

// URLCode returns a WeChat-style URL code of merchant id ("wxp://f2f0…"),
// whose token the simulator resolves like the merchant id.
func (s *Simulator) URLCode(id string) string { return "wxp://" + urlToken(id) }

func urlToken(id string) string { return "f2f0" + strings.ToLower(id) }

// lookup finds a merchant by id or by URL token.
func (s *Simulator) lookup(idOrToken string) (Merchant, bool) {
	if m, ok := s.merchants[idOrToken]; ok {
		return m, true
	}
	for _, m := range s.cfg.Merchants {
		if urlToken(m.ID) == idOrToken {
			return m, true
		}
	}
	return Merchant{}, false
}

// GetMerchant implements merchantv1.MerchantNetworkServiceServer.
func (s *Simulator) GetMerchant(ctx context.Context, req *merchantv1.GetMerchantRequest) (*merchantv1.GetMerchantResponse, error) {
	m, ok := s.lookup(req.GetMerchantId())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no merchant %q", req.GetMerchantId())
	}
	return &merchantv1.GetMerchantResponse{Merchant: s.toProto(m)}, nil
}

// Credit implements merchantv1.MerchantNetworkServiceServer; it is
// idempotent per credit_id.
func (s *Simulator) Credit(ctx context.Context, req *merchantv1.CreditRequest) (*merchantv1.CreditResponse, error) {
	if req.GetCreditId() == "" {
		return nil, status.Error(codes.InvalidArgument, "credit_id is required")
	}
	m, ok := s.lookup(req.GetMerchantId())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no merchant %q", req.GetMerchantId())
	}
	amount, err := money.New(req.GetAmount().GetCurrency(), req.GetAmount().GetMinorUnits())
	if err != nil || amount.Currency != m.Currency {
		return nil, status.Errorf(codes.InvalidArgument, "amount: %v", err)
	}
	if m.Behavior == BlackHole {
		<-ctx.Done()
		return nil, status.Error(codes.DeadlineExceeded, "no answer")
	}
	s.mu.Lock()
	c, ok := s.credits[req.GetCreditId()]
	if !ok {
		c = &credit{merchantID: m.ID, amount: amount, result: commonv1.Result_RESULT_SUCCESS,
			reference: fmt.Sprintf("%s-%d", s.cfg.NetworkID, time.Now().UnixNano())}
		if m.Behavior == Decline {
			c.result, c.reason = commonv1.Result_RESULT_FAILURE, "ACCOUNT_CLOSED"
		}
		if m.Behavior == Garbled {
			c.reference = "REF\x00\x07\x1b[31m" + strings.Repeat("9", 300)
		}
		s.credits[req.GetCreditId()] = c
	} else if c != reversedCredit && (c.merchantID != m.ID || c.amount != amount) {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "credit %s was made with other details", req.GetCreditId())
	}
	resp := &merchantv1.CreditResponse{Result: c.result, NetworkReference: c.reference, FailureReason: c.reason}
	s.mu.Unlock()
	switch m.Behavior {
	case Slow:
		<-ctx.Done() // credited, but the answer is lost
		return nil, status.Error(codes.DeadlineExceeded, "slow network")
	case Drop:
		return nil, status.Error(codes.Unavailable, "connection reset after the credit")
	}
	return resp, nil
}

// ReverseCredit implements merchantv1.MerchantNetworkServiceServer: the
// merchant ends up not credited, and a credit arriving later is refused.
func (s *Simulator) ReverseCredit(ctx context.Context, req *merchantv1.ReverseCreditRequest) (*merchantv1.ReverseCreditResponse, error) {
	if req.GetCreditId() == "" {
		return nil, status.Error(codes.InvalidArgument, "credit_id is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.credits[req.GetCreditId()]; ok && c != reversedCredit {
		c.result, c.reason = commonv1.Result_RESULT_FAILURE, "REVERSED"
	} else {
		s.credits[req.GetCreditId()] = reversedCredit
	}
	return &merchantv1.ReverseCreditResponse{Result: commonv1.Result_RESULT_SUCCESS}, nil
}

// InquireCredit implements merchantv1.MerchantNetworkServiceServer.
func (s *Simulator) InquireCredit(ctx context.Context, req *merchantv1.InquireCreditRequest) (*merchantv1.InquireCreditResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.credits[req.GetCreditId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no credit %q", req.GetCreditId())
	}
	return &merchantv1.InquireCreditResponse{Result: c.result, NetworkReference: c.reference, FailureReason: c.reason}, nil
}

// ListMerchants implements simulatorv1.MerchantSimulatorServiceServer.
func (s *Simulator) ListMerchants(ctx context.Context, _ *simulatorv1.ListMerchantsRequest) (*simulatorv1.ListMerchantsResponse, error) {
	resp := &simulatorv1.ListMerchantsResponse{}
	for _, m := range s.cfg.Merchants {
		code, err := s.Code(m.ID, money.Amount{})
		if err != nil {
			return nil, status.Errorf(codes.Internal, "code for %s: %v", m.ID, err)
		}
		resp.Merchants = append(resp.Merchants, &simulatorv1.SimulatedMerchant{Merchant: s.toProto(m), StaticCode: code})
	}
	return resp, nil
}

// CreateDynamicCode implements simulatorv1.MerchantSimulatorServiceServer.
func (s *Simulator) CreateDynamicCode(ctx context.Context, req *simulatorv1.CreateDynamicCodeRequest) (*simulatorv1.CreateDynamicCodeResponse, error) {
	amount, err := money.New(req.GetAmount().GetCurrency(), req.GetAmount().GetMinorUnits())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "amount: %v", err)
	}
	code, err := s.Code(req.GetMerchantId(), amount)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &simulatorv1.CreateDynamicCodeResponse{Code: code}, nil
}

// GetCredits implements simulatorv1.MerchantSimulatorServiceServer.
func (s *Simulator) GetCredits(ctx context.Context, req *simulatorv1.GetCreditsRequest) (*simulatorv1.GetCreditsResponse, error) {
	m, ok := s.merchants[req.GetMerchantId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no merchant %q", req.GetMerchantId())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &simulatorv1.GetCreditsResponse{Total: &commonv1.Money{Currency: m.Currency}}
	for _, c := range s.credits {
		if c.merchantID == m.ID && c.result == commonv1.Result_RESULT_SUCCESS {
			resp.Count++
			resp.Total.MinorUnits += c.amount.Minor
		}
	}
	return resp, nil
}
