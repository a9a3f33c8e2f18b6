"""The array-namespace code paths run on a strict, CuPy-shaped namespace (no GPU needed).

Each stage (sky, features, sample, train, score, thresholds, validate) runs once on NumPy and
once on :mod:`strict_xp` arrays, which refuse implicit NumPy conversion as CuPy does and offer
only CuPy's functions. Results must match the NumPy path: scores within 1e-5, the rest equal.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from strict_xp import StrictArray, host, to_strict, xp

import gpu_mc.backend as backend

N_STARS = 4000


def _strict_aware(original):
    def array_namespace(*arrays):
        if any(isinstance(a, StrictArray) for a in arrays):
            return xp
        return original(*arrays)

    return array_namespace


def _on_host(fn):
    """Stand-in for a CUDA kernel launcher: explicit copies around its CPU twin."""

    def arrays(a):  # a kernel's columns come as one tuple (or list) of arrays
        return tuple(a) if isinstance(a, tuple | list) else (a,)

    def to_host(a):
        return tuple(host(c) for c in a) if isinstance(a, tuple | list) else host(a)

    def call(*args, **kwargs):
        strict = any(isinstance(c, StrictArray) for a in args for c in arrays(a))
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

    for name in (
        "gpu_mc.features", "gpu_mc.sample", "gpu_mc.model.train", "gpu_mc.model.score",
        "gpu_mc.thresholds", "gpu_mc.validate.crossmatch", "gpu_mc.validate.recovery",
        "gpu_mc.sky.generate", "gpu_mc.model.tensors",
    ):  # fmt: skip
        importlib.import_module(name)
    mp = pytest.MonkeyPatch()
    ns, th = backend.array_namespace, backend.to_host
    strict_ns = _strict_aware(ns)

    def to_host(a):
        return a.get() if isinstance(a, StrictArray) else th(a)

    def as_array(t, like):
        return xp.asarray(t.numpy()) if isinstance(like, StrictArray) else t.numpy()

    for mod in [m for n, m in sys.modules.items() if n.startswith("gpu_mc") and m is not None]:
        if getattr(mod, "array_namespace", None) is ns:
            mp.setattr(mod, "array_namespace", strict_ns)
        if getattr(mod, "to_host", None) is th:
            mp.setattr(mod, "to_host", to_host)
        if hasattr(mod, "as_array") and mod.__name__.startswith("gpu_mc.model"):
            mp.setattr(mod, "as_array", as_array)
    for modname, names in KERNEL_ENTRY_POINTS.items():
        mod = sys.modules[modname]
        for name in names:
            mp.setattr(mod, name, _on_host(getattr(mod, name)))
    yield
    mp.undo()


def _assert_same(a, b, name=""):
    a, b = host(a), host(b)
    assert not isinstance(a, StrictArray) and not isinstance(b, StrictArray)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)


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
def skies(cfg, strict_backend):
    from gpu_mc.sky.generate import simulate_milky_way, simulate_sky

    np_sky = simulate_sky(cfg.sky)
    st_sky = simulate_sky(cfg.sky, xp=xp)
    np_mw = simulate_milky_way(cfg.sky, 3000, seed=5)
    st_mw = simulate_milky_way(cfg.sky, 3000, seed=5, xp=xp)
    return np_sky, st_sky, np_mw, st_mw


def test_strict_arrays_refuse_implicit_numpy_conversion():
    a = xp.asarray(np.arange(3.0))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError):
        np.nanmean(a)
    assert isinstance(np.sum(a), StrictArray) and isinstance(np.float64(2.0) * a, StrictArray)
    with pytest.raises(TypeError):
        a + np.ones(3)
    with pytest.raises(AttributeError):
        xp.nanmean  # noqa: B018  (not a function CuPy-using code may rely on here)
    assert float(a.sum()) == 3.0 and isinstance(a.get(), np.ndarray)


def test_sky(skies):
    np_sky, st_sky, np_mw, st_mw = skies
    assert set(np_sky) == set(st_sky)
    for k in np_sky:
        assert isinstance(st_sky[k], StrictArray), k
        _assert_same(st_sky[k], np_sky[k], k)
    for k in np_mw:
        _assert_same(st_mw[k], np_mw[k], k)


def test_features_sample_train_score_thresholds(skies, cfg):
    from gpu_mc.features import FEATURE_NAMES, features
    from gpu_mc.model.score import score_table
    from gpu_mc.model.train import train_model
    from gpu_mc.sample import build_training_set
    from gpu_mc.thresholds import choose_thresholds, curves, sample_masks

    np_sky, _, np_mw, _ = skies
    st_sky, st_mw = to_strict(np_sky), to_strict(np_mw)
    cloud = cfg.sky.cloud

    x_np, f_np = features(np_sky, cloud)
    x_st, f_st = features(st_sky, cloud)
    assert isinstance(x_st, StrictArray)
    _assert_same(x_st, x_np, "features")
    _assert_same(f_st, f_np, "flags")

    ts_np = build_training_set(np_sky, np_mw, cloud, cfg.sample)
    ts_st = build_training_set(st_sky, st_mw, cloud, cfg.sample)
    _assert_same(ts_st.labels, ts_np.labels, "labels")
    _assert_same(ts_st.codes, ts_np.codes, "codes")

    m_np = train_model(ts_np, cloud, FEATURE_NAMES, cfg.train, "cpu")
    m_st = train_model(ts_st, cloud, FEATURE_NAMES, cfg.train, "cpu")
    np.testing.assert_allclose(host(m_st.mean), host(m_np.mean), rtol=1e-12)
    for (k, a), (_, b) in zip(
        m_st.network.state_dict().items(), m_np.network.state_dict().items(), strict=True
    ):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=k)

    p_np, _ = score_table(np_sky, m_np, batch_size=1500)
    p_st, _ = score_table(st_sky, m_np, batch_size=1500)
    assert isinstance(p_st, StrictArray)
    max_dp = float(np.abs(host(p_st) - p_np).max())
    print(f"strict namespace: max |dp| = {max_dp:.3g} over {p_np.shape[0]} stars")
    assert max_dp <= 1e-5

    truth = np_sky["true_class"] if "true_class" in np_sky else None
    if truth is None:
        pytest.skip("the mock sky has no true_class column")
    y_np = np.asarray(truth) == 1
    c_np = curves(y_np, p_np)
    c_st = curves(xp.asarray(y_np), p_st)
    _assert_same(c_st.thresholds, c_np.thresholds, "thresholds")
    _assert_same(c_st.tpr, c_np.tpr, "tpr")
    t_np = choose_thresholds(c_np, cfg.thresholds)
    t_st = choose_thresholds(c_st, cfg.thresholds)
    assert t_st == pytest.approx(t_np, abs=1e-6)
    g_np = np_sky["phot_g_mean_mag"]
    masks_np = sample_masks(p_np, g_np, t_np, cfg.thresholds)
    masks_st = sample_masks(p_st, xp.asarray(g_np), t_np, cfg.thresholds)
    for k in masks_np:
        _assert_same(masks_st[k], masks_np[k], k)


def test_validate_joins(skies):
    from gpu_mc.validate.crossmatch import join_source_id, match_positions

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
    _assert_same(m_st.idx1, m_np.idx1, "match idx1")
    _assert_same(m_st.idx2, m_np.idx2, "match idx2")
    np.testing.assert_allclose(host(m_st.sep_arcsec), host(m_np.sep_arcsec), rtol=1e-12)
