package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// This file is the process side of `unigate cluster`: it starts children,
// reaps them, stops them (SIGTERM, then SIGKILL after stopGrace), keeps
// DIR/cluster.json equal to what runs, and serves the control socket.

// stopGrace is how long a child has to stop after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// Child states in cluster.json.
const (
	stateStarting = "starting" // started, not serving yet
	stateRunning  = "running"  // serving
	stateExited   = "exited"   // ended on its own (a crash, or kill from outside)
	stateStopped  = "stopped"  // stopped by the supervisor
)

// childSpec is one process of the cluster.
type childSpec struct {
	// Name is unique in the cluster ("etcd-1", "acquirer-2").
	Name string
	// Command is the unigate command the child runs ("etcd", "acquirer").
	Command string
	// Addr is where it serves: a gRPC address, or an etcd client URL.
	Addr string
	// Args follow the command on the child's command line.
	Args []string
	// ready reports whether the child serves; it is polled after a start.
	ready func(ctx context.Context) error
}

// child is a childSpec and its current process.
type child struct {
	spec childSpec
	log  string
	// op serialises starts and stops of this child.
	op sync.Mutex
	// The fields below are guarded by the supervisor's mu.
	pid      int
	proc     *os.Process
	state    string
	exit     string
	started  time.Time
	restarts int
	stopping bool
	done     chan struct{} // closed when the process has been reaped
}

// childStatus is a child as cluster.json and the control socket show it.
type childStatus struct {
	Name    string `json:"name"`
	Command string `json:"command"`
	Addr    string `json:"addr"`
	PID     int    `json:"pid"`
	// Args is the child's whole command line (the environment adds
	// UNIGATE_DSN, see clusterFile.DSN).
	Args     []string  `json:"args"`
	Log      string    `json:"log"`
	State    string    `json:"state"`
	Exit     string    `json:"exit,omitempty"`
	Started  time.Time `json:"started"`
	Restarts int       `json:"restarts"`
}

// clusterFile is DIR/cluster.json.
type clusterFile struct {
	// PID is the supervisor's: SIGTERM to it stops the cluster.
	PID int `json:"pid"`
	// State is "starting", "ready", "stopping" or "stopped".
	State string `json:"state"`
	// Control is the supervisor's control socket (HTTP over a unix socket).
	Control string `json:"control"`
	Dir     string `json:"dir"`
	PKI     string `json:"pki"`
	// BasePort numbers the plan; Ports lists every port in it.
	BasePort int   `json:"base_port"`
	Ports    []int `json:"ports"`
	// Etcd lists the etcd client URLs.
	Etcd []string `json:"etcd"`
	// DSN is the SQL back end of every service (password redacted); the
	// children get it in their environment as UNIGATE_DSN.
	DSN string `json:"dsn"`
	// Fresh says etcd's data goes when the cluster stops.
	Fresh    bool          `json:"fresh"`
	Children []childStatus `json:"children"`
}

// supervisor runs the children of a cluster.
type supervisor struct {
	exe  string
	env  []string
	log  *slog.Logger
	file string // cluster.json
	// spawn runs each exec.Cmd.Start on one locked OS thread (see spawner).
	spawn func(*exec.Cmd) error

	// saving serialises writes of cluster.json.
	saving   sync.Mutex
	mu       sync.Mutex
	meta     clusterFile
	children map[string]*child
	order    []string
}

func newSupervisor(exe string, env []string, log *slog.Logger, file string, meta clusterFile, specs []childSpec, logDir string) *supervisor {
	s := &supervisor{exe: exe, env: env, log: log, file: file, meta: meta, children: map[string]*child{}, spawn: spawner()}
	for _, sp := range specs {
		s.children[sp.Name] = &child{spec: sp, log: filepath.Join(logDir, sp.Name+".log")}
		s.order = append(s.order, sp.Name)
	}
	return s
}

// spawner starts processes from one goroutine locked to its OS thread:
// Linux sends a child its parent-death signal when the thread that forked
// it ends, and Go may end threads; this one lives as long as the process.
func spawner() func(*exec.Cmd) error {
	reqs := make(chan func())
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the process
		for f := range reqs {
			f()
		}
	}()
	return func(cmd *exec.Cmd) error {
		errc := make(chan error, 1)
		reqs <- func() { errc <- cmd.Start() }
		return <-errc
	}
}

