#!/usr/bin/python3
"""An nbxmpp (Gajim's XMPP library) client logs in, sends one chat message
and waits for one back.

It connects to --addr with the connection type given (XEP-0368 direct TLS by
default), trusting exactly the certificate in --cafile the way Gajim does
after the user accepts it, authenticates with whatever SASL mechanism nbxmpp
picks from those it is allowed (--mechanisms), binds --resource, sends
--body to --to and then waits for a chat message with body --expect-body
from --expect-from.

Everything observed is printed as one line per event on stdout. Exit status:
0 on success, 1 on failure, 2 on a bad command line.

Run it with /usr/bin/python3 (Debian's python3-nbxmpp).
"""

import argparse
import logging
import sys

import gi
gi.require_version('Gio', '2.0')
gi.require_version('GLib', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

from nbxmpp.client import Client  # noqa: E402
from nbxmpp.const import ConnectionProtocol, ConnectionType  # noqa: E402
from nbxmpp.protocol import JID, Message, Presence  # noqa: E402
from nbxmpp.structs import StanzaHandler  # noqa: E402


def say(*args):
    print(*args, flush=True)


class Run:
    def __init__(self, args):
        self.args = args
        self.loop = GLib.MainLoop()
        self.ok = False
        self.done = False
        jid = JID.from_string(args.jid)
        c = Client(log_context=jid.localpart)
        c.set_domain(jid.domain)
        c.set_username(jid.localpart)
        c.set_resource(args.resource)
        c.set_password(args.password)
        ctype = {'direct-tls': ConnectionType.DIRECT_TLS,
                 'starttls': ConnectionType.START_TLS}[args.connection]
        c.set_custom_host(args.addr, ConnectionProtocol.TCP, ctype)
        if args.mechanisms:
            c.set_mechs(set(args.mechanisms.split(',')))
        if args.cafile:
            c.set_accepted_certificates([Gio.TlsCertificate.new_from_file(args.cafile)])
        else:
            c.set_ignore_tls_errors(True)
        c.set_sm_disabled(True)
        c.subscribe('connected', self.on_connected)
        c.subscribe('disconnected', self.on_disconnected)
        c.subscribe('connection-failed', self.on_connection_failed)
        c.register_handler(StanzaHandler(name='message', callback=self.on_message))
        self.client = c

    def finish(self, ok, *why):
        if self.done:
            return
        self.done = True
        self.ok = ok
        say('finish', 'ok' if ok else 'FAIL', *why)
        if self.client.state.name in ('ACTIVE',):
            self.client.disconnect()
            # Give the stream a moment to close, then stop regardless.
            GLib.timeout_add(2000, self.loop.quit)
        else:
            self.loop.quit()

    def on_connected(self, client, _signal):
        mech = getattr(getattr(client, '_sasl', None), '_mechanism', None)
        say('connected', 'jid=' + str(client.get_bound_jid()),
            'connection=' + client.current_connection_type.value,
            'mechanism=' + (mech.name if mech is not None else '?'),
            'tls_version=' + getattr(client.tls_version, 'value_nick', str(client.tls_version)))
        client.send_stanza(Presence())
        client.send_stanza(Message(to=self.args.to, body=self.args.body, typ='chat'))
        say('sent', 'to=' + self.args.to, 'body=' + repr(self.args.body))

    def on_message(self, _client, stanza, _properties):
        frm = str(stanza.getFrom())
        body = stanza.getBody()
        say('message', 'type=' + str(stanza.getType()), 'from=' + frm, 'body=' + repr(body))
        if stanza.getType() != 'chat':
            return
        problems = []
        if body != self.args.expect_body:
            problems.append('WRONG-BODY want ' + repr(self.args.expect_body))
        if frm != self.args.expect_from:
            problems.append('WRONG-FROM want ' + self.args.expect_from)
        self.finish(not problems, *problems)

    def on_disconnected(self, client, _signal):
        say('disconnected', 'error=' + repr(client.get_error()))
        if not self.done:
            self.finish(False, 'disconnected before the exchange was done')
        self.loop.quit()

    def on_connection_failed(self, client, _signal):
        say('connection-failed', 'error=' + repr(client.get_error()))
        self.finish(False, 'connection failed')
        self.loop.quit()

    def on_timeout(self):
        self.finish(False, 'TIMEOUT after %ss' % self.args.timeout)
        self.loop.quit()
        return False

    def run(self):
        GLib.timeout_add(int(self.args.timeout * 1000), self.on_timeout)
        self.client.connect()
        self.loop.run()
        return self.ok


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--addr', required=True, help='host:port of the server')
    p.add_argument('--connection', choices=('direct-tls', 'starttls'), default='direct-tls')
    p.add_argument('--cafile', help='PEM certificate to accept; without it TLS errors are ignored')
    p.add_argument('--mechanisms', help='comma-separated SASL mechanisms nbxmpp may choose from')
    p.add_argument('--jid', required=True)
    p.add_argument('--password', required=True)
    p.add_argument('--resource', default='nbxmpp')
    p.add_argument('--to', required=True, help='JID to send --body to')
    p.add_argument('--body', required=True)
    p.add_argument('--expect-from', required=True, help='full JID the reply must come from')
    p.add_argument('--expect-body', required=True)
    p.add_argument('--timeout', type=float, default=30, help='seconds for the whole run')
    p.add_argument('--debug', action='store_true', help='nbxmpp debug log (with the XML) on stderr')
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s', stream=sys.stderr)
    ok = Run(args).run()
    say('result', 'ok' if ok else 'FAIL')
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
