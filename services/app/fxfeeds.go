package app

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/unigate/unigate/pkg/grpcx"
	"github.com/unigate/unigate/services/fx/feed"
)

// Provider is a rate provider the FX service ingests: a name and where
// its feed is.
//
//	grpc://host:port     the RateFeedService stream (unigate fxsim speaks it)
//	http://host/path     a JSON rate sheet polled every second (https too)
//	file:///path         a JSON rate sheet on disk, re-read when it changes
//	static               the configured static rates, priced every second
type Provider struct {
	Name string
	URL  string
}

// ParseProviders parses "alpha=grpc://127.0.0.1:7090,sheet=file:///srv/rates.json".
func ParseProviders(s string) ([]Provider, error) {
	var out []Provider
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, u, ok := strings.Cut(item, "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("provider %q: want NAME=URL", item)
		}
		if seen[name] {
			return nil, fmt.Errorf("provider %q named twice", name)
		}
		seen[name] = true
		p := Provider{Name: name, URL: u}
		if _, err := p.scheme(); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (p Provider) scheme() (*url.URL, error) {
	if p.URL == "static" {
		return &url.URL{Scheme: "static"}, nil
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", p.Name, err)
	}
	switch u.Scheme {
	case "grpc", "http", "https", "file":
		return u, nil
	}
	return nil, fmt.Errorf("provider %s: %q: want grpc://, http(s)://, file:// or static", p.Name, p.URL)
}

// feeds builds the configured providers' feeds; closeAll closes their
// connections.
func (cfg FXConfig) feeds() (fs []feed.Feed, closeAll func(), err error) {
	var closers []func()
	closeAll = func() {
		for _, c := range closers {
			c()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	for _, p := range cfg.Providers {
		u, err := p.scheme()
		if err != nil {
			return nil, closeAll, err
		}
		switch u.Scheme {
		case "static":
			rates := cfg.StaticRates
			if rates == nil {
				rates = DefaultStaticRates()
			}
			f, err := feed.NewStaticFeed(p.Name, rates, time.Second)
			if err != nil {
				return nil, closeAll, err
			}
			fs = append(fs, f)
		case "grpc":
			// A provider's feed is outside Unigate's PKI: plaintext on a
			// trusted network (the simulator on loopback).
			conn, err := grpcx.Dial(u.Host, 0)
			if err != nil {
				return nil, closeAll, fmt.Errorf("provider %s: %w", p.Name, err)
			}
			closers = append(closers, func() { conn.Close() })
			fs = append(fs, feed.NewGRPCFeed(conn, p.Name))
		case "http", "https":
			fs = append(fs, feed.NewHTTPFeed(&http.Client{Timeout: 2 * time.Second}, p.URL, p.Name, time.Second))
		case "file":
			fs = append(fs, feed.NewFileFeed(u.Path, p.Name, time.Second))
		}
	}
	return fs, closeAll, nil
}
