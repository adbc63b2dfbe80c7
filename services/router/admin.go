package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/timestamppb"

	routerv1 "github.com/unigate/unigate/proto/gen/unigate/router/v1"

	"github.com/unigate/unigate/pkg/audit"
	"github.com/unigate/unigate/pkg/authn"
	"github.com/unigate/unigate/pkg/quota"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// Change is one change to the routing table as recorded.
type Change struct {
	// Revision is the etcd revision of the change.
	Revision int64
	// AuditEntryID names the audit entry written with it.
	AuditEntryID string
}

// maxPutAttempts bounds the retries of a change whose record moved
// between its read and its write.
const maxPutAttempts = 5

// Put writes the record of a partner or network (kind "partner" or
// "network") on actor's behalf, with its audit entry, in one etcd
// transaction that applies only if the record is still as read: so the
// entry's before is exactly what the change replaced.
func Put(ctx context.Context, cli *clientv3.Client, actor, kind, id string, record any) (Change, error) {
	key := Prefix + kind + "s/" + id
	after, err := json.Marshal(record)
	if err != nil {
		return Change{}, err
	}
	for range maxPutAttempts {
		cur, err := cli.Get(ctx, key)
		if err != nil {
			return Change{}, fmt.Errorf("router: read %s: %w", key, err)
		}
		var before json.RawMessage
		var modRev int64
		if len(cur.Kvs) == 1 {
			before, modRev = cur.Kvs[0].Value, cur.Kvs[0].ModRevision
		}
		e := audit.Entry{ID: uuid.NewString(), Time: time.Now().UTC(), Actor: actor, Action: "routing.put_" + kind,
			Subject: kind + ":" + id, Outcome: "ok", Before: before, After: after,
			TraceID: traceID(ctx)}
		entry, err := json.Marshal(e)
		if err != nil {
			return Change{}, err
		}
		resp, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(clientv3.OpPut(key, string(after)), clientv3.OpPut(AuditPrefix+e.ID, string(entry))).
			Commit()
		if err != nil {
			return Change{}, fmt.Errorf("router: write %s: %w", key, err)
		}
		if resp.Succeeded {
			return Change{Revision: resp.Header.Revision, AuditEntryID: e.ID}, nil
		}
	}
	return Change{}, fmt.Errorf("router: %s changed %d times while being written", key, maxPutAttempts)
}

func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// AppendAudit writes an audit entry that goes with no change (a refused
// call) where the acquirer imports it from.
func AppendAudit(ctx context.Context, cli *clientv3.Client, e audit.Entry) error {
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = cli.Put(ctx, AuditPrefix+e.ID, string(b))
	return err
}

// PendingAudit returns up to limit audit entries the router wrote with
// its changes that are not yet in the audit log, with the etcd key of
// each.
func PendingAudit(ctx context.Context, cli *clientv3.Client, limit int64) (keys []string, entries []audit.Entry, err error) {
	resp, err := cli.Get(ctx, AuditPrefix, clientv3.WithPrefix(), clientv3.WithLimit(limit))
	if err != nil {
		return nil, nil, err
	}
	for _, kv := range resp.Kvs {
		var e audit.Entry
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			return nil, nil, fmt.Errorf("router: audit entry %s: %w", kv.Key, err)
		}
		keys, entries = append(keys, string(kv.Key)), append(entries, e)
	}
	return keys, entries, nil
}

// AdminServer is the gRPC face of routing-table changes
// (RoutingAdminService). Its policy admits admin operators only.
type AdminServer struct {
	routerv1.UnimplementedRoutingAdminServiceServer
	cli *clientv3.Client
}

// NewAdminServer returns an AdminServer writing to cli's etcd.
func NewAdminServer(cli *clientv3.Client) *AdminServer { return &AdminServer{cli: cli} }

func actorOf(ctx context.Context) string {
	if id, ok := authn.FromContext(ctx); ok {
		return id.String()
	}
	return "unauthenticated"
}

// PutPartner implements routerv1.RoutingAdminServiceServer.
func (s *AdminServer) PutPartner(ctx context.Context, req *routerv1.PutPartnerRequest) (*routerv1.PutPartnerResponse, error) {
	if req.GetPartner() == nil {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "partner", "is required")
	}
	p, err := partnerFromProto(req.GetPartner())
	if err == nil {
		err = p.Validate()
	}
	if err != nil {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "partner", "%v", err)
	}
	c, err := Put(ctx, s.cli, actorOf(ctx), "partner", p.ID, p)
	if err != nil {
		return nil, err
	}
	return &routerv1.PutPartnerResponse{Partner: partnerToProto(p), Revision: c.Revision, AuditEntryId: c.AuditEntryID}, nil
}

