#!/usr/bin/python3
"""Three slixmpp clients use a multi-user chat room (XEP-0045).

alice, bob and carol log in; with slixmpp's xep_0045 and xep_0313 plugins:

  1. alice joins a room that does not exist: her self-presence says it
     was created (201) and that it is her (110), as its owner and a
     moderator; she gets the owner form and submits it with a name and
     archiving on (a reserved room), and the form she gets next shows
     them;
  2. bob joins: his self-presence (110, no 201), with alice among the
     occupants; alice sees him arrive;
  3. each sends a groupchat message: both get both, once each, from the
     sender's occupant JID, each with the room's XEP-0359 stanza id (the
     same for both copies) and the sender's XEP-0421 occupant id (the same
     on both copies, different for the two senders);
  4. alice changes the subject: bob (and alice) see it, from her
     occupant JID;
  5. carol joins late and gets both messages as discussion history,
     delayed by the room;
  6. bob changes his nickname to Robert: alice sees 303 and Robert;
  7. alice kicks carol (307 to carol); carol comes back, alice bans her
     (301), and carol's next join is refused with forbidden;
  8. bob queries the room archive (XEP-0313 on the room JID): both
     messages, from their occupant JIDs; with 'with' alice's occupant JID,
     only hers;
  9. bob leaves (alice sees him go), then alice.

Every observation is printed as one line on stdout, so that a failing run
explains itself. Exit status: 0 only if all of it happened, 1 on any
failure, 2 on a bad command line.

Run it with /usr/bin/python3 (Debian's python3-slixmpp).
"""

import asyncio

import slixmpp
import slixmpp.exceptions
from slixmpp import JID

from slixrun import Step, Waiting, arg_parser, disconnect, lifecycle, parse_and_run, say, start, trust  # noqa: E402


class Client(Waiting, slixmpp.ClientXMPP):
    def __init__(self, name, jid, password, cafile, room):
        super().__init__(jid, password)
        self.name = name
        self.room = room
        for p in ('xep_0030', 'xep_0004', 'xep_0045', 'xep_0059', 'xep_0199', 'xep_0203', 'xep_0313', 'xep_0359', 'xep_0421'):
            self.register_plugin(p)
        trust(self, cafile)
        lifecycle(self)
        self.changed = asyncio.Event()
        self.messages = []  # (nick, body, occupant id, stanza id, stanza id by)
        self.subjects = []  # (nick, subject)
        self.presences = []  # (type, nick, status codes)
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('groupchat_message', self.on_groupchat)
        self.add_event_handler('groupchat_subject', self.on_subject)
        self.add_event_handler('groupchat_presence', self.on_muc_presence)
        self.add_event_handler('groupchat_message_error', lambda m: say(self.name, 'groupchat-error', str(m)))
        self.add_event_handler('failed_auth', lambda s: say(self.name, 'auth-failed', s['condition']))
        self.add_event_handler('stream_error', lambda e: say(self.name, 'stream-error', e['condition']))
        self.add_event_handler('disconnected', self.on_disconnected)
        self.add_event_handler('connection_failed', self.on_connection_failed)
        self.add_event_handler('ssl_invalid_chain', self.on_connection_failed)

    async def on_session_start(self, _event):
        say(self.name, 'session-start', self.boundjid.full)
        try:
            await self.get_roster(timeout=10)
            self.send_presence()
            await self['xep_0199'].ping(jid=self.boundjid.domain, timeout=10)
        except Exception as e:  # noqa: BLE001 - report whatever it was
            say(self.name, 'start-failed', repr(e))
            if not self.ready.done():
                self.ready.set_exception(Step(self.name + ': session start failed'))
            return
        if not self.ready.done():
            self.ready.set_result(True)

    def on_groupchat(self, msg):
        if msg['from'].bare != self.room.bare:
            return
        oid = msg['occupant-id']['id'] if msg.get_plugin('occupant-id', check=True) is not None else ''
        sid = msg.get_plugin('stanza_id', check=True)
        sid_id, sid_by = (sid['id'], str(sid['by'])) if sid is not None else ('', '')
        delay = msg.get_plugin('delay', check=True) is not None
        say(self.name, 'groupchat', 'from=' + msg['from'].full, 'body=' + repr(msg['body']),
            'occupant-id=' + (oid or '-'), 'stanza-id=' + (sid_id or '-'), 'by=' + (sid_by or '-'),
            'delay=' + str(delay))
        self.messages.append((msg['from'].resource, msg['body'], oid, sid_id, sid_by))
        self.changed.set()

    def on_subject(self, msg):
        say(self.name, 'subject', 'from=' + msg['from'].full, 'subject=' + repr(msg['subject']))
        self.subjects.append((msg['from'].resource, msg['subject']))
        self.changed.set()

    def on_muc_presence(self, pres):
        say(self.name, 'muc-presence', 'type=' + pres['type'], 'from=' + pres['from'].full,
            'codes=' + ','.join(str(c) for c in sorted(pres['muc']['status_codes'])),
            'affiliation=' + pres['muc']['affiliation'], 'role=' + pres['muc']['role'])
        self.presences.append((pres['type'], pres['from'].resource, set(pres['muc']['status_codes'])))
        self.changed.set()

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

    def nicks(self):
        muc = self['xep_0045']
        return sorted(muc.get_roster(self.room)) if self.room in muc.rooms else []

    async def room_sync(self):
        """Return once the room has sent this client all it had queued:
        the room answers a ping to itself after everything before it. The
        answer may be an error (a room gone): it is the order that counts."""
        try:
            await self['xep_0199'].ping(jid=self.room, timeout=10)
        except slixmpp.exceptions.IqError as e:
            say(self.name, 'room-ping', e.iq['error']['condition'])


