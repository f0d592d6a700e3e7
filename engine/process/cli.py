"""`cadencia run`: the API and the dataflow on one machine, from one TOML file.

With no --config it runs the embedded default: a private redis-server, a demo portfolio,
decisions and simulated outcomes, and a report of what the engine decided and learned.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import shutil
import signal
import sys

from engine.process.supervisor import Plan, Supervisor
from engine.settings import DEFAULT_CONFIG, ConfigError, load


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cadencia", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the API and the dataflow")
    run.add_argument("--config", help="TOML configuration (default: the embedded demo config)")
    run.add_argument(
        "--redis-url",
        default=os.environ.get("CADENCIA_REDIS_URL"),
        help="an existing Redis (default: [redis] url, else a private redis-server)",
    )
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--workers", type=int, help="API worker processes")
    run.add_argument(
        "--data-dir",
        help="the embedded Redis's data and the dataflow's recovery store (default: [server] data_dir)",
    )
    run.add_argument("--flow-state-dir", help="bytewax recovery store (default: <data dir>/flow)")
    demo = run.add_mutually_exclusive_group()
    demo.add_argument(
        "--demo",
        action="store_true",
        default=None,
        help="load the demo portfolio and simulate outcomes (default without --config)",
    )
    demo.add_argument("--no-demo", dest="demo", action="store_false")
    run.add_argument("--demo-days", type=int, default=10, help="simulated days of the demo")
    run.add_argument("--demo-accounts", type=int, default=300)
    run.add_argument("--once", action="store_true", help="stop after the demo instead of serving")
    run.add_argument(
        "--insecure",
        action="store_true",
        help="listen on a non-loopback address with no [auth.tokens] (anyone who reaches it may call it)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = args.config or DEFAULT_CONFIG
    try:
        settings = load(config)
    except ConfigError as exc:
        print(f"cadencia: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings.server.host
    if not settings.auth_enabled and not is_loopback(host) and not args.insecure:
        print(
            f"cadencia: refusing to listen on {host} with authentication off: configure "
            "[auth.tokens], listen on 127.0.0.1, or pass --insecure",
            file=sys.stderr,
        )
        return 2
    demo = args.demo if args.demo is not None else args.config is None
    data_dir = args.data_dir or settings.server.data_dir
    if demo:  # the demo starts over every run: a world of its own, in a directory of its own
        data_dir = os.path.join(data_dir, "demo")
        shutil.rmtree(data_dir, ignore_errors=True)
    plan = Plan(
        config=os.path.abspath(config),
        redis_url=args.redis_url or settings.redis.url,
        host=host,
        port=args.port if args.port is not None else settings.server.port,
        workers=args.workers or settings.server.workers,
        flow_state_dir=args.flow_state_dir or settings.flow.state_dir,
        archive_dir=settings.flow.archive_dir,
        data_dir=data_dir,
    )
    # Ctrl-C (SIGINT) stops the engine even when it was started in the background by a
    # non-interactive shell, which hands its children SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sup = Supervisor(plan)
    try:
        sup.start()
        if demo:
            from engine.process.demo import run_demo

            run_demo(sup.base_url, days=args.demo_days, accounts=args.demo_accounts)
        if args.once:
            return 0
        print(
            f"cadencia is serving on {sup.base_url} (metrics at {sup.base_url}/metrics); Ctrl-C stops it",
            flush=True,
        )
        return sup.watch()
    finally:
        sup.stop()


if __name__ == "__main__":
    sys.exit(main())