// setState records the cluster's state in cluster.json.
func (s *supervisor) setState(state string) {
	s.mu.Lock()
	s.meta.State = state
	s.mu.Unlock()
	s.save()
}

// status returns what cluster.json holds.
func (s *supervisor) status() clusterFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.meta
	f.Children = nil
	for _, name := range s.order {
		f.Children = append(f.Children, s.statusOf(s.children[name]))
	}
	return f
}

func (s *supervisor) statusOf(c *child) childStatus {
	return childStatus{Name: c.spec.Name, Command: c.spec.Command, Addr: c.spec.Addr, PID: c.pid,
		Args: append([]string{s.exe, c.spec.Command}, c.spec.Args...), Log: c.log, State: c.state, Exit: c.exit,
		Started: c.started, Restarts: c.restarts}
}

// save writes cluster.json (atomically: a reader never sees half of it).
func (s *supervisor) save() {
	s.saving.Lock()
	defer s.saving.Unlock()
	b, err := json.MarshalIndent(s.status(), "", "  ")
	if err == nil {
		tmp := s.file + ".tmp"
		if err = os.WriteFile(tmp, append(b, '\n'), 0o600); err == nil {
			err = os.Rename(tmp, s.file)
		}
	}
	if err != nil {
		s.log.Error("writing cluster.json", "err", err)
	}
}

func (s *supervisor) child(name string) (*child, error) {
	c, ok := s.children[name]
	if !ok {
		return nil, fmt.Errorf("no child named %q (see cluster.json)", name)
	}
	return c, nil
}

// start starts the named child unless it runs, and returns once it
// serves; a child that does not serve within timeout is left running and
// reported.
func (s *supervisor) start(ctx context.Context, name string, timeout time.Duration) error {
	c, err := s.child(name)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	return s.startLocked(ctx, c, timeout)
}

