"""Clicks: the Redis stream the redirect appends to, its flush into the click table, and finding
one click wherever it is (already flushed, or still in the stream).

The stream is read through a consumer group. A batch is inserted with ON CONFLICT (click_id)
DO NOTHING and only then acknowledged, so a worker that dies mid-batch loses nothing (another
worker claims its pending entries with XAUTOCLAIM) and a batch delivered twice is stored once:
the click_id is derived from the stream entry id, so a replay produces the same ids.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import and_, exists, select, text
from sqlalchemy.orm import Session

from affiliates.tracking_models import SUB_COLUMNS, Click, ClickRollup, OfferClickRollup
from affiliates.upserts import insert_for
from leadmarket.db import transaction
from leadmarket.errors import ServiceUnavailable
from leadmarket.settings import Settings

log = logging.getLogger("leadmarket.clicks")

GROUP = "click-flush"
# A safety cap on the stream's memory: entries beyond it are trimmed even if unflushed, so it is
# set far above any backlog a working flusher leaves (it also trims what it has stored).
STREAM_MAXLEN = 5_000_000
CLAIM_IDLE_MS = 60_000          # pending this long: its consumer is presumed dead
UNIQUE_TTL_SECONDS = 2 * 86400  # a visitor key outlives the UTC day it counts


def stream_key(settings: Settings) -> str:
    return settings.redis_prefix + "clicks"


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


# ---------------------------------------------------------------- click ids and stream entries


def click_id_for(entry_id: str, nonce: str) -> str:
    """`<ms>-<seq>-<nonce>`: the stream entry's id (so a pending click is found with one XRANGE and
    a replay gives the same id) and a random nonce (so ids cannot be guessed)."""
    return f"{entry_id}-{nonce}"


def parse_click_id(click_id: str) -> tuple[int, int, str] | None:
    parts = click_id.split("-")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or not parts[2]:
        return None
    return int(parts[0]), int(parts[1]), parts[2]


def clicked_at_of(click_id: str) -> datetime | None:
    parsed = parse_click_id(click_id)
    return datetime.fromtimestamp(parsed[0] / 1000, UTC) if parsed else None


def entry_fields(*, nonce: str, link_id: int, affiliate_id: int, offer_id: int, currency: str,
                 sub_ids: tuple[str | None, ...], ip: str | None, user_agent: str | None, referrer: str | None,
                 country: str | None, cost_minor: int | None) -> dict[str, str | int]:
    """A click as a stream entry: short field names, absent values left out."""
    fields: dict[str, str | int] = {"n": nonce, "l": link_id, "a": affiliate_id, "o": offer_id, "cu": currency}
    for i, value in enumerate(sub_ids, 1):
        if value:
            fields[f"s{i}"] = value
    for name, value in (("ip", ip), ("ua", user_agent), ("rf", referrer), ("cc", country), ("c", cost_minor)):
        if value is not None and value != "":
            fields[name] = value
    return fields


def row_from_entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> dict[str, Any]:
    """The click table row of a stream entry (without `is_unique`, which the flush decides)."""
    entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    text = {k.decode(): v.decode() for k, v in fields.items()}
    ms = int(entry.split("-")[0])
    return {
        "click_id": click_id_for(entry, text["n"]), "link_id": int(text["l"]), "affiliate_id": int(text["a"]),
        "offer_id": int(text["o"]), "currency": text["cu"],
        **{key: text.get(f"s{i}") for i, key in enumerate(SUB_COLUMNS, 1)},
        "ip": text.get("ip"), "user_agent": text.get("ua"), "referrer": text.get("rf"), "country": text.get("cc"),
        "cost_minor": int(text["c"]) if "c" in text else None,
        "clicked_at": datetime.fromtimestamp(ms / 1000, UTC),
    }


def visitor_digest(ip: str | None, user_agent: str | None) -> str:
    return hashlib.blake2b(f"{ip or ''}\0{user_agent or ''}".encode(), digest_size=8).hexdigest()


# ---------------------------------------------------------------- storing


def store_clicks(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert clicks (each with `is_unique` decided) and add the new ones to the daily rollup.

    Runs inside the caller's transaction: the rollup counts exactly the rows this insert added,
    so a replayed batch adds nothing twice.
    """
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql" and len(rows) > 1:
        inserted = _copy_in(session, rows)
    else:
        table = Click.__table__
        stmt = insert_for(session, table).on_conflict_do_nothing(index_elements=["click_id", "clicked_at"]).returning(table.c.click_id)
        inserted = set(session.connection().execute(stmt, rows).scalars())
    totals: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0, 0, ""])
    for row in rows:
        if row["click_id"] not in inserted:
            continue
        key = (row["clicked_at"].date(), row["affiliate_id"], row["offer_id"],
               *(row[k] or "" for k in SUB_COLUMNS), row["country"] or "")
        total = totals[key]
        total[0] += 1
        total[1] += 1 if row["is_unique"] else 0
        total[2] += row["cost_minor"] or 0
        total[3] = row["currency"]
    if totals:
        coarse: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0, 0, ""])
        for key, total in totals.items():
            twin = coarse[(key[0], key[1], key[2], key[-1])]
            twin[0], twin[1], twin[2], twin[3] = twin[0] + total[0], twin[1] + total[1], twin[2] + total[2], total[3]
        _add_to_rollup(session, ClickRollup, ("day", "affiliate_id", "offer_id", *SUB_COLUMNS, "country"), totals)
        _add_to_rollup(session, OfferClickRollup, ("day", "affiliate_id", "offer_id", "country"), coarse)
    return len(inserted)


