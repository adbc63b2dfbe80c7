// Package pki makes and loads the certificates Unigate's mutual TLS runs
// on: certificate authorities (one per kind of caller — Unigate's own
// services and operators, partners, merchant networks — so one kind's CA
// can never vouch for another), certificates whose URI SAN names the
// holder's identity (see package authn), and the TLS configurations of
// servers and clients. WriteDev lays out a complete development PKI
// (`unigatectl certs dev`, `make run`).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/unigate/unigate/pkg/authn"
)

// CA is a certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// NewCA makes a self-signed CA valid from notBefore to notAfter.
func NewCA(name string, notBefore, notAfter time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: name, Organization: []string{"Unigate"}},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Issue makes a certificate for id (its URI SAN), good for both server
// and client authentication, for hosts (DNS names or IP addresses).
func (ca *CA) Issue(id authn.Identity, hosts []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: id.String(), Organization: []string{"Unigate"}},
		NotBefore: notBefore, NotAfter: notAfter, URIs: []*url.URL{id.URI()},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// CertPEM is the CA's certificate in PEM.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

func (ca *CA) keyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// LoadCA reads a CA written by WriteDev.
func LoadCA(certFile, keyFile string) (*CA, error) {
	cert, err := LoadCert(certFile)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		return nil, fmt.Errorf("pki: %s: no PEM key", keyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("pki: the CA key cannot sign")
	}
	return &CA{Cert: cert, Key: signer}, nil
}

// LoadCert reads one PEM certificate.
func LoadCert(file string) (*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("pki: %s: no PEM certificate", file)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// Pool is a certificate pool of CA files.
func Pool(caFiles ...string) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	for _, f := range caFiles {
		c, err := LoadCert(f)
		if err != nil {
			return nil, err
		}
		p.AddCert(c)
	}
	return p, nil
}

// ServerConfig is a TLS server configuration that requires and verifies a
// client certificate from one of clientCAs.
func ServerConfig(certFile, keyFile string, clientCAs ...string) (*tls.Config, error) {
	kp, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pool, err := Pool(clientCAs...)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{kp}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS13}, nil
}

