#!/usr/bin/python3
"""Carbons, an OMEMO device list over PEP, and MAM paging, with slixmpp.

alice logs in twice (resources A and B), both enabling carbons with
slixmpp's XEP-0280 plugin; bob (the contact) announces
eu.siacs.conversations.axolotl.devicelist+notify in his XEP-0115 caps
(xep_0030 add_feature, xep_0115). Then:

  1. the subscription handshake: A asks bob, bob's slixmpp approves and
     asks back, alice's approves; both rosters say 'both';
  2. bob writes to A's full JID: A gets it, B gets a received-carbon
     (XEP-0280) of it; A answers bob: bob gets it, B gets a sent-carbon;
     three times each way, each step awaited, so six messages in order;
  3. A publishes the OMEMO device list (node
     eu.siacs.conversations.axolotl.devicelist, item 'current', device
     12345) with publish-options pubsub#access_model=open (xep_0060
     publish with a xep_0004 form): bob gets the PEP notification;
  4. a third resource C of alice pages through her archive with
     slixmpp's XEP-0313 plugin, RSM max=2, following <last/>: every
     message of step 2, once, in order, the last page complete.

Every event is printed as one line on stdout. Exit status: 0 only if all of
it happened, 1 on any failure, 2 on a bad command line.

Run it with /usr/bin/python3 (Debian's python3-slixmpp).
"""

import asyncio
import xml.etree.ElementTree as ET

import slixmpp

from slixrun import Step, Waiting, arg_parser, disconnect, lifecycle, parse_and_run, say, start, trust  # noqa: E402

OMEMO_NS = 'eu.siacs.conversations.axolotl'
DEVICELIST = OMEMO_NS + '.devicelist'


class Client(Waiting, slixmpp.ClientXMPP):
    def __init__(self, name, jid, password, cafile, notify=False):
        super().__init__(jid, password)
        self.name = name
        for p in ('xep_0030', 'xep_0004', 'xep_0059', 'xep_0060', 'xep_0163', 'xep_0115',
                  'xep_0199', 'xep_0280', 'xep_0297', 'xep_0313'):
            self.register_plugin(p)
        self.notify = notify
        if notify:
            self['xep_0030'].add_feature(DEVICELIST + '+notify')
        trust(self, cafile)
        lifecycle(self)
        self.changed = asyncio.Event()
        self.messages = []   # (from, body) of chat messages
        self.received = []   # (inner from, inner to, body) of received-carbons
        self.sent = []       # the same, of sent-carbons
        self.events = []     # (node, item id, payload element) of PEP notifications
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('carbon_received', self.on_carbon_received)
        self.add_event_handler('carbon_sent', self.on_carbon_sent)
        self.add_event_handler('pubsub_publish', self.on_publish)
        for ev in ('roster_update', 'changed_status', 'presence', 'message', 'carbon_received',
                   'carbon_sent', 'pubsub_publish'):
            self.add_event_handler(ev, lambda _s: self.changed.set())
        self.add_event_handler('failed_auth', lambda s: say(self.name, 'auth-failed'))
        self.add_event_handler('stream_error', lambda e: say(self.name, 'stream-error', e['condition']))
        self.add_event_handler('disconnected', self.on_disconnected)
        self.add_event_handler('connection_failed', self.on_connection_failed)
        self.add_event_handler('ssl_invalid_chain', self.on_connection_failed)

    async def on_session_start(self, _event):
        say(self.name, 'session-start', self.boundjid.full)
        try:
            await self.get_roster(timeout=10)
            if self.notify:
                # The caps in the initial presence must include +notify.
                await self['xep_0115'].update_caps(broadcast=False)
            self.send_presence()
            await self.sync()
        except Exception as e:  # noqa: BLE001 - report whatever it was
            say(self.name, 'start-failed', repr(e))
            if not self.ready.done():
                self.ready.set_exception(Step(self.name + ': session start failed'))
            return
        if not self.ready.done():
            self.ready.set_result(True)

    def on_message(self, msg):
        if msg['type'] in ('chat', 'normal') and msg['body']:
            say(self.name, 'message', 'from=' + msg['from'].full, 'body=' + repr(msg['body']))
            self.messages.append((msg['from'].full, msg['body']))

    def _carbon(self, kind, msg, into):
        inner = msg[kind]
        say(self.name, kind, 'from=' + msg['from'].full, 'inner-from=' + inner['from'].full,
            'inner-to=' + inner['to'].full, 'body=' + repr(inner['body']))
        # XEP-0280 §11: only from the user's own bare JID.
        if msg['from'].full != self.boundjid.bare:
            say(self.name, 'carbon-ignored', 'from=' + msg['from'].full)
            return
        into.append((inner['from'].full, inner['to'].full, inner['body']))

    def on_carbon_received(self, msg):
        self._carbon('carbon_received', msg, self.received)

    def on_carbon_sent(self, msg):
        self._carbon('carbon_sent', msg, self.sent)

    def on_publish(self, msg):
        items = msg['pubsub_event']['items']
        item = items['item']
        payload = item['payload']
        say(self.name, 'pep-event', 'from=' + msg['from'].full, 'type=' + msg['type'], 'node=' + items['node'],
            'item=' + item['id'], 'payload=' + (ET.tostring(payload, encoding='unicode') if payload is not None else '-'))
        self.events.append((msg['from'].full, items['node'], item['id'], payload))

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


