package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	merchantv1 "github.com/unigate/unigate/proto/gen/unigate/merchant/v1"

	"github.com/unigate/unigate/pkg/emvqr"
	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/paycode"
	"github.com/unigate/unigate/pkg/rpcerr"
	"github.com/unigate/unigate/pkg/walletcode"
)

// MaxCodeLength bounds what is parsed at all.
const MaxCodeLength = 512

// Resolution is what a code resolves to.
type Resolution struct {
	Kind     commonv1.CodeKind
	Merchant *commonv1.Merchant
	// Amount is the code's amount; zero for a static code.
	Amount   money.Amount
	Network  Network
	Partner  Partner
	Warnings []string
}

// TableSource gives the routing table in force.
type TableSource interface{ Table() *Table }

// Service resolves codes and partners.
type Service struct {
	tables    TableSource
	pool      *grpcx.Pool
	merchants *merchantCache
}

// NewService returns a Service reading tables and reaching networks
// through pool.
func NewService(tables TableSource, pool *grpcx.Pool) *Service {
	return &Service{tables: tables, pool: pool, merchants: newMerchantCache(MerchantTTL, 100_000)}
}

// Partner returns an enabled partner.
func (s *Service) Partner(partnerID string) (Partner, error) {
	p, ok := s.tables.Table().Partners[partnerID]
	if !ok {
		return Partner{}, rpcerr.New(rpcerr.PartnerNotFound, "partner %q is not onboarded", partnerID)
	}
	if p.Disabled {
		return Partner{}, rpcerr.New(rpcerr.PartnerDisabled, "partner %q is disabled", partnerID)
	}
	return p, nil
}

// Resolve classifies code and resolves its merchant for partnerID.
func (s *Service) Resolve(ctx context.Context, partnerID, code string) (Resolution, error) {
	partner, err := s.Partner(partnerID)
	if err != nil {
		return Resolution{}, err
	}
	if code == "" {
		return Resolution{}, rpcerr.Field(rpcerr.InvalidCode, "code", "is required")
	}
	if len(code) > MaxCodeLength {
		return Resolution{}, rpcerr.Field(rpcerr.InvalidCode, "code", "is %d bytes, longer than %d", len(code), MaxCodeLength)
	}
	table := s.tables.Table()
	decoded, err := paycode.Decode(code, table.Ranges)
	if err != nil {
		return Resolution{}, codeError(err)
	}
	switch decoded.Kind {
	case paycode.KindURL:
		return s.resolveURL(ctx, table, partner, decoded)
	case paycode.KindMPM:
	default:
		return Resolution{}, rpcerr.Field(rpcerr.UnsupportedCode, "code",
			"a consumer-presented code (%s) is submitted by the merchant's network, not paid by a wallet", decoded.Kind)
	}
	mpm := decoded.MPM
	var (
		network Network
		account emvqr.MerchantAccount
		found   bool
	)
	for _, a := range mpm.MerchantAccounts {
		if a.GUID == "" {
			continue
		}
		if n, ok := table.NetworkByGUID(a.GUID); ok {
			network, account, found = n, a, true
			break
		}
	}
	if !found {
		return Resolution{}, rpcerr.Field(rpcerr.MerchantNotFound, "code", "no merchant network accepts this code's merchant accounts")
	}
	merchantID, ok := account.Field(network.merchantIDTag())
	if !ok || merchantID == "" {
		return Resolution{}, rpcerr.Field(rpcerr.InvalidCode, "code", "merchant account %s has no merchant id in sub-tag %s", account.ID, network.merchantIDTag())
	}
	merchant, err := s.merchant(ctx, network, merchantID)
	if err != nil {
		return Resolution{}, err
	}

	res := Resolution{Kind: commonv1.CodeKind_CODE_KIND_EMVCO_MPM, Merchant: merchant, Network: network,
		Partner: partner, Warnings: decoded.Warnings}
	if mpm.Currency != "" {
		cur, err := money.CurrencyByNumeric(mpm.Currency)
		if err != nil {
			return Resolution{}, rpcerr.Field(rpcerr.InvalidCode, "code", "transaction currency %q is not an ISO 4217 numeric code", mpm.Currency)
		}
		if cur.Code != merchant.GetCurrency() {
			return Resolution{}, rpcerr.Field(rpcerr.InvalidCode, "code", "code is in %s but the merchant is paid in %s", cur.Code, merchant.GetCurrency())
		}
	}
	if mpm.Amount != "" {
		a, err := money.ParseMajor(merchant.GetCurrency(), mpm.Amount)
		if err != nil {
			return Resolution{}, rpcerr.Field(rpcerr.InvalidCode, "code", "transaction amount %q: %v", mpm.Amount, errors.Unwrap(err))
		}
		res.Amount = a
	}
	return res, nil
}

