"""Shared scaffolding of the slixmpp interop scripts: output, the failure
type, the common command line, TLS trust, the ready/gone futures of a
client, and running one scenario with a deadline and a clean exit code."""

import argparse
import asyncio
import logging
import ssl
import sys


def say(*args):
    print(*args, flush=True)


class Step(Exception):
    """A check failed; the message says which."""


class Waiting:
    """Mixin for a slixmpp client that sets self.changed (an asyncio.Event)
    at every stanza it handles and has a self.name for messages."""

    async def until(self, what, cond, timeout=15):
        """Wait until cond() holds, re-checking at every stanza."""
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while not cond():
            left = end - loop.time()
            if left <= 0:
                raise Step('%s: %s: not seen within %ss' % (self.name, what, timeout))
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        say(self.name, 'seen', what)

    async def sync(self):
        """Return once the server has processed what this client sent."""
        await self['xep_0199'].ping(jid=self.boundjid.domain, timeout=10)


def trust(client, cafile):
    """Makes client trust the PEM certificate cafile; without one, the
    server's certificate is not verified."""
    if cafile:
        client.ca_certs = cafile
    else:
        client.ssl_context.check_hostname = False
        client.ssl_context.verify_mode = ssl.CERT_NONE


def lifecycle(client, gone=True):
    """Gives client the future ready (its session is up; a failure nobody
    awaited does not make asyncio complain) and, with gone, the future gone
    (it disconnected), for the client's event handlers to resolve."""
    loop = asyncio.get_event_loop()
    client.ready = loop.create_future()
    client.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
    if gone:
        client.gone = loop.create_future()


def dial(client, addr):
    """Connects client to addr (host:port) with STARTTLS."""
    host, port = addr.rsplit(':', 1)
    client.connect((host, int(port)), force_starttls=True)


def start(client_class, name, spec, args, resource=None, **kwargs):
    """Makes client_class(name, jid, password, args.cafile, **kwargs) for
    the account spec (JID:PASSWORD; the JID with /resource when given) and
    dials args.addr with it."""
    jid, password = spec.split(':', 1)
    if resource:
        jid += '/' + resource
    c = client_class(name, jid, password, args.cafile, **kwargs)
    dial(c, args.addr)
    return c


async def disconnect(*clients):
    """Disconnects the clients and waits until those with a gone future
    (see lifecycle) are gone. Returns True, the result of a run that got
    this far."""
    for c in clients:
        c.disconnect()
    await asyncio.gather(*(c.gone for c in clients if hasattr(c, 'gone')))
    return True


def arg_parser(doc, addr_help='host:port of the STARTTLS listener', **accounts):
    """An argument parser described by doc's first line, with --addr,
    --cafile and, for each keyword of accounts, a required option of that
    name with the value as its help; parse_and_run adds --timeout and
    --debug."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument('--addr', required=True, help=addr_help)
    p.add_argument('--cafile', help='PEM certificate to trust; without it the certificate is not verified')
    for name, help in accounts.items():
        p.add_argument('--' + name, required=True, help=help)
    return p


def parse_and_run(p, run):
    """Adds --timeout and --debug to the parser p, parses the command line
    and runs run with run_main."""
    p.add_argument('--timeout', type=float, default=30, help='seconds for the whole run')
    p.add_argument('--debug', action='store_true', help='slixmpp debug log (with the XML) on stderr')
    run_main(p.parse_args(), run)


def run_main(args, run):
    """Runs run(args) within args.timeout seconds and exits 0 only if it
    returned True; args.debug turns on slixmpp's XML log on stderr."""
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s', stream=sys.stderr)
    loop = asyncio.get_event_loop()
    try:
        ok = loop.run_until_complete(asyncio.wait_for(run(args), args.timeout))
    except asyncio.TimeoutError:
        say('TIMEOUT after', args.timeout, 's')
        ok = False
    except Step as e:
        say('FAILED', str(e))
        ok = False
    except Exception as e:  # noqa: BLE001
        say('FAILED', repr(e))
        ok = False
    # Let slixmpp's background tasks end quietly.
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in pending:
        t.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    say('result', 'ok' if ok else 'FAIL')
    sys.exit(0 if ok else 1)
