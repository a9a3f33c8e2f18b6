"""Score a HATS catalogue (ours or e.g. Gaia DR3's) within the model's target cone.

The partitions overlapping the target's cone are chosen from the catalogue's pixel list before
any data is read (:mod:`gpu_mc.io.hats`); each is read (only the model's input columns), cut
to the cone and scored in this process. The output is either one scores table (a file name) or
a HATS catalogue of the scores (a directory): one partition per input partition, holding
``source_id``, ``ra``, ``dec``, ``_healpix_29`` and the scores, written atomically and tagged
with the model hash and input row count so that ``resume`` skips finished partitions; the
catalogue metadata is written last. Needs the ``hats`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gpu_mc.backend import Backend, to_host
from gpu_mc.config import Config
from gpu_mc.errors import InputError
from gpu_mc.features import required_inputs
from gpu_mc.io import hats as gh
from gpu_mc.io.partitions import INPUT_ROWS_KEY, MODEL_HASH_KEY
from gpu_mc.io.writers import FORMAT_OF_EXTENSION, write_cds_table, write_table
from gpu_mc.model.checkpoint import TrainedModel, model_hash
from gpu_mc.progress import Reporter

#: Scores-partition metadata key: rows of the input partition within the cone (= rows written).
CONE_ROWS_KEY = "cone_rows"


@dataclass
class HatsScoring:
    """What :func:`score_hats` did.

    Attributes
    ----------
    n_rows : int
        Stars scored in this run (within the cone).
    scored : list of str
        Partitions scored in this run (paths relative to the catalogue root).
    skipped : list of str
        Partitions whose complete output already existed (``resume``).
    """

    n_rows: int = 0
    scored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def target_cone(model: TrainedModel) -> gh.Cone:
    """The base-sample cone of the model's target (centre and radius from its record)."""
    c = model.target
    return gh.Cone(c.ra0, c.dec0, c.cone_radius)


def is_complete(path: Path, input_rows: int, digest: str) -> bool:
    """Whether ``path`` is a finished scores partition of this model for an input partition
    of ``input_rows`` rows (its footer's row count; the cone may keep fewer)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, ValueError):
        return False
    kv = meta.metadata or {}
    return (
        kv.get(MODEL_HASH_KEY.encode()) == digest.encode()
        and kv.get(INPUT_ROWS_KEY.encode()) == str(input_rows).encode()
        and kv.get(CONE_ROWS_KEY.encode()) == str(meta.num_rows).encode()
    )


def check_output_catalogue(out: Path, wanted: set[str], resume: bool) -> None:
    """Refuse a HATS scores directory that is not empty (without ``resume``) or that holds
    partitions outside ``wanted`` (names relative to the root: another input or cone).

    Raises
    ------
    InputError
        Naming the directory (and a stray partition).
    """
    if not out.exists():
        return
    present = {str(f.relative_to(out)) for f in out.glob("dataset/Norder=*/Dir=*/Npix=*.parquet")}
    if not resume and any(out.iterdir()):
        raise InputError(f"{out}: not empty (give --resume to continue a scoring run)")
    if present - wanted:
        raise InputError(
            f"{out}: holds partitions of another input or cone "
            f"(e.g. {sorted(present - wanted)[0]}); choose an empty directory"
        )


def score_hats(
    input_dir: Path,
    model: TrainedModel,
    cfg: Config,
    backend: Backend,
    out: Path,
    reporter: Reporter,
    *,
    cone: gh.Cone | None = None,
    resume: bool = False,
) -> HatsScoring:
    """Score the stars of a HATS catalogue that lie in a cone.

    Parameters
    ----------
    input_dir : Path
        HATS catalogue root with the Gaia columns.
    model : TrainedModel
    cfg : Config
    backend : Backend
    out : Path
        A scores file (extension of :data:`~gpu_mc.io.writers.FORMAT_OF_EXTENSION`), or a
        directory that receives a HATS catalogue of the scores.
    reporter : Reporter
    cone : Cone, optional
        Sky region to score (default: :func:`target_cone` of the model).
    resume : bool
        HATS output: keep partitions whose output is complete for this model.

    Returns
    -------
    HatsScoring

    Raises
    ------
    InputError
        As :func:`gpu_mc.io.hats.iter_gaia_partitions`; no star in the cone; a HATS output
        directory that is not empty (without ``resume``) or holds partitions of another input.
    """
    import pyarrow.parquet as pq

    from gpu_mc.scoring import SCORE_UNITS, score, score_metadata

    cone = cone or target_cone(model)
    required = required_inputs(model.features)
    digest = model_hash(model)
    meta = score_metadata(
        model, input=str(input_dir), cone_deg=f"{cone.ra_deg} {cone.dec_deg} {cone.radius_deg}"
    )
    units = {**SCORE_UNITS, "ra": "deg", "dec": "deg"}
    done = HatsScoring()
    if out.suffix.lower() in (*FORMAT_OF_EXTENSION, ".dat", ".cds"):
        table = gh.read_gaia_hats(input_dir, cone, required=required)
        scores = {
            k: to_host(v)
            for k, v in score(
                {k: backend.xp.asarray(v) for k, v in table.items()}, model, cfg, reporter
            ).items()
        }
        if out.suffix.lower() in (".dat", ".cds"):
            write_cds_table(out, scores["source_id"], scores["p_mc"])
        else:
            write_table(out, scores, units=SCORE_UNITS, metadata=meta)
        done.n_rows = int(scores["p_mc"].size)
        return done
    gh.require_columns(input_dir, ["source_id", "ra", "dec", *required])
    check_output_catalogue(out, {p.name for p in gh.hats_partitions(input_dir, cone)}, resume)
    for part in gh.hats_partitions(input_dir, cone):
        n_in = pq.ParquetFile(part.path).metadata.num_rows
        target = gh.hats_output_file(out, part.order, part.pixel)
        if resume and is_complete(target, n_in, digest):
            done.skipped.append(part.name)
            continue
        cols = gh.read_gaia_partition(part, cone, required=required)
        n = int(cols["source_id"].size)
        if n == 0:
            continue
        table = {k: backend.xp.asarray(v) for k, v in cols.items()}
        scores = {k: to_host(v) for k, v in score(table, model, cfg, reporter).items()}
        scores["ra"], scores["dec"] = cols["ra"], cols["dec"]
        tags = {INPUT_ROWS_KEY: str(n_in), CONE_ROWS_KEY: str(n)}
        gh.write_hats_partition(
            out, part.order, part.pixel, scores, units=units, metadata={**meta, **tags}
        )
        done.scored.append(part.name)
        done.n_rows += n
    if not done.scored and not done.skipped:
        raise InputError(f"{input_dir}: no star within the cone {cone}")
    finish_scores_catalogue(out, Path(input_dir), digest)
    return done


def finish_scores_catalogue(out: Path, input_dir: Path, digest: str) -> None:
    """Write the HATS metadata of the scores catalogue ``out`` of ``input_dir``, last, once
    every partition is written; ``digest`` is the model's SHA-256."""
    gh.finish_hats(
        out,
        f"gpu_mc scores of {input_dir.name}",
        default_columns=["source_id", "ra", "dec", "p_mc"],
        extra_properties={"gpu_mc_model_sha256": digest},
    )
