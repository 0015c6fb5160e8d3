"""Shared scaffolding of the slixmpp interop scripts: output, the failure
type, and running one scenario with a deadline and a clean exit code."""

import asyncio
import logging
import sys


def say(*args):
    print(*args, flush=True)


class Step(Exception):
    """A check failed; the message says which."""


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
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in pending:
        t.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    say('result', 'ok' if ok else 'FAIL')
    sys.exit(0 if ok else 1)
