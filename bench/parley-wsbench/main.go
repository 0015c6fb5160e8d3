// Command parley-wsbench measures XMPP over WebSocket against a running
// Parley: the server's memory per idle WebSocket session (-mode idle) and
// messages per second between two WebSocket sessions (-mode rate).
//
// It logs in with PLAIN, which Parley allows over WebSocket from loopback
// (see web.Server.client), as one account with many resources, so the
// server needs c2s.max_sessions_per_account at least -n. Example:
//
//	parley-wsbench -url ws://127.0.0.1:5280/xmpp-websocket -user bench@localhost -password secret -pid $(pidof parley) -mode idle -n 1000
//	parley-wsbench -url ws://127.0.0.1:5280/xmpp-websocket -user bench@localhost -password secret -mode rate -messages 50000
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "parley-wsbench:", err)
		os.Exit(1)
	}
}

type options struct {
	url, user, password string
}

func run() error {
	var o options
	flag.StringVar(&o.url, "url", "ws://127.0.0.1:5280/xmpp-websocket", "WebSocket endpoint")
	flag.StringVar(&o.user, "user", "bench@localhost", "account (bare JID)")
	flag.StringVar(&o.password, "password", "", "its password")
	mode := flag.String("mode", "idle", "idle | rate")
	n := flag.Int("n", 500, "idle: sessions to open")
	pid := flag.Int("pid", 0, "idle: the server's process id, to read its RSS")
	messages := flag.Int("messages", 20000, "rate: messages to send")
	window := flag.Int("window", 500, "rate: messages in flight at most")
	flag.Parse()
	switch *mode {
	case "idle":
		return idle(o, *n, *pid)
	case "rate":
		return rate(o, *messages, *window)
	}
	return fmt.Errorf("unknown -mode %q", *mode)
}

type session struct {
	ws  *websocket.Conn
	jid string
}

var jidRE = regexp.MustCompile(`<jid>([^<]+)</jid>`)

// login opens a WebSocket, authenticates with PLAIN, binds resource and,
// with presence, sends initial presence. Idle sessions send none: they
// are resources of one account, and each would be told of all the others.
func login(ctx context.Context, o options, resource string, presence bool) (*session, error) {
	ws, _, err := websocket.Dial(ctx, o.url, &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	local, domain, _ := strings.Cut(o.user, "@")
	s := &session{ws: ws}
	send := func(x string) error { return ws.Write(ctx, websocket.MessageText, []byte(x)) }
	until := func(substr string) (string, error) {
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return "", err
			}
			if strings.Contains(string(b), "<failure") || strings.Contains(string(b), "stream:error") {
				return "", fmt.Errorf("server said: %s", b)
			}
			if strings.Contains(string(b), substr) {
				return string(b), nil
			}
		}
	}
	open := `<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="` + domain + `" version="1.0"/>`
	steps := []struct{ send, want string }{
		{open, "</stream:features>"},
		{`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">` +
			base64.StdEncoding.EncodeToString([]byte("\x00"+local+"\x00"+o.password)) + `</auth>`, "<success"},
		{open, "</stream:features>"},
		{`<iq xmlns="jabber:client" type="set" id="b"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><resource>` + resource + `</resource></bind></iq>`, "<jid>"},
	}
	for _, st := range steps {
		if err := send(st.send); err != nil {
			return nil, err
		}
		got, err := until(st.want)
		if err != nil {
			return nil, err
		}
		if m := jidRE.FindStringSubmatch(got); m != nil {
			s.jid = m[1]
		}
	}
	if presence {
		if err := send(`<presence xmlns="jabber:client"><priority>-1</priority></presence>`); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func rss(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// idle opens n sessions, lets them sit, and reports the growth of the
// server's resident memory divided by n.
func idle(o options, n, pid int) error {
	if pid == 0 {
		return errors.New("-pid is required in idle mode")
	}
	ctx := context.Background()
	before, err := rss(pid)
	if err != nil {
		return err
	}
	sessions := make([]*session, 0, n)
	start := time.Now()
	for i := range n {
		s, err := login(ctx, o, fmt.Sprintf("idle%d", i), false)
		if err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
		sessions = append(sessions, s)
		// Drain what the server sends (presence to self) without keeping it.
		go func() {
			for {
				if _, _, err := s.ws.Read(ctx); err != nil {
					return
				}
			}
		}()
	}
	fmt.Printf("logged in %d WebSocket sessions in %s\n", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(5 * time.Second)
	after, err := rss(pid)
	if err != nil {
		return err
	}
	fmt.Printf("server RSS %.1f MiB -> %.1f MiB: %.1f KiB per idle WebSocket session\n",
		float64(before)/(1<<20), float64(after)/(1<<20), float64(after-before)/float64(n)/1024)
	for _, s := range sessions {
		_ = s.ws.Close(websocket.StatusNormalClosure, "")
	}
	return nil
}

// rate sends messages from one session to another with at most window in
// flight and reports delivered messages per second.
func rate(o options, messages, window int) error {
	ctx := context.Background()
	a, err := login(ctx, o, "sender", true)
	if err != nil {
		return err
	}
	b, err := login(ctx, o, "receiver", true)
	if err != nil {
		return err
	}
	credit := make(chan struct{}, window)
	for range window {
		credit <- struct{}{}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var recvErr error
	go func() {
		defer wg.Done()
		got := 0
		for got < messages {
			_, m, err := b.ws.Read(ctx)
			if err != nil {
				recvErr = err
				return
			}
			if strings.HasPrefix(string(m), "<message") {
				got++
				credit <- struct{}{}
			}
		}
	}()
	go func() {
		for {
			if _, _, err := a.ws.Read(ctx); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	for i := range messages {
		<-credit
		msg := `<message xmlns="jabber:client" type="chat" to="` + b.jid + `" id="m` + strconv.Itoa(i) + `"><body>message number ` + strconv.Itoa(i) + `</body></message>`
		if err := a.ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			return err
		}
	}
	wg.Wait()
	if recvErr != nil {
		return recvErr
	}
	d := time.Since(start)
	fmt.Printf("%d messages over WebSocket in %s: %.0f messages/s (window %d)\n", messages, d.Round(time.Millisecond), float64(messages)/d.Seconds(), window)
	return nil
}
