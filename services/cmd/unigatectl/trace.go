package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// newTraceCmd is `unigatectl trace PAYMENT_ID`: the traces of a payment,
// read from Jaeger's query API and drawn as waterfalls. The Go build of
// Jaeger (make jaeger) serves the API but not the web UI; in Kubernetes the
// official image serves both, and this command works against either.
func newTraceCmd() *cobra.Command {
	var (
		jaeger   string
		lookback time.Duration
		limit    int
		width    int
		out      *output
	)
	cmd := &cobra.Command{
		Use:   "trace PAYMENT_ID|TRACE_ID",
		Short: "draw a payment's traces from Jaeger as waterfalls",
		Long: `Finds every trace that carries the payment id (the partner's Pay or the
network's CPM submission, then cancels and refunds of it) through Jaeger's
query API and draws each as a waterfall: service, operation (indented by
depth), offset from the trace's start, duration and status. The work done for
the payment later — the resolver's inquiries, the ledger posting — continues
the request's trace, so it appears in the same waterfall.

A 32-hex-digit argument is taken as a trace id and that one trace is drawn.`,
		Example: `  unigatectl trace 6f1c0c5e-…                      # every trace of the payment
  unigatectl trace 4bf92f3577b34da6a3ce929d0e0e4736  # one trace by its id
  unigatectl trace --jaeger http://127.0.0.1:16686 -o json PAYMENT_ID`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			traces, err := fetchTraces(cmd.Context(), jaeger, args[0], lookback, limit)
			if err != nil {
				return err
			}
			if len(traces) == 0 {
				return fmt.Errorf("no trace of %s in %s (looked back %s)", args[0], jaeger, lookback)
			}
			w := cmd.OutOrStdout()
			ws := waterfalls(traces)
			return out.printValue(w, ws, func() error {
				for i, t := range ws {
					if i > 0 {
						fmt.Fprintln(w)
					}
					drawWaterfall(w, t, width)
				}
				return nil
			})
		},
	}
	out = addOutput(cmd)
	cmd.Flags().StringVar(&jaeger, "jaeger", envOr("UNIGATE_JAEGER", "http://127.0.0.1:16686"),
		"Jaeger query service base URL (env UNIGATE_JAEGER)")
	cmd.Flags().DurationVar(&lookback, "lookback", 7*24*time.Hour, "how far back to search")
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many traces")
	cmd.Flags().IntVar(&width, "width", 40, "width of the timeline bar column (0: none)")
	return cmd
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// traceIDPattern is a W3C/Jaeger trace id.
var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// jaegerTrace is the part of Jaeger's query API (api/traces) we read.
type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
}

type jaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64       `json:"startTime"` // µs since the epoch
	Duration  int64       `json:"duration"`  // µs
	Tags      []jaegerTag `json:"tags"`
	ProcessID string      `json:"processID"`
}

type jaegerTag struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

type jaegerProcess struct {
	ServiceName string `json:"serviceName"`
}

// fetchTraces asks Jaeger for the traces of a payment (by the
// unigate.payment_id tag, on the acquirer's spans) or for one trace by id.
func fetchTraces(ctx context.Context, base, id string, lookback time.Duration, limit int) ([]jaegerTrace, error) {
	base = strings.TrimRight(base, "/")
	var u string
	if traceIDPattern.MatchString(id) {
		u = base + "/api/traces/" + id
	} else {
		tags, _ := json.Marshal(map[string]string{"unigate.payment_id": id})
		end := time.Now()
		q := url.Values{
			"service":  {"unigate-acquirer"},
			"tags":     {string(tags)},
			"start":    {fmt.Sprint(end.Add(-lookback).UnixMicro())},
			"end":      {fmt.Sprint(end.UnixMicro())},
			"lookback": {"custom"},
			"limit":    {fmt.Sprint(limit)},
		}
		u = base + "/api/traces?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jaeger: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var out struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("jaeger: %w", err)
	}
	return out.Data, nil
}

// Waterfall is one trace laid out for reading: spans in start order,
// each under its parent.
type Waterfall struct {
	TraceID  string          `json:"trace_id"`
	Start    time.Time       `json:"start"`
	Duration time.Duration   `json:"duration_ns"`
	Services []string        `json:"services"`
	Spans    []WaterfallSpan `json:"spans"`
}

// WaterfallSpan is one line of a waterfall.
type WaterfallSpan struct {
	SpanID    string        `json:"span_id"`
	ParentID  string        `json:"parent_id,omitempty"`
	Depth     int           `json:"depth"`
	Service   string        `json:"service"`
	Operation string        `json:"operation"`
	Offset    time.Duration `json:"offset_ns"`
	Duration  time.Duration `json:"duration_ns"`
	Status    string        `json:"status"`
}

