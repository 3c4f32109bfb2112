package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Protocol: a client connects to the unix socket and writes one request, a
// JSON object on one line of at most MaxRequest bytes:
//
//	{"cmd":"conntrack.list","args":{...}}
//
// The server answers with JSON lines: zero or more {"data":...} lines (one
// per item for listings and streams), then one closing line, either
// {"done":true} or {"error":{"code":N,"msg":"..."}}. Streaming commands
// (events, trace) send data lines until the client closes the connection.

// MaxRequest bounds a request line; a longer one is refused.
const MaxRequest = 64 << 10

// writeTimeout bounds how long one answer line may wait on a client. A
// client that does not read is cut off, so it cannot hold a handler (and
// whatever the handler reads) for long. Handlers never run on a datapath
// goroutine.
const writeTimeout = 5 * time.Second

// Error codes, in the spirit of conntrack-tools' exit codes: the CLI maps
// them to exit statuses.
const (
	CodeBadRequest = 1 // malformed or oversize request, bad arguments
	CodeNotFound   = 2 // no such command, entry, set or element
	CodeFailed     = 3 // the command ran and failed (e.g. a reload was refused)
	CodeInternal   = 4
)

// Error is a typed control error with a code (wireguard-go's IPCError).
type Error struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
	err  error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.err }

// Errorf returns an *Error with a code.
func Errorf(code int, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Msg: err.Error(), err: errors.Unwrap(err)}
}

// Request is one decoded request.
type Request struct {
	Cmd  string          `json:"cmd"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Decode decodes the arguments strictly (unknown fields are errors).
func (r *Request) Decode(v any) error {
	if len(r.Args) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytesReader(r.Args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeBadRequest, "%s: bad arguments: %v", r.Cmd, err)
	}
	return nil
}

// Stream is where a handler writes its answer lines.
type Stream struct {
	conn net.Conn
	w    *bufio.Writer
	// Ctx is cancelled when the client goes away (streams watch it).
	Ctx context.Context
}

type line struct {
	Data  any    `json:"data,omitempty"`
	Done  bool   `json:"done,omitempty"`
	Error *Error `json:"error,omitempty"`
}

// Send writes one data line and flushes it.
func (s *Stream) Send(v any) error {
	return s.write(line{Data: v})
}

func (s *Stream) write(l line) error {
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.w.Flush()
}

// HandlerFunc serves one command.
type HandlerFunc func(req *Request, s *Stream) error

// Server serves the control socket.
type Server struct {
	Log *slog.Logger

	mu       sync.Mutex // mu protects handlers and conns
	handlers map[string]HandlerFunc
	conns    map[net.Conn]struct{}

	ln   net.Listener
	wg   sync.WaitGroup
	path string
}

// NewServer returns a server with no commands but "ping" and "commands".
func NewServer(log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{Log: log, handlers: map[string]HandlerFunc{}, conns: map[net.Conn]struct{}{}}
	s.Handle("ping", func(req *Request, st *Stream) error { return st.Send("pong") })
	s.Handle("commands", func(req *Request, st *Stream) error {
		s.mu.Lock()
		names := make([]string, 0, len(s.handlers))
		for n := range s.handlers {
			names = append(names, n)
		}
		s.mu.Unlock()
		sort.Strings(names)
		return st.Send(names)
	})
	return s
}

// Handle registers a command.
func (s *Server) Handle(cmd string, h HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[cmd] = h
}

// Listen creates the socket at path (mode 0600: root only), replacing a
// stale one, and serves it until Close.
func (s *Server) Listen(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("ctl: %s is in use by another fwd", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return err
	}
	s.ln, s.path = ln, path
	s.wg.Add(1)
	go s.routineAccept()
	return nil
}

func (s *Server) routineAccept() {
	defer s.wg.Done()
	s.Log.Debug("ctl: accept routine started", "socket", s.path)
	defer s.Log.Debug("ctl: accept routine stopped")
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &Stream{conn: c, w: bufio.NewWriter(c), Ctx: ctx}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(io.LimitReader(c, MaxRequest+1), 4096)
	raw, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) || len(raw) > 0 {
			st.write(line{Error: Errorf(CodeBadRequest, "request longer than %d bytes or not a line", MaxRequest)})
		}
		return
	}
	var req Request
	if err := json.Unmarshal(raw, &req); err != nil {
		st.write(line{Error: Errorf(CodeBadRequest, "malformed request: %v", err)})
		return
	}
	s.mu.Lock()
	h := s.handlers[req.Cmd]
	s.mu.Unlock()
	if h == nil {
		st.write(line{Error: Errorf(CodeNotFound, "unknown command %q", req.Cmd)})
		return
	}
	// Watch for the client going away, for streaming handlers.
	c.SetReadDeadline(time.Time{})
	go func() {
		var b [1]byte
		c.Read(b[:])
		cancel()
	}()
	if err := h(&req, st); err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			ce = &Error{Code: CodeFailed, Msg: err.Error(), err: err}
		}
		st.write(line{Error: ce})
		return
	}
	st.write(line{Done: true})
}

// Close stops serving, ends every connection and removes the socket.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	os.Remove(s.path)
	return err
}

// Call sends one request to the socket at path and calls fn for each data
// line until the server says done. A server error comes back as *Error.
func Call(path, cmd string, args any, fn func(data json.RawMessage) error) error {
	return CallContext(context.Background(), path, cmd, args, fn)
}

// CallContext is Call with a context that ends streams.
func CallContext(ctx context.Context, path, cmd string, args any, fn func(data json.RawMessage) error) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("cannot reach fwd at %s (is `fwd run` running?): %w", path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	req := struct {
		Cmd  string `json:"cmd"`
		Args any    `json:"args,omitempty"`
	}{cmd, args}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		return err
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var l struct {
			Data  json.RawMessage `json:"data"`
			Done  bool            `json:"done"`
			Error *Error          `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("ctl: malformed answer: %v", err)
		}
		switch {
		case l.Error != nil:
			return l.Error
		case l.Done:
			return nil
		case fn != nil:
			if err := fn(l.Data); err != nil {
				return err
			}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("ctl: connection closed before the answer ended")
}

type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

func bytesReader(b []byte) io.Reader { return &byteReader{b: b} }