// ClientConfig is a TLS client configuration presenting certFile/keyFile
// (if given) and trusting only rootCAs (the pinned authorities).
func ClientConfig(certFile, keyFile string, rootCAs ...string) (*tls.Config, error) {
	pool, err := Pool(rootCAs...)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	if certFile != "" {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}

// Dev is a development PKI laid out in a directory by WriteDev:
//
//	ca/unigate.crt|key     signs Unigate's services and operators
//	ca/partners.crt|key    signs wallet partners
//	ca/networks.crt|key    signs merchant networks
//	service/NAME.crt|key   each service (server and client), for localhost
//	partner/ID.crt|key     each partner (client; server of its wallet API)
//	network/ID.crt|key     each network (client; server of its network API)
//	operator/NAME.crt|key  each operator, with its role in the certificate
type Dev struct{ Dir string }

// CA returns the path of a CA's certificate ("unigate", "partners", "networks").
func (d Dev) CA(name string) string { return filepath.Join(d.Dir, "ca", name+".crt") }

// Cert returns the certificate and key paths of an identity.
func (d Dev) Cert(kind authn.Kind, id string) (certFile, keyFile string) {
	base := filepath.Join(d.Dir, string(kind), id)
	return base + ".crt", base + ".key"
}

// caOf names the CA that signs kind.
func caOf(kind authn.Kind) string {
	switch kind {
	case authn.Partner:
		return "partners"
	case authn.Network:
		return "networks"
	}
	return "unigate"
}

// DevSpec lists the identities of a development PKI.
type DevSpec struct {
	Services  []string
	Partners  []string
	Networks  []string
	Operators map[string]authn.Role
	// Hosts the certificates are good for (localhost and 127.0.0.1 when empty).
	Hosts []string
	// Validity of the certificates (a year when zero).
	Validity time.Duration
}

// WriteDev writes a development PKI to dir, keeping any CA already there
// and (re)issuing the certificates of spec that are missing.
func WriteDev(dir string, spec DevSpec) (Dev, error) {
	d := Dev{Dir: dir}
	if spec.Validity == 0 {
		spec.Validity = 365 * 24 * time.Hour
	}
	if len(spec.Hosts) == 0 {
		spec.Hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	now := time.Now().Add(-time.Hour)
	cas := map[string]*CA{}
	for _, name := range []string{"unigate", "partners", "networks"} {
		crt, key := d.CA(name), filepath.Join(dir, "ca", name+".key")
		ca, err := LoadCA(crt, key)
		if errors.Is(err, os.ErrNotExist) {
			var kp []byte
			if ca, err = NewCA("Unigate dev "+name+" CA", now, now.Add(10*spec.Validity)); err == nil {
				if kp, err = ca.keyPEM(); err == nil {
					err = writePair(crt, key, ca.CertPEM(), kp)
				}
			}
		}
		if err != nil {
			return Dev{}, fmt.Errorf("pki: %s CA: %w", name, err)
		}
		cas[name] = ca
	}
	issue := func(id authn.Identity) error {
		crt, key := d.Cert(id.Kind, id.ID)
		if _, err := os.Stat(crt); err == nil {
			return nil
		}
		c, k, err := cas[caOf(id.Kind)].Issue(id, spec.Hosts, now, now.Add(spec.Validity))
		if err != nil {
			return err
		}
		return writePair(crt, key, c, k)
	}
	var ids []authn.Identity
	for _, s := range spec.Services {
		ids = append(ids, authn.Identity{Kind: authn.Service, ID: s})
	}
	for _, p := range spec.Partners {
		ids = append(ids, authn.Identity{Kind: authn.Partner, ID: p})
	}
	for _, n := range spec.Networks {
		ids = append(ids, authn.Identity{Kind: authn.Network, ID: n})
	}
	for o, r := range spec.Operators {
		ids = append(ids, authn.Identity{Kind: authn.Operator, ID: o, Role: r})
	}
	for _, id := range ids {
		if err := issue(id); err != nil {
			return Dev{}, fmt.Errorf("pki: %s: %w", id, err)
		}
		if id.Kind == authn.Partner || id.Kind == authn.Network || id.Kind == authn.Service {
			if err := writeSigningKey(d.signingKeyFile(id.Kind, id.ID)); err != nil {
				return Dev{}, fmt.Errorf("pki: %s signing key: %w", id, err)
			}
		}
	}
	return d, nil
}

// signingKeyFile is where an identity's signing key is (partners and
// networks sign requests, Unigate's services sign responses).
func (d Dev) signingKeyFile(kind authn.Kind, id string) string {
	return filepath.Join(d.Dir, string(kind), id+".sign.key")
}

func writeSigningKey(file string) error {
	if _, err := os.Stat(file); err == nil {
		return nil
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// SigningKey returns a partner's or network's request-signing key (see
// package reqsign); its public half is what the routing table registers.
func (d Dev) SigningKey(kind authn.Kind, id string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(d.signingKeyFile(kind, id))
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("pki: no PEM signing key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("pki: the signing key is not Ed25519")
	}
	return key, nil
}

// writePair writes a certificate and its key (readable by the owner only).
func writePair(crt, key string, certPEM, keyPEM []byte) error {
	if err := os.MkdirAll(filepath.Dir(crt), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(crt, certPEM, 0o644)
}

// Authority returns the authn.Authority of the dev PKI: partners from the
// partners CA, networks from the networks CA, services and operators from
// Unigate's CA.
func (d Dev) Authority() (*authn.Authority, error) {
	load := func(name string) ([]*x509.Certificate, error) {
		c, err := LoadCert(d.CA(name))
		return []*x509.Certificate{c}, err
	}
	u, err := load("unigate")
	if err != nil {
		return nil, err
	}
	p, err := load("partners")
	if err != nil {
		return nil, err
	}
	n, err := load("networks")
	if err != nil {
		return nil, err
	}
	return authn.NewAuthority(map[authn.Kind][]*x509.Certificate{authn.Service: u, authn.Operator: u, authn.Partner: p, authn.Network: n}), nil
}

// ServerConfig is the TLS configuration of an identity's server accepting
// callers from every CA (the Authority then binds each kind to its CA).
func (d Dev) ServerConfig(kind authn.Kind, id string) (*tls.Config, error) {
	crt, key := d.Cert(kind, id)
	return ServerConfig(crt, key, d.CA("unigate"), d.CA("partners"), d.CA("networks"))
}

// ClientConfig is the TLS configuration of an identity calling servers
// whose certificates come from the CA named trust.
func (d Dev) ClientConfig(kind authn.Kind, id, trust string) (*tls.Config, error) {
	crt, key := d.Cert(kind, id)
	return ClientConfig(crt, key, d.CA(trust))
}

// Operators returns the identities ("operator:alice") of the operator
// certificates in the PKI.
func (d Dev) Operators() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(d.Dir, string(authn.Operator), "*.crt"))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, f := range files {
		c, err := LoadCert(f)
		if err != nil {
			return nil, err
		}
		ids = append(ids, c.Subject.CommonName)
	}
	return ids, nil
}
