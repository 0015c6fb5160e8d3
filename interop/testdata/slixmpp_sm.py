#!/usr/bin/python3
"""Stream management resumption (XEP-0198) with slixmpp's xep_0198 plugin.

bob logs in with the xep_0198 plugin, which enables stream management with
resumption; alice logs in without it. Then:

  1. alice writes m1 to bob's full JID; bob gets it and acknowledges it
     (an <a/>, then a ping to the server, so that the ack was handled);
  2. the TCP socket under bob's TLS connection is shut down, without a
     stream end or a TLS alert (a lost network); bob's slixmpp sees the
     connection drop and keeps its stream management state;
  3. alice writes m2 and m3 to bob's full JID while he is away, and makes
     sure they were routed (a ping after them);
  4. bob connects again: slixmpp authenticates and sends <resume/>; the
     server answers <resumed/>, and bob gets m2 and m3, once each and in
     order, and not m1 again.

Every event is printed as one line on stdout. Exit status: 0 only if all of
it happened, 1 on any failure, 2 on a bad command line.

Run it with /usr/bin/python3 (Debian's python3-slixmpp).
"""

import asyncio
import socket

import slixmpp

from slixrun import Step, arg_parser, dial, disconnect, parse_and_run, say, start, trust  # noqa: E402


class Client(slixmpp.ClientXMPP):
    def __init__(self, name, jid, password, cafile, sm):
        super().__init__(jid, password)
        self.name = name
        self.register_plugin('xep_0199')
        if sm:
            self.register_plugin('xep_0198')
        trust(self, cafile)
        loop = asyncio.get_event_loop()
        self.events = asyncio.Queue()
        self.messages = []
        self.add_event_handler('session_start', lambda e: self.events.put_nowait('session-start'))
        self.add_event_handler('session_resumed', lambda e: self.events.put_nowait('session-resumed'))
        self.add_event_handler('sm_enabled', self.on_sm_enabled)
        self.add_event_handler('disconnected', lambda e: self.events.put_nowait('disconnected'))
        self.add_event_handler('failed_auth', lambda e: self.events.put_nowait('failed-auth'))
        self.add_event_handler('message', self.on_message)
        self.loop_ = loop

    def on_sm_enabled(self, stanza):
        say(self.name, 'sm-enabled', 'resume=' + str(stanza['resume']), 'id-set=' + str(bool(stanza['id'])))
        self.events.put_nowait('sm-enabled')

    def on_message(self, msg):
        say(self.name, 'message', 'id=' + msg['id'], 'from=' + msg['from'].full, 'body=' + repr(msg['body']))
        self.messages.append(msg['id'])

    async def expect(self, event, timeout=15):
        while True:
            got = await asyncio.wait_for(self.events.get(), timeout)
            say(self.name, 'event', got)
            if got == event:
                return
            # failed-auth is slixmpp trying its -PLUS mechanisms first.
            if got == 'disconnected':
                raise Step('%s: %s while waiting for %s' % (self.name, got, event))

    async def until(self, what, cond, timeout=15):
        for _ in range(int(timeout * 20)):
            if cond():
                return
            await asyncio.sleep(0.05)
        raise Step('%s: timed out waiting for %s' % (self.name, what))

    async def sync(self):
        # Stanzas of one session are handled in order: once the ping is
        # answered, everything sent before it was routed.
        await self['xep_0199'].ping(jid=self.boundjid.domain, timeout=10)


async def run(args):
    alice = start(Client, 'alice', args.alice, args, sm=False)
    bob = start(Client, 'bob', args.bob, args, sm=True)
    await alice.expect('session-start')
    await bob.expect('session-start')
    await bob.expect('sm-enabled')
    if not bob['xep_0198'].sm_id:
        raise Step('bob: no resumption id')
    full = bob.boundjid.full

    # 1. m1 arrives and is acknowledged.
    m = alice.make_message(mto=full, mbody='one', mtype='chat')
    m['id'] = 'm1'
    m.send()
    await bob.until('m1', lambda: 'm1' in bob.messages)
    bob['xep_0198'].send_ack()
    await bob.sync()
    say('acked-ok', 'handled=' + str(bob['xep_0198'].handled))

    # 2. The network goes: the socket under TLS is shut down.
    sock = bob.transport.get_extra_info('socket')
    sock.shutdown(socket.SHUT_RDWR)
    await bob.expect('disconnected')
    say('cut-ok')

    # 3. Messages while bob is away.
    for mid, body in (('m2', 'two'), ('m3', 'three')):
        m = alice.make_message(mto=full, mbody=body, mtype='chat')
        m['id'] = mid
        m.send()
    await alice.sync()
    say('sent-while-away')

    # 4. bob comes back and resumes.
    dial(bob, args.addr)
    await bob.expect('session-resumed')
    if bob.boundjid.full != full:
        raise Step('bob: resumed as %s, want %s' % (bob.boundjid.full, full))
    await bob.until('m2 and m3', lambda: 'm3' in bob.messages)
    await bob.sync()  # a duplicate would be here by now
    got = [i for i in bob.messages if i.startswith('m')]
    if got != ['m1', 'm2', 'm3']:
        raise Step('bob: messages %r, want m1 m2 m3, once each' % got)
    say('resumed-ok')

    return await disconnect(alice, bob)


def main():
    parse_and_run(arg_parser(__doc__, alice='JID:PASSWORD', bob='JID:PASSWORD'), run)


if __name__ == '__main__':
    main()