async def run(args):
    a = start(Client, 'A', args.alice, args, 'A')
    b = start(Client, 'B', args.alice, args, 'B')
    bob = start(Client, 'bob', args.bob, args, 'phone', notify=True)
    bob.auto_authorize, bob.auto_subscribe = True, True
    for c in (a, b):
        c.auto_authorize, c.auto_subscribe = True, False
    await asyncio.gather(a.ready, b.ready, bob.ready)
    alice_bare, bob_bare = a.boundjid.bare, bob.boundjid.bare
    say('all-ready')

    # Carbons on for A and B.
    for c in (a, b):
        iq = await c['xep_0280'].enable(timeout=10)
        say(c.name, 'carbons-enabled', iq['type'])
    say('carbons-ok')

    # 1. The subscription handshake.
    a.send_presence(pto=bob_bare, ptype='subscribe')
    await a.until('roster ' + bob_bare + ' both', lambda: a.client_roster[bob_bare]['subscription'] == 'both')
    await bob.until('roster ' + alice_bare + ' both', lambda: bob.client_roster[alice_bare]['subscription'] == 'both')
    await bob.until('A online', lambda: 'A' in bob.client_roster[alice_bare].resources)
    say('handshake-ok')

    # 2. Chat between bob and A, copied to B.
    expected = []  # bodies in the order routed
    for i in range(3):
        body = 'bob to A %d' % i
        bob.send_message(mto=a.boundjid.full, mbody=body, mtype='chat')
        expected.append(body)
        await a.until('message ' + repr(body), lambda: (bob.boundjid.full, body) in a.messages)
        await b.until('received-carbon ' + repr(body),
                      lambda: (bob.boundjid.full, a.boundjid.full, body) in b.received)
        body = 'A to bob %d' % i
        a.send_message(mto=bob_bare, mbody=body, mtype='chat')
        expected.append(body)
        await bob.until('message ' + repr(body), lambda: (a.boundjid.full, body) in bob.messages)
        await b.until('sent-carbon ' + repr(body), lambda: (a.boundjid.full, bob_bare, body) in b.sent)
    await b.sync()
    if len(b.received) != 3 or len(b.sent) != 3:
        raise Step('B: %d received-carbons and %d sent-carbons, want 3 and 3 (once each)' % (len(b.received), len(b.sent)))
    if b.messages:
        raise Step('B got the messages themselves, not (only) carbons: %r' % b.messages)
    say('carbons-received-ok')
    say('carbons-sent-ok')

    # 3. The OMEMO device list, open to anyone.
    form = a['xep_0004'].make_form(ftype='submit')
    form.add_field(var='FORM_TYPE', ftype='hidden', value='http://jabber.org/protocol/pubsub#publish-options')
    form.add_field(var='pubsub#access_model', value='open')
    payload = ET.fromstring("<list xmlns='%s'><device id='12345'/></list>" % OMEMO_NS)
    iq = await a['xep_0060'].publish(alice_bare, DEVICELIST, id='current', payload=payload, options=form, timeout=10)
    say('A', 'published', iq['type'])
    await bob.until('device list notification', lambda: len(bob.events) > 0)
    frm, node, item, got = bob.events[0]
    dev = got.find('{%s}device' % OMEMO_NS) if got is not None else None
    if frm != alice_bare or node != DEVICELIST or item != 'current' or got is None or \
            got.tag != '{%s}list' % OMEMO_NS or dev is None or dev.get('id') != '12345':
        raise Step('bob: PEP event %r, want the device list 12345 from %s' % (bob.events[0], alice_bare))
    say('pep-ok')

    # 4. A third resource pages through the archive, two at a time.
    c = start(Client, 'C', args.alice, args, 'C')
    await c.ready
    got, after, pages = [], None, 0
    while True:
        rsm = {'max': 2}
        if after is not None:
            rsm['after'] = after
        iq = await c['xep_0313'].retrieve(jid=alice_bare, rsm=rsm, timeout=10)
        pages += 1
        fin = iq['mam_fin']
        # slixmpp 1.8.3's Fin has no 'complete' interface: the attribute.
        complete = fin.xml.get('complete')
        results = iq['mam']['results']
        bodies = [r['mam_result']['forwarded']['stanza']['body'] for r in results]
        say('C', 'page', pages, 'bodies=' + repr(bodies), 'first=' + fin['rsm']['first'], 'last=' + fin['rsm']['last'],
            'count=' + str(fin['rsm']['count']), 'complete=' + str(complete))
        if len(results) > 2:
            raise Step('C: page %d has %d results, max was 2' % (pages, len(results)))
        got.extend(bodies)
        if complete in ('true', '1') or not results or pages > 20:
            if complete not in ('true', '1'):
                raise Step('C: page %d: %d results, complete=%r' % (pages, len(results), complete))
            break
        if complete is None:
            raise Step('C: page %d: no complete attribute on <fin/>' % pages)
        after = fin['rsm']['last']
    if got != expected:
        raise Step('C: archive %r, want %r in that order, once' % (got, expected))
    if pages != (len(expected) + 1) // 2:
        raise Step('C: %d pages for %d messages at max=2' % (pages, len(expected)))
    say('mam-ok', 'pages=%d' % pages, 'messages=%d' % len(got))

    return await disconnect(a, b, c, bob)


def main():
    parse_and_run(arg_parser(__doc__, alice='JID:PASSWORD of the account with three resources',
                             bob='JID:PASSWORD of the contact'), run)


if __name__ == '__main__':
    main()
