#!/usr/bin/python3
"""Two slixmpp clients become contacts, chat, and one gets offline messages.

alice and bob log in, fetch their rosters and send initial presence. alice
asks for bob's presence with send_presence(ptype='subscribe'); bob's
slixmpp answers by itself (auto_authorize) and asks back (auto_subscribe),
which alice's slixmpp approves (auto_authorize). Then:

  1. both rosters, as the server pushed them, say subscription 'both';
  2. each sees the other online (a resource in its roster item);
  3. they chat both ways;
  4. bob disconnects: alice sees him go offline;
  5. alice sends bob messages while he is offline;
  6. bob logs in again: his roster still says 'both', he sees alice online,
     and he gets alice's messages, in order, once, each with a XEP-0203
     delay stamped by the server between the send and now.

Everything observed is printed as one line per event on stdout, so that a
failing run explains itself. Exit status: 0 only if all of it happened, 1
on any failure, 2 on a bad command line.

Run it with /usr/bin/python3 (Debian's python3-slixmpp).
"""

import asyncio
import datetime

import slixmpp

from slixrun import Step, Waiting, arg_parser, disconnect, lifecycle, parse_and_run, say, start, trust  # noqa: E402


class Client(Waiting, slixmpp.ClientXMPP):
    def __init__(self, name, jid, password, cafile):
        super().__init__(jid, password)
        self.name = name
        self.register_plugin('xep_0199')  # ping
        self.register_plugin('xep_0203')  # delay
        trust(self, cafile)
        lifecycle(self)
        self.changed = asyncio.Event()
        self.messages = []
        for ev in ('roster_update', 'changed_status', 'presence', 'message'):
            self.add_event_handler(ev, self.on_change)
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('presence', self.on_presence)
        self.add_event_handler('roster_update', self.on_roster)
        self.add_event_handler('failed_auth', lambda s: say(self.name, 'auth-failed', s['condition']))
        self.add_event_handler('stream_error', lambda e: say(self.name, 'stream-error', e['condition']))
        self.add_event_handler('disconnected', self.on_disconnected)
        self.add_event_handler('connection_failed', self.on_connection_failed)
        self.add_event_handler('ssl_invalid_chain', self.on_connection_failed)

    def on_change(self, _stanza):
        self.changed.set()

    async def on_session_start(self, _event):
        say(self.name, 'session-start', self.boundjid.full)
        try:
            await self.get_roster(timeout=10)
            self.send_presence()
            # Stanzas of one session are handled in order: once the ping
            # is answered, the presence before it has been processed.
            await self['xep_0199'].ping(jid=self.boundjid.domain, timeout=10)
        except Exception as e:  # noqa: BLE001 - report whatever it was
            say(self.name, 'start-failed', repr(e))
            if not self.ready.done():
                self.ready.set_exception(Step(self.name + ': session start failed'))
            return
        if not self.ready.done():
            self.ready.set_result(True)

    def on_message(self, msg):
        delay = msg['delay']['stamp'] if msg.get_plugin('delay', check=True) is not None else None
        say(self.name, 'message', 'type=' + msg['type'], 'from=' + msg['from'].full,
            'body=' + repr(msg['body']), 'delay=' + (delay.isoformat() if delay else '-'))
        if msg['type'] in ('chat', 'normal') and msg['body']:
            self.messages.append((msg['from'].full, msg['body'], delay, msg['delay']['from'].full if delay else ''))

    def on_presence(self, pres):
        say(self.name, 'presence', 'type=' + pres['type'], 'from=' + pres['from'].full)

    def on_roster(self, iq):
        for jid, item in iq['roster']['items'].items():
            say(self.name, 'roster', jid.bare if hasattr(jid, 'bare') else jid,
                'subscription=' + item['subscription'], 'ask=' + (item['ask'] or '-'))

    def on_disconnected(self, reason):
        say(self.name, 'disconnected', repr(reason))
        if not self.gone.done():
            self.gone.set_result(True)
        if not self.ready.done():
            self.ready.set_exception(Step(self.name + ': disconnected before ready'))
        self.changed.set()

    def on_connection_failed(self, err):
        say(self.name, 'connection-failed', repr(err))
        if not self.ready.done():
            self.ready.set_exception(Step(self.name + ': connection failed'))

    def subscription(self, bare):
        return self.client_roster[bare]['subscription']

    def online(self, bare):
        return sorted(self.client_roster[bare].resources.keys())


