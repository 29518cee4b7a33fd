"""``explorer log copy SRC DST``: a whole log, from a file to a team log and back.

Every run, rating, vote, annotation, sweep, media, clip-metric and embedding row, and every clip file
(with its poster and thumbnail). The clip files go first, the rows after in
one transaction, so the destination never holds a row whose clip is missing
and a copy that fails leaves it as it was (plus, at worst, clip files that
``explorer doctor --fix`` removes). Counts are compared afterwards, table by
table. The destination must hold no runs: a copy is a move, not a merge.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from explorer.log.log import Log, LogError

TABLES = ("sweeps", "runs", "media", "ratings", "votes", "annotations", "metrics", "embeddings")  # log_identity and schema_migrations stay each log's own


def copy_log(src: Log, dst: Log, *, on_file: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Copy everything in ``src`` into the empty log ``dst``; return the rows copied per table (and ``clips``)."""
    if src.location == dst.location:
        raise LogError("log copy: the source and the destination are the same log")
    (held,) = dst.query("SELECT count(*) AS n FROM runs").n.tolist()
    if held:
        raise LogError(f"log copy: {dst.location} already holds {held} run(s); copy into a new, empty log")
    with src.connection.session() as conn:
        tables = {table: conn.execute(f"SELECT * FROM {table}").to_arrow_table() for table in TABLES}

    clips = tables["media"].to_pylist()
    for done, row in enumerate(clips, 1):
        for column in ("path", "poster", "thumb"):
            _copy_file(src.media.root / row[column], dst.media.root / row[column], dst)
        if on_file:
            on_file(done, len(clips))
    for sha in _sound_tracks(src):  # runs with sound (explorer.audio) keep their track, for forks in the new log
        source = src.media.path(sha, ".audio")
        if source.is_file():  # the clip itself carries the sound; a track gone from the source is not worth failing for
            _copy_file(source, dst.media.path(sha, ".audio"), dst)

    def write(conn) -> None:
        for table, data in tables.items():
            if data.num_rows:
                conn.register("_explorer_copy", data)
                try:
                    conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _explorer_copy")
                finally:
                    conn.unregister("_explorer_copy")

    dst.connection.transaction(write)
    copied = {table: data.num_rows for table, data in tables.items()}
    counts = {table: int(dst.query(f"SELECT count(*) AS n FROM {table}").n[0]) for table in TABLES}
    wrong = {table: (copied[table], counts[table]) for table in TABLES if counts[table] != copied[table]}
    if wrong:
        raise LogError("log copy: counts differ after the copy: " + ", ".join(f"{t} {a} → {b}" for t, (a, b) in wrong.items()))
    missing = [row["path"] for row in clips if not (dst.media.root / row["path"]).is_file()]
    if missing:
        raise LogError(f"log copy: {len(missing)} clip file(s) missing in {dst.media.root} after the copy, e.g. {missing[0]}")
    return {**copied, "clips": len(clips)}


def _sound_tracks(src: Log) -> list[str]:
    """The stored sound tracks the source log's runs refer to (``request.audio.sha256``)."""
    frame = src.query("SELECT DISTINCT json_extract_string(request, '$.audio.sha256') AS sha FROM runs "
                      "WHERE json_extract(request, '$.audio.sha256') IS NOT NULL")
    return [sha for sha in frame.sha.tolist() if isinstance(sha, str) and len(sha) == 64]


def _copy_file(source: Path, target: Path, dst: Log) -> None:
    """Copy one file atomically (a temporary name, then rename); a file already there with the same size is kept."""
    if not source.is_file():
        raise LogError(f"log copy: {source} is missing from the source log's media folder")
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return  # clips are named by their content hash
    from explorer.log.recovery import temp_prefix

    dst.media._make_folder(dst.media.root)  # made the store's way: group-shared where the log is
    dst.media._make_folder(target.parent)
    temporary = target.with_name(f"{temp_prefix()}{target.name}")
    try:
        shutil.copyfile(source, temporary)
        dst.media._share(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
