"""A small SQLite database of made-up orders, so the sample SQL reports show something at once.

The project makes it itself, under the system's temporary directory (``SAMPLE_PATH``), so it
works where the working directory is read-only (a container's read-only root filesystem,
systemd's ``ProtectSystem=strict``). A SQL report names it as ``sqlite:///{sample}``
(``tasks.reports.sql``), which checks it before each query. The orders are deterministic (a
seeded generator) and dated relative to the day the file is made, so ``since = today-30d``
always finds some; the file is rebuilt when it is from an earlier day. Rebuilding writes a new
file and renames it over the old, so a worker reading it never sees half a database.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import tempfile
from pathlib import Path

SAMPLE_PATH = Path(tempfile.gettempdir()) / "reportbot-sample" / "sample.sqlite"
REGIONS = ("emea", "amer", "apac", "latam")
PRODUCTS = (("widget", 19.0), ("gadget", 49.0), ("gizmo", 120.0), ("doohickey", 7.5))
DAYS = 90
SEED = 20240501

SCHEMA = """
create table orders (
    id integer primary key,
    day text not null,          -- ISO date, YYYY-MM-DD
    region text not null,
    product text not null,
    quantity integer not null,
    amount real not null
);
create index orders_day on orders (day);
create table sample_meta (made_on text not null);
"""


def sample_orders(today: dt.date) -> list[tuple[int, str, str, str, int, float]]:
    """The made-up orders of the ``DAYS`` days up to ``today``: same seed, same orders."""
    rng = random.Random(SEED)
    rows = []
    order_id = 0
    for back in range(DAYS - 1, -1, -1):
        day = (today - dt.timedelta(days=back)).isoformat()
        for _ in range(rng.randint(3, 9)):
            order_id += 1
            region = rng.choices(REGIONS, weights=(4, 5, 3, 1))[0]
            product, price = rng.choice(PRODUCTS)
            quantity = rng.randint(1, 12)
            rows.append((order_id, day, region, product, quantity, round(price * quantity, 2)))
    return rows


def _made_on(path: Path) -> str | None:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute("select made_on from sample_meta").fetchone()
            return str(row[0]) if row else None
    except sqlite3.Error:
        return None


def is_current(path: Path, today: dt.date | None = None) -> bool:
    """Whether ``path`` holds the sample database made ``today`` (a single small read)."""
    today = today or dt.date.today()
    return Path(path).exists() and _made_on(Path(path)) == today.isoformat()


def ensure_sample_db(path: Path | None = None, today: dt.date | None = None) -> Path:
    """Make the sample database at ``path`` (``SAMPLE_PATH``) unless today's is there; return the path."""
    today = today or dt.date.today()
    path = Path(path or SAMPLE_PATH)
    if is_current(path, today):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial)
    try:
        conn.executescript(SCHEMA)
        conn.executemany("insert into orders values (?, ?, ?, ?, ?, ?)", sample_orders(today))
        conn.execute("insert into sample_meta values (?)", (today.isoformat(),))
        conn.commit()
    finally:
        conn.close()
    os.replace(partial, path)
    return path