async def run(args):
    alice = start(Client, 'alice', args.alice, args)
    bob = start(Client, 'bob', args.bob, args)
    # bob approves requests and asks back by himself; alice approves.
    bob.auto_authorize, bob.auto_subscribe = True, True
    alice.auto_authorize, alice.auto_subscribe = True, False
    await asyncio.gather(alice.ready, bob.ready)
    a, b = alice.boundjid.bare, bob.boundjid.bare
    say('both-ready')

    # 1. The handshake, started by alice, finished by the clients' own
    # subscription handling: both rosters (as pushed) say both.
    alice.send_presence(pto=b, ptype='subscribe')
    await alice.until('roster ' + b + ' both', lambda: alice.subscription(b) == 'both')
    await bob.until('roster ' + a + ' both', lambda: bob.subscription(a) == 'both')
    say('handshake-ok')

    # 2. Each sees the other online.
    await alice.until(b + ' online', lambda: bob.boundjid.resource in alice.online(b))
    await bob.until(a + ' online', lambda: alice.boundjid.resource in bob.online(a))
    say('online-ok')

    # 3. Chat both ways, to the bare JIDs.
    alice.send_message(mto=b, mbody='hello bob', mtype='chat')
    bob.send_message(mto=a, mbody='hello alice', mtype='chat')
    await bob.until('chat from alice', lambda: any(m[1] == 'hello bob' for m in bob.messages))
    await alice.until('chat from bob', lambda: any(m[1] == 'hello alice' for m in alice.messages))
    for c, other in ((alice, bob), (bob, alice)):
        if c.messages[0][0] != other.boundjid.full or c.messages[0][2] is not None:
            raise Step('%s: chat %r, want from %s without delay' % (c.name, c.messages[0], other.boundjid.full))
    say('chat-ok')

    # 4. bob leaves: alice sees him offline.
    bob_resource = bob.boundjid.resource
    bob.disconnect()
    await bob.gone
    await alice.until(b + ' offline', lambda: alice.online(b) == [])
    say('offline-seen-ok')

    # 5. Messages while he is away; the ping makes sure they were routed.
    sent_from = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    texts = ['while you were out 1', 'while you were out 2', 'while you were out 3']
    for t in texts:
        alice.send_message(mto=b, mbody=t, mtype='chat')
    await alice.sync()
    sent_to = datetime.datetime.now(datetime.timezone.utc)
    say('offline-sent')

    # 6. bob again: same roster, alice online, and the messages.
    bob = start(Client, 'bob2', args.bob, args)
    await bob.ready
    await bob.until('roster ' + a + ' still both', lambda: bob.subscription(a) == 'both')
    await bob.until(a + ' online again', lambda: alice.boundjid.resource in bob.online(a))
    await bob.until('the offline messages', lambda: len(bob.messages) >= len(texts))
    await bob.sync()  # anything more (a duplicate) would be here by now
    got = [m[1] for m in bob.messages]
    if got != texts:
        raise Step('bob2: offline messages %r, want %r in that order, once' % (got, texts))
    for frm, body, delay, delay_from in bob.messages:
        if frm != alice.boundjid.full:
            raise Step('bob2: %r from %s, want %s' % (body, frm, alice.boundjid.full))
        if delay is None:
            raise Step('bob2: %r has no XEP-0203 delay' % body)
        if not (sent_from <= delay <= sent_to):
            raise Step('bob2: %r delay %s not within [%s, %s]' % (body, delay, sent_from, sent_to))
        if delay_from != bob.boundjid.domain:
            raise Step('bob2: %r delay from %r, want %s' % (body, delay_from, bob.boundjid.domain))
    say('offline-delivered-ok', 'resource-before=' + bob_resource, 'resource-now=' + bob.boundjid.resource)

    return await disconnect(alice, bob)


def main():
    parse_and_run(arg_parser(__doc__, alice='JID:PASSWORD', bob='JID:PASSWORD'), run)


if __name__ == '__main__':
    main()
