package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Work that outlives a request — the resolver finishing a payment in U,
// the poster posting it to the ledger — runs in another goroutine, often
// in another process, after a restart. To keep it in the payment's trace,
// the request's span context is stored with the payment as a W3C
// traceparent ("00-<trace id>-<span id>-<flags>") and that work starts its
// spans from it (Resume, StartBatch).

// traceContext is the W3C format alone: a stored traceparent carries no
// baggage.
var traceContext propagation.TraceContext

// TraceParent is the W3C traceparent of the span in ctx, or "" when ctx
// holds none.
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	return c["traceparent"]
}

// spanContext parses a stored traceparent; a malformed or empty one gives
// an invalid span context.
func spanContext(traceParent string) trace.SpanContext {
	if traceParent == "" {
		return trace.SpanContext{}
	}
	ctx := traceContext.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceParent})
	return trace.SpanContextFromContext(ctx)
}

// Tracer is Unigate's tracer for spans it starts itself (as opposed to
// those of the gRPC and database instrumentation).
func Tracer() trace.Tracer { return tracerFor() }

// tracerFor is Tracer's source; tests point it elsewhere.
var tracerFor = func() trace.Tracer { return otel.Tracer("github.com/unigate/unigate") }

// Resume starts a span named name as a child of the stored traceparent, so
// that work done long after a request joins the request's trace; without
// a valid traceparent the span is a new root. The caller ends the span.
func Resume(ctx context.Context, traceParent, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if sc := spanContext(traceParent); sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return Tracer().Start(ctx, name, trace.WithAttributes(attrs...))
}

// StartBatch starts a span for work done for many requests at once (a
// batch of ledger postings): a child of the first valid traceparent, so
// that a batch of one request lies wholly in that request's trace, and
// linked to the others. The caller ends the span.
func StartBatch(ctx context.Context, traceParents []string, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	var links []trace.Link
	parented := false
	for _, tp := range traceParents {
		sc := spanContext(tp)
		if !sc.IsValid() {
			continue
		}
		if !parented {
			ctx, parented = trace.ContextWithRemoteSpanContext(ctx, sc), true
			continue
		}
		links = append(links, trace.Link{SpanContext: sc})
	}
	return Tracer().Start(ctx, name, append(opts, trace.WithLinks(links...))...)
}

// Attribute keys Unigate puts on its spans. Jaeger finds a payment's trace
// by them: GET /api/traces?service=unigate-acquirer&tags={"unigate.payment_id":"…"}.
const (
	PaymentIDKey = attribute.Key("unigate.payment_id")
	PartnerIDKey = attribute.Key("unigate.partner_id")
	RefundIDKey  = attribute.Key("unigate.refund_id")
)

// Annotate puts attributes on the span in ctx (the gRPC server span of a
// request, when called from its handler).
func Annotate(ctx context.Context, attrs ...attribute.KeyValue) {
	trace.SpanFromContext(ctx).SetAttributes(attrs...)
}