// waterfalls orders traces by start and lays each out.
func waterfalls(traces []jaegerTrace) []Waterfall {
	out := make([]Waterfall, 0, len(traces))
	for _, t := range traces {
		if len(t.Spans) > 0 {
			out = append(out, layout(t))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// layout walks the trace depth first from its roots (spans whose parent is
// not in the trace), children in start order.
func layout(t jaegerTrace) Waterfall {
	byID := make(map[string]jaegerSpan, len(t.Spans))
	for _, s := range t.Spans {
		byID[s.SpanID] = s
	}
	children := map[string][]jaegerSpan{}
	var roots []jaegerSpan
	start, end := t.Spans[0].StartTime, t.Spans[0].StartTime
	for _, s := range t.Spans {
		start, end = min(start, s.StartTime), max(end, s.StartTime+s.Duration)
		if p := parentOf(s); p != "" {
			if _, ok := byID[p]; ok {
				children[p] = append(children[p], s)
				continue
			}
		}
		roots = append(roots, s)
	}
	byStart := func(ss []jaegerSpan) {
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].StartTime < ss[j].StartTime })
	}
	w := Waterfall{TraceID: t.TraceID, Start: time.UnixMicro(start).UTC(), Duration: time.Duration(end-start) * time.Microsecond}
	seen := map[string]bool{}
	var walk func(s jaegerSpan, depth int)
	walk = func(s jaegerSpan, depth int) {
		svc := strings.TrimPrefix(t.Processes[s.ProcessID].ServiceName, "unigate-")
		if !seen[svc] {
			seen[svc] = true
			w.Services = append(w.Services, svc)
		}
		w.Spans = append(w.Spans, WaterfallSpan{SpanID: s.SpanID, ParentID: parentOf(s), Depth: depth, Service: svc,
			Operation: s.OperationName, Offset: time.Duration(s.StartTime-start) * time.Microsecond,
			Duration: time.Duration(s.Duration) * time.Microsecond, Status: spanStatus(s)})
		kids := children[s.SpanID]
		byStart(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	byStart(roots)
	for _, r := range roots {
		walk(r, 0)
	}
	return w
}

// parentOf is the span's CHILD_OF reference (Jaeger's form of the parent).
func parentOf(s jaegerSpan) string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// spanStatus is OK or ERROR, with the gRPC status code when the span is an
// RPC's ("ERROR Unavailable").
func spanStatus(s jaegerSpan) string {
	status, code := "OK", ""
	for _, t := range s.Tags {
		switch t.Key {
		case "error":
			if t.Value == true {
				status = "ERROR"
			}
		case "otel.status_code":
			if fmt.Sprint(t.Value) == "ERROR" {
				status = "ERROR"
			}
		case "rpc.grpc.status_code":
			if f, ok := t.Value.(float64); ok && f != 0 {
				code = grpcCodeName(int(f))
			}
		}
	}
	if code != "" {
		return status + " " + code
	}
	return status
}

var grpcCodes = []string{"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
	"PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal",
	"Unavailable", "DataLoss", "Unauthenticated"}

func grpcCodeName(c int) string {
	if c >= 0 && c < len(grpcCodes) {
		return grpcCodes[c]
	}
	return fmt.Sprint(c)
}

// drawWaterfall prints one trace: a header, then a line per span with a
// bar showing where in the trace it ran.
func drawWaterfall(w io.Writer, t Waterfall, width int) {
	fmt.Fprintf(w, "trace %s  %s  %s  %d spans  %s\n", t.TraceID, t.Start.Format(time.RFC3339Nano),
		ms(t.Duration), len(t.Spans), strings.Join(t.Services, " "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "SERVICE\tOPERATION\tOFFSET\tDURATION\tSTATUS")
	if width > 0 {
		fmt.Fprint(tw, "\tTIMELINE")
	}
	fmt.Fprintln(tw)
	for _, s := range t.Spans {
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s", s.Service, strings.Repeat("  ", s.Depth), s.Operation, ms(s.Offset), ms(s.Duration), s.Status)
		if width > 0 {
			fmt.Fprintf(tw, "\t%s", bar(s.Offset, s.Duration, t.Duration, width))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// bar draws [offset, offset+d) of total in width columns; every span gets
// at least one mark.
func bar(offset, d, total time.Duration, width int) string {
	if total <= 0 {
		return strings.Repeat("#", width)
	}
	from := int(int64(width) * int64(offset) / int64(total))
	to := int(int64(width) * int64(offset+d) / int64(total))
	from = min(max(from, 0), width-1)
	to = min(max(to, from+1), width)
	return strings.Repeat(".", from) + strings.Repeat("#", to-from) + strings.Repeat(".", width-to)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