def check_self(who, pres, codes, affiliation, role):
    got = set(pres['muc']['status_codes'])
    if pres['type'] == 'error' or got != codes:
        raise Step('%s: self-presence %s with codes %s, want %s' % (who, pres['type'] or 'available', sorted(got), sorted(codes)))
    if (pres['muc']['affiliation'], pres['muc']['role']) != (affiliation, role):
        raise Step('%s: self-presence as %s/%s, want %s/%s' % (who, pres['muc']['affiliation'], pres['muc']['role'],
                                                               affiliation, role))


def form_values(form):
    return dict(form['values'])


async def run(args):
    alice = start(Client, 'alice', args.alice, args, room=JID(args.room))
    bob = start(Client, 'bob', args.bob, args, room=JID(args.room))
    carol = start(Client, 'carol', args.carol, args, room=JID(args.room))
    await asyncio.gather(alice.ready, bob.ready, carol.ready)
    room = JID(args.room)
    say('all-ready')

    # 1. alice creates the room and configures it with the owner form.
    pres, subject, occupants, history = await alice['xep_0045'].join_muc_wait(room, 'Alice', timeout=10)
    check_self('alice', pres, {110, 201}, 'owner', 'moderator')
    # slixmpp lists the joining client among the occupants too.
    others = [p['from'].full for p in occupants if p['from'].resource != 'Alice']
    if others or history or subject['subject']:
        raise Step('alice: a new room with occupants %r, history %r, subject %r' % (others, history, subject['subject']))
    form = await alice['xep_0045'].get_room_config(room, timeout=10)
    values = form_values(form)
    for var in ('muc#roomconfig_roomname', 'muc#roomconfig_enablearchiving', 'muc#roomconfig_membersonly'):
        if var not in values:
            raise Step('alice: the owner form lacks %s: %r' % (var, sorted(values)))
    submit = alice['xep_0004'].make_form(ftype='submit')
    submit.add_field(var='FORM_TYPE', ftype='hidden', value='http://jabber.org/protocol/muc#roomconfig')
    submit.add_field(var='muc#roomconfig_roomname', value='Interop room')
    submit.add_field(var='muc#roomconfig_enablearchiving', ftype='boolean', value=True)
    await alice['xep_0045'].set_room_config(room, submit, timeout=10)
    say('created-ok')
    values = form_values(await alice['xep_0045'].get_room_config(room, timeout=10))
    if values.get('muc#roomconfig_roomname') != 'Interop room' or values.get('muc#roomconfig_enablearchiving') is not True:
        raise Step('alice: the form after configuring: %r' % values)
    info = await alice['xep_0030'].get_info(jid=room, timeout=10)
    if 'urn:xmpp:mam:2' not in info['disco_info']['features']:
        raise Step('alice: the room does not advertise urn:xmpp:mam:2: %r' % info['disco_info']['features'])
    say('configured-ok')

    # 2. bob joins; each sees the other.
    pres, subject, occupants, history = await bob['xep_0045'].join_muc_wait(room, 'Bob', timeout=10)
    # 170: the room archives its messages (§7.2.12).
    check_self('bob', pres, {110, 170}, 'none', 'participant')
    if [p['from'].resource for p in occupants if p['from'].resource != 'Bob'] != ['Alice']:
        raise Step('bob: occupants at join %r, want Alice' % [p['from'].full for p in occupants])
    await alice.until('Bob in the room', lambda: alice.nicks() == ['Alice', 'Bob'])
    await bob.until('Alice in the room', lambda: bob.nicks() == ['Alice', 'Bob'])
    say('joined-ok')

    # 3. Groupchat both ways: each gets both, once, with the ids.
    texts = {'Alice': 'hello from alice', 'Bob': 'hello from bob'}
    alice.send_message(mto=room, mbody=texts['Alice'], mtype='groupchat')
    await alice.until('her own message', lambda: texts['Alice'] in {m[1] for m in alice.messages})
    bob.send_message(mto=room, mbody=texts['Bob'], mtype='groupchat')
    for c in (alice, bob):
        await c.until('both messages', lambda c=c: set(texts.values()) <= {m[1] for m in c.messages})
        await c.room_sync()  # a duplicate would be here by now
    copies = {}
    for c in (alice, bob):
        for nick, body in texts.items():
            got = [m for m in c.messages if m[1] == body]
            if len(got) != 1 or got[0][0] != nick:
                raise Step('%s: copies of %r: %r, want one from %s' % (c.name, body, got, nick))
            _, _, oid, sid, by = got[0]
            if not oid or not sid or by != room.bare:
                raise Step('%s: %r without an occupant id or the room\'s stanza id: %r' % (c.name, body, got[0]))
            copies.setdefault(nick, set()).add((oid, sid))
    for nick, ids in copies.items():
        if len(ids) != 1:
            raise Step('%s\'s message reached alice and bob with different ids: %r' % (nick, ids))
    if copies['Alice'] == copies['Bob']:
        raise Step('alice and bob have the same ids: %r' % copies)
    say('groupchat-ok')

    # 4. alice changes the subject; bob sees it.
    alice['xep_0045'].set_subject(room, 'Interop works')
    for c in (bob, alice):
        await c.until('the new subject', lambda c=c: c.subjects and c.subjects[-1] == ('Alice', 'Interop works'))
    say('subject-ok')

    # 5. carol joins late: both messages as discussion history, in order,
    # delayed by the room.
    pres, subject, occupants, history = await carol['xep_0045'].join_muc_wait(room, 'Carol', timeout=10)
    check_self('carol', pres, {110, 170}, 'none', 'participant')
    got = [(m['from'].resource, m['body']) for m in history]
    if got != [('Alice', texts['Alice']), ('Bob', texts['Bob'])]:
        raise Step('carol: history %r, want alice\'s then bob\'s message' % got)
    if subject['subject'] != 'Interop works':
        raise Step('carol: subject %r after the history' % subject['subject'])
    await alice.until('Carol in the room', lambda: alice.nicks() == ['Alice', 'Bob', 'Carol'])
    say('history-ok')

    # 6. bob becomes Robert: 303 from Bob, then Robert.
    bob.send_presence(pto=room.bare + '/Robert')
    await alice.until('Bob leaving with 303', lambda: any(t == 'unavailable' and n == 'Bob' and 303 in c
                                                          for t, n, c in alice.presences))
    await alice.until('Robert in the room', lambda: alice.nicks() == ['Alice', 'Carol', 'Robert'])
    await bob.until('his own 303 and 110', lambda: any(t == 'unavailable' and n == 'Bob' and {303, 110} <= c
                                                       for t, n, c in bob.presences))
    say('nick-ok')

    # 7. alice kicks carol (307), carol comes back, alice bans her (301),
    # and carol may no longer enter (forbidden).
    await alice['xep_0045'].set_role(room, 'Carol', 'none', reason='Interop kick', timeout=10)
    await carol.until('her kick', lambda: any(t == 'unavailable' and n == 'Carol' and {307, 110} <= c
                                              for t, n, c in carol.presences))
    await alice.until('Carol kicked', lambda: 'Carol' not in alice.nicks())
    say('kick-ok')
    await carol['xep_0045'].join_muc_wait(room, 'Carol', timeout=10)
    await alice.until('Carol back', lambda: 'Carol' in alice.nicks())
    carol.presences.clear()
    await alice['xep_0045'].set_affiliation(room, 'outcast', jid=JID(carol.boundjid.bare), reason='Interop ban', timeout=10)
    await carol.until('her ban', lambda: any(t == 'unavailable' and n == 'Carol' and {301, 110} <= c
                                             for t, n, c in carol.presences))
    await alice.until('Carol banned', lambda: 'Carol' not in alice.nicks())
    try:
        await carol['xep_0045'].join_muc_wait(room, 'Carol', timeout=10)
        raise Step('carol: joined after her ban')
    except slixmpp.exceptions.PresenceError as e:
        if e.condition != 'forbidden':
            raise Step('carol: join after her ban refused with %s, want forbidden' % e.condition)
    say('ban-ok')

    # 8. The room archive: both messages from their occupant JIDs; with
    # alice's occupant JID, hers alone.
    def bodies(iq):
        out = []
        for m in iq['mam']['results']:
            fwd = m['mam_result']['forwarded']['stanza']
            out.append((fwd['from'].resource, fwd['body']))
        return out
    got = bodies(await bob['xep_0313'].retrieve(jid=room, timeout=10))
    if got != [('Alice', texts['Alice']), ('Bob', texts['Bob'])]:
        raise Step('bob: room archive %r, want both messages' % got)
    got = bodies(await bob['xep_0313'].retrieve(jid=room, with_jid=JID(room.bare + '/Alice'), timeout=10))
    if got != [('Alice', texts['Alice'])]:
        raise Step('bob: room archive with Alice %r, want hers alone' % got)
    say('archive-ok')

    # 9. bob leaves, alice sees him go; then she leaves too.
    bob['xep_0045'].leave_muc(room, 'Robert')
    await alice.until('Robert gone', lambda: alice.nicks() == ['Alice'])
    alice['xep_0045'].leave_muc(room, 'Alice')
    await alice.room_sync()
    say('left-ok')

    return await disconnect(alice, bob, carol)


def main():
    parse_and_run(arg_parser(__doc__, alice='JID:PASSWORD', bob='JID:PASSWORD', carol='JID:PASSWORD',
                             room='bare JID of the room to create'), run)


if __name__ == '__main__':
    main()
