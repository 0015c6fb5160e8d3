#!/usr/bin/python3
"""Three nbxmpp (Gajim's XMPP library) clients use a multi-user chat room
(XEP-0045), and its archive (XEP-0313) when the room has one.

alice, bob and carol log in, each an nbxmpp Client on one GLib main loop,
trusting exactly the certificate in --cafile the way Gajim does once the
user has accepted it. The MUC stanzas are nbxmpp Protocol objects built
from their XML and sent with Client.send_stanza; what comes back is read
with nbxmpp's accessors:

  1. alice joins a room that does not exist: created (201), herself (110),
     owner and moderator; she asks for the configuration form (muc#owner)
     and submits it with a room name, muc#roomconfig_persistentroom=1 and,
     if the form has the field, muc#roomconfig_enablearchiving=1; the
     room's disco#info then shows it persistent, with its name;
  2. bob joins (110, no 201); alice sees him arrive;
  3. alice and bob each send a groupchat message; each gets both, from the
     sender's occupant JID;
  4. carol joins late: she receives both messages as discussion history,
     each with a XEP-0203 delay from the room;
  5. bob changes his nick to Robert: alice sees Bob leave with 303 and the
     new nick, then Robert arrive; bob gets 303 and 110;
  6. alice kicks carol (role none): carol gets 307 with 110, alice sees
     carol go with 307; carol joins again;
  7. alice bans carol (affiliation outcast): carol gets 301 with 110,
     alice sees carol go with 301, the outcast list holds carol's JID, and
     carol's next join is refused with forbidden;
  8. if the room's disco#info lists urn:xmpp:mam:2, alice queries the room
     archive (MAM to the room JID) and gets both groupchat messages (as
     nbxmpp hands them over, unwrapped, with the result's data in
     properties.mam: query id, the room as archive), then the answer with
     <fin/>; if the room does not list the feature, this step alone is
     skipped, and the output says so ("archive-skipped");
  9. everyone leaves and logs out.

Every observation is printed as one line on stdout, so that a failing run
explains itself. Exit status: 0 only if all of it happened (step 8 either
done or skipped because the room has no archive), 1 on any failure, 2 on a
bad command line.

Run it with /usr/bin/python3 (Debian's python3-nbxmpp).
"""

import argparse
import logging
import sys
from xml.sax.saxutils import quoteattr, escape

