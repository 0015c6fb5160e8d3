#!/usr/bin/python3
"""slixmpp runs the XEP-0401 invitation commands through its XEP-0050 plugin.

The admin lists the server's commands (disco#items of the commands node),
runs "Create account" with the plugin's command workflow (start_command,
the form, complete_command) for a reserved username and a roster
subscription, and runs "Invite user", which completes at once. A user who
is not an admin lists no command and is refused "Invite user".

Everything observed is printed as one line per event on stdout: the
invitation URIs as "uri create-account <uri>" and "uri invite <uri>".
Exit status: 0 on success, 1 on any failure, 2 on a bad command line.

Run it with /usr/bin/python3 (Debian's python3-slixmpp).
"""

import asyncio

import slixmpp
from slixmpp.exceptions import IqError

from slixrun import Step, arg_parser, disconnect, lifecycle, parse_and_run, say, start, trust  # noqa: E402

NODE_INVITE = 'urn:xmpp:invite#invite'
NODE_CREATE = 'urn:xmpp:invite#create-account'


class Client(slixmpp.ClientXMPP):
    def __init__(self, name, jid, password, cafile):
        super().__init__(jid, password)
        self.name = name
        for p in ('xep_0030', 'xep_0004', 'xep_0050', 'xep_0199'):
            self.register_plugin(p)
        trust(self, cafile)
        lifecycle(self, gone=False)
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('failed_auth', lambda s: say(self.name, 'auth-failed'))
        self.add_event_handler('connection_failed', self.on_failed)

    async def on_session_start(self, _event):
        say(self.name, 'session-start', self.boundjid.full)
        if not self.ready.done():
            self.ready.set_result(True)

    def on_failed(self, err):
        say(self.name, 'connection-failed', repr(err))
        if not self.ready.done():
            self.ready.set_exception(Step(self.name + ': connection failed'))


def form_value(form, var):
    for field in form.get_fields().values():
        if field['var'] == var:
            return field['value']
    return None


async def commands(c):
    res = await c['xep_0050'].get_commands(jid=c.boundjid.domain)
    nodes = [item[1] for item in res['disco_items']['items']]
    say(c.name, 'commands', ','.join(nodes) if nodes else '-')
    return nodes


async def create_account(c, username):
    loop = asyncio.get_event_loop()
    done = loop.create_future()

    def on_form(iq, session):
        form = iq['command']['form']
        fields = form.get_fields()
        say(c.name, 'create-account form', ','.join(sorted(fields)), 'status=' + iq['command']['status'])
        if 'username' not in fields:
            done.set_exception(Step('no username field'))
            return
        answer = c['xep_0004'].make_form(ftype='submit')
        answer.add_field(var='username', value=username)
        answer.add_field(var='roster-subscription', ftype='boolean', value=True)
        session['payload'] = answer
        session['next'] = on_result
        c['xep_0050'].complete_command(session)

    def on_result(iq, session):
        if iq['command']['status'] != 'completed':
            done.set_exception(Step('create-account not completed: ' + str(iq)))
            return
        done.set_result(form_value(iq['command']['form'], 'uri'))

    def on_error(iq, session):
        done.set_exception(Step('create-account error: ' + iq['error']['condition']))

    c['xep_0050'].start_command(c.boundjid.domain, NODE_CREATE, {'next': on_form, 'error': on_error})
    uri = await done
    say('uri', 'create-account', uri)


async def invite(c):
    iq = await c['xep_0050'].send_command(c.boundjid.domain, NODE_INVITE)
    if iq['command']['status'] != 'completed':
        raise Step('invite not completed: ' + str(iq))
    form = iq['command']['form']
    say('uri', 'invite', form_value(form, 'uri'))
    say(c.name, 'invite expire', form_value(form, 'expire'))


async def run(args):
    admin = start(Client, 'admin', args.admin, args)
    user = start(Client, 'user', args.user, args)
    await asyncio.gather(admin.ready, user.ready)

    nodes = await commands(admin)
    if NODE_INVITE not in nodes or NODE_CREATE not in nodes:
        raise Step('the admin lacks the invitation commands')
    await create_account(admin, args.username)
    await invite(admin)

    if await commands(user):
        raise Step('a user who is not an admin sees commands')
    try:
        await user['xep_0050'].send_command(user.boundjid.domain, NODE_INVITE)
        raise Step('a user ran Invite user')
    except IqError as e:
        say(user.name, 'invite refused', e.iq['error']['condition'])
        if e.iq['error']['condition'] != 'forbidden':
            raise Step('refused with ' + e.iq['error']['condition'])

    return await disconnect(admin, user)


def main():
    p = arg_parser(__doc__, admin='jid:password', user='jid:password')
    p.add_argument('--username', required=True)
    parse_and_run(p, run)


if __name__ == '__main__':
    main()
