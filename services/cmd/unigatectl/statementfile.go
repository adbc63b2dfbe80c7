package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	settlementv1 "github.com/unigate/unigate/proto/gen/unigate/settlement/v1"
)

// statementFile downloads a statement's CSV file into a directory, with
// its checksum beside it (NAME.sha256, in sha256sum's format), checking
// that what arrived is what the server summed.
func statementFile(ctx context.Context, g globals, id, dir string, out io.Writer) error {
	conn, err := g.dial(g.settlement)
	if err != nil {
		return err
	}
	defer conn.Close()
	stream, err := settlementv1.NewSettlementServiceClient(conn).StreamStatementFile(ctx, &settlementv1.StreamStatementFileRequest{StatementId: id})
	if err != nil {
		return err
	}
	var (
		f    *os.File
		name string
		sum  string
		h    = sha256.New()
	)
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(f.Name()) // only a complete, checked file is kept
		}
	}()
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if f == nil {
			name = filepath.Base(chunk.GetFileName())
			if name == "" || name == "." {
				return errors.New("the server sent no file name")
			}
			if f, err = os.CreateTemp(dir, name+".part-*"); err != nil {
				return err
			}
		}
		if _, err := f.Write(chunk.GetData()); err != nil {
			return err
		}
		h.Write(chunk.GetData())
		if chunk.GetSha256() != "" {
			sum = chunk.GetSha256()
		}
	}
	if f == nil {
		return errors.New("the server sent nothing")
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("statement %s: received SHA-256 %s, the server's is %q", id, got, sum)
	}
	if err := f.Close(); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	f = nil
	if err := os.WriteFile(path+".sha256", []byte(sum+"  "+name+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s\n%s.sha256\n", path, path)
	return nil
}

func newCyclesListCmd(g *globals, use string) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use + " [--limit 20]",
		Short:   "closed settlement cycles, newest first",
		Example: "  unigatectl settlement cycles --limit 5",
		Args:    noArgs,
	}
	limit := cmd.Flags().Int("limit", 20, "at most this many cycles")
	o := addOutput(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		conn, err := g.dial(g.settlement)
		if err != nil {
			return err
		}
		defer conn.Close()
		resp, err := settlementv1.NewSettlementServiceClient(conn).ListCycles(cmd.Context(), &settlementv1.ListCyclesRequest{Limit: int32(*limit)})
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		return o.print(out, resp, func() error {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CYCLE\tPARTNER\tCUTOFF\tCLOSED\tPOSTINGS")
			for _, c := range resp.GetCycles() {
				partner := c.GetPartnerId()
				if partner == "" {
					partner = "(all)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", c.GetCycleId(), partner, c.GetCutoff().AsTime().Format(time.RFC3339Nano),
					c.GetCloseTime().AsTime().Format(time.RFC3339), c.GetPostings())
			}
			return tw.Flush()
		})
	}
	return cmd
}
