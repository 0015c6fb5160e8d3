#!/usr/bin/python3
"""Two slixmpp clients log in to one server and chat both ways.

Each client sends initial presence, makes sure the server has processed it
(an XEP-0199 ping to the server answered after it), then sends a chat
message to the other's bare JID and waits for the other's message, checking
its body and sender. With --wait-shutdown the clients then stay online and
wait for the server to end their streams, expecting the stream error given.

Everything observed is printed as one line per event on stdout, so that a
failing run explains itself. Exit status: 0 on success, 1 on any failure,
2 on a bad command line.

Run it with /usr/bin/python3 (Debian's python3-slixmpp).
"""

import asyncio

import slixmpp

from slixrun import arg_parser, parse_and_run, say, trust  # noqa: E402


class Chatter(slixmpp.ClientXMPP):
    def __init__(self, name, jid, password, cafile, mechanism):
        super().__init__(jid, password)
        self.name = name
        self.register_plugin('xep_0199')  # ping
        trust(self, cafile)
        if mechanism:
            self['feature_mechanisms'].use_mech = mechanism
        self.ready = asyncio.get_event_loop().create_future()
        self.got_message = asyncio.get_event_loop().create_future()
        self.stream_error = asyncio.get_event_loop().create_future()
        self.disconnected_ev = asyncio.get_event_loop().create_future()
        for f in (self.ready, self.got_message):
            # Failures are reported by run(); don't let asyncio complain
            # about the ones nobody awaited.
            f.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.add_event_handler('failed_auth', self.on_failed_auth)
        self.add_event_handler('auth_success', self.on_auth_success)
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('stream_error', self.on_stream_error)
        self.add_event_handler('disconnected', self.on_disconnected)
        self.add_event_handler('connection_failed', self.on_connection_failed)
        self.add_event_handler('ssl_invalid_chain', self.on_invalid_chain)

    def on_failed_auth(self, stanza):
        mech = self['feature_mechanisms'].mech
        say(self.name, 'auth-failed', mech.name if mech else '?', stanza['condition'])

    def on_auth_success(self, _stanza):
        say(self.name, 'auth-success', self['feature_mechanisms'].mech.name)

    async def on_session_start(self, _event):
        say(self.name, 'session-start', self.boundjid.full)
        self.send_presence()
        try:
            # Stanzas of one session are handled in order: once the ping is
            # answered, the presence before it has been processed.
            await self['xep_0199'].ping(jid=self.boundjid.domain, timeout=10)
        except Exception as e:  # noqa: BLE001 - report whatever it was
            say(self.name, 'ping-failed', repr(e))
            self.fail_all()
            return
        if not self.ready.done():
            self.ready.set_result(True)

    def on_message(self, msg):
        say(self.name, 'message', 'type=' + msg['type'], 'from=' + msg['from'].full,
            'body=' + repr(msg['body']))
        if msg['type'] in ('chat', 'normal') and not self.got_message.done():
            self.got_message.set_result(msg)

    def on_stream_error(self, err):
        say(self.name, 'stream-error', err['condition'], repr(err['text']))
        if not self.stream_error.done():
            self.stream_error.set_result(err['condition'])

    def on_disconnected(self, reason):
        say(self.name, 'disconnected', repr(reason))
        if not self.disconnected_ev.done():
            self.disconnected_ev.set_result(True)
        self.fail_all()

    def on_connection_failed(self, err):
        say(self.name, 'connection-failed', repr(err))
        self.fail_all()

    def on_invalid_chain(self, err):
        say(self.name, 'invalid-certificate', repr(err))
        self.fail_all()

    def fail_all(self):
        for f in (self.ready, self.got_message):
            if not f.done():
                f.set_exception(RuntimeError(self.name + ': disconnected'))


async def run(args):
    host, port = args.addr.rsplit(':', 1)
    clients = []
    for name, spec in (('alice', args.alice), ('bob', args.bob)):
        jid, password = spec.split(':', 1)
        c = Chatter(name, jid, password, args.cafile, args.mechanism)
        c.connect((host, int(port)), use_ssl=args.direct_tls,
                  force_starttls=not args.direct_tls)
        clients.append(c)
    alice, bob = clients

    await asyncio.gather(alice.ready, bob.ready)
    say('both-ready')
    texts = {alice: 'hello bob, this is alice', bob: 'hi alice, bob here'}
    for sender, receiver in ((alice, bob), (bob, alice)):
        sender.send_message(mto=receiver.boundjid.bare, mbody=texts[sender], mtype='chat')
    ok = True
    for sender, receiver in ((alice, bob), (bob, alice)):
        msg = await receiver.got_message
        if msg['body'] != texts[sender]:
            say(receiver.name, 'WRONG-BODY', repr(msg['body']), 'want', repr(texts[sender]))
            ok = False
        if msg['from'].full != sender.boundjid.full:
            say(receiver.name, 'WRONG-FROM', msg['from'].full, 'want', sender.boundjid.full)
            ok = False
    if not ok:
        return False
    say('chat-ok')

    if args.wait_shutdown:
        # The test stops the server now; both streams must end with the
        # expected stream error.
        for c in clients:
            cond = await c.stream_error
            if cond != args.wait_shutdown:
                say(c.name, 'WRONG-STREAM-ERROR', cond, 'want', args.wait_shutdown)
                ok = False
            await c.disconnected_ev
        if ok:
            say('shutdown-ok')
        return ok

    for c in clients:
        c.disconnect()
    await asyncio.gather(*(c.disconnected_ev for c in clients))
    return True


def main():
    p = arg_parser(__doc__, addr_help='host:port of the server', alice='JID:PASSWORD', bob='JID:PASSWORD')
    p.add_argument('--direct-tls', action='store_true', help='XEP-0368 direct TLS instead of STARTTLS')
    p.add_argument('--mechanism', help='the only SASL mechanism slixmpp may use. Note: pinning a '
                   'non-PLUS SCRAM while the server offers -PLUS makes slixmpp send gs2 flag "y", '
                   'which a server must refuse as a downgrade; restrict the server instead')
    p.add_argument('--wait-shutdown', metavar='CONDITION',
                   help='after chatting, wait for the server to end both streams with this stream error')
    parse_and_run(p, run)


if __name__ == '__main__':
    main()
