package acquirer

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/unigate/unigate/pkg/election"
)

// SingletonName is the election (and fence) of the acquirer's singleton
// work: the resolver and the relays.
const SingletonName = "acquirer"

// Lead runs the acquirer's singleton jobs for one leader term, until ctx
// ends: the event relay, the statement relay and the resolver, each in
// its own loop so that none waits on another (a silent merchant network
// slows only the resolver's calls to it, never partners' events). Every
// write they make carries the term's fence; the first write refused for
// a newer leader ends the term.
func (s *Service) Lead(ctx context.Context, term election.Term) error {
	ok, err := s.d.Store.ClaimFence(ctx, SingletonName, term.Revision)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("acquirer: a newer leader than revision %d exists", term.Revision)
	}
	f := Fence{Name: SingletonName, Revision: term.Revision}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.relayEvents(ctx, f) })
	g.Go(func() error { return s.relayStatements(ctx, f) })
	g.Go(func() error { return s.runResolver(ctx, f) })
	return g.Wait()
}
