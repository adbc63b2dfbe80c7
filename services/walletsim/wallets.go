package walletsim

import (
	"context"
	"fmt"
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"
	unigate "github.com/unigate/unigate/sdk"
)

// PartnerWallet configures one simulated partner's wallet.
type PartnerWallet struct {
	PartnerID string
	Currency  string
	// CodePrefix starts the partner's one-time codes (18 digits).
	CodePrefix string
}

// Wallets simulates the wallet backends of several partners behind one
// WalletPartnerService endpoint: each partner's wallet is an SDK
// MemoryWallet, and a call goes to the wallet of its amount's currency
// (the demo partners have one currency each), or, for calls that carry
// only a payment id, to every wallet.
type Wallets struct {
	byPartner  map[string]*unigate.MemoryWallet
	byCurrency map[string]*unigate.MemoryWallet
}

var _ unigate.WalletPartner = (*Wallets)(nil)

// NewWallets returns the simulated wallets.
func NewWallets(ws []PartnerWallet) (*Wallets, error) {
	out := &Wallets{byPartner: map[string]*unigate.MemoryWallet{}, byCurrency: map[string]*unigate.MemoryWallet{}}
	for _, w := range ws {
		mw, err := unigate.NewMemoryWallet(unigate.MemoryWalletConfig{Currency: w.Currency, CodePrefix: w.CodePrefix, CodeLength: 18})
		if err != nil {
			return nil, err
		}
		if _, dup := out.byCurrency[w.Currency]; dup {
			return nil, fmt.Errorf("walletsim: two partners in %s", w.Currency)
		}
		out.byPartner[w.PartnerID], out.byCurrency[w.Currency] = mw, mw
	}
	return out, nil
}

// Wallet returns a partner's wallet, to issue codes and set balances.
func (ws *Wallets) Wallet(partnerID string) *unigate.MemoryWallet { return ws.byPartner[partnerID] }

func (ws *Wallets) all() []*unigate.MemoryWallet {
	keys := make([]string, 0, len(ws.byCurrency))
	for k := range ws.byCurrency {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*unigate.MemoryWallet, len(keys))
	for i, k := range keys {
		out[i] = ws.byCurrency[k]
	}
	return out
}

func (ws *Wallets) byAmount(currency string) (*unigate.MemoryWallet, error) {
	w, ok := ws.byCurrency[currency]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "no simulated wallet in %q", currency)
	}
	return w, nil
}

// Authorize implements unigate.WalletPartner.
func (ws *Wallets) Authorize(ctx context.Context, req *partnerv1.AuthorizeRequest) (*partnerv1.AuthorizeResponse, error) {
	w, err := ws.byAmount(req.GetWalletAmount().GetCurrency())
	if err != nil {
		return nil, err
	}
	return w.Authorize(ctx, req)
}

// InquireAuthorization implements unigate.WalletPartner: the answer of
// the wallet that knows the payment, naming the user of a successful
// authorization (user_ref) as its Authorize did.
func (ws *Wallets) InquireAuthorization(ctx context.Context, req *partnerv1.InquireAuthorizationRequest) (*partnerv1.InquireAuthorizationResponse, error) {
	for _, w := range ws.all() {
		resp, err := w.InquireAuthorization(ctx, req)
		if status.Code(err) != codes.NotFound {
			return resp, err
		}
	}
	return nil, status.Errorf(codes.NotFound, "no authorization %q", req.GetPaymentId())
}

// CancelAuthorization implements unigate.WalletPartner: every wallet
// records the cancel, so a late authorization anywhere debits nothing.
func (ws *Wallets) CancelAuthorization(ctx context.Context, req *partnerv1.CancelAuthorizationRequest) (*partnerv1.CancelAuthorizationResponse, error) {
	var last *partnerv1.CancelAuthorizationResponse
	for _, w := range ws.all() {
		resp, err := w.CancelAuthorization(ctx, req)
		if err != nil {
			return nil, err
		}
		last = resp
	}
	return last, nil
}

// RefundUser implements unigate.WalletPartner.
func (ws *Wallets) RefundUser(ctx context.Context, req *partnerv1.RefundUserRequest) (*partnerv1.RefundUserResponse, error) {
	w, err := ws.byAmount(req.GetWalletAmount().GetCurrency())
	if err != nil {
		return nil, err
	}
	return w.RefundUser(ctx, req)
}
