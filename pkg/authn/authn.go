// Package authn says who is calling: the identity of a gRPC caller is
// taken from its verified client certificate — never from a header — and
// checked against the certificate authority of its kind, so a network's
// CA cannot mint a partner. A per-method Policy says which kinds (and, for
// operators, which role) may call what; refusals are UNAUTHENTICATED (no
// or unverifiable certificate) or PERMISSION_DENIED, with stable reasons.
//
// An identity is a URI subject alternative name in the certificate:
//
//	unigate://partner/hipay
//	unigate://network/cnsim
//	unigate://service/acquirer
//	unigate://operator/alice?role=admin
package authn

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/unigate/unigate/pkg/rpcerr"
)

// Kind is what a caller is.
type Kind string

// Kinds of callers.
const (
	Partner  Kind = "partner"
	Network  Kind = "network"
	Service  Kind = "service"
	Operator Kind = "operator"
)

// Role is an operator's role; roles are ordered.
type Role int

// Roles, least to most.
const (
	NoRole Role = iota
	Viewer
	OperatorRole
	Admin
)

var roleNames = map[string]Role{"viewer": Viewer, "operator": OperatorRole, "admin": Admin}

func (r Role) String() string {
	for n, v := range roleNames {
		if v == r {
			return n
		}
	}
	return ""
}

// ParseRole parses "viewer", "operator" or "admin".
func ParseRole(s string) (Role, error) {
	if r, ok := roleNames[s]; ok {
		return r, nil
	}
	return NoRole, fmt.Errorf("authn: unknown role %q (viewer, operator, admin)", s)
}

// Identity is an authenticated caller.
type Identity struct {
	Kind Kind
	ID   string
	Role Role // operators only
}

func (i Identity) String() string { return string(i.Kind) + ":" + i.ID }

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// URI is the certificate SAN naming i.
func (i Identity) URI() *url.URL {
	u := &url.URL{Scheme: "unigate", Host: string(i.Kind), Path: "/" + i.ID}
	if i.Kind == Operator {
		u.RawQuery = "role=" + i.Role.String()
	}
	return u
}

// Parse reads an identity from a certificate SAN URI.
func Parse(u *url.URL) (Identity, error) {
	if u.Scheme != "unigate" {
		return Identity{}, errors.New("authn: not a unigate identity")
	}
	id := Identity{Kind: Kind(u.Host), ID: strings.TrimPrefix(u.Path, "/")}
	switch id.Kind {
	case Partner, Network, Service:
	case Operator:
		r, err := ParseRole(u.Query().Get("role"))
		if err != nil {
			return Identity{}, err
		}
		id.Role = r
	default:
		return Identity{}, fmt.Errorf("authn: unknown kind %q", id.Kind)
	}
	if !idPattern.MatchString(id.ID) {
		return Identity{}, fmt.Errorf("authn: bad id %q", id.ID)
	}
	return id, nil
}

// FromCert reads the one unigate identity of a certificate.
func FromCert(c *x509.Certificate) (Identity, error) {
	var (
		out   Identity
		found int
	)
	for _, u := range c.URIs {
		if u.Scheme != "unigate" {
			continue
		}
		id, err := Parse(u)
		if err != nil {
			return Identity{}, err
		}
		out, found = id, found+1
	}
	if found != 1 {
		return Identity{}, fmt.Errorf("authn: the certificate must name exactly one unigate identity, it names %d", found)
	}
	return out, nil
}

// Authority checks which CA may vouch for which kind of caller.
type Authority struct {
	roots map[Kind][]*x509.Certificate
}

// NewAuthority returns an Authority; roots lists, per kind, the CA
// certificates allowed to sign that kind's certificates.
func NewAuthority(roots map[Kind][]*x509.Certificate) *Authority { return &Authority{roots: roots} }

// Errors of authentication.
var (
	ErrNoCertificate = rpcerr.New(rpcerr.Unauthenticated, "a client certificate is required")
	ErrWrongCA       = rpcerr.New(rpcerr.Unauthenticated, "the client certificate is not from the authority of its kind")
)

// Identify returns the caller's identity from its verified certificate
// chain.
func (a *Authority) Identify(ctx context.Context) (Identity, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Identity{}, ErrNoCertificate
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return Identity{}, ErrNoCertificate
	}
	chain := info.State.VerifiedChains[0]
	id, err := FromCert(chain[0])
	if err != nil {
		return Identity{}, rpcerr.New(rpcerr.Unauthenticated, "%v", err)
	}
	root := chain[len(chain)-1]
	for _, r := range a.roots[id.Kind] {
		if r.Equal(root) {
			return id, nil
		}
	}
	return Identity{}, ErrWrongCA
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity the interceptor put in ctx.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Rule says who may call a method: any of Kinds, and operators with at
// least MinRole (operators are allowed only if Kinds lists Operator).
// Services, if set, names the only services allowed (when Kinds lists
// Service): an internal API names the services that call it.
type Rule struct {
	Kinds    []Kind
	MinRole  Role
	Services []string
}

// Policy maps full method names ("/pkg.Service/Method") or service
// prefixes ("/pkg.Service/") to rules. The longest match wins; a method
// with no rule is refused. Health and reflection are open.
type Policy map[string]Rule

// Open methods need no identity.
var open = []string{"/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"}

// ErrDenied is returned for an authenticated caller that may not call a method.
var ErrDenied = rpcerr.New(rpcerr.PermissionDenied, "this caller may not call this method")

func (p Policy) rule(method string) (Rule, bool) {
	best, found := "", false
	for k := range p {
		if (k == method || (strings.HasSuffix(k, "/") && strings.HasPrefix(method, k))) && len(k) > len(best) {
			best, found = k, true
		}
	}
	return p[best], found
}

// Allows reports whether id may call method.
func (p Policy) Allows(method string, id Identity) bool {
	r, ok := p.rule(method)
	if !ok {
		return false
	}
	for _, k := range r.Kinds {
		if k != id.Kind {
			continue
		}
		switch k {
		case Operator:
			return id.Role >= max(r.MinRole, Viewer)
		case Service:
			return len(r.Services) == 0 || slices.Contains(r.Services, id.ID)
		}
		return true
	}
	return false
}

func isOpen(method string) bool {
	for _, o := range open {
		if strings.HasPrefix(method, o) {
			return true
		}
	}
	return false
}

// check authenticates and authorizes a call; it returns the context with
// the identity.
func (a *Authority) check(ctx context.Context, p Policy, method string, onDeny func(context.Context, string, Identity, error)) (context.Context, error) {
	if isOpen(method) {
		return ctx, nil
	}
	id, err := a.Identify(ctx)
	if err == nil && !p.Allows(method, id) {
		err = ErrDenied
	}
	if err != nil {
		if onDeny != nil {
			onDeny(ctx, method, id, err)
		}
		return nil, err
	}
	return WithIdentity(ctx, id), nil
}

// Interceptors returns the unary and stream server interceptors that
// enforce p. onDeny, if set, is told of every refusal (for the audit log).
func (a *Authority) Interceptors(p Policy, onDeny func(ctx context.Context, method string, id Identity, err error)) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.check(ctx, p, info.FullMethod, onDeny)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.check(ss.Context(), p, info.FullMethod, onDeny)
		if err != nil {
			return err
		}
		return handler(srv, &identified{ServerStream: ss, ctx: ctx})
	}
	return unary, stream
}

type identified struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identified) Context() context.Context { return s.ctx }
