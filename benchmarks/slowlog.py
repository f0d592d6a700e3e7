"""Redis commands slower than 2 ms (issue 15's goal) during the speed suite, from SLOWLOG.

`start` sets the threshold and empties the log once redis-server is up; `read` lists what
was logged: every command that took longer, by name, with the slowest's arguments cut short.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import redis

import connectors.store

# EVALSHA entries named by the engine's script they ran (connectors/store/*.lua)
SCRIPTS = {
    hashlib.sha1(p.read_bytes()).hexdigest(): p.stem
    for p in Path(connectors.store.__file__).parent.glob("*.lua")
}

LIMIT_MS = 2.0
KEEP = 1024  # entries Redis keeps; a run that logs more than this says "at least"


def start(url: str) -> None:
    r = redis.Redis.from_url(url)
    r.config_set("slowlog-log-slower-than", int(LIMIT_MS * 1000))
    r.config_set("slowlog-max-len", KEEP)
    r.slowlog_reset()
    r.close()


def read(url: str) -> dict[str, Any]:
    r = redis.Redis.from_url(url)
    entries = r.slowlog_get(KEEP)
    total = r.slowlog_len()
    r.close()

    def name(e: dict[str, Any]) -> str:
        command = e["command"]
        words = command.split() if isinstance(command, bytes) else str(command).split()
        first = words[0].decode() if words and isinstance(words[0], bytes) else (words[0] if words else "?")
        if first.upper() == "EVALSHA" and len(words) > 1:
            sha = words[1].decode() if isinstance(words[1], bytes) else str(words[1])
            return f"EVALSHA {SCRIPTS.get(sha, sha[:8])}"
        return first.upper()

    worst = sorted(entries, key=lambda e: -e["duration"])[:5]
    return {
        "limit_ms": LIMIT_MS,
        "over": total,
        "by_command": dict(Counter(name(e) for e in entries)),
        "slowest": [
            {"ms": round(e["duration"] / 1000, 2), "command": (e["command"][:120]).decode("utf-8", "replace")
             if isinstance(e["command"], bytes) else str(e["command"])[:120]}
            for e in worst
        ],
    }
