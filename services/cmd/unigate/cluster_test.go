package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/unigate/unigate/pkg/sqlstore/sqlstoretest"
)

// goBuild builds the command in pkg (a directory relative to this one)
// into dir and returns the binary's path.
func goBuild(ctx context.Context, t *testing.T, dir, pkg string) string {
	t.Helper()
	abs, err := filepath.Abs(pkg)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(abs))
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// TestCluster builds unigate, runs `unigate cluster` on a fresh
// PostgreSQL database and free ports, exporting traces to a real Jaeger,
// runs the demo against it, finds a payment's whole trace through Jaeger's
// query API and draws it with `unigatectl trace`, kills an acquirer replica
// and has the supervisor restart it, then stops the supervisor with
// SIGTERM: every child must be gone and every port of the plan free again.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs 17 processes")
	}
	dsn := sqlstoretest.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	bin := goBuild(ctx, t, tmp, ".")
	ctl := goBuild(ctx, t, tmp, "../unigatectl")
	jg := startJaeger(t)
	dir := filepath.Join(tmp, "c")
	base := freeBasePort(t)
	sup := exec.Command(bin, "cluster", "--dir", dir, "--base-port", strconv.Itoa(base), "--fresh", "--dsn", dsn)
	sup.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	sup.Env = append(os.Environ(), jg.Env()...)
	var stderr bytes.Buffer
	sup.Stderr = &stderr
	stdout, err := sup.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	ready := make(chan struct{})
	var printed strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			printed.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "cluster ready") {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- sup.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped { // a failed test: leave nothing behind
			_ = sup.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				_ = sup.Process.Kill()
				<-exited
			}
		}
		if t.Failed() {
			t.Logf("supervisor's output:\n%s\n%s", printed.String(), stderr.String())
		}
	})
	begin := time.Now()
	select {
	case <-ready:
	case err := <-exited:
		stopped = true
		t.Fatalf("the supervisor ended before the cluster was ready: %v", err)
	case <-time.After(45 * time.Second):
		t.Fatal("no 'cluster ready' after 45s")
	}
	t.Logf("cluster ready after %s", time.Since(begin).Round(time.Millisecond))

	f, err := readClusterFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	addr := func(name string) string {
		for _, c := range f.Children {
			if c.Name == name {
				return c.Addr
			}
		}
		t.Fatalf("no %s in cluster.json", name)
		return ""
	}
	demo := exec.CommandContext(ctx, bin, "demo", "--pki", f.PKI, "--acquirer", addr("acquirer-1"),
		"--merchantsim", addr("merchantsim"), "--settlement", addr("settlement-1"))
	if out, err := demo.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("Demo complete")) {
		t.Fatalf("demo: %v\n%s", err, out)
	}

	// One trace holds a payment's whole path, through every service, and
	// unigatectl draws it from the payment id alone.
	tr := waitForPaymentTrace(t, ctx, jg)
	paymentID := tr.tag("unigate.payment_id")
	out, err := exec.CommandContext(ctx, ctl, "trace", "--jaeger", jg.Query, paymentID).CombinedOutput()
	if err != nil {
		t.Fatalf("unigatectl trace %s: %v\n%s", paymentID, err, out)
	}
	t.Logf("unigatectl trace %s:\n%s", paymentID, out)
	if !bytes.Contains(out, []byte("trace "+tr.TraceID)) {
		t.Errorf("unigatectl trace does not draw trace %s", tr.TraceID)
	}
	for _, svc := range payTraceServices {
		if !bytes.Contains(out, []byte("\n"+strings.TrimPrefix(svc, "unigate-")+" ")) {
			t.Errorf("unigatectl trace draws no span of %s", svc)
		}
	}

	// A child killed from outside stays down, the others keep running,
	// and the supervisor restarts it on request.
	victim := childNamed(t, f, "acquirer-2")
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "acquirer-2 marked exited", func() bool {
		g, err := readClusterFile(dir)
		return err == nil && childNamed(t, g, "acquirer-2").State == stateExited
	})
	if err := controlCluster(ctx, dir, []string{"restart", "acquirer-2"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if f, err = readClusterFile(dir); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Children {
		if c.State != stateRunning {
			t.Errorf("%s is %s, want running", c.Name, c.State)
		}
	}
	if c := childNamed(t, f, "acquirer-2"); c.PID == victim.PID || c.Restarts != 1 {
		t.Errorf("acquirer-2 after its restart: pid %d (was %d), %d restarts", c.PID, victim.PID, c.Restarts)
	}

	halt := time.Now()
	if err := sup.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("supervisor: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the supervisor has not stopped 40s after SIGTERM")
	}
	t.Logf("cluster stopped after %s", time.Since(halt).Round(time.Millisecond))
	for _, c := range f.Children {
		if err := syscall.Kill(c.PID, 0); err == nil {
			t.Errorf("%s (pid %d) still runs", c.Name, c.PID)
		}
	}
	if taken := takenPorts(f.Ports); len(taken) > 0 {
		t.Errorf("ports still taken: %v", taken)
	}
	if _, err := os.Stat(filepath.Join(dir, "etcd")); !os.IsNotExist(err) {
		t.Errorf("etcd's data is left in %s (%v)", dir, err)
	}
	if g, err := readClusterFile(dir); err != nil || g.State != "stopped" {
		t.Errorf("cluster.json after the stop: state %q (%v)", g.State, err)
	}
}

func childNamed(t *testing.T, f clusterFile, name string) childStatus {
	t.Helper()
	for _, c := range f.Children {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s in cluster.json", name)
	return childStatus{}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("not %s after %s", what, d)
		}
	}
}

// freeBasePort finds a base port whose whole range (base+0..31) is free,
// below the kernel's ephemeral range (32768 up, Linux's default), so that
// no other test's listener on port 0 or outgoing connection takes one of
// them between the cluster's stop and the check that its ports are free.
func freeBasePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		base := 20000 + clusterPorts*rand.IntN((32768-20000)/clusterPorts-1)
		var ls []net.Listener
		for p := base; p < base+clusterPorts; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == clusterPorts {
			return base
		}
	}
	t.Fatal("no free range of ports")
	return 0
}
