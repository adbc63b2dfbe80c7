package grpcx

import (
	"sync"
	"time"

	"google.golang.org/grpc"
)

// Pool keeps one client connection per target, opened on first use. It
// serves callers that reach targets named at run time, such as merchant
// network endpoints read from the routing table.
type Pool struct {
	callTimeout time.Duration
	opts        []grpc.DialOption
	mu          sync.Mutex
	conns       map[string]*grpc.ClientConn
}

// NewPool returns an empty pool whose connections bound every call by
// callTimeout (when the caller set no deadline).
func NewPool(callTimeout time.Duration, opts ...grpc.DialOption) *Pool {
	return &Pool{callTimeout: callTimeout, opts: opts, conns: map[string]*grpc.ClientConn{}}
}

// Get returns the connection to target, opening it if needed. Opening does
// not dial: the first call does.
func (p *Pool) Get(target string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[target]; ok {
		return c, nil
	}
	c, err := Dial(target, p.callTimeout, p.opts...)
	if err != nil {
		return nil, err
	}
	p.conns[target] = c
	return c, nil
}

// Close closes every connection.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t, c := range p.conns {
		c.Close()
		delete(p.conns, t)
	}
}
