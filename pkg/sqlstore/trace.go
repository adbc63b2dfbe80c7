package sqlstore

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// queryTracer gives every PostgreSQL (or CockroachDB) statement made within
// a traced request a client span: "db SELECT", "db INSERT", … with the
// statement's text, which holds only placeholders, never values. A
// statement outside any span (a background poll that found nothing to do)
// gets none, so idle loops do not fill the tracing back end.
type queryTracer struct{}

var dbTracer = otel.Tracer("github.com/unigate/unigate/pkg/sqlstore")

// maxStatement bounds the statement text kept on a span.
const maxStatement = 1000

func (queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	sql := strings.TrimSpace(data.SQL)
	op, _, _ := strings.Cut(sql, " ")
	if len(sql) > maxStatement {
		sql = sql[:maxStatement]
	}
	ctx, _ = dbTracer.Start(ctx, "db "+strings.ToUpper(op), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.query.text", sql)))
	return ctx
}

func (queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if data.Err != nil {
		span.RecordError(data.Err)
		span.SetStatus(codes.Error, data.Err.Error())
	} else {
		span.SetAttributes(attribute.Int64("db.response.rows", data.CommandTag.RowsAffected()))
	}
	span.End()
}
