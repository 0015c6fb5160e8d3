#!/usr/bin/python3
"""slixmpp uploads a file with XEP-0363 and another client downloads it.

Alice finds the upload service through service discovery (disco#items of
the server, disco#info of each item, the max-file-size form), and
xep_0363's upload_file asks for a slot and PUTs the file and sends the GET URL
to Bob in a message with a XEP-0066 out-of-band URL. Bob, another slixmpp
client, downloads it over HTTP (aiohttp) and checks the bytes, the type and
a range request. Then Alice asks for a slot larger than the maximum and
must get FileTooBig from the plugin without asking the service.

Everything observed is printed as one line per event on stdout. Exit
status: 0 on success, 1 on any failure, 2 on a bad command line.

Run it with /usr/bin/python3 (Debian's python3-slixmpp).
"""

import asyncio
import hashlib
import io
import os

import aiohttp
import slixmpp
from slixmpp.plugins.xep_0363 import FileTooBig

from slixrun import Step, arg_parser, disconnect, lifecycle, parse_and_run, say, start, trust  # noqa: E402


class Client(slixmpp.ClientXMPP):
    def __init__(self, name, jid, password, cafile):
        super().__init__(jid, password)
        self.name = name
        for p in ('xep_0030', 'xep_0004', 'xep_0066', 'xep_0199', 'xep_0363'):
            self.register_plugin(p)
        trust(self, cafile)
        lifecycle(self)
        self.messages = asyncio.Queue()
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('failed_auth', lambda s: say(self.name, 'auth-failed'))
        self.add_event_handler('disconnected', self.on_disconnected)
        self.add_event_handler('connection_failed', self.on_failed)
        self.add_event_handler('ssl_invalid_chain', self.on_failed)

    async def on_session_start(self, _event):
        say(self.name, 'session-start', self.boundjid.full)
        self.send_presence()
        await self['xep_0199'].ping(jid=self.boundjid.domain, timeout=10)
        if not self.ready.done():
            self.ready.set_result(True)

    def on_message(self, msg):
        if msg['type'] in ('chat', 'normal') and msg['body']:
            say(self.name, 'message', 'from=' + msg['from'].full, 'body=' + repr(msg['body']),
                'oob=' + repr(msg['oob']['url']))
            self.messages.put_nowait(msg)

    def on_disconnected(self, reason):
        if not self.gone.done():
            self.gone.set_result(True)
        if not self.ready.done():
            self.ready.set_exception(Step(self.name + ': disconnected before ready'))

    def on_failed(self, err):
        say(self.name, 'connection-failed', repr(err))
        if not self.ready.done():
            self.ready.set_exception(Step(self.name + ': connection failed'))


async def discover(c):
    """What xep_0363's find_upload_service does: disco#items of the server,
    disco#info of each item, the one with identity store/file and the
    feature, and max-file-size from its form. slixmpp 1.8.3's own version
    hands coroutines to asyncio.wait, which Python 3.11 refuses."""
    items = await c['xep_0030'].get_items(jid=c.boundjid.domain, timeout=10)
    for item in items['disco_items']['items']:
        info = await c['xep_0030'].get_info(jid=item[0], timeout=10)
        di = info['disco_info']
        if ('store', 'file') not in [(i[0], i[1]) for i in di['identities']] or \
                'urn:xmpp:http:upload:0' not in di['features']:
            continue
        for form in di.iterables:
            values = form['values']
            if values.get('FORM_TYPE') == ['urn:xmpp:http:upload:0']:
                c['xep_0363'].max_file_size = int(values['max-file-size'])
        c['xep_0363'].upload_service = info['from']
        say(c.name, 'found', str(info['from']))
        return
    raise Step('no upload service in disco#items of ' + c.boundjid.domain)


async def run(args):
    alice = start(Client, 'alice', args.alice, args, 'up')
    bob = start(Client, 'bob', args.bob, args, 'down')
    await asyncio.gather(alice.ready, bob.ready)

    await discover(alice)
    data = os.urandom(args.size)
    digest = hashlib.sha256(data).hexdigest()
    name = 'très cool photo.png'
    url = await alice['xep_0363'].upload_file(name, size=len(data), content_type='image/png',
                                              input_file=io.BytesIO(data), timeout=10)
    say('alice', 'uploaded', url, 'service=' + str(alice['xep_0363'].upload_service),
        'max=' + str(alice['xep_0363'].max_file_size))
    if alice['xep_0363'].max_file_size != args.max:
        raise Step('max-file-size from disco is %s, want %s' % (alice['xep_0363'].max_file_size, args.max))

    msg = alice.make_message(mto=bob.boundjid.bare, mbody=url, mtype='chat')
    msg['oob']['url'] = url
    msg.send()
    got = await asyncio.wait_for(bob.messages.get(), 10)
    link = got['oob']['url'] or got['body']

    async with aiohttp.ClientSession() as s:
        async with s.get(link) as r:
            body = await r.read()
            say('bob', 'GET', r.status, r.headers.get('Content-Type'), len(body),
                r.headers.get('Content-Disposition'))
            if r.status != 200 or hashlib.sha256(body).hexdigest() != digest:
                raise Step('download: status %d, %d bytes, not the uploaded file' % (r.status, len(body)))
            if r.headers.get('Content-Type') != 'image/png':
                raise Step('download: Content-Type %r' % r.headers.get('Content-Type'))
        async with s.get(link, headers={'Range': 'bytes=100-199'}) as r:
            part = await r.read()
            say('bob', 'GET range', r.status, r.headers.get('Content-Range'), len(part))
            if r.status != 206 or part != data[100:200]:
                raise Step('range: status %d, %d bytes' % (r.status, len(part)))
    say('download-ok')

    try:
        await alice['xep_0363'].upload_file('big.bin', size=args.max + 1, input_file=io.BytesIO(b''), timeout=10)
        raise Step('a file over the maximum was accepted')
    except FileTooBig:
        say('alice', 'file-too-big refused')

    return await disconnect(alice, bob)


def main():
    p = arg_parser(__doc__, alice='JID:PASSWORD of the uploader', bob='JID:PASSWORD of the downloader')
    p.add_argument('--size', type=int, default=200000, help='bytes to upload')
    p.add_argument('--max', type=int, required=True, help='the max-file-size the service must advertise')
    parse_and_run(p, run)


if __name__ == '__main__':
    main()
