"""Scoring a file in one piece or in pieces of row groups gives the same output."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gpu_mc.backend import get_backend
from gpu_mc.config import Config
from gpu_mc.errors import InputError
from gpu_mc.pipeline import simulate, train
from gpu_mc.progress import Reporter
from gpu_mc.scoring import _row_group_pieces, score_file

QUIET = Reporter(enabled=False)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("pieces")
    cfg = Config().replace(sky={"n_stars": 30_000}, train={"max_epochs": 2})
    be = get_backend("cpu")
    sky = simulate(cfg, be, QUIET)
    model = train(sky, cfg, be, QUIET).model
    path = d / "sky.parquet"
    pq.write_table(pa.table(sky), path, row_group_size=5_000)
    return d, cfg, be, model, path


def test_row_group_pieces_closed_form():
    assert _row_group_pieces([5, 5, 5, 5, 3], 10) == [(0, 2), (2, 4), (4, 5)]
    assert _row_group_pieces([12, 3], 10) == [(0, 1), (1, 2)]
    assert _row_group_pieces([4], 100) == [(0, 1)]


def test_pieces_equal_one_pass(setup):
    d, cfg, be, model, path = setup
    n1 = score_file(path, model, cfg, be, d / "one.parquet", QUIET)
    small = cfg.replace(run={"max_rows_in_memory": 12_000})
    n2 = score_file(path, model, small, be, d / "pieces.parquet", QUIET)
    assert n1 == n2 == 30_000
    one, pieces = pq.read_table(d / "one.parquet"), pq.read_table(d / "pieces.parquet")
    assert pq.ParquetFile(d / "pieces.parquet").metadata.num_row_groups == 3
    assert one.column_names == pieces.column_names
    for name in one.column_names:
        np.testing.assert_array_equal(one[name].to_numpy(), pieces[name].to_numpy())
    assert pieces.schema.metadata[b"model_sha256"] == one.schema.metadata[b"model_sha256"]


def test_duplicates_across_pieces_leave_no_output(setup):
    d, cfg, be, model, path = setup
    t = pq.read_table(path)
    ids = t["source_id"].to_numpy().copy()
    ids[-1] = ids[0]  # same id in the first and the last piece
    dup = d / "dup.parquet"
    pq.write_table(
        t.set_column(t.column_names.index("source_id"), "source_id", pa.array(ids)),
        dup,
        row_group_size=5_000,
    )
    small = cfg.replace(run={"max_rows_in_memory": 12_000})
    with pytest.raises(InputError, match=r"dup\.parquet.*source_id.*1 duplicated"):
        score_file(dup, model, small, be, d / "dup_scores.parquet", QUIET)
    assert not (d / "dup_scores.parquet").exists()
    assert not list(d.glob(".dup_scores*"))


def test_pieces_need_parquet_output(setup):
    d, cfg, be, model, path = setup
    small = cfg.replace(run={"max_rows_in_memory": 12_000})
    with pytest.raises(InputError, match="needs a parquet output"):
        score_file(path, model, small, be, d / "s.fits", QUIET)
    assert not (d / "s.fits").exists()
