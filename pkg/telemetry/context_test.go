package telemetry

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func recorder() (*tracetest.SpanRecorder, trace.Tracer) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(quietSampler{envSampler()}), sdktrace.WithSpanProcessor(rec))
	return rec, tp.Tracer("test")
}

func TestQuietSampler(t *testing.T) {
	rec, tr := recorder()
	ctx := context.Background()
	_, poll := tr.Start(ctx, "unigate.settlement.v1.SettlementService/ListStatements", trace.WithSpanKind(trace.SpanKindClient))
	poll.End()
	_, probe := tr.Start(ctx, "grpc.health.v1.Health/Check", trace.WithSpanKind(trace.SpanKindServer))
	probe.End()
	rctx, pay := tr.Start(ctx, "unigate.partner.v1.PartnerService/Pay", trace.WithSpanKind(trace.SpanKindServer))
	_, call := tr.Start(rctx, "unigate.risk.v1.RiskService/Evaluate", trace.WithSpanKind(trace.SpanKindClient))
	call.End()
	pay.End()
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	if len(names) != 2 || names[0] != "unigate.risk.v1.RiskService/Evaluate" || names[1] != "unigate.partner.v1.PartnerService/Pay" {
		t.Errorf("recorded %q, want the Pay and its call only", names)
	}
}

func TestSamplerFromEnv(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	rec, tr := recorder()
	_, s := tr.Start(context.Background(), "unigate.partner.v1.PartnerService/Pay", trace.WithSpanKind(trace.SpanKindServer))
	s.End()
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("always_off recorded %d spans", n)
	}
}

// Work resumed from a stored traceparent joins the request's trace as a
// child of the request's span; a batch continues its first request's trace
// and links the others.
func TestResumeAndBatch(t *testing.T) {
	rec, tr := recorder()
	reqCtx, req := tr.Start(context.Background(), "Pay", trace.WithSpanKind(trace.SpanKindServer))
	tp := TraceParent(reqCtx)
	req.End()
	if TraceParent(context.Background()) != "" {
		t.Error("a context without a span has a traceparent")
	}
	_, req2 := tr.Start(context.Background(), "Pay", trace.WithSpanKind(trace.SpanKindServer))
	tp2 := TraceParent(trace.ContextWithSpan(context.Background(), req2))
	req2.End()

	// Resume and StartBatch use the global tracer: point it at the recorder.
	prev := tracerFor
	tracerFor = func() trace.Tracer { return tr }
	defer func() { tracerFor = prev }()

	_, r := Resume(context.Background(), tp, "acquirer.resolve")
	r.End()
	_, b := StartBatch(context.Background(), []string{"", "garbage", tp2, tp}, "acquirer.post-ledger")
	b.End()
	_, orphan := Resume(context.Background(), "", "acquirer.resolve")
	orphan.End()

	spans := rec.Ended()
	if len(spans) != 5 {
		t.Fatalf("%d spans, want 5", len(spans))
	}
	resumed, batch, root := spans[2], spans[3], spans[4]
	if resumed.SpanContext().TraceID() != req.SpanContext().TraceID() || resumed.Parent().SpanID() != req.SpanContext().SpanID() {
		t.Errorf("resumed span is not the request's child: trace %s parent %s", resumed.SpanContext().TraceID(), resumed.Parent().SpanID())
	}
	if batch.SpanContext().TraceID() != req2.SpanContext().TraceID() {
		t.Errorf("batch span is in trace %s, want the first valid parent's %s", batch.SpanContext().TraceID(), req2.SpanContext().TraceID())
	}
	if l := batch.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != req.SpanContext().SpanID() {
		t.Errorf("batch links %v, want the other request", l)
	}
	if root.Parent().IsValid() {
		t.Error("a span resumed from no traceparent has a parent")
	}
}
