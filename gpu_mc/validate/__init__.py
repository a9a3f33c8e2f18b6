"""Validation: cross-matches by ``source_id`` and by position against known catalogues."""

from gpu_mc.validate.crossmatch import (
    JoinResult,
    MatchResult,
    crossmatch_files,
    join_source_id,
    match_positions,
)

__all__ = [
    "JoinResult",
    "MatchResult",
    "crossmatch_files",
    "join_source_id",
    "match_positions",
]