COPY_COLUMNS = ("click_id", "link_id", "affiliate_id", "offer_id", *SUB_COLUMNS, "ip", "user_agent", "referrer",
                "country", "cost_minor", "currency", "is_unique", "clicked_at")
_STAGE = text(f"CREATE TEMPORARY TABLE IF NOT EXISTS click_stage ON COMMIT DELETE ROWS AS "
              f"SELECT {', '.join(COPY_COLUMNS)} FROM click WITH NO DATA")
_FROM_STAGE = text(f"""
INSERT INTO click ({", ".join(COPY_COLUMNS)}) SELECT {", ".join(COPY_COLUMNS)} FROM click_stage
ON CONFLICT (click_id, clicked_at) DO NOTHING RETURNING click_id""")


def _copy_in(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """PostgreSQL: COPY the batch into a session-local staging table, then one INSERT ... SELECT
    ... ON CONFLICT DO NOTHING. A short, constant statement instead of a 20,000-parameter one
    (parsing that cost more than the insert); the staging rows vanish at commit."""
    connection = session.connection()
    connection.execute(_STAGE)
    cursor = connection.connection.driver_connection.cursor()  # psycopg 3, inside our transaction
    with cursor.copy(f"COPY click_stage ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(tuple(row[c] for c in COPY_COLUMNS))
    return set(connection.execute(_FROM_STAGE).scalars())


def _add_to_rollup(session: Session, model: Any, names: tuple[str, ...],
                   totals: dict[tuple[Any, ...], list[Any]]) -> None:
    # Sorted, so two flushers touching the same rollup rows lock them in the same order.
    values = [{**dict(zip(names, key)), "clicks": t[0], "unique_clicks": t[1], "cost_minor": t[2], "currency": t[3]}
              for key, t in sorted(totals.items())]
    table = model.__table__
    upsert = insert_for(session, table)
    session.connection().execute(upsert.on_conflict_do_update(index_elements=list(names), set_={
        "clicks": table.c.clicks + upsert.excluded.clicks,
        "unique_clicks": table.c.unique_clicks + upsert.excluded.unique_clicks,
        "cost_minor": table.c.cost_minor + upsert.excluded.cost_minor}), values)


def store_click_now(session: Session, row: dict[str, Any]) -> None:
    """The embedded default's path (no Redis): one click written and counted in its own transaction."""
    day_start = datetime.combine(row["clicked_at"].date(), datetime.min.time(), UTC)
    with transaction(session):
        seen = session.execute(select(exists().where(and_(
            Click.link_id == row["link_id"], Click.clicked_at >= day_start,
            Click.ip.is_(None) if row["ip"] is None else Click.ip == row["ip"],
            Click.user_agent.is_(None) if row["user_agent"] is None else Click.user_agent == row["user_agent"])))
        ).scalar_one()
        store_clicks(session, [{**row, "is_unique": not seen}])


def _mark_unique(client: redis.Redis, settings: Settings, rows: list[dict[str, Any]]) -> None:
    """First visit of (IP, user agent) through a link on a UTC day. The key holds the click_id that
    claimed it, so a redelivered click is still recognised as the unique one it was."""
    pipe = client.pipeline(transaction=False)
    for row in rows:
        key = (f"{settings.redis_prefix}uv:{row['clicked_at'].date().isoformat()}:{row['link_id']}:"
               f"{visitor_digest(row['ip'], row['user_agent'])}")
        pipe.set(key, row["click_id"], nx=True, get=True, ex=UNIQUE_TTL_SECONDS)
    for row, previous in zip(rows, pipe.execute()):
        row["is_unique"] = previous is None or previous.decode() == row["click_id"]


# ---------------------------------------------------------------- the flush


@dataclass
class FlushResult:
    read: int = 0        # entries taken from the stream (new and reclaimed)
    inserted: int = 0    # of those, clicks not stored before
    reclaimed: int = 0   # entries taken over from consumers that stopped
    malformed: int = 0   # entries that could not be read (logged and acknowledged)


def ensure_group(client: redis.Redis, key: str) -> None:
    try:
        client.xgroup_create(key, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _store_batch(session: Session, client: redis.Redis, settings: Settings,
                 entries: list[tuple[bytes, dict[bytes, bytes]]], result: FlushResult) -> None:
    key = stream_key(settings)
    rows, ids = [], []
    for entry_id, fields in entries:
        ids.append(entry_id)
        if not fields:  # trimmed while pending: nothing left to store
            continue
        try:
            rows.append(row_from_entry(entry_id, fields))
        except (KeyError, ValueError, UnicodeDecodeError):
            result.malformed += 1
            log.error("dropping malformed click stream entry %s", entry_id)
    _mark_unique(client, settings, rows)
    with transaction(session):
        result.inserted += store_clicks(session, rows)
    # Acknowledged only after the commit: a crash before this line means redelivery, not loss.
    if ids:
        client.xack(key, GROUP, *ids)
    result.read += len(ids)


def flush_stream(session: Session, client: redis.Redis, settings: Settings, *, consumer: str, batch: int = 2000,
                 max_batches: int = 50, claim_idle_ms: int = CLAIM_IDLE_MS) -> FlushResult:
    """Move clicks from the stream into the click table; safe to run on many workers at once."""
    key = stream_key(settings)
    result = FlushResult()
    ensure_group(client, key)
    # First our own unacknowledged entries: a batch whose commit failed (the database was down)
    # is stored on our next run, not a claim timeout later.
    start: bytes | str = "0-0"
    for _ in range(max_batches):
        reply = client.xreadgroup(GROUP, consumer, {key: start}, count=batch)
        entries = reply[0][1] if reply else []
        if not entries:
            break
        _store_batch(session, client, settings, entries, result)
        start = entries[-1][0]
    # Then the entries of consumers that took them and stopped (a worker killed mid-batch).
    start = "0-0"
    for _ in range(max_batches):
        reply = client.xautoclaim(key, GROUP, consumer, min_idle_time=claim_idle_ms, start_id=start, count=batch)
        start, claimed = reply[0], reply[1]
        if claimed:
            result.reclaimed += len(claimed)
            _store_batch(session, client, settings, claimed, result)
        if start in (b"0-0", "0-0"):
            break
    # Then what nobody has read yet.
    for _ in range(max_batches):
        reply = client.xreadgroup(GROUP, consumer, {key: ">"}, count=batch)
        entries = reply[0][1] if reply else []
        if not entries:
            break
        _store_batch(session, client, settings, entries, result)
        if len(entries) < batch:
            break
    trim_stored(client, key)
    forget_idle_consumers(client, key, consumer)
    return result


def trim_stored(client: redis.Redis, key: str) -> None:
    """Drop stream entries every consumer has stored: everything older than the oldest pending
    entry and not newer than the last one delivered."""
    groups = [g for g in client.xinfo_groups(key) if g["name"] in (GROUP, GROUP.encode())]
    if not groups:
        return
    last = groups[0]["last-delivered-id"]
    last = last.decode() if isinstance(last, bytes) else last
    pending = client.xpending(key, GROUP)
    if pending["pending"]:
        cutoff = pending["min"].decode() if isinstance(pending["min"], bytes) else pending["min"]
    else:
        ms, seq = (int(part) for part in last.split("-"))
        cutoff = f"{ms}-{seq + 1}"
    client.xtrim(key, minid=cutoff, approximate=False)


def forget_idle_consumers(client: redis.Redis, key: str, current: str) -> None:
    """Remove consumers with nothing pending that have been idle for an hour (stopped workers)."""
    for info in client.xinfo_consumers(key, GROUP):
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name != current and info["pending"] == 0 and info["idle"] > 3_600_000:
            client.xgroup_delconsumer(key, GROUP, name)


# ---------------------------------------------------------------- finding one click


@dataclass(frozen=True)
class ClickRecord:
    click_id: str
    link_id: int
    affiliate_id: int
    offer_id: int
    sub_ids: dict[str, str]
    country: str | None
    clicked_at: datetime


def _record(row: dict[str, Any]) -> ClickRecord:
    return ClickRecord(click_id=row["click_id"], link_id=row["link_id"], affiliate_id=row["affiliate_id"],
                       offer_id=row["offer_id"], sub_ids={k: row[k] for k in SUB_COLUMNS if row.get(k)},
                       country=row.get("country"), clicked_at=row["clicked_at"])


def _from_table(session: Session, click_id: str) -> ClickRecord | None:
    # One primary-key index probe per monthly partition (click_id leads the key).
    click = session.execute(select(Click).where(Click.click_id == click_id)).scalar_one_or_none()
    if click is None:
        return None
    return _record({c: getattr(click, c) for c in ("click_id", "link_id", "affiliate_id", "offer_id", "country",
                                                   "clicked_at", *SUB_COLUMNS)})


def find_click(session: Session, client: redis.Redis | None, settings: Settings, click_id: str) -> ClickRecord | None:
    """A click by id, stored or still waiting in the stream; None when it does not exist.

    Raises ServiceUnavailable when the click is not stored and the stream cannot be asked: the
    click may well exist, so "no such click" would be a wrong answer.
    """
    found = _from_table(session, click_id)
    if found is not None or client is None:
        return found
    parsed = parse_click_id(click_id)
    if parsed is None:
        return None
    entry_id = f"{parsed[0]}-{parsed[1]}"
    try:
        entries = client.xrange(stream_key(settings), min=entry_id, max=entry_id, count=1)
    except redis.RedisError as exc:
        raise ServiceUnavailable("the click store is unreachable; retry shortly") from exc
    if entries:
        row = row_from_entry(entries[0][0], entries[0][1])
        return _record(row) if row["click_id"] == click_id else None
    # The flusher may have stored and trimmed it between our two looks.
    return _from_table(session, click_id)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), UTC)
    return start, start + timedelta(days=1)
