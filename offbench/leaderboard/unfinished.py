"""Result rows that no leaderboard table holds yet: those of a run stopped before its
generated source was complete (a source is recorded, with its digest, once its last member is).
Told to the user by :func:`offbench.leaderboard.build` and ``offbench leaderboard``/``report``."""

from __future__ import annotations

import json


def unfinished_sources(conn, version: str) -> str | None:
    """What to tell of result rows that no table can hold yet: rows of a generated source whose
    run stopped before the source was complete (a source is recorded, with its digest, once its
    last member is: an interrupted run's first source has rows but no source). None when every
    row of ``version`` belongs to a recorded source.

    A leaderboard compares whole sources only (a part of a source, cut where the interrupt fell,
    is not the set its name stands for), so the text names the sources and the command that
    finishes them."""
    n = int(conn.execute(
        "SELECT COUNT(*) FROM results WHERE offbench_version = ? AND instance_digest NOT IN "
        "(SELECT instance_digest FROM source_members) AND instance_digest NOT IN "
        "(SELECT digest FROM sources)",  # (a stream's rows carry the stream's own digest)
        (version,)).fetchone()[0])
    if not n:
        return None
    recorded = {r[0] for r in conn.execute("SELECT name FROM sources")}
    runs = []
    for run_id, outcome, command, spec in conn.execute(
            "SELECT run_id, outcome, command, spec FROM runs WHERE offbench_version = ? "
            "ORDER BY run_id", (version,)):
        try:
            names = [str(x.get("name")) for x in json.loads(spec).get("sources", [])]
        except (ValueError, AttributeError, TypeError):
            names = []
        left = [x for x in names if x not in recorded]
        if left and outcome != "complete":
            runs.append(f"run {run_id} ({outcome or 'stopped'}; source{'s' if len(left) > 1 else ''} "
                        f"{', '.join(left)}" + (f"; command: {command}" if command else "") + ")")
    where = "; ".join(runs[-3:]) if runs else "a run that stopped before they were recorded"
    return (f"{n} result row{'s' if n != 1 else ''} belong to sources not finished yet: {where}. "
            "A leaderboard compares whole sources only: run the same `offbench run` command "
            "again to finish them (it resumes, and runs only what is missing)")
