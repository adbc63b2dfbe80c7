package unigate

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc/credentials"
)

// MutualTLS returns the transport credentials a partner connects to
// Unigate with: its client certificate and key (which Unigate issued; the
// partner's identity is the certificate's, whatever a request says) and
// Unigate's CA, the only authority trusted for Unigate's server. Use it
// with WithTransportCredentials, and the same certificate's CA pool on
// the partner's own WalletPartnerService server (see ServerMutualTLS).
func MutualTLS(certFile, keyFile, unigateCAFile string) (credentials.TransportCredentials, error) {
	kp, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("unigate: client certificate: %w", err)
	}
	pool, err := caPool(unigateCAFile)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{kp}, RootCAs: pool, MinVersion: tls.VersionTLS13}), nil
}

// ServerMutualTLS returns the credentials of a partner's
// WalletPartnerService server (pass grpc.Creds of them to
// ServeWalletPartner): its server certificate, and Unigate's CA as the
// only authority whose client certificates it accepts — so only Unigate
// can authorize, cancel or refund.
func ServerMutualTLS(certFile, keyFile, unigateCAFile string) (credentials.TransportCredentials, error) {
	kp, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("unigate: server certificate: %w", err)
	}
	pool, err := caPool(unigateCAFile)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{kp}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}), nil
}

func caPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("unigate: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("unigate: CA %s holds no PEM certificate", file)
	}
	return pool, nil
}
