package telemetry

import (
	"os"
	"strconv"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// quietSampler keeps the tracing back end for requests: a trace starts
// only at a request's server span or at Unigate's own work (the resolver,
// the poster). It drops, as roots,
//
//   - client calls made outside any trace: the background polls of
//     singletons (the statement relay asking settlement every tick), whose
//     callees then drop them too, as the traceparent says "not sampled";
//   - health checks and reflection, which probes make every few seconds.
//
// Everything else goes to the configured sampler (OTEL_TRACES_SAMPLER,
// parentbased_always_on by default), so a child is kept exactly when its
// parent was.
type quietSampler struct{ next sdktrace.Sampler }

func (s quietSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if parent := trace.SpanContextFromContext(p.ParentContext); !parent.IsValid() {
		if p.Kind == trace.SpanKindClient || strings.HasPrefix(p.Name, "grpc.health.v1.") || strings.HasPrefix(p.Name, "grpc.reflection.") {
			return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: parent.TraceState()}
		}
	}
	return s.next.ShouldSample(p)
}

func (s quietSampler) Description() string { return "Quiet{" + s.next.Description() + "}" }

// envSampler is the sampler OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
// name (the OpenTelemetry specification's values; ratios in [0, 1]), by
// default parentbased_always_on.
func envSampler() sdktrace.Sampler {
	ratio := 1.0
	if v, err := strconv.ParseFloat(strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER_ARG")), 64); err == nil && v >= 0 && v <= 1 {
		ratio = v
	}
	switch strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER"))) {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}