import gi
gi.require_version('Gio', '2.0')
gi.require_version('GLib', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

from nbxmpp.client import Client  # noqa: E402
from nbxmpp.const import ConnectionProtocol, ConnectionType  # noqa: E402
from nbxmpp.namespaces import Namespace  # noqa: E402
from nbxmpp.protocol import JID, Iq, Message, Presence  # noqa: E402
from nbxmpp.simplexml import Node  # noqa: E402
from nbxmpp.structs import StanzaHandler  # noqa: E402


def say(*args):
    print(*args, flush=True)


class Step(Exception):
    """A check failed; the message says which."""


def stanza(cls, xml):
    """An nbxmpp stanza of class cls from its XML (in jabber:client)."""
    return cls(node=Node(node=xml))


def muc_user(st):
    return st.getTag('x', namespace=Namespace.MUC_USER)


def codes(st):
    x = muc_user(st)
    return {s.getAttr('code') for s in x.getTags('status')} if x is not None else set()


def item(st):
    x = muc_user(st)
    it = x.getTag('item') if x is not None else None
    return it.getAttrs() if it is not None else {}


def ptype(st):
    return st.getType() or 'available'


class Wait:
    """What the scenario waits for: cond() returns something true once it
    has happened, and that is what the yield returns."""

    def __init__(self, what, cond, timeout=15):
        self.what, self.cond, self.timeout = what, cond, timeout


class Account:
    def __init__(self, run, name, spec, args):
        jid_s, password = spec.split(':', 1)
        jid = JID.from_string(jid_s)
        self.run = run
        self.name = name
        self.bare = str(jid)
        self.connected = False
        self.gone = False
        self.got = []  # message and presence stanzas, in order
        self.mam = []  # (MAMData, inner message) of MAM results, unwrapped by nbxmpp
        self.answers = {}  # iq id -> answer
        c = Client(log_context=name)
        c.set_domain(jid.domain)
        c.set_username(jid.localpart)
        c.set_resource('nbxmpp')
        c.set_password(password)
        c.set_custom_host(args.addr, ConnectionProtocol.TCP, ConnectionType.DIRECT_TLS)
        if args.cafile:
            c.set_accepted_certificates([Gio.TlsCertificate.new_from_file(args.cafile)])
        else:
            c.set_ignore_tls_errors(True)
        c.set_sm_disabled(True)
        c.subscribe('connected', self.on_connected)
        c.subscribe('disconnected', self.on_disconnected)
        c.subscribe('connection-failed', self.on_connection_failed)
        # Priority 1: before nbxmpp's own modules, which may consume some.
        c.register_handler(StanzaHandler(name='message', callback=self.on_stanza, priority=1))
        c.register_handler(StanzaHandler(name='presence', callback=self.on_stanza, priority=1))
        self.client = c

    def on_connected(self, client, _signal):
        say(self.name, 'connected', 'jid=' + str(client.get_bound_jid()),
            'connection=' + client.current_connection_type.value)
        client.send_stanza(Presence())
        self.connected = True
        self.run.poke()

    def on_disconnected(self, client, _signal):
        say(self.name, 'disconnected', 'error=' + repr(client.get_error()))
        self.gone = True
        if not self.run.done:
            self.run.finish(False, self.name + ' disconnected before the end')
        self.run.maybe_quit()

    def on_connection_failed(self, client, _signal):
        say(self.name, 'connection-failed', 'error=' + repr(client.get_error()))
        self.gone = True
        self.run.finish(False, self.name + ': connection failed')
        self.run.maybe_quit()

    def on_stanza(self, _client, st, properties):
        if st.getName() == 'presence':
            say(self.name, 'presence', 'type=' + ptype(st), 'from=' + str(st.getFrom()),
                'codes=' + ','.join(sorted(codes(st))),
                'item=' + ','.join('%s:%s' % kv for kv in sorted(item(st).items())),
                'error=' + str(st.getError()))
        else:
            delay = st.getTag('delay', namespace=Namespace.DELAY2)
            # nbxmpp unwraps a MAM result itself: the handler gets the
            # archived message, and the result's data as properties.mam.
            mam = getattr(properties, 'mam', None)
            say(self.name, 'message', 'type=' + str(st.getType()), 'from=' + str(st.getFrom()),
                'body=' + repr(st.getBody()),
                'delay=' + ('from:' + str(delay.getAttr('from')) if delay is not None else '-'),
                'mam=' + ('query:%s,archive:%s,id:%s,stamp:%s' % (mam.query_id, mam.archive, mam.id, mam.timestamp)
                          if mam is not None else '-'))
            if mam is not None:
                self.mam.append((mam, st))
                self.run.poke()
                return
        self.got.append(st)
        self.run.poke()

    def on_answer(self, _client, st):
        say(self.name, 'iq', 'type=' + str(st.getType()), 'id=' + str(st.getID()),
            'from=' + str(st.getFrom()), 'error=' + str(st.getError()))
        self.answers[st.getID()] = st
        self.run.poke()

    def send(self, xml):
        self.client.send_stanza(_proto(xml))

    def iq(self, what, xml):
        """Send an iq; the Wait returns its answer (result or error)."""
        st = stanza(Iq, xml)
        id_ = self.client.send_stanza(st, callback=self.on_answer)
        return Wait(self.name + ': answer to ' + what, lambda: self.answers.get(id_))

    def find(self, pred):
        for st in self.got:
            if pred(st):
                return st
        return None

    def presence_from(self, occupant, want_type='available', need=()):
        def pred(st):
            return (st.getName() == 'presence' and str(st.getFrom()) == occupant and
                    ptype(st) == want_type and set(need) <= codes(st))
        return lambda: self.find(pred)


def _proto(xml):
    name = xml.lstrip()[1:].split(None, 1)[0].rstrip('/>')
    cls = {'message': Message, 'presence': Presence, 'iq': Iq}[name]
    return stanza(cls, xml)


def ok_iq(st, what):
    if st.getType() != 'result':
        raise Step('%s: %s (%s)' % (what, st.getType(), st.getError()))
    return st


def form_field_vars(x):
    return [f.getAttr('var') for f in x.getTags('field')] if x is not None else []


class Run:
    def __init__(self, args):
        self.args = args
        self.room = args.room
        self.loop = GLib.MainLoop()
        self.ok = False
        self.done = False
        self.busy = False
        self.wait = None
        self.wait_timer = None
        self.alice = Account(self, 'alice', args.alice, args)
        self.bob = Account(self, 'bob', args.bob, args)
        self.carol = Account(self, 'carol', args.carol, args)
        self.accounts = (self.alice, self.bob, self.carol)
        self.gen = self.scenario()
        self.archive = None

    def occ(self, nick):
        return self.room + '/' + nick

    def join(self, acc, nick):
        acc.send("<presence xmlns='jabber:client' to=%s><x xmlns='http://jabber.org/protocol/muc'/></presence>"
                 % quoteattr(self.occ(nick)))

    def groupchat(self, acc, id_, body):
        acc.send("<message xmlns='jabber:client' type='groupchat' id=%s to=%s><body>%s</body></message>"
                 % (quoteattr(id_), quoteattr(self.room), escape(body)))

    def scenario(self):
        alice, bob, carol = self.accounts
        room = self.room
        yield Wait('all logged in', lambda: all(a.connected for a in self.accounts))
        say('all-ready')

        # 1. alice creates the room and configures it with the owner form.
        self.join(alice, 'Alice')
        pres = yield Wait('alice: self-presence', alice.presence_from(self.occ('Alice'), need=('110',)))
        if codes(pres) != {'110', '201'}:
            raise Step('alice: self-presence codes %s, want 110 and 201' % sorted(codes(pres)))
        if (item(pres).get('affiliation'), item(pres).get('role')) != ('owner', 'moderator'):
            raise Step('alice: joined as %r, want owner/moderator' % item(pres))
        ans = yield alice.iq('config form request',
                             "<iq xmlns='jabber:client' type='get' to=%s>"
                             "<query xmlns='http://jabber.org/protocol/muc#owner'/></iq>" % quoteattr(room))
        ok_iq(ans, 'config form request')
        x = ans.getTag('query', namespace=Namespace.MUC_OWNER)
        x = x.getTag('x', namespace=Namespace.DATA) if x is not None else None
        fields = form_field_vars(x)
        say('config-form', 'fields=' + ','.join(v for v in fields if v))
        for need in ('FORM_TYPE', 'muc#roomconfig_roomname', 'muc#roomconfig_persistentroom'):
            if need not in fields:
                raise Step('config form lacks %s' % need)
        submit = [('FORM_TYPE', 'http://jabber.org/protocol/muc#roomconfig'),
                  ('muc#roomconfig_roomname', self.args.room_name),
                  ('muc#roomconfig_persistentroom', '1')]
        if 'muc#roomconfig_enablearchiving' in fields:
            submit.append(('muc#roomconfig_enablearchiving', '1'))
        form = ''.join("<field var=%s><value>%s</value></field>" % (quoteattr(k), escape(v)) for k, v in submit)
        ans = yield alice.iq('config form submit',
                             "<iq xmlns='jabber:client' type='set' to=%s>"
                             "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                             "<x xmlns='jabber:x:data' type='submit'>%s</x></query></iq>" % (quoteattr(room), form))
        ok_iq(ans, 'config form submit')
        ans = yield alice.iq('room disco#info',
                             "<iq xmlns='jabber:client' type='get' to=%s>"
                             "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>" % quoteattr(room))
        ok_iq(ans, 'room disco#info')
        q = ans.getTag('query', namespace=Namespace.DISCO_INFO)
        features = {f.getAttr('var') for f in q.getTags('feature')}
        names = [i.getAttr('name') for i in q.getTags('identity') if i.getAttr('category') == 'conference']
        self.archive = Namespace.MAM_2 in features
        say('room-info', 'name=' + repr(names), 'persistent=' + str('muc_persistent' in features),
            'mam=' + str(self.archive))
        if 'muc_persistent' not in features:
            raise Step('the room is not persistent after the submit: %s' % sorted(features))
        if names != [self.args.room_name]:
            raise Step('room identity names %r, want %r' % (names, self.args.room_name))
        say('created-ok')

        # 2. bob joins.
        self.join(bob, 'Bob')
        pres = yield Wait('bob: self-presence', bob.presence_from(self.occ('Bob'), need=('110',)))
        if '201' in codes(pres) or item(pres).get('role') != 'participant':
            raise Step('bob: self-presence %s %r' % (sorted(codes(pres)), item(pres)))
        yield Wait('bob: alice in the room', bob.presence_from(self.occ('Alice')))
        yield Wait('alice: bob arrives', alice.presence_from(self.occ('Bob')))
        say('joined-ok')

        # 3. groupchat both ways.
        texts = {'Alice': 'hello from alice (nbxmpp)', 'Bob': 'hello from bob (nbxmpp)'}
        self.groupchat(alice, 'm-alice', texts['Alice'])
        self.groupchat(bob, 'm-bob', texts['Bob'])
        for acc in (alice, bob):
            for nick, body in texts.items():
                yield Wait('%s: %s\'s message' % (acc.name, nick), lambda acc=acc, nick=nick, body=body: acc.find(
                    lambda st: st.getName() == 'message' and st.getType() == 'groupchat' and
                    str(st.getFrom()) == self.occ(nick) and st.getBody() == body))
        say('groupchat-ok')

        # 4. carol joins late and gets the discussion history, delayed.
        self.join(carol, 'Carol')
        yield Wait('carol: self-presence', carol.presence_from(self.occ('Carol'), need=('110',)))
        for nick, body in texts.items():
            st = yield Wait('carol: history of %s' % nick, lambda nick=nick, body=body: carol.find(
                lambda st: st.getName() == 'message' and st.getType() == 'groupchat' and
                str(st.getFrom()) == self.occ(nick) and st.getBody() == body))
            d = st.getTag('delay', namespace=Namespace.DELAY2)
            if d is None or not d.getAttr('stamp'):
                raise Step('carol: history message %r without a delay stamp: %s' % (body, st))
            if d.getAttr('from') not in (None, room):
                raise Step('carol: history delay from %r, want the room' % d.getAttr('from'))
        say('history-ok')

        # 5. bob becomes Robert.
        bob.send("<presence xmlns='jabber:client' to=%s/>" % quoteattr(self.occ('Robert')))
        st = yield Wait('alice: Bob leaves with 303', alice.presence_from(self.occ('Bob'), 'unavailable', ('303',)))
        if item(st).get('nick') != 'Robert':
            raise Step('alice: 303 with item %r, want nick Robert' % item(st))
        yield Wait('alice: Robert arrives', alice.presence_from(self.occ('Robert')))
        yield Wait('bob: own 303', bob.presence_from(self.occ('Bob'), 'unavailable', ('303', '110')))
        yield Wait('bob: in as Robert', bob.presence_from(self.occ('Robert'), need=('110',)))
        say('nick-ok')

        # 6. alice kicks carol; carol comes back.
        ans = yield alice.iq('kick', "<iq xmlns='jabber:client' type='set' to=%s>"
                             "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                             "<item nick='Carol' role='none'><reason>out you go</reason></item></query></iq>"
                             % quoteattr(room))
        ok_iq(ans, 'kick')
        yield Wait('carol: kicked (307, 110)', carol.presence_from(self.occ('Carol'), 'unavailable', ('307', '110')))
        yield Wait('alice: carol kicked (307)', alice.presence_from(self.occ('Carol'), 'unavailable', ('307',)))
        say('kick-ok')
        carol.got.clear()
        self.join(carol, 'Carol')
        yield Wait('carol: back in', carol.presence_from(self.occ('Carol'), need=('110',)))

        # 7. alice bans carol; carol cannot come back.
        ans = yield alice.iq('ban', "<iq xmlns='jabber:client' type='set' to=%s>"
                             "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                             "<item jid=%s affiliation='outcast'><reason>banned</reason></item></query></iq>"
                             % (quoteattr(room), quoteattr(carol.bare)))
        ok_iq(ans, 'ban')
        yield Wait('carol: banned (301, 110)', carol.presence_from(self.occ('Carol'), 'unavailable', ('301', '110')))
        yield Wait('alice: carol banned (301)', alice.presence_from(self.occ('Carol'), 'unavailable', ('301',)))
        ans = yield alice.iq('outcast list', "<iq xmlns='jabber:client' type='get' to=%s>"
                             "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                             "<item affiliation='outcast'/></query></iq>" % quoteattr(room))
        ok_iq(ans, 'outcast list')
        outcasts = [i.getAttr('jid') for i in ans.getTag('query').getTags('item')]
        if outcasts != [carol.bare]:
            raise Step('outcast list %r, want [%s]' % (outcasts, carol.bare))
        carol.got.clear()
        self.join(carol, 'Carol')
        st = yield Wait('carol: join refused', carol.presence_from(self.occ('Carol'), 'error'))
        if st.getError() != 'forbidden':
            raise Step('carol: banned join refused with %r, want forbidden' % st.getError())
        if carol.find(lambda s: s.getName() == 'presence' and ptype(s) == 'available'):
            raise Step('carol: a banned join got an available presence')
        say('ban-ok')

        # 8. the room archive, if the room has one.
        if not self.archive:
            say('archive-skipped', 'the room does not advertise', Namespace.MAM_2, 'in disco#info')
        else:
            ans = yield alice.iq('MAM query to the room',
                                 "<iq xmlns='jabber:client' type='set' to=%s>"
                                 "<query xmlns='urn:xmpp:mam:2' queryid='q1'/></iq>" % quoteattr(room))
            ok_iq(ans, 'MAM query to the room')
            fin = ans.getTag('fin', namespace=Namespace.MAM_2)
            if fin is None:
                raise Step('MAM answer without <fin/>: %s' % ans)
            # The results come before the answer, on the same stream.
            got = []
            for mam, m in alice.mam:
                if mam.query_id != 'q1':
                    continue
                if str(mam.archive) != room or mam.namespace != Namespace.MAM_2 or not mam.id:
                    raise Step('MAM result from archive %s (%s, id %r), want the room\'s' %
                               (mam.archive, mam.namespace, mam.id))
                got.append((str(m.getFrom()), m.getBody()))
            say('archive', 'results=' + repr(got), 'complete=' + str(fin.getAttr('complete')))
            for nick, body in texts.items():
                if (self.occ(nick), body) not in got:
                    raise Step('archive lacks %s\'s message %r' % (nick, body))
            say('archive-ok')

        # 9. leave and log out.
        bob.send("<presence xmlns='jabber:client' type='unavailable' to=%s/>" % quoteattr(self.occ('Robert')))
        yield Wait('alice: Robert leaves', alice.presence_from(self.occ('Robert'), 'unavailable'))
        alice.send("<presence xmlns='jabber:client' type='unavailable' to=%s/>" % quoteattr(self.occ('Alice')))
        yield Wait('alice: own leave', alice.presence_from(self.occ('Alice'), 'unavailable', ('110',)))
        say('left-ok')

    # --- driving the scenario from the GLib main loop ---

    def poke(self):
        """Re-check what the scenario waits for; advance it while it can."""
        if self.busy or self.done:
            return
        self.busy = True
        try:
            value = None
            if self.wait is not None:
                value = self.wait.cond()
                if not value:
                    return
                say('seen', self.wait.what)
            while True:
                if self.wait_timer is not None:
                    GLib.source_remove(self.wait_timer)
                    self.wait_timer = None
                self.wait = self.gen.send(value) if self.wait is not None else next(self.gen)
                value = self.wait.cond()
                if not value:
                    self.wait_timer = GLib.timeout_add(int(self.wait.timeout * 1000), self.on_wait_timeout)
                    return
                say('seen', self.wait.what)
        except StopIteration:
            self.finish(True)
        except Step as e:
            self.finish(False, str(e))
        except Exception as e:  # noqa: BLE001 - report whatever it was
            logging.exception('scenario')
            self.finish(False, repr(e))
        finally:
            self.busy = False

    def on_wait_timeout(self):
        self.wait_timer = None
        self.finish(False, '%s: not seen within %ss' % (self.wait.what, self.wait.timeout))
        return False

    def finish(self, ok, *why):
        if self.done:
            return
        self.done = True
        self.ok = ok
        say('finish', 'ok' if ok else 'FAIL', *why)
        for a in self.accounts:
            if a.client.state.name == 'ACTIVE' and not a.gone:
                a.client.disconnect()
            else:
                a.gone = True
        GLib.timeout_add(3000, self.loop.quit)  # whatever happens to the streams
        self.maybe_quit()

    def maybe_quit(self):
        if self.done and all(a.gone for a in self.accounts):
            self.loop.quit()

    def on_timeout(self):
        self.finish(False, 'TIMEOUT after %ss' % self.args.timeout)
        self.loop.quit()
        return False

    def run(self):
        GLib.timeout_add(int(self.args.timeout * 1000), self.on_timeout)
        for a in self.accounts:
            a.client.connect()
        self.loop.run()
        return self.ok


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--addr', required=True, help='host:port of the direct TLS (XEP-0368) listener')
    p.add_argument('--cafile', help='PEM certificate to accept; without it TLS errors are ignored')
    p.add_argument('--alice', required=True, help='JID:PASSWORD of the room owner')
    p.add_argument('--bob', required=True, help='JID:PASSWORD')
    p.add_argument('--carol', required=True, help='JID:PASSWORD of the late joiner, kicked and banned')
    p.add_argument('--room', required=True, help='bare JID of the room to create')
    p.add_argument('--room-name', default='nbxmpp interop', help='muc#roomconfig_roomname to set')
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
