"""dask-cuda: one worker per GPU with an RMM pool (needs --gpu and a CUDA device)."""

import numpy as np
import pytest
from parallel_helpers import read_scores

from gpu_mc.io.device import load_gaia_table as read_partition
from gpu_mc.io.partitions import list_partitions
from gpu_mc.parallel import ClusterSpec, score_partitions

pytestmark = pytest.mark.gpu


def test_local_cuda_cluster_scores_match_single_process(mock, tmp_path, gpu_backend):
    spec = ClusterSpec("local-cuda", rmm_pool_size="1GB", device_memory_limit="0.8")
    cfg = mock["cfg"].replace(run={"backend": "gpu"})  # the fixture's config says cpu
    done = score_partitions(
        mock["parts"], mock["model"], tmp_path / "out", cfg, spec, progress=False
    )
    assert not done.failed and len(done.scored) == len(list_partitions(mock["parts"]))
    got = read_scores(tmp_path / "out")
    order = np.argsort(mock["reference"]["source_id"])
    np.testing.assert_array_equal(got["source_id"], mock["reference"]["source_id"][order])
    np.testing.assert_allclose(got["p_mc"], mock["reference"]["p_mc"][order], atol=1e-5)
    np.testing.assert_array_equal(got["score_flag"], mock["reference"]["score_flag"][order])


def test_gpu_partition_reader_matches_the_host_reader(mock, gpu_backend):
    from gpu_mc.backend import get_backend, to_host

    path = list_partitions(mock["parts"])[0]
    dev = read_partition(path, gpu_backend)
    host = read_partition(path, get_backend("cpu"))
    assert set(dev) == set(host)
    for k, v in host.items():
        np.testing.assert_array_equal(to_host(dev[k]), v)
