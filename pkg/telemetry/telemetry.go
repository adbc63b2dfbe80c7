// Package telemetry sets up OpenTelemetry tracing and structured logs.
//
// Traces are exported over OTLP/gRPC when an endpoint is configured (Config,
// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT),
// e.g. to a Jaeger collector; otherwise spans are still created and
// propagated across hops, so trace ids appear in logs, but nothing is
// exported. The endpoint's form chooses the transport, as the OTEL_*
// conventions say, except that a bare host:port defaults to plaintext:
//
//	https://collector:4317  TLS, verified against the system roots or the CA
//	                        in OTEL_EXPORTER_OTLP_CERTIFICATE (or
//	                        OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE); a client
//	                        certificate from OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE
//	                        and OTEL_EXPORTER_OTLP_CLIENT_KEY when both are set
//	http://collector:4317   plaintext
//	collector:4317          plaintext, for compatibility with the bare
//	                        host:port this package always took; TLS (as for
//	                        https) when OTEL_EXPORTER_OTLP_INSECURE (or
//	                        OTEL_EXPORTER_OTLP_TRACES_INSECURE) is "false"
//
// Sampling follows OTEL_TRACES_SAMPLER (parentbased_always_on by default),
// except that health checks, reflection and client calls made outside any
// request start no trace (quietSampler).
//
// The exporter reads the certificate, header, timeout and compression
// variables itself (go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc).
// Logs are JSON (log/slog) and carry the trace and span id of the request
// they belong to.
package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials/insecure"
)

// Config says where traces go.
type Config struct {
	// ServiceName is the resource's service.name ("unigate-acquirer").
	ServiceName string
	// OTLPEndpoint is the OTLP/gRPC collector: a URL ("https://host:4317"
	// for TLS, "http://host:4317" for plaintext) or a bare host:port
	// (plaintext; see the package documentation). Empty reads
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then OTEL_EXPORTER_OTLP_ENDPOINT;
	// all empty exports nothing.
	OTLPEndpoint string
}

// Setup installs the global tracer provider and propagator and returns a
// function that flushes and stops them.
func Setup(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName))),
		sdktrace.WithSampler(quietSampler{envSampler()}),
	}
	endpoint := cfg.OTLPEndpoint
	if endpoint == "" {
		endpoint = firstEnv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if endpoint != "" {
		exp, err := otlptracegrpc.New(ctx, exporterOptions(endpoint)...)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}

// plaintext makes the exporter connect without TLS. WithInsecure alone
// does not: the exporter prefers the TLS credentials it builds from
// OTEL_EXPORTER_OTLP_CERTIFICATE over it.
var plaintext = otlptracegrpc.WithTLSCredentials(insecure.NewCredentials())

// exporterOptions says where the exporter connects and whether over TLS;
// the exporter itself reads the CA, the client certificate and the other
// OTEL_EXPORTER_OTLP_* settings from the environment.
func exporterOptions(endpoint string) []otlptracegrpc.Option {
	if u, err := url.Parse(endpoint); err == nil {
		switch u.Scheme { // url.Parse lower-cases it
		case "https":
			return []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(endpoint)}
		case "http":
			return []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(endpoint), plaintext}
		}
	}
	// A bare host:port: OTEL_EXPORTER_OTLP_INSECURE decides, and we default
	// it to true where the specification says false, as this package
	// always exported such an endpoint in plaintext. An explicit value is
	// the exporter's to apply.
	if v := firstEnv("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"); v == "" || strings.EqualFold(v, "true") {
		return []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint), plaintext}
	}
	return []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint)}
}

// firstEnv returns the first of the environment variables that is set
// and not blank, trimmed.
func firstEnv(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// NewLogger returns a JSON logger whose records carry trace_id and span_id
// when logged with a context inside a span, and service unless it is "".
func NewLogger(w io.Writer, level slog.Level, service string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	l := slog.New(traceHandler{h})
	if service != "" {
		l = l.With("service", service)
	}
	return l
}

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
