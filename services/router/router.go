package router

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	merchantv1 "github.com/unigate/unigate/proto/gen/unigate/merchant/v1"

	"github.com/unigate/unigate/pkg/emvqr"
	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
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
	tables TableSource
	pool   *grpcx.Pool
}

// NewService returns a Service reading tables and reaching networks
// through pool.
func NewService(tables TableSource, pool *grpcx.Pool) *Service {
	return &Service{tables: tables, pool: pool}
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
	switch {
	case code == "":
		return Resolution{}, rpcerr.Field(rpcerr.InvalidCode, "code", "is required")
	case len(code) > MaxCodeLength:
		return Resolution{}, rpcerr.Field(rpcerr.InvalidCode, "code", "is %d bytes, longer than %d", len(code), MaxCodeLength)
	case !strings.HasPrefix(code, "00"):
		// URL codes and wallet codes are classified by a later part of the
		// code package; until then they are not accepted.
		return Resolution{}, rpcerr.Field(rpcerr.UnsupportedCode, "code", "only EMVCo merchant-presented codes are accepted")
	}
	mpm, err := emvqr.DecodeMPM(code)
	if err != nil {
		return Resolution{}, rpcerr.Field(rpcerr.InvalidCode, "code", "%v", err)
	}
	table := s.tables.Table()
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
	conn, err := s.pool.Get(network.Endpoint)
	if err != nil {
		return Resolution{}, fmt.Errorf("router: network %s: %w", network.ID, err)
	}
	resp, err := merchantv1.NewMerchantNetworkServiceClient(conn).GetMerchant(ctx, &merchantv1.GetMerchantRequest{MerchantId: merchantID})
	if err != nil {
		if status.Code(err) == codes.NotFound {
			return Resolution{}, rpcerr.Field(rpcerr.MerchantNotFound, "code", "merchant %s is unknown to network %s", merchantID, network.ID)
		}
		return Resolution{}, rpcerr.New(rpcerr.DownstreamUnavailable, "merchant network %s: %v", network.ID, status.Convert(err).Message())
	}
	merchant := resp.GetMerchant()
	merchant.NetworkId = network.ID

	res := Resolution{Kind: commonv1.CodeKind_CODE_KIND_EMVCO_MPM, Merchant: merchant, Network: network,
		Partner: partner, Warnings: mpm.Warnings}
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