// PutNetwork implements routerv1.RoutingAdminServiceServer.
func (s *AdminServer) PutNetwork(ctx context.Context, req *routerv1.PutNetworkRequest) (*routerv1.PutNetworkResponse, error) {
	if req.GetNetwork() == nil {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "network", "is required")
	}
	n, err := networkFromProto(req.GetNetwork())
	if err == nil {
		err = n.Validate()
	}
	if err != nil {
		return nil, rpcerr.Field(rpcerr.InvalidArgument, "network", "%v", err)
	}
	c, err := Put(ctx, s.cli, actorOf(ctx), "network", n.ID, n)
	if err != nil {
		return nil, err
	}
	return &routerv1.PutNetworkResponse{Network: networkToProto(n), Revision: c.Revision, AuditEntryId: c.AuditEntryID}, nil
}

func keysToProto(ks []SigningKey) []*routerv1.SigningKey {
	var out []*routerv1.SigningKey
	for _, k := range ks {
		pk := &routerv1.SigningKey{Version: k.Version, PublicKey: k.PublicKey}
		if k.NotAfter != nil {
			pk.NotAfter = timestamppb.New(*k.NotAfter)
		}
		out = append(out, pk)
	}
	return out
}

func keysFromProto(ks []*routerv1.SigningKey) ([]SigningKey, error) {
	var out []SigningKey
	for i, k := range ks {
		sk := SigningKey{Version: k.GetVersion(), PublicKey: k.GetPublicKey()}
		if k.GetNotAfter() != nil {
			if err := k.GetNotAfter().CheckValid(); err != nil {
				return nil, fmt.Errorf("signing_keys[%d].not_after: %w", i, err)
			}
			t := k.GetNotAfter().AsTime()
			sk.NotAfter = &t
		}
		out = append(out, sk)
	}
	return out, nil
}

func partnerFromProto(p *routerv1.Partner) (Partner, error) {
	out := Partner{ID: p.GetPartnerId(), Name: p.GetName(), Currency: p.GetCurrency(), Disabled: p.GetDisabled(), Endpoint: p.GetEndpoint(),
		SettlementCurrency: p.GetSettlementCurrency(), SettlementCutoff: p.GetSettlementCutoff(), SettlementTimeZone: p.GetSettlementTimeZone(),
		SettlementFees: FeesFromProto(p.GetSettlementFees())}
	for _, t := range p.GetFxMarkup() {
		out.FXMarkup = append(out.FXMarkup, MarkupTier{FromMinor: t.GetFromMinorUnits(), Bps: int(t.GetMarkupBps())})
	}
	for _, r := range p.GetCodeRanges() {
		cr := CodeRange{Prefix: r.GetPrefix()}
		for _, l := range r.GetLengths() {
			cr.Lengths = append(cr.Lengths, int(l))
		}
		out.CodeRanges = append(out.CodeRanges, cr)
	}
	if l := p.GetLimits(); l != nil {
		out.Limits = &quota.Limits{RatePerSecond: l.GetRatePerSecond(), Burst: int(l.GetBurst()),
			MaxConcurrent: int(l.GetMaxConcurrent()), MaxStreams: int(l.GetMaxStreams())}
		if err := out.Limits.Validate(); err != nil {
			return Partner{}, err
		}
	}
	var err error
	out.SigningKeys, err = keysFromProto(p.GetSigningKeys())
	return out, err
}

func networkFromProto(n *routerv1.MerchantNetwork) (Network, error) {
	out := Network{ID: n.GetNetworkId(), Name: n.GetName(), Endpoint: n.GetEndpoint(), GUIDs: n.GetGuids(),
		Country: n.GetCountry(), Currency: n.GetCurrency(), URLIssuers: n.GetUrlIssuers(), MerchantIDTag: n.GetMerchantIdTag(),
		SettlementFees: FeesFromProto(n.GetSettlementFees())}
	var err error
	out.SigningKeys, err = keysFromProto(n.GetSigningKeys())
	if err != nil {
		return Network{}, err
	}
	if out.ID == "" {
		return Network{}, errors.New("network_id is required")
	}
	return out, nil
}

// FeesFromProto converts fee tiers.
func FeesFromProto(ts []*routerv1.FeeTier) []FeeTier {
	var out []FeeTier
	for _, t := range ts {
		out = append(out, FeeTier{FromMinor: t.GetFromMinorUnits(), Bps: int(t.GetBps()), FixedMinor: t.GetFixedMinorUnits()})
	}
	return out
}

// FeesToProto converts fee tiers.
func FeesToProto(ts []FeeTier) []*routerv1.FeeTier {
	var out []*routerv1.FeeTier
	for _, t := range ts {
		out = append(out, &routerv1.FeeTier{FromMinorUnits: t.FromMinor, Bps: int32(t.Bps), FixedMinorUnits: t.FixedMinor})
	}
	return out
}