func (s *supervisor) startLocked(ctx context.Context, c *child, timeout time.Duration) error {
	s.mu.Lock()
	running := c.done != nil && !isClosed(c.done)
	s.mu.Unlock()
	if running {
		return nil
	}
	f, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := append([]string{c.spec.Command}, c.spec.Args...)
	fmt.Fprintf(f, "=== %s unigate %s\n", time.Now().Format(time.RFC3339), strings.Join(args, " "))
	cmd := exec.Command(s.exe, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env, cmd.SysProcAttr = f, f, s.env, childAttr()
	err = s.spawn(cmd)
	f.Close() // the child has its own descriptor
	if err != nil {
		return fmt.Errorf("start %s: %w", c.spec.Name, err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	if c.pid != 0 {
		c.restarts++
	}
	c.pid, c.proc, c.state, c.exit, c.started, c.stopping, c.done = cmd.Process.Pid, cmd.Process, stateStarting, "", time.Now(), false, done
	s.mu.Unlock()
	s.save()
	go s.reap(c, cmd, done)
	if err := s.waitReady(ctx, c, done, timeout); err != nil {
		return err
	}
	s.mu.Lock()
	if !isClosed(done) {
		c.state = stateRunning
	}
	s.mu.Unlock()
	s.save()
	return nil
}

// reap waits for the child's process to end and records how it ended; an
// end the supervisor did not ask for is logged, and the others keep
// running.
func (s *supervisor) reap(c *child, cmd *exec.Cmd, done chan struct{}) {
	err := cmd.Wait()
	how := "exit status 0"
	if err != nil {
		how = err.Error()
	}
	s.mu.Lock()
	c.exit = how
	if c.stopping {
		c.state = stateStopped
	} else {
		c.state = stateExited
		s.log.Warn("child exited unexpectedly; the others keep running", "child", c.spec.Name, "pid", c.pid, "how", how, "log", c.log)
	}
	close(done)
	s.mu.Unlock()
	s.save()
}

// waitReady polls the child's readiness until it serves, exits or
// timeout passes.
func (s *supervisor) waitReady(ctx context.Context, c *child, done <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := c.spec.ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			s.mu.Lock()
			how := c.exit
			s.mu.Unlock()
			return fmt.Errorf("%s exited while starting (%s); see %s", c.spec.Name, how, c.log)
		case <-ctx.Done():
			return fmt.Errorf("%s does not serve after %s (%v); see %s", c.spec.Name, timeout, err, c.log)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop stops the named child: SIGTERM, then SIGKILL after stopGrace. A
// child not running is left as it is.
func (s *supervisor) stop(name string) error {
	c, err := s.child(name)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	s.stopLocked(c)
	return nil
}

func (s *supervisor) stopLocked(c *child) {
	s.mu.Lock()
	done, p := c.done, c.proc
	if done == nil || isClosed(done) {
		s.mu.Unlock()
		return
	}
	c.stopping = true
	s.mu.Unlock()
	begin := time.Now()
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopGrace):
		s.log.Warn("child did not stop within the grace period: killing it", "child", c.spec.Name, "pid", p.Pid)
		_ = p.Kill()
		<-done
	}
	s.log.Info("stopped", "child", c.spec.Name, "pid", p.Pid, "after", time.Since(begin).Round(time.Millisecond).String())
}

// restart stops the named child and starts it again.
func (s *supervisor) restart(ctx context.Context, name string, timeout time.Duration) error {
	c, err := s.child(name)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	s.stopLocked(c)
	return s.startLocked(ctx, c, timeout)
}

// stopAll stops the children group by group, the last group first, the
// children of a group together.
func (s *supervisor) stopAll(groups [][]string) {
	for i := len(groups) - 1; i >= 0; i-- {
		var wg sync.WaitGroup
		for _, name := range groups[i] {
			wg.Go(func() { _ = s.stop(name) })
		}
		wg.Wait()
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// The control socket: HTTP over the unix socket DIR/control.sock.
//
//	GET  /status          cluster.json, as it is now
//	POST /stop/NAME       stop a child (SIGTERM, SIGKILL after 10 s); it stays stopped
//	POST /start/NAME      start a stopped or exited child; answers once it serves
//	POST /restart/NAME    stop, then start
//
// A POST answers the child's status, or an error with status 404 (no such
// child) or 500.
func (s *supervisor) serveControl(ctx context.Context, lis net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.status())
	})
	op := func(do func(ctx context.Context, name string) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			name := r.PathValue("name")
			c, err := s.child(name)
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			if err := do(r.Context(), name); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			s.mu.Lock()
			st := s.statusOf(c)
			s.mu.Unlock()
			writeJSON(w, st)
		}
	}
	mux.HandleFunc("POST /stop/{name}", op(func(_ context.Context, name string) error {
		s.log.Info("control: stop", "child", name)
		return s.stop(name)
	}))
	mux.HandleFunc("POST /start/{name}", op(func(ctx context.Context, name string) error {
		s.log.Info("control: start", "child", name)
		return s.start(ctx, name, childStartTimeout)
	}))
	mux.HandleFunc("POST /restart/{name}", op(func(ctx context.Context, name string) error {
		s.log.Info("control: restart", "child", name)
		return s.restart(ctx, name, childStartTimeout)
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), stopGrace+5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// controlClient talks to a supervisor's control socket.
func controlClient(socket string) *http.Client {
	return &http.Client{Timeout: childStartTimeout + stopGrace + 10*time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}}}
}

// processAlive reports whether pid is a live (not zombie) process whose
// command line is `unigate COMMAND …` (where /proc tells; elsewhere any
// live pid counts): a pid in an old cluster.json may have been reused.
func processAlive(pid int, command string) bool {
	if pid <= 0 {
		return false
	}
	if p, err := os.FindProcess(pid); err != nil || p.Signal(syscall.Signal(0)) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) || runtime.GOOS != "linux"
	}
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && len(stat) > i+2 && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
		return false // a zombie: ended, not yet reaped by its parent
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv := strings.Split(string(cmdline), "\x00")
	return len(argv) > 1 && argv[1] == command
}
