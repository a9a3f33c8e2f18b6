"""The array-namespace code paths run on a strict, CuPy-shaped namespace (no GPU needed).

Each stage (sky, features, sample, train, score, thresholds, validate) runs once on NumPy and
once on :mod:`strict_xp` arrays: array-api-strict plus the thin layer of CuPy functions gpu_mc
calls, refusing implicit NumPy conversion as CuPy does. ``gpu_mc.backend.array_namespace``
finds the namespace through the arrays' ``__array_namespace__``, as it finds CuPy. Results
must match the NumPy path: scores within 1e-5, counts, ids and masks equal. Last, the whole
mock run (``pipeline.run``: ensemble, calibration, validation, outputs) runs on both.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("array_api_strict")
sys.path.insert(0, str(Path(__file__).parent))
from strict_xp import DETAIL, USED, Array, cupy_like, host, to_strict, xp

import gpu_mc.backend as backend

N_STARS = 4000


def _on_host(fn):
    """Stand-in for a CUDA kernel launcher: explicit copies around its CPU twin."""

    def arrays(a):  # a kernel's columns come as one tuple (or list) of arrays
        return tuple(a) if isinstance(a, tuple | list) else (a,)

    def to_host(a):
        return tuple(host(c) for c in a) if isinstance(a, tuple | list) else host(a)

    def call(*args, **kwargs):
        strict = any(isinstance(c, Array) for a in args for c in arrays(a))
        out = fn(*(to_host(a) for a in args), **{k: to_host(v) for k, v in kwargs.items()})
        if not strict:
            return out
        if isinstance(out, tuple):
            return tuple(xp.asarray(o) if isinstance(o, np.ndarray) else o for o in out)
        return xp.asarray(out)

    return call


KERNEL_ENTRY_POINTS = {
    "gpu_mc.features": ("compute_features",),
    "gpu_mc.sample": ("assign_split",),
    "gpu_mc.validate.crossmatch": ("lookup_sorted", "nearest_in_zones", "zone_order"),
}


@pytest.fixture(scope="module", autouse=True)
def strict_backend():
    import importlib

    mp = pytest.MonkeyPatch()
    for modname, names in KERNEL_ENTRY_POINTS.items():
        mod = importlib.import_module(modname)
        for name in names:
            mp.setattr(mod, name, _on_host(getattr(mod, name)))
    with cupy_like():
        yield
    mp.undo()
    print("strict namespace, CuPy layer used:", dict(sorted(USED.items())))
    print("\n".join(f"{v:5d} {k}" for k, v in sorted(DETAIL.items())))


def _assert_same(a, b, name=""):
    a, b = host(a), host(b)
    assert isinstance(a, np.ndarray | np.generic | int | float | bool), type(a)
    assert not isinstance(b, Array)
    np.testing.assert_array_equal(a, np.asarray(b), err_msg=name)


@pytest.fixture(scope="module")
def cfg():
    from gpu_mc.config import Config

    c = Config()
    return replace(
        c,
        sky=replace(c.sky, n_stars=N_STARS),
        train=replace(c.train, max_epochs=2, hidden=(16, 8)),
    )


@pytest.fixture(scope="module")
def skies(cfg):
    from gpu_mc.sky.generate import simulate_milky_way, simulate_sky

    np_sky = simulate_sky(cfg.sky)
    st_sky = simulate_sky(cfg.sky, xp=xp)
    np_mw = simulate_milky_way(cfg.sky, 3000, seed=5)
    st_mw = simulate_milky_way(cfg.sky, 3000, seed=5, xp=xp)
    return np_sky, st_sky, np_mw, st_mw


def test_strict_arrays_refuse_implicit_numpy_conversion():
    a = xp.asarray(np.arange(3.0))
    assert backend.array_namespace(a) is xp and backend.array_namespace(np.ones(2)) is np
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError):
        np.nanmean(a)
    with pytest.raises(TypeError):
        a + np.ones(3)
    with pytest.raises(TypeError):
        xp.bincount(np.arange(3))
    with pytest.raises(AttributeError):
        xp.nanmean  # noqa: B018  (neither in the standard nor a function gpu_mc relies on)
    with pytest.raises(AttributeError):
        a.tolist  # noqa: B018  (a method outside the standard and the layer)
    assert float(xp.sum(a)) == 3.0 and isinstance(backend.to_host(a), np.ndarray)
    # CuPy's own restrictions, kept by the layer
    with pytest.raises(ValueError):
        xp.argsort(a, kind="quicksort")
    with pytest.raises(ValueError):
        xp.bincount(xp.zeros(0, dtype=xp.int64))
    with pytest.raises(NotImplementedError):
        xp.interp(xp.arange(4.0)[::2], a, a)
    with pytest.raises(TypeError):
        xp.deg2rad([1.0, 2.0])
    ties = xp.asarray(np.array([1.0, 0.0, 1.0, 0.0, 1.0]))
    _assert_same(xp.argsort(ties), np.argsort(host(ties), kind="stable"), "stable argsort")


def test_sky(skies):
    np_sky, st_sky, np_mw, st_mw = skies
    assert set(np_sky) == set(st_sky)
    for k in np_sky:
        assert isinstance(st_sky[k], Array), k
        _assert_same(st_sky[k], np_sky[k], k)
    for k in np_mw:
        _assert_same(st_mw[k], np_mw[k], k)


def test_features_sample_train_score_thresholds(skies, cfg):
    from gpu_mc.features import FEATURE_NAMES, features
    from gpu_mc.model.score import score_table, score_table_std
    from gpu_mc.model.train import train_model
    from gpu_mc.sample import build_training_set
    from gpu_mc.thresholds import (
        choose_thresholds,
        completeness_purity_by_bin,
        curves,
        purity_at_completeness,
        sample_masks,
    )

    np_sky, _, np_mw, _ = skies
    st_sky, st_mw = to_strict(np_sky), to_strict(np_mw)
    cloud = cfg.sky.cloud

    x_np, f_np = features(np_sky, cloud)
    x_st, f_st = features(st_sky, cloud)
    assert isinstance(x_st, Array)
    _assert_same(x_st, x_np, "features")
    _assert_same(f_st, f_np, "flags")

    ts_np = build_training_set(np_sky, np_mw, cloud, cfg.sample)
    ts_st = build_training_set(st_sky, st_mw, cloud, cfg.sample)
    _assert_same(ts_st.labels, ts_np.labels, "labels")
    _assert_same(ts_st.codes, ts_np.codes, "codes")
    _assert_same(ts_st.table["source_id"], ts_np.table["source_id"], "training source_id")

    m_np = train_model(ts_np, cloud, FEATURE_NAMES, cfg.train, "cpu")
    m_st = train_model(ts_st, cloud, FEATURE_NAMES, cfg.train, "cpu")
    np.testing.assert_allclose(host(m_st.mean), host(m_np.mean), rtol=1e-12)
    for (k, a), (_, b) in zip(
        m_st.network.state_dict().items(), m_np.network.state_dict().items(), strict=True
    ):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=k)

    p_np, fl_np = score_table(np_sky, m_np, batch_size=1500)
    p_st, fl_st = score_table(st_sky, m_st, batch_size=1500)
    assert isinstance(p_st, Array)
    max_dp = float(np.abs(host(p_st) - p_np).max())
    print(f"strict namespace: max |dp| = {max_dp:.3g} over {p_np.shape[0]} stars")
    assert max_dp <= 1e-5
    _assert_same(fl_st, fl_np, "score flags")
    p2, sd_st, _ = score_table_std(st_sky, m_st, batch_size=1500)
    assert isinstance(sd_st, Array) and float(xp.max(xp.abs(sd_st))) == 0.0
    _assert_same(p2, host(p_st), "score_table_std p")

    y_np = np.asarray(np_sky["true_class"]) == 1
    c_np = curves(y_np, p_np)
    c_st = curves(xp.asarray(y_np), p_st)
    assert c_st.thresholds.shape == c_np.thresholds.shape
    for name in ("thresholds", "tpr", "fpr", "precision"):
        np.testing.assert_allclose(
            host(getattr(c_st, name)), getattr(c_np, name), atol=1e-5, err_msg=name
        )
    t_np = choose_thresholds(c_np, cfg.thresholds)
    t_st = choose_thresholds(c_st, cfg.thresholds)
    assert t_st == pytest.approx(t_np, abs=1e-5)
    g_np = np_sky["phot_g_mean_mag"]
    masks_np = sample_masks(p_np, g_np, t_np, cfg.thresholds)
    masks_st = sample_masks(p_st, xp.asarray(g_np), t_np, cfg.thresholds)
    for k in masks_np:
        _assert_same(masks_st[k], masks_np[k], k)
    y_st = xp.asarray(y_np)
    assert completeness_purity_by_bin(
        masks_st["optimal"], y_st, xp.asarray(g_np), cfg.validate.g_bins
    ) == completeness_purity_by_bin(masks_np["optimal"], y_np, g_np, cfg.validate.g_bins)
    assert purity_at_completeness(p_st, y_st, 0.8) == pytest.approx(
        purity_at_completeness(p_np, y_np, 0.8), abs=1e-5
    )


def test_tied_scores_order_as_on_cupy():
    """Tied P(MC) at the cut: CuPy sorts stably, so the NumPy path must too."""
    from gpu_mc.thresholds import purity_at_completeness

    rng = np.random.default_rng(0)
    p = np.round(rng.random(5000), 1).astype(np.float32)
    truth = rng.random(5000) < p
    for c in (0.3, 0.5, 0.8):
        r_np = purity_at_completeness(p, truth, c)
        assert purity_at_completeness(xp.asarray(p), xp.asarray(truth), c) == r_np


def test_validate(skies):
    from gpu_mc.validate.crossmatch import join_source_id, match_positions
    from gpu_mc.validate.recovery import recovery_table

    np_sky = skies[0]
    ids = np_sky["source_id"]
    right = np.concatenate([ids[::3], ids[:5]])
    j_np = join_source_id(ids, right, method="sort")
    j_st = join_source_id(xp.asarray(ids), xp.asarray(right), method="sort")
    assert j_np.left_index.shape[0] > 0
    _assert_same(j_st.left_index, j_np.left_index, "left_index")
    _assert_same(j_st.right_index, j_np.right_index, "right_index")
    ra, dec = np_sky["ra"], np_sky["dec"]
    m_np = match_positions(ra, dec, ra[::2] + 1e-5, dec[::2], radius_arcsec=1.0)
    m_st = match_positions(
        xp.asarray(ra), xp.asarray(dec), xp.asarray(ra[::2] + 1e-5), xp.asarray(dec[::2]),
        radius_arcsec=1.0,
    )  # fmt: skip
    assert m_np.idx1.shape[0] > 0
    _assert_same(m_st.idx1, m_np.idx1, "match idx1")
    _assert_same(m_st.idx2, m_np.idx2, "match idx2")
    np.testing.assert_allclose(host(m_st.sep_arcsec), host(m_np.sep_arcsec), rtol=1e-12)
    ra1, dec1 = np.concatenate([ra, ra[:40] + 2e-5]), np.concatenate([dec, dec[:40]])
    o_np = match_positions(ra1, dec1, ra, dec, radius_arcsec=1.0, one_to_one=True)
    o_st = match_positions(
        xp.asarray(ra1), xp.asarray(dec1), xp.asarray(ra), xp.asarray(dec),
        radius_arcsec=1.0, one_to_one=True,
    )  # fmt: skip
    assert o_np.idx1.shape[0] == ra.shape[0]  # each duplicate loses to the exact position
    _assert_same(o_st.idx1, o_np.idx1, "one-to-one idx1")
    _assert_same(o_st.idx2, o_np.idx2, "one-to-one idx2")

    rng = np.random.default_rng(3)
    scores = {
        "source_id": ids, "ra": ra, "dec": dec,
        **{f"in_{k}": rng.random(ids.shape[0]) < f
           for k, f in (("complete", 0.6), ("optimal", 0.4), ("truncated_optimal", 0.3))},
    }  # fmt: skip
    catalogues = {
        "by_id": {"source_id": np.concatenate([ids[::7], ids[:3]])},
        "by_position": {"ra": ra[::11] + 1e-5, "dec": dec[::11]},
    }
    for by, name in (("source_id", "by_id"), ("position", "by_position")):
        cat = {name: catalogues[name]}
        r_np = recovery_table(scores, cat, by=by)
        r_st = recovery_table(to_strict(scores), cat, by=by)
        assert r_np[0]["n_matched"] > 0
        assert r_st == r_np


def _same_metrics(a, b, path="metrics"):
    """Equal JSON metrics: the same keys and counts, floats within 1e-9 (relative)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            if k != "timings_s":
                _same_metrics(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _same_metrics(u, v, f"{path}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12, nan_ok=True), path
    else:
        assert a == b, path


def test_whole_mock_run(cfg, tmp_path):
    """``pipeline.run`` on each namespace: the same scores and metrics.

    The strict backend is the CPU backend with :data:`strict_xp.xp` as its namespace (torch
    on the CPU), so only the array code changes.
    """
    import json

    import pyarrow.parquet as pq

    from gpu_mc import pipeline
    from gpu_mc.backend import Backend, get_backend
    from gpu_mc.progress import Reporter

    strict = Backend("cpu", xp, "cpu", "pandas")
    for name, be in (("numpy", get_backend("cpu")), ("strict", strict)):
        pipeline.run(cfg, be, tmp_path / name, Reporter(enabled=False))
    t_np, t_st = (pq.read_table(tmp_path / n / "scores.parquet") for n in ("numpy", "strict"))
    assert t_np.schema.names == t_st.schema.names and "p_mc_std" in t_np.schema.names
    for col in t_np.schema.names:
        a, b = t_np[col].to_numpy(), t_st[col].to_numpy()
        if col.startswith("p_mc"):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-5, err_msg=col)
        else:
            np.testing.assert_array_equal(b, a, err_msg=col)
    m_np, m_st = (
        json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("numpy", "strict")
    )
    _same_metrics(m_np, m_st)