// codeError turns a decoder's refusal into INVALID_CODE naming what is
// wrong (or UNKNOWN_CODE_RANGE for a wallet code of no partner).
func codeError(err error) error {
	var pe *paycode.Error
	if errors.As(err, &pe) && pe.Reason == string(walletcode.ReasonUnknownRange) {
		return rpcerr.Field(rpcerr.UnknownCodeRange, "code", "%s", pe.Msg)
	}
	return rpcerr.Field(rpcerr.InvalidCode, "code", "%v", err)
}

// resolveURL resolves a wallet's URL-style merchant code through the
// network that resolves its issuer's codes; the token names the merchant.
func (s *Service) resolveURL(ctx context.Context, table *Table, partner Partner, c *paycode.Code) (Resolution, error) {
	network, ok := table.NetworkByIssuer(c.URL.Issuer)
	if !ok {
		return Resolution{}, rpcerr.Field(rpcerr.MerchantNotFound, "code", "no merchant network resolves %s codes", c.URL.Issuer)
	}
	if c.URL.Token == "" {
		return Resolution{}, rpcerr.Field(rpcerr.InvalidCode, "code", "the %s code names no merchant", c.URL.Issuer)
	}
	merchant, err := s.merchant(ctx, network, c.URL.Token)
	if err != nil {
		return Resolution{}, err
	}
	return Resolution{Kind: commonv1.CodeKind_CODE_KIND_URL, Merchant: merchant, Network: network, Partner: partner, Warnings: c.Warnings}, nil
}

// Classify says what a code is and, for a wallet's one-time code, whose.
func (s *Service) Classify(code string) (*paycode.Code, error) {
	if code == "" || len(code) > MaxCodeLength {
		return nil, rpcerr.Field(rpcerr.InvalidCode, "code", "must be 1 to %d bytes", MaxCodeLength)
	}
	c, err := paycode.Decode(code, s.tables.Table().Ranges)
	if err != nil {
		return nil, codeError(err)
	}
	return c, nil
}

// MerchantTTL is how long the router trusts a network's answer about a
// merchant before asking again. Merchants' names, categories and
// currencies change rarely; an unknown merchant is never cached.
const MerchantTTL = 30 * time.Second

// merchant returns a network's merchant, from the cache when fresh.
func (s *Service) merchant(ctx context.Context, network Network, merchantID string) (*commonv1.Merchant, error) {
	key := network.ID + "/" + merchantID
	if m, ok := s.merchants.get(key); ok {
		return m, nil
	}
	conn, err := s.pool.Get(network.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("router: network %s: %w", network.ID, err)
	}
	resp, err := merchantv1.NewMerchantNetworkServiceClient(conn).GetMerchant(ctx, &merchantv1.GetMerchantRequest{MerchantId: merchantID})
	if err != nil {
		if status.Code(err) == codes.NotFound {
			return nil, rpcerr.Field(rpcerr.MerchantNotFound, "code", "merchant %s is unknown to network %s", merchantID, network.ID)
		}
		return nil, rpcerr.New(rpcerr.DownstreamUnavailable, "merchant network %s: %v", network.ID, status.Convert(err).Message())
	}
	m := resp.GetMerchant()
	m.NetworkId = network.ID
	s.merchants.put(key, m)
	return m, nil
}

// merchantCache is a small TTL cache of merchants. Entries are never
// modified after they are stored; readers get them as they are.
type merchantCache struct {
	ttl, max int64 // ttl in nanoseconds
	mu       sync.Mutex
	entries  map[string]merchantEntry
}

type merchantEntry struct {
	m       *commonv1.Merchant
	expires int64
}

func newMerchantCache(ttl time.Duration, max int) *merchantCache {
	return &merchantCache{ttl: int64(ttl), max: int64(max), entries: map[string]merchantEntry{}}
}

func (c *merchantCache) get(key string) (*commonv1.Merchant, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || time.Now().UnixNano() > e.expires {
		return nil, false
	}
	return e.m, true
}

func (c *merchantCache) put(key string, m *commonv1.Merchant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if int64(len(c.entries)) >= c.max {
		clear(c.entries) // crude but bounded; a full cache refills in one TTL
	}
	c.entries[key] = merchantEntry{m: m, expires: time.Now().UnixNano() + c.ttl}
}
